from __future__ import annotations

import datetime as dt

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


class DriftReportFactory(factory.django.DjangoModelFactory):
    """A checked drift report of a version (pass `model_version`), no drift, window ending at `window_end`."""

    class Meta:
        model = "monitoring.DriftReport"

    tenant = factory.SelfAttribute("model_version.tenant")
    window_end = factory.Sequence(lambda n: dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=5 * n))
    window_start = factory.LazyAttribute(lambda report: report.window_end - dt.timedelta(hours=1))
    status = "ok"
    n_reference = 500
    n_current = 300
    result = factory.LazyFunction(lambda: {"tests": []})


class AccuracyReportFactory(factory.django.DjangoModelFactory):
    """A checked accuracy report of a version (pass `model_version`) with a quiet CUSUM."""

    class Meta:
        model = "monitoring.AccuracyReport"

    tenant = factory.SelfAttribute("model_version.tenant")
    window_end = factory.Sequence(lambda n: dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=5 * n))
    window_start = factory.LazyAttribute(lambda report: report.window_end - dt.timedelta(hours=24))
    recent_window_start = factory.LazyAttribute(lambda report: report.window_end - dt.timedelta(hours=1))
    status = "ok"
    outcomes = 250
    mae = 3.4
    tolerance = 0.2
    max_bias_minutes = 2.0
    min_outcomes = 50
    cusum_ratio = 0.4
    change_detection = factory.LazyFunction(lambda: {"k": 0.5, "h": 5.0, "overall": {"statistic": 2.0}})
