from __future__ import annotations

from deliveries.api.serializers import DeliverySerializer, ImportBatchSerializer
from deliveries.models import Delivery, ImportBatch
from tenants.api.base import TenantScopedReadOnlyViewSet


class DeliveryViewSet(TenantScopedReadOnlyViewSet):
    """The caller's completed deliveries, newest first, addressed by their order id."""

    queryset = Delivery.objects.all()
    serializer_class = DeliverySerializer
    lookup_field = "external_order_id"
    lookup_url_kwarg = "order_id"
    lookup_value_regex = "[^/]+"


class ImportBatchViewSet(TenantScopedReadOnlyViewSet):
    """The caller's import batches with their data-quality reports."""

    queryset = ImportBatch.objects.select_related("quality_report")
    serializer_class = ImportBatchSerializer
