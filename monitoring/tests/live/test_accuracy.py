"""Realized accuracy: outcomes against predictions, compared with the version's validation MAE."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from core.stats.cusum import budgeted_threshold
from monitoring.choices import AlertRule, AlertStatus, CheckStatus
from monitoring.live.accuracy import realized_accuracy_check
from monitoring.live.reference import drift_reference_get_or_build
from monitoring.models import AccuracyReport, Alert, DriftReference
from monitoring.tests.live.conftest import (
    BASELINE_MAE,
    audits_create,
    outcomes_create,
    recent_vectors,
    shadows_create,
)
from registry.tests.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db

END = dt.datetime(2026, 3, 2, 19, 0, tzinfo=dt.UTC)


def _errors(count: int, mae: float, seed: int) -> np.ndarray:
    """Errors of both signs whose absolute mean is exactly `mae`."""
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=count)
    return signs * mae


def test_degradation_raises_the_alert_and_a_good_window_resolves_it(monitored, settings) -> None:  # type: ignore[no-untyped-def]
    settings.ACCURACY_WINDOW_HOURS = 2
    audits = audits_create(monitored, recent_vectors(monitored, 150, seed=1), end=END - dt.timedelta(minutes=40))
    outcomes_create(
        monitored, audits, _errors(150, BASELINE_MAE * 1.5, seed=1), reported_at=END - dt.timedelta(minutes=5)
    )

    degraded = realized_accuracy_check(tenant=monitored.tenant, version=monitored.version, window_end=END)

    assert degraded.status == CheckStatus.OK and degraded.is_degraded
    assert degraded.outcomes == 150 and degraded.mae == pytest.approx(4.5) and degraded.within_5_share == 1.0
    assert degraded.recent_outcomes == 150 and degraded.baseline_mae == BASELINE_MAE == degraded.validation_mae
    assert {segment["dimension"] for segment in degraded.segments} == {"area", "vehicle", "weather", "traffic"}
    alert = Alert.objects.get(rule=AlertRule.ACCURACY_DEGRADATION, status=AlertStatus.FIRING)
    assert alert.severity == "critical"  # +50% is beyond twice the 15% tolerance
    assert alert.subject == str(monitored.version) and "+50%" in alert.summary and degraded.alert == alert

    later = END + dt.timedelta(hours=3)
    audits = audits_create(monitored, recent_vectors(monitored, 150, seed=2), end=later - dt.timedelta(minutes=40))
    outcomes_create(monitored, audits, _errors(150, BASELINE_MAE, seed=2), reported_at=later - dt.timedelta(minutes=5))
    recovered = realized_accuracy_check(tenant=monitored.tenant, version=monitored.version, window_end=later)

    assert recovered.status == CheckStatus.OK and not recovered.is_degraded and recovered.mae == pytest.approx(3.0)
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


def test_a_recent_hour_of_bad_outcomes_alerts_before_the_day_average_moves(monitored) -> None:  # type: ignore[no-untyped-def]
    early = audits_create(monitored, recent_vectors(monitored, 600, seed=3), end=END - dt.timedelta(hours=5))
    outcomes_create(monitored, early, _errors(600, 2.5, seed=3), reported_at=END - dt.timedelta(hours=4))
    recent = audits_create(monitored, recent_vectors(monitored, 120, seed=4), end=END - dt.timedelta(minutes=30))
    outcomes_create(monitored, recent, _errors(120, 4.0, seed=4), reported_at=END - dt.timedelta(minutes=10))

    report = realized_accuracy_check(tenant=monitored.tenant, version=monitored.version, window_end=END)

    assert report.mae < BASELINE_MAE * 1.15 < report.recent_mae
    assert report.is_degraded and Alert.objects.filter(rule=AlertRule.ACCURACY_DEGRADATION).count() == 1


def test_too_few_outcomes_judge_nothing(monitored) -> None:  # type: ignore[no-untyped-def]
    audits = audits_create(monitored, recent_vectors(monitored, 30, seed=5), end=END - dt.timedelta(minutes=40))
    outcomes_create(monitored, audits, _errors(30, 10.0, seed=5), reported_at=END - dt.timedelta(minutes=5))

    report = realized_accuracy_check(tenant=monitored.tenant, version=monitored.version, window_end=END)
    again = realized_accuracy_check(tenant=monitored.tenant, version=monitored.version, window_end=END)

    assert report.status == CheckStatus.INSUFFICIENT_DATA and not report.is_degraded and report.mae == 10.0
    assert again.pk == report.pk and AccuracyReport.objects.count() == 1
    assert not Alert.objects.exists()


def test_an_hour_is_judged_against_the_validation_mae_of_the_same_hour(monitored) -> None:  # type: ignore[no-untyped-def]
    # The version's validation errors by hour say 19:00-19:59 is hard (6 min) while the day averages 3 min.
    drift_reference_get_or_build(version=monitored.version)
    DriftReference.objects.filter(model_version=monitored.version).update(
        error_profile={
            "19": {"count": 400, "mae": 6.0, "mae_sd": 1.0, "bias": 0.0, "bias_sd": 6.0},
            "8": {"count": 10, "mae": 2.0, "mae_sd": 1.0, "bias": 0.0, "bias_sd": 2.0},
        }
    )
    vectors = recent_vectors(monitored, 150, seed=6)
    vectors["order_hour"] = 19.5
    audits = audits_create(monitored, vectors, end=END - dt.timedelta(minutes=40))
    outcomes_create(monitored, audits, _errors(150, 6.3, seed=6), reported_at=END - dt.timedelta(minutes=5))

    usual = realized_accuracy_check(tenant=monitored.tenant, version=monitored.version, window_end=END)

    assert usual.validation_mae == BASELINE_MAE and usual.baseline_mae == usual.recent_baseline_mae == 6.0
    assert usual.status == CheckStatus.OK and not usual.is_degraded  # +5% at 19:00, though +110% on the day

    later = END + dt.timedelta(days=2)
    audits = audits_create(monitored, vectors, end=later - dt.timedelta(minutes=40))
    outcomes_create(monitored, audits, _errors(150, 7.5, seed=7), reported_at=later - dt.timedelta(minutes=5))
    worse = realized_accuracy_check(tenant=monitored.tenant, version=monitored.version, window_end=later)

    assert worse.is_degraded and worse.alert is not None and "+25%" in worse.alert.summary


def test_etas_that_became_too_short_alert_on_the_bias_before_the_mae(monitored) -> None:  # type: ignore[no-untyped-def]
    audits = audits_create(monitored, recent_vectors(monitored, 150, seed=8), end=END - dt.timedelta(minutes=40))
    # Every delivery 2 minutes slower than predicted: MAE 2.0 is below the 3.0 baseline, the bias is not.
    outcomes_create(monitored, audits, np.full(150, -2.0), reported_at=END - dt.timedelta(minutes=5))

    report = realized_accuracy_check(tenant=monitored.tenant, version=monitored.version, window_end=END)

    assert report.mae == pytest.approx(2.0) and report.mean_error == pytest.approx(-2.0)
    assert report.baseline_mean_error == 0.0 and report.recent_mean_error == pytest.approx(-2.0)
    assert report.is_degraded and "bias -2.00 min moved -2.00 (p=0)" in report.alert.summary
    assert report.alert.severity == "warning"


def test_a_challenger_is_judged_on_its_shadow_predictions_of_the_orders_with_outcomes(monitored) -> None:  # type: ignore[no-untyped-def]
    challenger = ModelVersionFactory(
        registered_model=monitored.version.registered_model,
        artifact_path=monitored.version.artifact_path,
        artifact_sha256=monitored.version.artifact_sha256,
        metrics={"mae": BASELINE_MAE},
        lineage=monitored.version.lineage,
    )
    audits = audits_create(monitored, recent_vectors(monitored, 160, seed=9), end=END - dt.timedelta(minutes=40))
    # The champion was exact; the challenger's shadow ETAs were 5 minutes long on the 150 orders it scored.
    shadows_create(monitored, audits[:150], challenger, offset_minutes=5.0)
    outcomes_create(monitored, audits, np.zeros(160), reported_at=END - dt.timedelta(minutes=5))

    champion = realized_accuracy_check(tenant=monitored.tenant, version=monitored.version, window_end=END)
    shadowed = realized_accuracy_check(tenant=monitored.tenant, version=challenger, window_end=END)

    assert champion.outcomes == 160 and champion.mae == 0.0 and not champion.is_degraded
    assert shadowed.outcomes == 150 and shadowed.mae == pytest.approx(5.0) and shadowed.is_degraded


def test_a_slowdown_of_one_area_alarms_its_cusum_while_the_windows_stay_within_limits(monitored, settings) -> None:  # type: ignore[no-untyped-def]
    # The segment CUSUM's own limits, not the defaults' power rule (a segment of 100 outcomes is below it).
    settings.ACCURACY_CUSUM_SEGMENT_EFFECT_SD = 0.0
    settings.ACCURACY_CUSUM_H = 7.0
    settings.ACCURACY_CUSUM_MIN_EFFECT_MINUTES = 0.5
    # 400 outcomes over the last three hours, one every 27 seconds, every fourth from an urban order; the last 30
    # urban deliveries took 4.5 minutes longer than predicted (1.2 sds of a 3-minute validation MAE), the rest were
    # 2 minutes off either way. The windows' MAE and bias stay within their limits; urban's CUSUM does not.
    areas = ["metropolitan", "metropolitan", "metropolitan", "urban"] * 100
    orders = [{"area": area, "vehicle": "scooter", "weather": "sunny", "traffic": "low"} for area in areas]
    audits = audits_create(
        monitored,
        recent_vectors(monitored, 400, seed=10),
        end=END - dt.timedelta(minutes=35),
        minutes=180,
        orders=orders,
    )
    errors = _errors(400, 2.0, seed=10)
    slow = [position for position, area in enumerate(areas) if area == "urban"][-30:]
    errors[slow] = -4.5
    reported = [END - dt.timedelta(minutes=180) + dt.timedelta(seconds=27 * (i + 1)) for i in range(400)]
    outcomes_create(monitored, audits, errors, reported_at=reported)

    report = realized_accuracy_check(tenant=monitored.tenant, version=monitored.version, window_end=END)

    assert report.status == CheckStatus.OK and report.is_degraded
    assert not any(window["is_mae_degraded"] or window["is_bias_degraded"] for window in report.findings)
    detection = report.change_detection
    assert detection["is_alarm"] and not detection["overall"]["is_alarm"]
    # area: metropolitan and urban, plus one vehicle, weather and traffic: 10 one-sided segment statistics, 12 with
    # the whole stream's; each spends its share of the daily budget given its outcomes a day (3 hours x 8).
    assert detection["segment_statistics"] == 10 and detection["daily_alpha"] == 0.05
    (urban,) = detection["segments"]
    budgeted = budgeted_threshold(k=0.5, statistics=12, observations_per_day=urban["count"] * 8, daily_alpha=0.05)
    assert urban["threshold"] == pytest.approx(max(7.0, budgeted)) and urban["min_effect_minutes"] == 0.5
    assert (urban["dimension"], urban["value"], urban["direction"]) == ("area", "urban", "slower")
    assert (
        urban["shift_minutes"] < -3.0 and report.cusum_ratio == pytest.approx(urban["ratio"]) and report.cusum_ratio > 1
    )
    alert = report.alert
    assert alert is not None and alert.severity == "warning"
    assert "sequential change (CUSUM) in area=urban: deliveries slower than predicted since" in alert.summary
    assert alert.details["change_detection"] == detection

    # No state is kept between checks: the same outcomes checked again from scratch give the same statistics.
    AccuracyReport.objects.filter(pk=report.pk).delete()
    again = realized_accuracy_check(tenant=monitored.tenant, version=monitored.version, window_end=END)
    assert again.pk != report.pk and again.change_detection == detection and again.cusum_ratio == report.cusum_ratio


def test_outcomes_as_validated_leave_the_cusum_quiet(monitored) -> None:  # type: ignore[no-untyped-def]
    audits = audits_create(
        monitored, recent_vectors(monitored, 400, seed=11), end=END - dt.timedelta(minutes=35), minutes=180
    )
    errors = np.random.default_rng(11).normal(0.0, 3.0 * np.sqrt(np.pi / 2), 400)
    reported = [END - dt.timedelta(minutes=180) + dt.timedelta(seconds=27 * (i + 1)) for i in range(400)]
    outcomes_create(monitored, audits, errors, reported_at=reported)

    report = realized_accuracy_check(tenant=monitored.tenant, version=monitored.version, window_end=END)

    assert report.status == CheckStatus.OK and not report.is_degraded and report.alert is None
    assert report.change_detection["is_judged"] and not report.change_detection["is_alarm"]
    assert 0 <= report.cusum_ratio < 1 and report.change_detection["overall"]["count"] == 400


def test_the_reference_stores_each_segments_validation_errors_against_their_hours(monitored) -> None:  # type: ignore[no-untyped-def]
    # Validated on the history's last week, as training records it.
    evaluation_start = monitored.history["ordered_at"].max() - dt.timedelta(days=7)
    monitored.version.lineage["data"]["evaluation_start"] = evaluation_start.isoformat()
    monitored.version.save(update_fields=["lineage"])

    reference = drift_reference_get_or_build(version=monitored.version)

    validated = sum(entry["count"] for entry in reference.error_profile.values())
    assert validated > 0 and set(reference.segment_error_profile) == {"area", "vehicle", "weather", "traffic"}
    for segments in reference.segment_error_profile.values():
        # Every validation outcome in one segment of each dimension; over all of them the errors average out.
        assert sum(entry["count"] for entry in segments.values()) == validated
        assert all(entry["sd"] > 0 for entry in segments.values())
        mean = sum(entry["mean_sd"] * entry["count"] for entry in segments.values()) / validated
        assert abs(mean) < 0.1
