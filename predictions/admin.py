"""Prediction audit, outcomes, shadow predictions and batch runs in the admin: read-only, searchable by order id."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from intellilog.admin import (
    ReadOnlyAdminMixin,
    VersionListFilter,
    facts_table,
    minutes,
    raw_json_details,
    record_facts,
    rounded_column,
    warning_flag,
)
from predictions.charts import audit_explanation_chart
from predictions.models import (
    BatchPredictionRun,
    PredictionAudit,
    PredictionAuditArchive,
    PredictionOutcome,
    ShadowPrediction,
)


class ServedColumns:
    """List columns of a served or shadow-scored prediction, rounded, with a bad state as a warning."""

    @admin.display(description="ETA (min)", ordering="predicted_eta_minutes")
    def eta(self, prediction: PredictionAudit | ShadowPrediction) -> str:
        return f"{prediction.predicted_eta_minutes:.1f}"

    @admin.display(description="confidence", ordering="confidence_score")
    def confidence(self, prediction: PredictionAudit | ShadowPrediction) -> str:
        return f"{prediction.confidence_score:.2f}"

    @admin.display(description="out of distribution", ordering="is_ood")
    def out_of_distribution(self, prediction: PredictionAudit | ShadowPrediction) -> str:
        return warning_flag(prediction.is_ood, "out of distribution")

    @admin.display(description="latency (ms)", ordering="latency_ms")
    def latency(self, prediction: PredictionAudit | ShadowPrediction) -> str:
        return f"{prediction.latency_ms:.1f}"


@admin.register(PredictionAudit)
class PredictionAuditAdmin(ServedColumns, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "order_id",
        "tenant",
        "model_version",
        "eta",
        "confidence",
        "out_of_distribution",
        "fallback",
        "latency",
        "created_at",
    )
    fields = ("summary", "explanation_picture", "raw")
    readonly_fields = fields
    list_filter = ("tenant", ("model_version", VersionListFilter), "source", "is_ood", "used_fallback", "created_at")
    search_fields = ("=order_id", "=request_id")
    date_hierarchy = "created_at"
    list_select_related = ("tenant", "model_version__registered_model__tenant")
    # The default paginator counts every row; on an audit table of millions that count is the slow part.
    show_full_result_count = False

    @admin.display(description="feature fallback", ordering="used_fallback")
    def fallback(self, audit: PredictionAudit) -> str:
        return warning_flag(audit.used_fallback, "fallback")

    @admin.display(description="prediction")
    def summary(self, audit: PredictionAudit) -> str:
        quantiles = audit.quantiles or {}
        flags = audit.response.get("out_of_range_features") or []
        rows = [
            ("order", audit.order_id),
            ("served by", f"{audit.model_version} at {audit.created_at:%Y-%m-%d %H:%M:%S %Z} ({audit.source})"),
            ("point ETA", f"{audit.predicted_eta_minutes:.1f} min"),
            *(
                (name, f"{quantiles[name]:.1f} min")
                for name in ("p05", "p25", "p50", "p75", "p95")
                if name in quantiles
            ),
            ("confidence", f"{audit.confidence_score:.2f}"),
            ("out of distribution", "; ".join(f"{f['feature']}: {f['reason']}" for f in flags) or "no"),
            ("feature fallback", "yes" if audit.used_fallback else "no"),
            ("latency", f"{audit.latency_ms:.1f} ms"),
        ]
        return facts_table(rows)

    @admin.display(description="explanation")
    def explanation_picture(self, audit: PredictionAudit) -> str:
        uri = audit_explanation_chart(audit.response)
        if uri is None and audit.response.get("is_explained") is False:
            return "none asked for: the file was scored by predict_batch without --explain"
        if uri is None:
            return "no explanation stored"
        return format_html('<img class="il-chart" src="{}" alt="SHAP waterfall and quantile band">', uri)

    @admin.display(description="raw")
    def raw(self, audit: PredictionAudit) -> str:
        return raw_json_details(
            {
                "request": audit.request,
                "order": audit.order,
                "features": audit.features,
                "feature_freshness": audit.feature_freshness,
                "response": audit.response,
            }
        )


@admin.register(PredictionOutcome)
class PredictionOutcomeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "audit",
        "tenant",
        "model_version",
        rounded_column("actual_minutes", "actual", minutes),
        rounded_column("error_minutes", "error (predicted - actual)", minutes),
        "reported_at",
    )
    list_filter = ("tenant", ("model_version", VersionListFilter), "reported_at")
    search_fields = ("=audit__order_id",)
    list_select_related = ("tenant", "audit", "model_version__registered_model__tenant")
    fields = ("facts",)
    readonly_fields = fields

    @admin.display(description="outcome")
    def facts(self, outcome: PredictionOutcome) -> str:
        return record_facts(
            outcome, ("audit", "delivery", "model_version", "actual_minutes", "error_minutes", "reported_at")
        )


@admin.register(ShadowPrediction)
class ShadowPredictionAdmin(ServedColumns, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("audit", "tenant", "model_version", "eta", "out_of_distribution", "latency", "created_at")
    list_filter = ("tenant", ("model_version", VersionListFilter), "created_at")
    search_fields = ("=audit__order_id",)
    list_select_related = ("tenant", "audit", "model_version__registered_model__tenant")
    show_full_result_count = False  # as for the audit table: one row per shadow-scored prediction
    fields = ("facts", "raw")
    readonly_fields = fields

    @admin.display(description="shadow prediction")
    def facts(self, prediction: ShadowPrediction) -> str:
        names = ("audit", "model_version", "predicted_eta_minutes", "confidence_score", "latency_ms", "created_at")
        band = ", ".join(f"{name} {minutes(value)}" for name, value in prediction.quantiles.items())
        return record_facts(prediction, names) + facts_table(
            [("quantiles", band), ("out of distribution", warning_flag(prediction.is_ood, "out of distribution"))]
        )

    @admin.display(description="raw")
    def raw(self, prediction: ShadowPrediction) -> str:
        return raw_json_details({"quantiles": prediction.quantiles, "artifact_sha256": prediction.artifact_sha256})


@admin.register(BatchPredictionRun)
class BatchPredictionRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "input_name",
        "tenant",
        "model_version",
        "rows",
        "started_at",
        "finished_at",
        "created_by",
        "request_id",
    )
    list_filter = ("tenant", ("model_version", VersionListFilter))
    list_select_related = ("tenant", "model_version__registered_model__tenant")


@admin.register(PredictionAuditArchive)
class PredictionAuditArchiveAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Months of the audit moved out of the table by retention: where each file is and what it must hash to."""

    list_display = ("month", "rows", "size_bytes", "path", "sha256", "archived_at", "archived_by")
    date_hierarchy = "month"
