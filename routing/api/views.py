from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from routing.api.serializers import OptimizeRequestSerializer, RoutePlanListSerializer, RoutePlanSerializer
from routing.models import RoutePlan
from routing.services import route_plan_create
from tenants.api.base import TenantScopedReadOnlyViewSet


class RoutePlanViewSet(TenantScopedReadOnlyViewSet):
    """The caller's route plans, newest first; `optimize` submits a new problem."""

    queryset = RoutePlan.objects.all()
    serializer_class = RoutePlanSerializer
    # Digits only, so that `routes/optimize` can never be read as a plan id.
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[RoutePlan]:
        queryset = super().get_queryset()
        if self.action == "list":
            return queryset.defer("request", "result")
        return queryset

    def get_serializer_class(self) -> type[RoutePlanListSerializer]:
        return RoutePlanListSerializer if self.action == "list" else RoutePlanSerializer

    @extend_schema(
        request=OptimizeRequestSerializer,
        responses={
            201: OpenApiResponse(RoutePlanSerializer, description="solved inline: the plan is in `result`"),
            202: OpenApiResponse(RoutePlanSerializer, description="queued: poll the `Location` until finished"),
        },
    )
    @action(detail=False, methods=["post"], url_path="optimize")
    def optimize(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Plan routes for a problem; large ones (see routing.constants) are solved by a worker (202)."""
        serializer = OptimizeRequestSerializer(data=request.data, context={"tenant": self.tenant})
        serializer.is_valid(raise_exception=True)
        plan = route_plan_create(tenant=self.tenant, request=serializer.validated_data)
        location = reverse("route-plan-detail", args=[plan.pk], request=request)
        return Response(
            RoutePlanSerializer(plan).data,
            status=status.HTTP_202_ACCEPTED if plan.is_async else status.HTTP_201_CREATED,
            headers={"Location": location},
        )
