"""Delivering the outbox over real HTTP: retries with backoff, giving up without losing, isolation, secrets."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from monitoring.choices import AlertStatus, ChannelKind, NotificationStatus
from monitoring.models import Alert, AlertNotification
from monitoring.services import (
    DeliveryRun,
    alert_notification_retry_now,
    alert_notifications_deliver_due,
    alert_resolve,
)
from monitoring.tasks import deliver_alert_notifications_task
from monitoring.tests.factories import AlertChannelFactory, raise_example

pytestmark = pytest.mark.django_db

SUBJECT = "eta v3 feature distance_km"
ROUTING_KEY = "R0UTINGKEY0123456789abcdef"


@pytest.fixture(autouse=True)
def fast_retries(settings) -> None:  # type: ignore[no-untyped-def]
    settings.ALERT_RETRY_BASE_SECONDS = 60
    settings.ALERT_RETRY_MAX_SECONDS = 600
    settings.ALERT_DELIVERY_MAX_ATTEMPTS = 3
    settings.ALERT_DELIVERY_TIMEOUT_SECONDS = 2


def test_a_due_notification_is_posted_and_marked_sent(receiver) -> None:  # type: ignore[no-untyped-def]
    AlertChannelFactory(url=receiver.url("/intellilog"))
    alert = raise_example()
    now = timezone.now()

    run = alert_notifications_deliver_due(now=now)

    assert run == DeliveryRun(sent=1)
    [request] = receiver.requests
    assert request.path == "/intellilog" and request.body["alert"]["dedup_key"] == alert.dedup_key
    notification = AlertNotification.objects.get()
    assert notification.status == NotificationStatus.SENT and notification.sent_at == now
    assert notification.attempts == 1 and notification.last_error == ""
    assert notification.payload == request.body  # the stored payload is exactly what went out
    assert alert_notifications_deliver_due(now=now) == DeliveryRun()  # nothing sent twice


def test_pagerduty_gets_the_routing_key_only_on_the_wire(receiver) -> None:  # type: ignore[no-untyped-def]
    AlertChannelFactory(kind=ChannelKind.PAGERDUTY, url=receiver.url("/v2/enqueue"), routing_key=ROUTING_KEY)
    raise_example()

    alert_notifications_deliver_due()

    [body] = receiver.bodies()
    assert body["routing_key"] == ROUTING_KEY and body["event_action"] == "trigger"
    assert AlertNotification.objects.get().payload["routing_key"] == "[redacted]"


def test_a_failed_attempt_backs_off_then_succeeds(receiver) -> None:  # type: ignore[no-untyped-def]
    receiver.fail_first = 1
    AlertChannelFactory(url=receiver.url())
    raise_example()
    now = timezone.now()

    assert alert_notifications_deliver_due(now=now) == DeliveryRun(retrying=1)
    notification = AlertNotification.objects.get()
    assert notification.status == NotificationStatus.PENDING and notification.attempts == 1
    # First retry: base 60 s with equal jitter, so between 30 and 60 s from now.
    assert now + timedelta(seconds=30) <= notification.next_attempt_at <= now + timedelta(seconds=60)
    assert notification.last_error == "HTTP 500: no hook at [redacted]"  # the path may hold a token

    assert alert_notifications_deliver_due(now=now + timedelta(seconds=29)) == DeliveryRun()  # not due yet
    assert alert_notifications_deliver_due(now=notification.next_attempt_at) == DeliveryRun(sent=1)

    notification.refresh_from_db()
    assert notification.status == NotificationStatus.SENT and notification.attempts == 2
    assert notification.last_error == "" and len(receiver.requests) == 2


def test_after_the_last_attempt_the_notification_fails_and_everything_is_kept(receiver) -> None:  # type: ignore[no-untyped-def]
    receiver.fail_first = 100
    AlertChannelFactory(url=receiver.url())
    alert = raise_example()
    when = timezone.now()

    runs = []
    for _ in range(3):  # ALERT_DELIVERY_MAX_ATTEMPTS
        runs.append(alert_notifications_deliver_due(now=when))
        when = AlertNotification.objects.get().next_attempt_at
    later = alert_notifications_deliver_due(now=when + timedelta(days=1))

    assert runs == [DeliveryRun(retrying=1), DeliveryRun(retrying=1), DeliveryRun(failed=1)]
    assert later == DeliveryRun() and len(receiver.requests) == 3
    notification = AlertNotification.objects.get()
    assert notification.status == NotificationStatus.FAILED and notification.attempts == 3
    assert notification.last_error == "HTTP 500: no hook at [redacted]" and notification.sent_at is None
    assert Alert.objects.get().status == AlertStatus.FIRING and Alert.objects.get().pk == alert.pk


def test_the_second_backoff_is_longer_and_capped(receiver, settings) -> None:  # type: ignore[no-untyped-def]
    settings.ALERT_DELIVERY_MAX_ATTEMPTS = 10
    settings.ALERT_RETRY_MAX_SECONDS = 90
    receiver.fail_first = 100
    AlertChannelFactory(url=receiver.url())
    raise_example()
    waits = []
    when = timezone.now()
    for _ in range(3):
        alert_notifications_deliver_due(now=when)
        following = AlertNotification.objects.get().next_attempt_at
        waits.append((following - when).total_seconds())
        when = following

    assert 30 <= waits[0] <= 60 and 45 <= waits[1] <= 90 and 45 <= waits[2] <= 90  # 60, 120->90, 240->90


def test_a_client_error_fails_at_once(receiver) -> None:  # type: ignore[no-untyped-def]
    receiver.fail_first, receiver.fail_status = 1, 400
    AlertChannelFactory(url=receiver.url())
    raise_example()

    assert alert_notifications_deliver_due() == DeliveryRun(failed=1)
    assert AlertNotification.objects.get().attempts == 1


def test_an_unreachable_channel_does_not_hold_up_the_others(receiver, closed_port_url: str) -> None:  # type: ignore[no-untyped-def]
    unreachable = AlertChannelFactory(name="a-down", url=closed_port_url)
    reachable = AlertChannelFactory(name="b-up", url=receiver.url())
    raise_example()

    assert alert_notifications_deliver_due() == DeliveryRun(sent=1, retrying=1)

    assert len(receiver.requests) == 1
    assert AlertNotification.objects.get(channel=reachable).status == NotificationStatus.SENT
    down = AlertNotification.objects.get(channel=unreachable)
    assert down.status == NotificationStatus.PENDING and down.last_error == "network error: Connection refused"


def test_a_resolve_waits_for_its_trigger_so_receivers_see_them_in_order(receiver) -> None:  # type: ignore[no-untyped-def]
    receiver.fail_first = 1
    AlertChannelFactory(url=receiver.url())
    raise_example()
    now = timezone.now()
    alert_notifications_deliver_due(now=now)  # the trigger fails and waits for its retry
    alert_resolve(rule="drift", tenant=None, subject=SUBJECT)

    assert alert_notifications_deliver_due(now=now + timedelta(seconds=1)) == DeliveryRun()
    assert alert_notifications_deliver_due(now=now + timedelta(minutes=5)) == DeliveryRun(sent=2)
    assert [body["event"] for body in receiver.bodies()] == ["trigger", "trigger", "resolve"]


def test_a_channel_disabled_before_delivery_is_not_sent_to(receiver) -> None:  # type: ignore[no-untyped-def]
    channel = AlertChannelFactory(url=receiver.url())
    raise_example()
    channel.is_enabled = False
    channel.save()

    assert alert_notifications_deliver_due() == DeliveryRun(failed=1)
    assert receiver.requests == []
    assert AlertNotification.objects.get().last_error == "channel disabled before delivery"


def test_retry_now_gives_a_failed_notification_one_more_attempt(receiver) -> None:  # type: ignore[no-untyped-def]
    receiver.fail_first, receiver.fail_status = 1, 404
    AlertChannelFactory(url=receiver.url())
    raise_example()
    alert_notifications_deliver_due()
    assert AlertNotification.objects.get().status == NotificationStatus.FAILED

    assert alert_notification_retry_now(notifications=AlertNotification.objects.all()) == 1
    assert alert_notifications_deliver_due() == DeliveryRun(sent=1)
    assert alert_notification_retry_now(notifications=AlertNotification.objects.all()) == 0  # sent stays sent


def test_secrets_never_reach_the_logs_or_stored_errors(receiver, closed_port_url: str, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    receiver.fail_first = 1  # its error body echoes the path, token included
    slack_token = "T0000/B0000/SLACKTOKENxyz"
    AlertChannelFactory(name="slack", kind=ChannelKind.SLACK, url=receiver.url(f"/services/{slack_token}"))
    AlertChannelFactory(name="pd", kind=ChannelKind.PAGERDUTY, url=closed_port_url, routing_key=ROUTING_KEY)
    AlertChannelFactory(name="hook", url=receiver.url("/hook?token=HOOKTOKEN123"))
    raise_example()

    alert_notifications_deliver_due()
    stored = " ".join(AlertNotification.objects.values_list("last_error", flat=True))
    alert_notifications_deliver_due(now=timezone.now() + timedelta(hours=1))

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "channel 'slack' at http://127.0.0.1" in logged and "failed on attempt 1/3" in logged
    assert "channel 'hook'" in logged and " sent to " in logged
    assert "HTTP 500: no hook at [redacted]" in stored and "network error: Connection refused" in stored
    for secret in (slack_token, "SLACKTOKEN", ROUTING_KEY, "HOOKTOKEN123"):
        assert secret not in logged and secret not in stored
    assert any(body.get("routing_key") == ROUTING_KEY for body in receiver.bodies()) is False  # pd was unreachable


def test_the_task_drains_the_outbox_and_is_on_the_beat_schedule(receiver) -> None:  # type: ignore[no-untyped-def]
    AlertChannelFactory(url=receiver.url())
    raise_example()

    assert deliver_alert_notifications_task.delay().get() == {"sent": 1, "retrying": 0, "failed": 0}
    entry = django_settings.CELERY_BEAT_SCHEDULE["deliver-alert-notifications"]
    assert entry["task"] == deliver_alert_notifications_task.name


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_send_the_same_notification(receiver, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Committed for real here, and without a broker the commit would deliver inline: the workers below must.
    monkeypatch.setattr(deliver_alert_notifications_task, "delay", lambda: None)
    receiver.delay = 0.2  # each send holds its row lock for a while, so the two workers overlap
    for index in range(3):
        AlertChannelFactory(url=receiver.url(f"/c{index}"))
    raise_example()
    raise_example(subject="eta v3 feature hour")  # 2 alerts x 3 channels = 6 notifications
    runs: list[DeliveryRun] = []

    def worker() -> None:
        try:
            runs.append(alert_notifications_deliver_due())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    sent = sorted((request.path, request.body["alert"]["id"]) for request in receiver.requests)
    assert len(sent) == 6 and len(set(sent)) == 6
    assert sum(run.sent for run in runs) == 6 and all(run.sent > 0 for run in runs)
    assert set(AlertNotification.objects.values_list("status", flat=True)) == {NotificationStatus.SENT}
