from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers

from monitoring.api.serializers import (
    AccuracyReportDetailSerializer,
    AccuracyReportSerializer,
    AlertSerializer,
    DriftReportDetailSerializer,
    DriftReportSerializer,
)
from monitoring.choices import AlertStatus
from monitoring.models import AccuracyReport, Alert, DriftReport
from tenants.api.base import TenantScopedReadOnlyViewSet

VERSION_FILTER = OpenApiParameter("version", OpenApiTypes.INT, description="only reports of this model version")
STATUS_FILTER = OpenApiParameter("status", OpenApiTypes.STR, enum=AlertStatus.values, description="firing or resolved")


def _positive_int(value: str, *, field: str) -> int:
    if not value.isdigit():
        raise serializers.ValidationError({field: [f"expected a version number, got {value!r}"]})
    return int(value)


class _ReportViewSet(TenantScopedReadOnlyViewSet):
    """A report list, newest window first, optionally of one version (`?version=3`)."""

    list_serializer: type[serializers.Serializer[Any]]
    detail_serializer: type[serializers.Serializer[Any]]

    def get_queryset(self) -> QuerySet[Any]:
        queryset = super().get_queryset().select_related("model_version")
        version = self.request.query_params.get("version")
        if self.action == "list" and version is not None:
            queryset = queryset.filter(model_version__version=_positive_int(version, field="version"))
        return queryset

    def get_serializer_class(self) -> type[serializers.Serializer[Any]]:
        return self.list_serializer if self.action == "list" else self.detail_serializer


@extend_schema_view(list=extend_schema(parameters=[VERSION_FILTER]))
class DriftReportViewSet(_ReportViewSet):
    """The caller's drift checks (read-only): live traffic of a serving version against its training data."""

    queryset = DriftReport.objects.all()
    list_serializer = DriftReportSerializer
    detail_serializer = DriftReportDetailSerializer


@extend_schema_view(list=extend_schema(parameters=[VERSION_FILTER]))
class AccuracyReportViewSet(_ReportViewSet):
    """The caller's realized-accuracy checks (read-only), with the CUSUM change detector's state."""

    queryset = AccuracyReport.objects.all()
    list_serializer = AccuracyReportSerializer
    detail_serializer = AccuracyReportDetailSerializer


@extend_schema_view(list=extend_schema(parameters=[STATUS_FILTER]))
class AlertViewSet(TenantScopedReadOnlyViewSet):
    """The caller's alerts (read-only), newest first; `?status=firing` for the open ones."""

    queryset = Alert.objects.all()
    serializer_class = AlertSerializer

    def get_queryset(self) -> QuerySet[Any]:
        queryset = super().get_queryset()
        status = self.request.query_params.get("status")
        if self.action == "list" and status is not None:
            if status not in AlertStatus.values:
                raise serializers.ValidationError({"status": [f"expected one of {AlertStatus.values}, got {status!r}"]})
            queryset = queryset.filter(status=status)
        return queryset
