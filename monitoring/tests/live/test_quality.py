"""Live data quality: out-of-distribution, fallback and stale shares of recent predictions, and their alerts."""

from __future__ import annotations

import datetime as dt

import pytest
from prometheus_client import REGISTRY

from monitoring.choices import AlertRule, AlertStatus
from monitoring.live.quality import live_data_quality_check
from monitoring.models import Alert
from monitoring.tests.live.conftest import audits_create, recent_vectors

pytestmark = pytest.mark.django_db

END = dt.datetime(2026, 3, 2, 19, 0, tzinfo=dt.UTC)


def test_shares_above_their_maximum_raise_alerts_and_the_score_is_published(monitored) -> None:  # type: ignore[no-untyped-def]
    count = 100
    audits_create(
        monitored,
        recent_vectors(monitored, count, seed=1),
        end=END,
        is_ood=[i < 25 for i in range(count)],  # 25%: above 10%, beyond twice it
        used_fallback=[i % 10 == 0 for i in range(count)],  # 10%: below 20%
        stale=[30 <= i < 60 for i in range(count)],  # 30%: above 20%
    )

    quality = live_data_quality_check(tenant=monitored.tenant, window_end=END)

    assert quality.counts.predictions == count and quality.counts.out_of_distribution == 25
    assert quality.counts.stale == 30 and quality.counts.fallback == 10
    # Problems: 0-24 OOD, 30-59 stale, fallback at 0,10,...,90 (0,10,20 already counted; 30,40,50 too).
    assert quality.score == pytest.approx(100 * (1 - (25 + 30 + 4) / count))
    firing = {(a.rule, a.subject): a for a in Alert.objects.filter(status=AlertStatus.FIRING)}
    assert set(firing) == {(AlertRule.DATA_QUALITY, "out_of_distribution"), (AlertRule.STALE_FEATURES, "online_store")}
    assert firing[(AlertRule.DATA_QUALITY, "out_of_distribution")].severity == "critical"
    assert firing[(AlertRule.STALE_FEATURES, "online_store")].severity == "warning"
    assert (
        REGISTRY.get_sample_value("intellilog_data_quality_score", {"tenant": monitored.tenant.slug}) == quality.score
    )


def test_clean_traffic_resolves_and_too_little_traffic_judges_nothing(monitored) -> None:  # type: ignore[no-untyped-def]
    audits_create(monitored, recent_vectors(monitored, 60, seed=2), end=END, is_ood=[True] * 60)
    live_data_quality_check(tenant=monitored.tenant, window_end=END)
    later = END + dt.timedelta(hours=2)
    audits_create(monitored, recent_vectors(monitored, 10, seed=3), end=later, is_ood=[True] * 10)

    thin = live_data_quality_check(tenant=monitored.tenant, window_end=later)

    assert thin.score is None and thin.conditions == ()
    assert Alert.objects.get(rule=AlertRule.DATA_QUALITY).status == AlertStatus.FIRING

    latest = later + dt.timedelta(hours=2)
    audits_create(monitored, recent_vectors(monitored, 60, seed=4), end=latest)
    clean = live_data_quality_check(tenant=monitored.tenant, window_end=latest)

    assert clean.score == 100.0
    assert Alert.objects.get(rule=AlertRule.DATA_QUALITY).status == AlertStatus.RESOLVED
