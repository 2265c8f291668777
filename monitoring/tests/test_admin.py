"""Admin pages: alerts and deliveries are read-only records, channels are edited there, "retry now" is gated."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from monitoring.choices import AlertSeverity, ChannelKind, NotificationStatus
from monitoring.models import Alert, AlertChannel, AlertNotification
from monitoring.services import alert_resolve
from monitoring.tests.factories import AlertChannelFactory, raise_example
from registry.tests.factories import UserFactory
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

ROUTING_KEY = "R0UTINGKEY0123456789abcdef"


def test_alerts_are_listed_with_filters_and_shown_with_their_notifications(admin_client) -> None:  # type: ignore[no-untyped-def]
    AlertChannelFactory(name="ops-webhook")
    tenant = TenantFactory(slug="acme")
    alert = raise_example(tenant=tenant, summary="distance_km drifted")
    raise_example(rule="stale_features", subject="courier states", summary="feature states 7 h old")
    alert_resolve(rule="drift", tenant=tenant, subject=alert.subject)

    listing = admin_client.get(reverse("admin:monitoring_alert_changelist")).content.decode()
    only_stale = admin_client.get(reverse("admin:monitoring_alert_changelist"), {"rule": "stale_features"})
    detail = admin_client.get(reverse("admin:monitoring_alert_change", args=[alert.pk])).content.decode()

    assert "distance_km drifted" in listing and "feature states 7 h old" in listing
    for filter_title in ("By rule", "By status", "By severity", "By tenant"):
        assert filter_title in listing
    assert "feature states 7 h old" in only_stale.content.decode()
    assert "distance_km drifted" not in only_stale.content.decode()
    assert "ops-webhook" in detail and "Trigger" in detail and "Resolve" in detail
    assert alert.dedup_key in detail and 'name="_save"' not in detail


def test_alert_details_are_a_table_with_units_and_the_json_is_kept_raw(admin_client) -> None:  # type: ignore[no-untyped-def]
    details = {"validation_mae": 2.8697684540483537, "share": 0.123456, "latency_ms": 51.478676999977324, "n": 7}
    alert = raise_example(rule="accuracy_degradation", summary="accuracy worse", details=details)

    detail = admin_client.get(reverse("admin:monitoring_alert_change", args=[alert.pk])).content.decode()

    before, rest = detail.split('<details class="il-raw">', 1)
    raw, after = rest.split("</details>", 1)
    page = before + after
    assert "2.87 min" in page and "12.3%" in page and "51.5 ms" in page
    assert "2.8697684540483537" not in page and "51.478676999977324" not in page
    assert "2.8697684540483537" in raw and "51.478676999977324" in raw


def test_alerts_cannot_be_added_changed_or_deleted(admin_client) -> None:  # type: ignore[no-untyped-def]
    alert = raise_example()

    assert admin_client.get(reverse("admin:monitoring_alert_add")).status_code == 403
    response = admin_client.post(reverse("admin:monitoring_alert_delete", args=[alert.pk]), {"post": "yes"})

    assert response.status_code == 403 and Alert.objects.filter(pk=alert.pk).exists()


def test_an_operator_adds_a_pagerduty_channel_and_its_key_is_never_shown(admin_client) -> None:  # type: ignore[no-untyped-def]
    response = admin_client.post(
        reverse("admin:monitoring_alertchannel_add"),
        {"name": "pd", "kind": "pagerduty", "url": "", "routing_key": ROUTING_KEY, "min_severity": "critical"},
    )
    assert response.status_code == 302
    channel = AlertChannel.objects.get(name="pd")
    assert channel.routing_key == ROUTING_KEY and not channel.is_enabled  # an unticked box is "disabled"

    change_url = reverse("admin:monitoring_alertchannel_change", args=[channel.pk])
    page = admin_client.get(change_url).content.decode()
    listing = admin_client.get(reverse("admin:monitoring_alertchannel_changelist")).content.decode()
    assert ROUTING_KEY not in page and ROUTING_KEY not in listing
    assert "https://events.pagerduty.com/…" in listing

    # Saving other fields with the key left blank keeps the key.
    admin_client.post(
        change_url,
        {
            "name": "pd",
            "kind": "pagerduty",
            "url": "",
            "routing_key": "",
            "min_severity": "warning",
            "is_enabled": "on",
        },
    )
    channel.refresh_from_db()
    assert channel.routing_key == ROUTING_KEY and channel.is_enabled and channel.min_severity == "warning"


def test_channel_listing_shows_the_host_not_the_token(admin_client) -> None:  # type: ignore[no-untyped-def]
    AlertChannelFactory(kind=ChannelKind.SLACK, url="https://hooks.slack.example/services/T0/B0/SLACKTOKENxyz")

    listing = admin_client.get(reverse("admin:monitoring_alertchannel_changelist")).content.decode()

    assert "https://hooks.slack.example/…" in listing and "SLACKTOKEN" not in listing


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"kind": "pagerduty", "url": ""}, "A PagerDuty channel needs its routing key."),
        ({"kind": "slack", "url": ""}, "A webhook or Slack channel needs the URL to POST to."),
        ({"kind": "webhook", "url": "https://x.example/h", "routing_key": "k"}, "Only PagerDuty channels use"),
    ],
)
def test_an_incomplete_channel_is_refused_naming_the_field(admin_client, fields: dict[str, str], error: str) -> None:  # type: ignore[no-untyped-def]
    response = admin_client.post(
        reverse("admin:monitoring_alertchannel_add"), {"name": "x", "min_severity": "info", **fields}
    )
    assert response.status_code == 200 and error in response.content.decode()
    assert not AlertChannel.objects.exists()


def failed_notification() -> AlertNotification:
    AlertChannelFactory(min_severity=AlertSeverity.INFO)
    raise_example()
    notification = AlertNotification.objects.get()
    notification.status, notification.attempts, notification.last_error = NotificationStatus.FAILED, 8, "HTTP 500"
    notification.save()
    return notification


def test_retry_now_makes_a_failed_notification_due_again(admin_client, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    notification = failed_notification()
    listing_url = reverse("admin:monitoring_alertnotification_changelist")
    assert "Retry now" in admin_client.get(listing_url).content.decode()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(
            listing_url, {"action": "retry_now", "_selected_action": [notification.pk]}, follow=True
        )

    assert "1 notification(s) queued for delivery now." in response.content.decode()
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.PENDING and notification.attempts == 8
    assert len(callbacks) == 1  # the delivery task is queued once committed


def test_retry_now_needs_the_change_permission(client) -> None:  # type: ignore[no-untyped-def]
    notification = failed_notification()
    viewer = UserFactory()
    viewer.user_permissions.add(Permission.objects.get(codename="view_alertnotification"))
    client.force_login(viewer)
    listing_url = reverse("admin:monitoring_alertnotification_changelist")

    page = client.get(listing_url)
    client.post(listing_url, {"action": "retry_now", "_selected_action": [notification.pk]})

    assert page.status_code == 200 and "Retry now" not in page.content.decode()
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.FAILED


def test_notification_page_shows_the_payload_read_only(admin_client) -> None:  # type: ignore[no-untyped-def]
    notification = failed_notification()

    page = admin_client.get(reverse("admin:monitoring_alertnotification_change", args=[notification.pk]))

    assert f"&quot;dedup_key&quot;: &quot;{notification.alert.dedup_key}&quot;" in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
