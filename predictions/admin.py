"""Prediction audit, outcomes, shadow predictions and batch runs in the admin: read-only, searchable by order id."""

from __future__ import annotations

from django.contrib import admin

from intellilog.admin import ReadOnlyAdminMixin
from predictions.models import (
    BatchPredictionRun,
    PredictionAudit,
    PredictionAuditArchive,
    PredictionOutcome,
    ShadowPrediction,
)


@admin.register(PredictionAudit)
class PredictionAuditAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "order_id",
        "tenant",
        "model_version",
        "predicted_eta_minutes",
        "confidence_score",
        "is_ood",
        "used_fallback",
        "latency_ms",
        "created_at",
    )
    list_filter = ("tenant", "model_version", "source", "is_ood", "used_fallback", "created_at")
    search_fields = ("=order_id", "=request_id")
    date_hierarchy = "created_at"
    list_select_related = ("tenant", "model_version__registered_model")
    # The default paginator counts every row; on an audit table of millions that count is the slow part.
    show_full_result_count = False


@admin.register(PredictionOutcome)
class PredictionOutcomeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("audit", "tenant", "model_version", "actual_minutes", "error_minutes", "reported_at")
    list_filter = ("tenant", "model_version", "reported_at")
    search_fields = ("=audit__order_id",)
    list_select_related = ("tenant", "audit", "model_version__registered_model")


@admin.register(ShadowPrediction)
class ShadowPredictionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("audit", "tenant", "model_version", "predicted_eta_minutes", "is_ood", "latency_ms", "created_at")
    list_filter = ("tenant", "model_version", "created_at")
    search_fields = ("=audit__order_id",)
    list_select_related = ("tenant", "audit", "model_version__registered_model")
    show_full_result_count = False  # as for the audit table: one row per shadow-scored prediction


@admin.register(BatchPredictionRun)
class BatchPredictionRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("input_name", "tenant", "model_version", "rows", "started_at", "finished_at", "created_by")
    list_filter = ("tenant", "model_version")
    list_select_related = ("tenant", "model_version__registered_model")


@admin.register(PredictionAuditArchive)
class PredictionAuditArchiveAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Months of the audit moved out of the table by retention: where each file is and what it must hash to."""

    list_display = ("month", "rows", "size_bytes", "path", "sha256", "archived_at", "archived_by")
    date_hierarchy = "month"
