"""Evaluation metrics and the per-segment fairness report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.evaluation import compute_metrics, courier_age_band, evaluate


def test_metrics_on_known_numbers() -> None:
    metrics = compute_metrics([10, 20, 30, 40], [12, 20, 24, 40], lower=[5, 25, 20, 35], upper=[15, 30, 35, 45])

    assert metrics.count == 4
    assert metrics.mae == pytest.approx(2.0)
    assert metrics.rmse == pytest.approx(np.sqrt(10.0))
    assert metrics.r2 == pytest.approx(1 - 40 / 500)
    assert metrics.within_5_min == 0.75
    assert metrics.interval_coverage == 0.75


def test_constant_actuals_have_no_r2_and_no_interval_means_no_coverage() -> None:
    metrics = compute_metrics([10, 10], [11, 9])
    assert metrics.r2 is None
    assert metrics.interval_coverage is None


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="same length"):
        compute_metrics([1, 2], [1])


def test_segment_report_names_the_worst_eligible_segment() -> None:
    actual = np.full(130, 20.0)
    predicted = actual.copy()
    predicted[:60] += 4  # traffic jam: 60 deliveries off by 4 minutes
    predicted[-10:] += 9  # a tiny segment, worse but too small to be the "worst"
    traffic = np.array(["jam"] * 60 + ["low"] * 60 + [None] * 10, dtype=object)

    report = evaluate(actual, predicted, segments={"traffic": traffic}, min_segment_size=50)

    by_value = {segment.value: segment for segment in report.segments}
    assert set(by_value) == {"jam", "low", "unknown"}
    assert by_value["jam"].metrics.mae == 4.0
    assert report.worst_segment is not None and report.worst_segment.value == "jam"
    assert report.worst_segment.mae_gap == pytest.approx(4.0 - report.overall.mae)
    json.dumps(report.as_dict())  # JSON-serialisable as is


def test_courier_age_bands() -> None:
    assert list(courier_age_band([19, 25, 34, 39, 41, np.nan])) == ["<25", "25-29", "30-34", "35-39", "40+", "unknown"]
