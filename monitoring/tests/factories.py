from __future__ import annotations

import factory

from monitoring.choices import AlertSeverity, ChannelKind
from monitoring.models import AlertChannel


class AlertChannelFactory(factory.django.DjangoModelFactory):
    """An enabled generic webhook channel accepting every severity; pass `url` (usually the test receiver)."""

    class Meta:
        model = AlertChannel

    name = factory.Sequence(lambda n: f"channel-{n}")
    kind = ChannelKind.WEBHOOK
    url = "http://127.0.0.1:9/hook"
    min_severity = AlertSeverity.INFO
    is_enabled = True


def raise_example(**overrides: object):  # type: ignore[no-untyped-def]
    """`alert_raise` with a drift alert's typical arguments; any of them can be overridden."""
    from monitoring.services import alert_raise

    arguments: dict[str, object] = {
        "rule": "drift",
        "tenant": None,
        "subject": "eta v3 feature distance_km",
        "severity": AlertSeverity.WARNING,
        "summary": "distance_km drifted: KS p=0.0004 (BH), Wasserstein 0.41 sd",
        "details": {"feature": "distance_km", "p_value": 0.0004, "effect": 0.41},
    }
    arguments.update(overrides)
    return alert_raise(**arguments)  # type: ignore[arg-type]
