"""Monitoring admin."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django_celery_beat import admin as celery_beat_admin
from django_celery_beat.models import PeriodicTask

from intellilog.admin import (
    ReadOnlyAdminMixin,
    VersionListFilter,
    actions_with_permission,
    data_table,
    document_facts,
    facts_table,
    minutes,
    number,
    raw_json_details,
    readable,
    rounded_column,
    share,
    warning_flag,
)
from intellilog.charts import png_data_uri
from monitoring.charts import accuracy_history_figure, drift_report_charts
from monitoring.live.accuracy_rules import ALL_OUTCOMES
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
        "details_table",
        "raw",
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
    def details_table(self, alert: Alert) -> SafeString:
        return document_facts(alert.details)

    @admin.display(description="raw")
    def raw(self, alert: Alert) -> SafeString:
        return raw_json_details(alert.details)


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
    def payload_pretty(self, notification: AlertNotification) -> SafeString:
        return document_facts(notification.payload) + raw_json_details(notification.payload)

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
    list_filter = ("severity", "status", "is_drifted", "tenant", ("model_version", VersionListFilter))
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
        "duration",
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
    def thresholds(self, report: DriftReport) -> SafeString:
        return document_facts(report.result.get("thresholds", {}))

    @admin.display(description="duration")
    def duration(self, report: DriftReport) -> str:
        return readable("duration_ms", report.duration_ms)


# How far back an accuracy report's page plots its version's history: a week shows daily and weekly patterns.
HISTORY = dt.timedelta(days=7)


@admin.register(AccuracyReport)
class AccuracyReportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "window_end",
        "tenant",
        "model_version",
        "status",
        "outcomes",
        rounded_column("mae", "MAE", minutes),
        rounded_column("baseline_mae", "baseline MAE", minutes),
        "recent_outcomes",
        rounded_column("recent_mae", "recent MAE", minutes),
        rounded_column("recent_baseline_mae", "recent baseline MAE", minutes),
        "excess",
        rounded_column("within_5_share", "within 5 min", share),
        rounded_column("cusum_ratio", "CUSUM / threshold", number),
        "degraded",
        "alert",
    )
    list_filter = ("is_degraded", "status", "tenant", ("model_version", VersionListFilter))
    list_select_related = ("tenant", "model_version__registered_model__tenant", "alert")
    date_hierarchy = "window_end"
    fields = (
        "tenant",
        "model_version",
        "window_start",
        "window_end",
        "status",
        "degraded",
        "figures",
        "history",
        "findings_table",
        "change_detection_table",
        "alert",
        "segment_table",
        "raw",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="degraded", ordering="is_degraded")
    def degraded(self, report: AccuracyReport) -> str:
        return warning_flag(report.is_degraded, "degraded")

    @admin.display(description="MAE excess (min): adjusted / raw")
    def excess(self, report: AccuracyReport) -> str:
        """The realized impact: minutes of MAE over the validation MAE at the window's hours (adjusted), and over
        the version's overall validation MAE (raw, what a plain comparison would show)."""
        if report.mae is None:
            return "-"
        adjusted = f"{report.mae - report.baseline_mae:+.2f}" if report.baseline_mae is not None else "-"
        raw = f"{report.mae - report.validation_mae:+.2f}" if report.validation_mae is not None else "-"
        return f"{adjusted} / {raw}"

    @admin.display(description="figures")
    def figures(self, report: AccuracyReport) -> SafeString:
        return facts_table(
            [
                ("outcomes", f"{report.outcomes} (at least {report.min_outcomes} to judge)"),
                ("MAE", minutes(report.mae)),
                ("within 5 min", share(report.within_5_share)),
                ("bias (predicted - actual)", minutes(report.mean_error)),
                ("recent window", f"since {report.recent_window_start:%Y-%m-%d %H:%M %Z}"),
                ("recent outcomes", report.recent_outcomes),
                ("recent MAE", minutes(report.recent_mae)),
                ("recent within 5 min", share(report.recent_within_5_share)),
                ("validation MAE", minutes(report.validation_mae)),
                ("baseline MAE (validation at these hours)", minutes(report.baseline_mae)),
                ("recent baseline MAE", minutes(report.recent_baseline_mae)),
                ("MAE excess (min): adjusted / raw", self.excess(report)),
                ("limits", f"MAE {report.tolerance:+.0%}, bias {minutes(report.max_bias_minutes)}"),
                ("CUSUM / threshold", number(report.cusum_ratio)),
            ]
        )

    @admin.display(description="last 7 days of this version")
    def history(self, report: AccuracyReport) -> SafeString:
        # One query, only the plotted columns: the reports' JSON (segments, findings) is not needed here.
        reports = (
            AccuracyReport.objects.filter(
                model_version_id=report.model_version_id,
                window_end__gt=report.window_end - HISTORY,
                window_end__lte=report.window_end,
            )
            .order_by("window_end")
            .only("window_end", "mae", "baseline_mae", "tolerance", "cusum_ratio")
        )
        figure = accuracy_history_figure(list(reports))
        if figure is None:
            return format_html("<em>{}</em>", "no MAE measured in these days")
        return format_html(
            '<img class="il-chart" src="{}" alt="realized MAE and CUSUM over time">', png_data_uri(figure)
        )

    @admin.display(description="tests per window")
    def findings_table(self, report: AccuracyReport) -> SafeString:
        if not report.findings:
            return format_html("<em>{}</em>", "no windows tested")
        return data_table(
            ("window", "live MAE", "baseline MAE", "MAE increase", "p", "bias shift", "p (bias)", "verdict"),
            (
                (
                    finding["window"],
                    minutes((finding["live"] or {}).get("mae")),
                    minutes((finding["baseline"] or {}).get("mae")),
                    f"{finding['mae_increase']:+.1%}",
                    number(finding["mae_p_value"]),
                    f"{finding['bias_shift']:+.2f} min",
                    number(finding["bias_p_value"]),
                    _verdict(finding),
                )
                for finding in report.findings
            ),
        )

    @admin.display(description="sequential change (CUSUM)")
    def change_detection_table(self, report: AccuracyReport) -> SafeString:
        detection = report.change_detection
        if not detection:
            return format_html("<em>{}</em>", "not run")
        streams = [detection["overall"], *detection.get("segments", [])]
        return data_table(
            # The shift is of the error (predicted - actual) from its validation bias: negative when slower.
            ("stream", "outcomes", "direction", "error shift", "statistic / threshold", "since", "alarm"),
            (
                (
                    _stream_name(stream),
                    stream["count"],
                    stream["direction"],
                    minutes(stream["shift_minutes"]),
                    f"{number(max(stream['upper'], stream['lower']))} / {number(stream['threshold'])}",
                    readable("since_at", stream["since"]),
                    warning_flag(stream["is_alarm"], "alarm"),
                )
                for stream in streams
            ),
        )

    @admin.display(description="segments")
    def segment_table(self, report: AccuracyReport) -> SafeString:
        if not report.segments:
            return format_html("<em>{}</em>", "no outcomes")
        return data_table(
            ("dimension", "value", "outcomes", "MAE", "within 5 min"),
            (
                (
                    segment["dimension"],
                    segment["value"],
                    segment["count"],
                    minutes(segment["mae"]),
                    share(segment["within_5_share"]),
                )
                for segment in report.segments
            ),
        )

    @admin.display(description="raw")
    def raw(self, report: AccuracyReport) -> SafeString:
        return raw_json_details(
            {"findings": report.findings, "change_detection": report.change_detection, "segments": report.segments}
        )


def _verdict(finding: dict[str, Any]) -> str:
    if not finding["is_judged"]:
        return "too few outcomes"
    broken = [name for name, key in (("MAE", "is_mae_degraded"), ("bias", "is_bias_degraded")) if finding[key]]
    return f"{' and '.join(broken)} degraded" if broken else "within limits"


def _stream_name(stream: dict[str, Any]) -> str:
    """As `StreamChange.name`: the whole window by its own name, a segment as dimension=value."""
    return stream["value"] if stream["dimension"] == ALL_OUTCOMES else f"{stream['dimension']}={stream['value']}"


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

    actions = actions_with_permission(celery_beat_admin.PeriodicTaskAdmin, "change")


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, PeriodicTaskAdmin)
