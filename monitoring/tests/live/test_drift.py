"""The drift check on live traffic: matched data stays quiet, a shift is flagged and alerted, thin windows wait."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from monitoring.choices import AlertRule, AlertStatus, CheckStatus
from monitoring.live.drift import drift_check_run
from monitoring.models import Alert, DriftReference, DriftReport
from monitoring.tests.live.conftest import audits_create, recent_vectors

pytestmark = pytest.mark.django_db

END = dt.datetime(2026, 3, 2, 19, 0, tzinfo=dt.UTC)


def test_matched_traffic_stores_a_clean_report_and_raises_no_alert(monitored) -> None:  # type: ignore[no-untyped-def]
    audits_create(monitored, recent_vectors(monitored, 400, seed=1), end=END)

    report = drift_check_run(tenant=monitored.tenant, version=monitored.version, window_end=END)

    assert report.status == CheckStatus.OK and report.severity == "none" and not report.is_drifted
    assert report.n_current == 400 and report.n_reference >= 50
    assert report.drifted_features == []
    assert not Alert.objects.filter(rule=AlertRule.DRIFT).exists()
    reference = DriftReference.objects.get(model_version=monitored.version)
    assert reference.source["snapshot"] == "lineage" and reference.rows > 0


def test_a_shifted_feature_is_flagged_with_an_alert_and_a_rerun_changes_nothing(monitored, settings) -> None:  # type: ignore[no-untyped-def]
    vectors = recent_vectors(monitored, 400, seed=2)
    vectors["distance_km"] = vectors["distance_km"] * 1.8
    audits_create(monitored, vectors, end=END)

    report = drift_check_run(tenant=monitored.tenant, version=monitored.version, window_end=END)
    again = drift_check_run(
        tenant=monitored.tenant, version=monitored.version, window_end=END + dt.timedelta(seconds=20)
    )

    assert report.is_drifted and report.severity in ("warning", "critical")
    assert "distance_km" in report.drifted_features
    distance = next(f for f in report.result["features"] if f["feature"] == "distance_km" and f["kind"] == "numeric")
    assert distance["corrected_p_value"] < 0.05 and distance["effect_size"] >= 0.1
    # The raw shift (reference matched on time of day only) sits beside the adjusted one, and the ETAs' move in
    # minutes decides the severity.
    raw, impact = report.result["raw"], report.result["impact"]
    assert raw["strata"] == ["time of day"] and "distance_km" in raw["drifted_features"]
    assert raw["effects"]["distance_km"] > 0.1 and report.result["strata"][:2] == ["time of day", "weekend"]
    assert impact["wasserstein_minutes"] > 0 and impact["tolerance_minutes"] == settings.DRIFT_IMPACT_TOLERANCE_MINUTES
    assert report.severity == ("critical" if impact["is_above_tolerance"] else "warning")
    alert = Alert.objects.get(rule=AlertRule.DRIFT, status=AlertStatus.FIRING)
    assert alert.details["impact"] == impact and alert.details["raw"] == raw
    assert alert.subject == str(monitored.version) and alert.tenant == monitored.tenant
    assert "distance_km" in alert.summary and report.alert == alert
    assert again.pk == report.pk and DriftReport.objects.count() == 1 and alert.occurrences == 1


def test_a_thin_window_stores_insufficient_data_and_leaves_a_firing_alert_alone(monitored) -> None:  # type: ignore[no-untyped-def]
    shifted = recent_vectors(monitored, 300, seed=3)
    shifted["traffic"] = "jam"
    audits_create(monitored, shifted, end=END)
    fired = drift_check_run(tenant=monitored.tenant, version=monitored.version, window_end=END)
    later = END + dt.timedelta(hours=2)
    audits_create(monitored, recent_vectors(monitored, 20, seed=4), end=later)

    thin = drift_check_run(tenant=monitored.tenant, version=monitored.version, window_end=later)

    assert "traffic" in fired.drifted_features
    assert thin.status == CheckStatus.INSUFFICIENT_DATA and thin.n_current == 20 and thin.alert is None
    assert "below the minimum of 50" in thin.note
    assert Alert.objects.get(rule=AlertRule.DRIFT).status == AlertStatus.FIRING


def test_a_clean_window_after_drift_resolves_the_alert(monitored) -> None:  # type: ignore[no-untyped-def]
    shifted = recent_vectors(monitored, 300, seed=5)
    shifted["courier_age"] = shifted["courier_age"] + 12
    audits_create(monitored, shifted, end=END)
    drift_check_run(tenant=monitored.tenant, version=monitored.version, window_end=END)
    later = END + dt.timedelta(hours=2)
    audits_create(monitored, recent_vectors(monitored, 300, seed=6), end=later)

    clean = drift_check_run(tenant=monitored.tenant, version=monitored.version, window_end=later)

    assert not clean.is_drifted and clean.status == CheckStatus.OK
    alert = Alert.objects.get(rule=AlertRule.DRIFT)
    assert alert.status == AlertStatus.RESOLVED and alert.resolved_at is not None


def test_a_version_without_history_left_gets_a_report_that_says_so(monitored) -> None:  # type: ignore[no-untyped-def]
    from registry.tests.factories import ModelVersionFactory

    empty = ModelVersionFactory(
        registered_model=monitored.version.registered_model,
        artifact_path=monitored.version.artifact_path,
        artifact_sha256=monitored.version.artifact_sha256,
        lineage={"data": {"ordered_before": "2001-01-01T00:00:00+00:00", "delivery_id_at_most": 0}},
    )

    report = drift_check_run(tenant=monitored.tenant, version=empty, window_end=timezone.now())

    assert report.status == CheckStatus.INSUFFICIENT_DATA and report.reference is None
    assert "no deliveries" in report.note and not Alert.objects.exists()


def test_drift_metrics_are_published_per_feature(monitored) -> None:  # type: ignore[no-untyped-def]
    from prometheus_client import REGISTRY

    shifted = recent_vectors(monitored, 300, seed=7)
    shifted["distance_km"] = shifted["distance_km"] * 2
    audits_create(monitored, shifted, end=END)

    drift_check_run(tenant=monitored.tenant, version=monitored.version, window_end=END)

    labels = {"tenant": monitored.tenant.slug, "model_version": str(monitored.version.version)}
    assert REGISTRY.get_sample_value("intellilog_drift_detected", {**labels, "feature": "distance_km"}) == 1.0
    assert REGISTRY.get_sample_value("intellilog_drift_detected", {**labels, "feature": "weather"}) == 0.0
    assert REGISTRY.get_sample_value("intellilog_drift_effect_size", {**labels, "feature": "distance_km"}) > 0.1
