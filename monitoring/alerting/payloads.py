"""Channel payloads built from one alert event: a generic webhook JSON, PagerDuty Events API v2, Slack.

Plain Python on purpose: the payload formats are contracts with other systems and are unit-tested without a
database. PagerDuty's routing key is a secret; the builder leaves a placeholder that the sender replaces at
send time, so the outbox row (shown in the admin) never stores the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Event = Literal["trigger", "resolve"]

# The routing key placeholder stored in the outbox; `with_routing_key` swaps in the channel's key when sending.
ROUTING_KEY_PLACEHOLDER = "[redacted]"
WEBHOOK_SCHEMA_VERSION = 1
# Limits from the receivers' documentation: PagerDuty truncates nothing itself but rejects a summary over
# 1024 characters; Slack rejects a header block over 150 and a section text over 3000.
PAGERDUTY_SUMMARY_MAX = 1024
SLACK_HEADER_MAX = 150
SLACK_SECTION_MAX = 3000
# IntelliLog severities mapped onto PagerDuty's (critical, error, warning, info).
PAGERDUTY_SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}
SLACK_EMOJI = {"critical": ":rotating_light:", "warning": ":warning:", "info": ":information_source:"}


@dataclass(frozen=True)
class AlertMessage:
    """What every channel is told about one alert event (a trigger or a resolve)."""

    alert_id: int
    event: Event
    dedup_key: str
    rule: str
    severity: str
    summary: str
    subject: str
    tenant: str | None  # tenant slug; None for a platform-wide alert
    first_fired_at: datetime
    last_seen_at: datetime
    occurrences: int
    resolved_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def scope(self) -> str:
        return self.tenant or "platform"


def truncate(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def webhook_payload(message: AlertMessage) -> dict[str, Any]:
    """The generic webhook body: the whole alert as JSON, versioned so receivers can evolve with it."""
    return {
        "version": WEBHOOK_SCHEMA_VERSION,
        "event": message.event,
        "alert": {
            "id": message.alert_id,
            "dedup_key": message.dedup_key,
            "rule": message.rule,
            "severity": message.severity,
            "status": "resolved" if message.event == "resolve" else "firing",
            "tenant": message.tenant,
            "subject": message.subject,
            "summary": message.summary,
            "details": message.details,
            "first_fired_at": message.first_fired_at.isoformat(),
            "last_seen_at": message.last_seen_at.isoformat(),
            "occurrences": message.occurrences,
            "resolved_at": message.resolved_at.isoformat() if message.resolved_at else None,
        },
    }


def pagerduty_payload(message: AlertMessage, *, routing_key: str = ROUTING_KEY_PLACEHOLDER) -> dict[str, Any]:
    """A PagerDuty Events API v2 event. A resolve carries only what PagerDuty reads: key, action, dedup_key."""
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": message.event,
        "dedup_key": message.dedup_key,
    }
    if message.event == "resolve":
        return body
    body["payload"] = {
        "summary": truncate(f"[{message.scope}] {message.summary}", PAGERDUTY_SUMMARY_MAX),
        "source": f"intellilog/{message.scope}",
        "severity": PAGERDUTY_SEVERITY[message.severity],
        "timestamp": message.last_seen_at.isoformat(),
        "component": message.subject,
        "group": message.scope,
        "class": message.rule,
        "custom_details": {
            **message.details,
            "alert_id": message.alert_id,
            "occurrences": message.occurrences,
            "first_fired_at": message.first_fired_at.isoformat(),
        },
    }
    return body


def with_routing_key(payload: dict[str, Any], routing_key: str) -> dict[str, Any]:
    """The stored PagerDuty payload with the channel's real routing key, built only at send time."""
    return {**payload, "routing_key": routing_key}


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn treats these three as control characters; everything else is literal.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(message: AlertMessage) -> dict[str, Any]:
    """A Slack incoming-webhook body (also accepted by Mattermost and others): fallback `text` plus `blocks`."""
    if message.event == "resolve":
        headline = f":white_check_mark: Resolved: {message.rule} ({message.scope})"
    else:
        headline = f"{SLACK_EMOJI[message.severity]} {message.severity.upper()}: {message.rule} ({message.scope})"
    summary = _slack_escape(message.summary)
    facts = [
        f"*Subject:* {_slack_escape(message.subject)}",
        f"*Occurrences:* {message.occurrences}",
        f"*First fired:* {message.first_fired_at.isoformat()}",
    ]
    if message.resolved_at:
        facts.append(f"*Resolved:* {message.resolved_at.isoformat()}")
    return {
        "text": truncate(f"{headline}: {message.summary}", SLACK_SECTION_MAX),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": truncate(headline, SLACK_HEADER_MAX)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": truncate(summary, SLACK_SECTION_MAX)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": fact} for fact in facts]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"dedup key `{message.dedup_key}`"}]},
        ],
    }
