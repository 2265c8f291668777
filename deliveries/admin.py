from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from deliveries.charts import distribution_charts
from deliveries.models import DataQualityReport, Delivery, ImportBatch, RejectedRow
from deliveries.selectors import delivery_rows_frame, plausible_q
from intellilog.admin import ReadOnlyAdminMixin, document_facts, raw_json_details, share


class RejectedRowInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = RejectedRow
    fields = ("line_number", "reasons")
    readonly_fields = fields
    max_num = 0
    show_change_link = False

    @admin.display(description="column: reason")
    def reasons(self, row: RejectedRow) -> str:
        return "; ".join(f"{e['column']}: {e['reason']}" for e in row.errors)


class DataQualityReportInline(ReadOnlyAdminMixin, admin.StackedInline):
    model = DataQualityReport
    fields = ("score_of_100", "passes_gate", "gate", "shares", "score_parts", "details")
    readonly_fields = fields

    @admin.display(description="score")
    def score_of_100(self, report: DataQualityReport) -> str:
        return f"{report.score:.1f} / 100"

    @admin.display(description="gate threshold")
    def gate(self, report: DataQualityReport) -> str:
        return f"{report.gate_threshold:.1f} / 100"

    @admin.display(description="valid rows, duplicates")
    def shares(self, report: DataQualityReport) -> str:
        return f"{share(report.validity)} valid, {share(report.duplicate_share)} duplicates"

    @admin.display(description="score components (weighted in core.delivery.quality)")
    def score_parts(self, report: DataQualityReport) -> str:
        return ", ".join(f"{name} {share(value)}" for name, value in report.components.items())

    @admin.display(description="completeness, outliers, distribution change")
    def details(self, report: DataQualityReport) -> SafeString:
        payload = {
            "completeness": report.completeness,
            "outliers": report.outliers,
            "distribution_shift": report.distribution_shift,
        }
        return document_facts(payload) + raw_json_details(payload)


@admin.register(ImportBatch)
class ImportBatchAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "tenant",
        "file_name",
        "source",
        "rows_read",
        "rows_imported",
        "rows_rejected",
        "rows_duplicate",
        "quality_score",
        "started_at",
    )
    list_filter = ("tenant", "source")
    search_fields = ("file_name", "file_sha256")
    readonly_fields = (
        "tenant",
        "source",
        "file_name",
        "file_sha256",
        "rows_read",
        "rows_imported",
        "rows_rejected",
        "rows_duplicate",
        "repairs",
        "started_at",
        "finished_at",
        "created_by",
        "distributions",
    )
    fields = readonly_fields
    inlines = [DataQualityReportInline, RejectedRowInline]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("tenant", "quality_report")

    @admin.display(description="quality")
    def quality_score(self, batch: ImportBatch) -> str:
        report = getattr(batch, "quality_report", None)
        return f"{report.score:.1f}{'' if report.passes_gate else ' (fails gate)'}" if report else "-"

    @admin.display(description="normalisations (rows repaired, per kind)")
    def repairs(self, batch: ImportBatch) -> SafeString:
        return document_facts(batch.normalisations) + raw_json_details(batch.normalisations)

    @admin.display(description="column distributions of the imported rows")
    def distributions(self, batch: ImportBatch) -> SafeString:
        charts = distribution_charts(delivery_rows_frame(batch.deliveries.filter(plausible_q(now=timezone.now()))))
        if not charts:
            return format_html("<em>{}</em>", "no rows imported in this batch")
        return format_html_join(
            "",
            "<img src='{}' alt='{}' style='margin:2px;border:1px solid #ddd'>",
            ((c.data_uri, c.title) for c in charts),
        )


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("external_order_id", "tenant", "courier_id", "ordered_at", "vehicle", "traffic", "delivery_minutes")
    list_filter = ("tenant", "vehicle", "traffic", "weather", "area", "has_usable_coordinates")
    search_fields = ("external_order_id", "courier_id")
    date_hierarchy = "ordered_at"
    list_select_related = ("tenant",)
    show_full_result_count = False
