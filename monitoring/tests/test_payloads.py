"""Channel payload builders: plain Python, checked field by field against each receiver's documented format."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from monitoring.alerting.payloads import (
    PAGERDUTY_SUMMARY_MAX,
    ROUTING_KEY_PLACEHOLDER,
    SLACK_HEADER_MAX,
    AlertMessage,
    pagerduty_payload,
    slack_payload,
    webhook_payload,
    with_routing_key,
)

FIRST = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
LAST = datetime(2026, 3, 1, 10, 45, tzinfo=UTC)
MESSAGE = AlertMessage(
    alert_id=7,
    event="trigger",
    dedup_key="drift:3:eta v3 feature distance_km",
    rule="drift",
    severity="warning",
    summary="distance_km drifted",
    subject="eta v3 feature distance_km",
    tenant="acme",
    first_fired_at=FIRST,
    last_seen_at=LAST,
    occurrences=4,
    details={"p_value": 0.0004},
)
RESOLVED = replace(MESSAGE, event="resolve", resolved_at=datetime(2026, 3, 1, 11, 0, tzinfo=UTC))


def test_webhook_payload_carries_the_whole_alert_versioned() -> None:
    assert webhook_payload(MESSAGE) == {
        "version": 1,
        "event": "trigger",
        "alert": {
            "id": 7,
            "dedup_key": "drift:3:eta v3 feature distance_km",
            "rule": "drift",
            "severity": "warning",
            "status": "firing",
            "tenant": "acme",
            "subject": "eta v3 feature distance_km",
            "summary": "distance_km drifted",
            "details": {"p_value": 0.0004},
            "first_fired_at": "2026-03-01T10:00:00+00:00",
            "last_seen_at": "2026-03-01T10:45:00+00:00",
            "occurrences": 4,
            "resolved_at": None,
        },
    }


def test_webhook_resolve_says_resolved_and_when() -> None:
    alert = webhook_payload(RESOLVED)["alert"]
    assert webhook_payload(RESOLVED)["event"] == "resolve"
    assert alert["status"] == "resolved" and alert["resolved_at"] == "2026-03-01T11:00:00+00:00"


def test_pagerduty_trigger_follows_events_api_v2() -> None:
    body = pagerduty_payload(MESSAGE, routing_key="R0UTINGKEY")

    assert body == {
        "routing_key": "R0UTINGKEY",
        "event_action": "trigger",
        "dedup_key": "drift:3:eta v3 feature distance_km",
        "payload": {
            "summary": "[acme] distance_km drifted",
            "source": "intellilog/acme",
            "severity": "warning",
            "timestamp": "2026-03-01T10:45:00+00:00",
            "component": "eta v3 feature distance_km",
            "group": "acme",
            "class": "drift",
            "custom_details": {
                "p_value": 0.0004,
                "alert_id": 7,
                "occurrences": 4,
                "first_fired_at": "2026-03-01T10:00:00+00:00",
            },
        },
    }


def test_pagerduty_severities_and_platform_scope() -> None:
    for ours, theirs in (("info", "info"), ("warning", "warning"), ("critical", "critical")):
        message = replace(MESSAGE, severity=ours, tenant=None)
        payload = pagerduty_payload(message)["payload"]
        assert payload["severity"] == theirs
        assert payload["source"] == "intellilog/platform" and payload["group"] == "platform"


def test_pagerduty_summary_is_cut_to_1024_characters() -> None:
    summary = pagerduty_payload(replace(MESSAGE, summary="x" * 5000))["payload"]["summary"]
    assert len(summary) == PAGERDUTY_SUMMARY_MAX and summary.endswith("…")


def test_pagerduty_resolve_needs_only_key_action_and_dedup_key() -> None:
    assert pagerduty_payload(RESOLVED) == {
        "routing_key": ROUTING_KEY_PLACEHOLDER,
        "event_action": "resolve",
        "dedup_key": "drift:3:eta v3 feature distance_km",
    }


def test_routing_key_is_added_only_to_a_copy() -> None:
    stored = pagerduty_payload(MESSAGE)
    sent = with_routing_key(stored, "R0UTINGKEY")
    assert sent["routing_key"] == "R0UTINGKEY" and stored["routing_key"] == ROUTING_KEY_PLACEHOLDER


def test_slack_payload_has_fallback_text_and_blocks() -> None:
    body = slack_payload(MESSAGE)

    assert body["text"] == ":warning: WARNING: drift (acme): distance_km drifted"
    header, section, facts, key = body["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": ":warning: WARNING: drift (acme)"}}
    assert section == {"type": "section", "text": {"type": "mrkdwn", "text": "distance_km drifted"}}
    assert [element["text"] for element in facts["elements"]] == [
        "*Subject:* eta v3 feature distance_km",
        "*Occurrences:* 4",
        "*First fired:* 2026-03-01T10:00:00+00:00",
    ]
    assert key["elements"][0]["text"] == "dedup key `drift:3:eta v3 feature distance_km`"


def test_slack_escapes_control_characters_and_bounds_the_header() -> None:
    body = slack_payload(replace(MESSAGE, summary="MAE <5 min & rising > 2x", tenant="t" * 300))

    assert body["blocks"][1]["text"]["text"] == "MAE &lt;5 min &amp; rising &gt; 2x"
    assert len(body["blocks"][0]["text"]["text"]) == SLACK_HEADER_MAX


def test_slack_resolve_reads_as_resolved() -> None:
    body = slack_payload(RESOLVED)
    assert body["text"].startswith(":white_check_mark: Resolved: drift (acme)")
    assert "*Resolved:* 2026-03-01T11:00:00+00:00" in [element["text"] for element in body["blocks"][2]["elements"]]
