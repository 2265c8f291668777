"""Raising and resolving alerts: de-duplication, escalation, resolution and the outbox rows they write."""

from __future__ import annotations

import pytest

from monitoring.choices import AlertSeverity, AlertStatus, ChannelKind, NotificationEvent, NotificationStatus
from monitoring.constants import DEDUP_KEY_MAX_LENGTH
from monitoring.models import Alert, AlertNotification
from monitoring.services import alert_dedup_key, alert_resolve
from monitoring.tests.factories import AlertChannelFactory, raise_example
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

SUBJECT = "eta v3 feature distance_km"


def test_raising_the_same_condition_twice_keeps_one_alert_and_one_notification() -> None:
    channel = AlertChannelFactory()
    tenant = TenantFactory()

    first = raise_example(tenant=tenant)
    second = raise_example(tenant=tenant, summary="still drifting", details={"p_value": 0.0001})

    assert second.pk == first.pk and Alert.objects.count() == 1
    assert second.occurrences == 2 and second.status == AlertStatus.FIRING
    assert second.first_fired_at == first.first_fired_at and second.last_seen_at > first.last_seen_at
    assert second.summary == "still drifting" and second.details == {"p_value": 0.0001}
    assert second.dedup_key == f"drift:{tenant.pk}:{SUBJECT}"
    [notification] = AlertNotification.objects.all()
    assert (notification.channel, notification.event, notification.status) == (
        channel,
        NotificationEvent.TRIGGER,
        NotificationStatus.PENDING,
    )
    assert notification.attempts == 0 and notification.payload["alert"]["occurrences"] == 1


def test_a_new_alert_goes_to_each_enabled_channel_that_accepts_its_severity() -> None:
    for_warnings = AlertChannelFactory(min_severity=AlertSeverity.WARNING)
    AlertChannelFactory(min_severity=AlertSeverity.CRITICAL)
    AlertChannelFactory(is_enabled=False)

    alert = raise_example(severity=AlertSeverity.WARNING)

    assert list(alert.notifications.values_list("channel", flat=True)) == [for_warnings.pk]


def test_each_channel_kind_gets_its_own_payload_and_no_routing_key_is_stored() -> None:
    AlertChannelFactory(kind=ChannelKind.WEBHOOK)
    AlertChannelFactory(kind=ChannelKind.SLACK, url="https://hooks.slack.example/services/T/B/SECRET")
    AlertChannelFactory(kind=ChannelKind.PAGERDUTY, url="", routing_key="R0UTINGKEY0123456789")

    alert = raise_example()

    payloads = {n.channel.kind: n.payload for n in alert.notifications.select_related("channel")}
    assert payloads["webhook"]["alert"]["dedup_key"] == alert.dedup_key
    assert "blocks" in payloads["slack"] and "text" in payloads["slack"]
    assert payloads["pagerduty"]["dedup_key"] == alert.dedup_key
    assert payloads["pagerduty"]["routing_key"] == "[redacted]"
    assert "R0UTINGKEY" not in str(list(AlertNotification.objects.values_list("payload", flat=True)))


def test_escalation_notifies_again_and_severity_never_falls_while_firing() -> None:
    for_all = AlertChannelFactory(min_severity=AlertSeverity.INFO)
    for_critical = AlertChannelFactory(min_severity=AlertSeverity.CRITICAL)

    raise_example(severity=AlertSeverity.WARNING)
    escalated = raise_example(severity=AlertSeverity.CRITICAL)
    calmer = raise_example(severity=AlertSeverity.WARNING)

    assert escalated.severity == AlertSeverity.CRITICAL and calmer.severity == AlertSeverity.CRITICAL
    assert calmer.occurrences == 3
    sent_to = list(calmer.notifications.order_by("pk").values_list("channel", "event", "payload__alert__severity"))
    assert sent_to == [
        (for_all.pk, "trigger", "warning"),
        (for_all.pk, "trigger", "critical"),
        (for_critical.pk, "trigger", "critical"),
    ]


def test_resolving_tells_the_triggered_channels_with_the_same_dedup_key() -> None:
    told = AlertChannelFactory(kind=ChannelKind.PAGERDUTY, url="", routing_key="R0UTINGKEY0123456789")
    AlertChannelFactory(min_severity=AlertSeverity.CRITICAL)  # never told it fired: not told it cleared
    alert = raise_example()

    resolved = alert_resolve(rule="drift", tenant=None, subject=SUBJECT)

    assert resolved is not None and resolved.pk == alert.pk
    assert resolved.status == AlertStatus.RESOLVED and resolved.resolved_at is not None
    trigger, resolve = alert.notifications.order_by("pk")
    assert resolve.channel == told and resolve.event == NotificationEvent.RESOLVE
    assert resolve.payload["event_action"] == "resolve"
    assert resolve.payload["dedup_key"] == trigger.payload["dedup_key"] == alert.dedup_key


def test_resolving_nothing_firing_is_a_no_op_and_a_later_raise_is_a_new_alert() -> None:
    AlertChannelFactory()
    assert alert_resolve(rule="drift", tenant=None, subject=SUBJECT) is None

    first = raise_example()
    alert_resolve(rule="drift", tenant=None, subject=SUBJECT)
    assert alert_resolve(rule="drift", tenant=None, subject=SUBJECT) is None
    again = raise_example()

    assert again.pk != first.pk and again.occurrences == 1 and again.dedup_key == first.dedup_key
    assert list(Alert.objects.order_by("pk").values_list("status", flat=True)) == ["resolved", "firing"]
    assert AlertNotification.objects.count() == 3  # trigger, resolve, trigger


def test_tenants_and_the_platform_have_separate_alerts() -> None:
    one, two = TenantFactory(), TenantFactory()

    alerts = {raise_example(tenant=tenant).pk for tenant in (one, two, None)}

    assert len(alerts) == 3
    assert Alert.objects.get(tenant=None).dedup_key == f"drift:platform:{SUBJECT}"


def test_an_overlong_dedup_key_is_shortened_stably() -> None:
    subject = "segment " + "x" * 400
    key = alert_dedup_key(rule="accuracy_degradation", tenant=None, subject=subject)

    assert len(key) == DEDUP_KEY_MAX_LENGTH
    assert key == alert_dedup_key(rule="accuracy_degradation", tenant=None, subject=subject)
    assert key != alert_dedup_key(rule="accuracy_degradation", tenant=None, subject=subject + "y")


def test_delivery_is_queued_only_after_commit_and_sends(receiver, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    AlertChannelFactory(url=receiver.url())

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        raise_example()
        assert receiver.requests == []
    assert len(callbacks) == 1

    callbacks[0]()  # no broker in tests: the task runs inline, as in the quickstart

    assert [body["event"] for body in receiver.bodies()] == ["trigger"]
    assert AlertNotification.objects.get().status == NotificationStatus.SENT


def test_a_repeat_without_escalation_queues_no_delivery(django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    AlertChannelFactory()
    raise_example()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        raise_example()

    assert callbacks == []


@pytest.mark.parametrize(("field", "value"), [("rule", "drfit"), ("severity", "major")])
def test_an_unknown_rule_or_severity_is_refused_and_nothing_is_written(field: str, value: str) -> None:
    AlertChannelFactory()
    with pytest.raises(ValueError, match=f"unknown alert {field} '{value}'"):
        raise_example(**{field: value})
    assert not Alert.objects.exists() and not AlertNotification.objects.exists()
