"""Monitoring admin."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django_celery_beat import admin as celery_beat_admin
from django_celery_beat.models import PeriodicTask

from intellilog.admin import ReadOnlyAdminMixin
from monitoring.charts import drift_report_charts
from monitoring.models import AccuracyReport, Alert, AlertChannel, AlertNotification, DriftReport, RetrainingTrigger
from monitoring.services import alert_notification_retry_now

# --- Alerts -------------------------------------------------------------------------------------------------


class AlertChannelForm(forms.ModelForm):
    """The routing key is write-only: never rendered back into the page, kept when the field is left blank."""

    # https is the scheme every hosted receiver (PagerDuty, Slack) uses: assumed when an operator leaves it out.
    url = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text=AlertChannel._meta.get_field("url").help_text,
    )
    routing_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="PagerDuty only. Write-only: leave blank to keep the current key.",
    )

    class Meta:
        model = AlertChannel
        fields = ("name", "kind", "url", "routing_key", "min_severity", "is_enabled")

    def clean_routing_key(self) -> str:
        return self.cleaned_data["routing_key"] or (self.instance.routing_key if self.instance.pk else "")


@admin.register(AlertChannel)
class AlertChannelAdmin(admin.ModelAdmin):
    form = AlertChannelForm
    list_display = ("name", "kind", "destination", "has_routing_key", "min_severity", "is_enabled", "updated_at")
    list_filter = ("kind", "is_enabled", "min_severity")

    @admin.display(description="routing key", boolean=True)
    def has_routing_key(self, channel: AlertChannel) -> bool:
        return bool(channel.routing_key)


class NotificationInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = AlertNotification
    fields = ("created_at", "channel", "event", "status", "attempts", "next_attempt_at", "sent_at", "last_error")
    readonly_fields = fields
    ordering = ("created_at", "id")
    show_change_link = True


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "summary_short",
        "rule",
        "severity",
        "status",
        "tenant",
        "occurrences",
        "first_fired_at",
        "last_seen_at",
        "resolved_at",
    )
    list_filter = ("rule", "status", "severity", "tenant")
    search_fields = ("dedup_key", "subject", "summary")
    list_select_related = ("tenant",)
    date_hierarchy = "first_fired_at"
    fields = (
        "rule",
        "severity",
        "status",
        "tenant",
        "subject",
        "dedup_key",
        "summary",
        "details_pretty",
        "first_fired_at",
        "last_seen_at",
        "occurrences",
        "resolved_at",
    )
    readonly_fields = fields
    inlines = [NotificationInline]

    @admin.display(description="summary")
    def summary_short(self, alert: Alert) -> str:
        return alert.summary if len(alert.summary) <= 100 else alert.summary[:99] + "…"

    @admin.display(description="details")
    def details_pretty(self, alert: Alert) -> str:
        return format_html("<pre>{}</pre>", json.dumps(alert.details, indent=2, sort_keys=True))


@admin.register(AlertNotification)
class AlertNotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "status", "attempts", "next_attempt_at", "sent_at", "last_error_short", "created_at")
    list_filter = ("status", "event", "channel")
    list_select_related = ("alert", "channel")
    search_fields = ("alert__dedup_key",)
    fields = (
        "alert",
        "channel",
        "event",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
        "payload_pretty",
        "created_at",
    )
    readonly_fields = fields
    actions = ["retry_now"]

    @admin.display(description="last error")
    def last_error_short(self, notification: AlertNotification) -> str:
        error = notification.last_error
        return error if len(error) <= 80 else error[:79] + "…"

    @admin.display(description="payload")
    def payload_pretty(self, notification: AlertNotification) -> str:
        return format_html("<pre>{}</pre>", json.dumps(notification.payload, indent=2, sort_keys=True))

    def has_retry_permission(self, request: HttpRequest) -> bool:
        # The read-only mixin hides the change form; retrying is still a change, so it needs that permission.
        return request.user.has_perm("monitoring.change_alertnotification")

    @admin.action(description="Retry now", permissions=["retry"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[AlertNotification]) -> None:
        # Counted first: with a status filter on the list, the retried rows leave the queryset.
        selected = queryset.count()
        count = alert_notification_retry_now(notifications=queryset)
        skipped = selected - count
        message = f"{count} notification(s) queued for delivery now."
        if skipped:
            message += f" {skipped} already sent, left alone."
        self.message_user(request, message, messages.SUCCESS)


# --- Live-traffic checks ------------------------------------------------------------------------------------


@admin.register(DriftReport)
class DriftReportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "window_end",
        "tenant",
        "model_version",
        "status",
        "severity",
        "drifted_list",
        "raw_drifted_list",
        "impact",
        "n_current",
        "n_reference",
        "alert",
    )
    list_filter = ("severity", "status", "is_drifted", "tenant", "model_version")
    list_select_related = ("tenant", "model_version__registered_model__tenant", "alert")
    date_hierarchy = "window_end"
    fields = (
        "tenant",
        "model_version",
        "window_start",
        "window_end",
        "status",
        "severity",
        "drifted_list",
        "raw_drifted_list",
        "impact",
        "strata",
        "n_current",
        "n_reference",
        "note",
        "alert",
        "feature_table",
        "plots",
        "thresholds",
        "duration_ms",
        "created_at",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[DriftReport]:
        # The list never shows the result JSON (histograms of every feature): not loaded for 100 rows; the
        # detail page reads it with one more query.
        return super().get_queryset(request).defer("result")

    @admin.display(description="drifted (adjusted)")
    def drifted_list(self, report: DriftReport) -> str:
        return ", ".join(report.drifted_features) or "-"

    @admin.display(description="drifted (raw)")
    def raw_drifted_list(self, report: DriftReport) -> str:
        return ", ".join(report.raw_drifted_features) or "-"

    @admin.display(description="ETA impact (min)", ordering="impact_minutes")
    def impact(self, report: DriftReport) -> str:
        return _number(report.impact_minutes)

    @admin.display(description="strata")
    def strata(self, report: DriftReport) -> str:
        strata = ", ".join(report.result.get("strata") or []) or "-"
        mix = report.result.get("day_type_mix")
        return strata if mix is None else f"{strata} (share of the higher kind of day {mix:.0%})"

    @admin.display(description="tests")
    def feature_table(self, report: DriftReport) -> SafeString:
        raw_effects = (report.result.get("raw") or {}).get("effects") or {}
        rows = [*report.result.get("features", [])]
        if report.result.get("prediction"):
            rows.append(report.result["prediction"])
        multivariate = report.result.get("multivariate")
        if multivariate:
            rows.append({**multivariate, "feature": "multivariate (MMD)", "kind": "joint", "test": "mmd"})
        if not rows:
            return format_html("<em>{}</em>", "no tests ran")
        body = format_html_join(
            "",
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td></tr>",
            (
                (
                    mark_safe(" style='background:#fde2e1'") if row.get("is_drifted") else "",
                    row["feature"],
                    row["kind"],
                    row.get("test") or row.get("status"),
                    f"{row.get('n_current', 0)} / {row.get('n_reference', 0)}",
                    _number(row.get("p_value")),
                    _number(row.get("corrected_p_value")),
                    f"{row['effect_metric']} {_number(row.get('effect_size'))} (min {row['min_effect']:g})",
                    _number(raw_effects.get(row["feature"])) if row["kind"] != "missing_share" else "",
                    row.get("severity", ""),
                )
                for row in rows
            ),
        )
        return format_html(
            "<table><thead><tr><th>feature</th><th>kind</th><th>test</th><th>current / reference</th>"
            "<th>p</th><th>corrected p</th><th>effect (adjusted)</th><th>effect (raw)</th><th>severity</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            body,
        )

    @admin.display(description="reference vs current (drifted tests)")
    def plots(self, report: DriftReport) -> SafeString:
        charts = drift_report_charts(report.result)
        if not charts:
            return format_html("<em>{}</em>", "nothing drifted")
        return format_html_join(
            "",
            "<img src='{}' alt='{}' style='margin:2px;border:1px solid #ddd'>",
            ((chart.data_uri, chart.title) for chart in charts),
        )

    @admin.display(description="thresholds")
    def thresholds(self, report: DriftReport) -> str:
        return format_html("<pre>{}</pre>", json.dumps(report.result.get("thresholds", {}), indent=2))


@admin.register(AccuracyReport)
class AccuracyReportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "window_end",
        "tenant",
        "model_version",
        "status",
        "outcomes",
        "mae",
        "baseline_mae",
        "recent_outcomes",
        "recent_mae",
        "recent_baseline_mae",
        "excess",
        "within_5_share",
        "cusum_ratio",
        "is_degraded",
        "alert",
    )
    list_filter = ("is_degraded", "status", "tenant", "model_version")
    list_select_related = ("tenant", "model_version__registered_model__tenant", "alert")
    date_hierarchy = "window_end"
    fields = (
        "tenant",
        "model_version",
        "window_start",
        "window_end",
        "status",
        "outcomes",
        "mae",
        "within_5_share",
        "mean_error",
        "recent_window_start",
        "recent_outcomes",
        "recent_mae",
        "recent_within_5_share",
        "validation_mae",
        "baseline_mae",
        "recent_baseline_mae",
        "excess",
        "tolerance",
        "min_outcomes",
        "max_bias_minutes",
        "is_degraded",
        "findings_pretty",
        "cusum_ratio",
        "change_detection_pretty",
        "alert",
        "segment_table",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="MAE excess (min): adjusted / raw")
    def excess(self, report: AccuracyReport) -> str:
        """The realized impact: minutes of MAE over the validation MAE at the window's hours (adjusted), and over
        the version's overall validation MAE (raw, what a plain comparison would show)."""
        if report.mae is None:
            return "-"
        adjusted = f"{report.mae - report.baseline_mae:+.2f}" if report.baseline_mae is not None else "-"
        raw = f"{report.mae - report.validation_mae:+.2f}" if report.validation_mae is not None else "-"
        return f"{adjusted} / {raw}"

    @admin.display(description="tests per window")
    def findings_pretty(self, report: AccuracyReport) -> str:
        return format_html("<pre>{}</pre>", json.dumps(report.findings, indent=2))

    @admin.display(description="sequential change (CUSUM)")
    def change_detection_pretty(self, report: AccuracyReport) -> str:
        return format_html("<pre>{}</pre>", json.dumps(report.change_detection, indent=2))

    @admin.display(description="segments")
    def segment_table(self, report: AccuracyReport) -> SafeString:
        if not report.segments:
            return format_html("<em>{}</em>", "no outcomes")
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    segment["dimension"],
                    segment["value"],
                    segment["count"],
                    _number(segment["mae"]),
                    f"{segment['within_5_share']:.0%}",
                )
                for segment in report.segments
            ),
        )
        return format_html(
            "<table><thead><tr><th>dimension</th><th>value</th><th>outcomes</th><th>MAE</th><th>within 5 min</th>"
            "</tr></thead><tbody>{}</tbody></table>",
            body,
        )


@admin.register(RetrainingTrigger)
class RetrainingTriggerAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "tenant", "decision", "alert", "reason")
    list_filter = ("decision", "tenant")
    list_select_related = ("tenant", "alert")
    fields = ("created_at", "tenant", "decision", "alert", "reason")
    readonly_fields = fields


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


# --- Beat schedule (django-celery-beat's admin, with permissions on its actions) ------------------------------


class PeriodicTaskAdmin(celery_beat_admin.PeriodicTaskAdmin):
    """django-celery-beat's page, except that enabling, disabling and running tasks needs the change permission.

    Its actions declare no permission, so anyone who may view the schedule could run any task from it.
    """

    actions = [
        admin.action(permissions=["change"])(getattr(celery_beat_admin.PeriodicTaskAdmin, name))
        for name in celery_beat_admin.PeriodicTaskAdmin.actions
    ]


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, PeriodicTaskAdmin)
