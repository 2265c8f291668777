from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from registry.api.serializers import (
    ModelVersionDetailSerializer,
    ModelVersionSerializer,
    RegistryEventSerializer,
    ShadowEvaluationDetailSerializer,
    ShadowEvaluationSerializer,
)
from registry.constants import ETA_MODEL_NAME
from registry.models import ModelVersion, RegistryEvent, ShadowEvaluation
from tenants.api.base import TenantScopedReadOnlyViewSet


class ModelVersionViewSet(TenantScopedReadOnlyViewSet):
    """The caller's ETA model versions (read-only), addressed by version number."""

    queryset = ModelVersion.objects.filter(registered_model__name=ETA_MODEL_NAME).select_related("registered_model")
    lookup_field = "version"
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[Any]:
        return super().get_queryset().prefetch_related("aliases")

    def get_serializer_class(self) -> type[ModelVersionSerializer]:
        return ModelVersionSerializer if self.action == "list" else ModelVersionDetailSerializer

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def lineage(self, request: Request, version: str) -> Response:
        """What the version was trained on and with: data snapshot, features, parameters, code, libraries."""
        return Response(self.get_object().lineage)


class RegistryEventViewSet(TenantScopedReadOnlyViewSet):
    """The caller's append-only registry log: requests, decisions, promotions, rollbacks."""

    queryset = RegistryEvent.objects.select_related("registered_model", "from_version", "to_version")
    serializer_class = RegistryEventSerializer


class ShadowEvaluationViewSet(TenantScopedReadOnlyViewSet):
    """The caller's shadow A/B looks (read-only), newest first: challenger against champion on the same orders."""

    queryset = ShadowEvaluation.objects.select_related("registered_model", "champion", "challenger")

    def get_serializer_class(self) -> type[ShadowEvaluationSerializer]:
        return ShadowEvaluationSerializer if self.action == "list" else ShadowEvaluationDetailSerializer
