"""Monitoring admin."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from intellilog.admin import ReadOnlyAdminMixin
from monitoring.models import Alert, AlertChannel, AlertNotification
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
