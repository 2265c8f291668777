from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.stats import DriftResult, DriftThresholds, FeatureDrift, drift_check, drift_verdict
from core.tests.stats.synthetic import (
    CATEGORICAL,
    NUMERIC,
    PREDICTION,
    binomial_upper_bound,
    correlated_pair,
    delivery_window,
)

# The p-value gate alone: the null-calibration tests switch the effect gate off so that they measure the
# tests' false-alarm rate, not how often the effect gate happens to hide a false alarm.
P_VALUE_GATE_ONLY = DriftThresholds(numeric_min_effect=0.0, categorical_min_effect=0.0, mmd_min_effect=0.0)


def _check(reference: pd.DataFrame, current: pd.DataFrame, **overrides: Any) -> DriftResult:
    """drift_check on the synthetic delivery windows, with its columns and default thresholds."""
    arguments: dict[str, Any] = {
        "numeric": NUMERIC,
        "categorical": CATEGORICAL,
        "prediction_column": PREDICTION,
        "thresholds": DriftThresholds(),
        "seed": 0,
    }
    return drift_check(reference, current, **{**arguments, **overrides})


def _by_feature(result: DriftResult, kind: str = "numeric") -> dict[str, FeatureDrift]:
    return {check.feature: check for check in result.features if check.kind == kind}


def test_no_drift_windows_raise_false_alarms_at_most_at_alpha() -> None:
    # Given 200 checks of windows drawn like the reference, with only the p-value gate (6 tests per check:
    # 3 KS, chi-square, prediction KS, MMD), the share of checks declaring any drift stays within alpha plus
    # binomial slack: Benjamini-Hochberg over the whole check bounds it by alpha when nothing changed.
    trials = 200
    thresholds = replace(P_VALUE_GATE_ONLY, mmd_max_rows_per_side=200, mmd_permutations=100)
    false_alarms = 0
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        result = _check(delivery_window(rng, 600), delivery_window(rng, 200), thresholds=thresholds, seed=seed)
        assert result.tests_in_family == 6
        false_alarms += result.is_drifted

    assert false_alarms / trials <= binomial_upper_bound(trials, thresholds.alpha)


def test_a_half_sd_mean_shift_at_500_rows_is_detected() -> None:
    rng = np.random.default_rng(1)

    result = _check(delivery_window(rng, 2000), delivery_window(rng, 500, distance_shift_sd=0.5))

    distance = _by_feature(result)["distance_km"]
    assert distance.is_drifted
    assert distance.effect_size == pytest.approx(0.5, abs=0.1)
    assert distance.severity == "critical"  # 0.5 sd >= 2 x 0.1
    assert not _by_feature(result)["prep_minutes"].is_drifted
    assert result.is_drifted and result.severity == "critical"
    assert "distance_km" in result.drifted_features


def test_a_categorical_mix_change_is_detected() -> None:
    rng = np.random.default_rng(2)
    stormier = [0.35, 0.25, 0.25, 0.15]

    result = _check(delivery_window(rng, 2000), delivery_window(rng, 500, weather_shares=stormier))

    weather = _by_feature(result, "categorical")["weather"]
    assert weather.test == "chi_square"
    assert weather.is_drifted
    assert weather.effect_metric == "jensen_shannon" and weather.effect_size >= 0.1
    assert result.drifted_features == ("weather",)


def test_a_correlation_change_with_identical_marginals_is_caught_by_mmd_not_by_per_feature_ks() -> None:
    # Given 20 checks where x and y stop being independent (correlation 0 -> 0.8) but each stays N(0, 1):
    # MMD declares drift every time, while the per-feature tests fire no more often than on unchanged data
    # (their p-values are uniform; a stray one can pass BH when MMD's discovery lowers the bar, as FDR allows).
    checks = 20
    mmd_detections = feature_detections = 0
    for seed in range(checks):
        rng = np.random.default_rng(seed)
        result = drift_check(
            correlated_pair(rng, 500, 0.0),
            correlated_pair(rng, 500, 0.8),
            numeric=["x", "y"],
            categorical=[],
            seed=seed,
        )
        assert result.multivariate is not None
        mmd_detections += result.multivariate.is_drifted
        feature_detections += sum(check.is_drifted for check in result.features)

    assert mmd_detections == checks
    assert feature_detections / (2 * checks) <= binomial_upper_bound(2 * checks, 0.05)


def test_a_tiny_shift_in_a_huge_window_is_significant_but_not_drift() -> None:
    # 0.02 sd with 200,000 rows a side: KS is certain there is a difference; nobody would act on it.
    rng = np.random.default_rng(4)
    reference = pd.DataFrame({"a": rng.normal(size=200_000), "b": rng.normal(size=200_000)})
    current = pd.DataFrame({"a": rng.normal(0.02, 1.0, size=200_000), "b": rng.normal(size=200_000)})

    result = drift_check(reference, current, numeric=["a", "b"], categorical=[], seed=4)

    shifted = _by_feature(result)["a"]
    assert shifted.p_value < 1e-3 and shifted.corrected_p_value < result.thresholds.alpha
    assert shifted.effect_size < 0.05
    assert not shifted.is_drifted and shifted.severity == "none"
    assert not result.is_drifted and result.severity == "none"


def test_prediction_drift_uses_the_numeric_test_on_the_eta_column() -> None:
    rng = np.random.default_rng(5)

    result = _check(delivery_window(rng, 2000), delivery_window(rng, 500, eta_shift_minutes=4.0))

    assert result.prediction is not None
    assert result.prediction.kind == "prediction" and result.prediction.test == "ks_2samp"
    assert result.prediction.is_drifted
    assert PREDICTION not in {check.feature for check in result.features}


def test_a_feature_going_from_complete_to_40_percent_missing_is_drift_even_if_present_values_match() -> None:
    rng = np.random.default_rng(6)
    reference, current = delivery_window(rng, 2000), delivery_window(rng, 500)
    current.loc[rng.random(500) < 0.4, "prep_minutes"] = np.nan

    result = _check(reference, current)

    assert not _by_feature(result)["prep_minutes"].is_drifted  # the present values are unchanged
    missing = _by_feature(result, "missing_share")["prep_minutes"]
    assert missing.is_drifted and missing.severity == "critical"
    assert missing.reference_missing_share == 0.0
    assert missing.current_missing_share == pytest.approx(0.4, abs=0.05)
    assert missing.n_current == 500  # rows, not present values
    assert _by_feature(result)["prep_minutes"].n_current == 500 - int(current["prep_minutes"].isna().sum())
    # Columns complete on both sides add no missing-share test.
    assert set(_by_feature(result, "missing_share")) == {"prep_minutes"}


def test_an_int_category_column_in_training_matches_the_same_codes_as_floats_in_a_window_with_gaps() -> None:
    rng = np.random.default_rng(14)
    reference = pd.DataFrame({"hour": rng.integers(8, 22, size=2000)})
    current = pd.DataFrame({"hour": rng.integers(8, 22, size=500).astype(float)})
    current.loc[:4, "hour"] = np.nan  # now float64: 8.0, 9.0, ...

    result = drift_check(reference, current, numeric=[], categorical=["hour"])

    hour = _by_feature(result, "categorical")["hour"]
    assert hour.test == "chi_square" and not hour.is_drifted
    assert hour.histogram is not None and set(hour.histogram.categories) == {str(h) for h in range(8, 22)}


def test_infinity_is_missing_and_categorical_missing_values_are_tested_too() -> None:
    rng = np.random.default_rng(7)
    reference, current = delivery_window(rng, 1000), delivery_window(rng, 400)
    current.loc[:99, "courier_load"] = np.inf
    current["weather"] = current["weather"].astype(object)
    current.loc[:199, "weather"] = None

    result = _check(reference, current)

    missing = _by_feature(result, "missing_share")
    assert missing["courier_load"].current_missing_share == pytest.approx(0.25)
    assert missing["weather"].current_missing_share == pytest.approx(0.5)
    assert missing["weather"].is_drifted
    assert _by_feature(result, "categorical")["weather"].n_current == 200


def test_a_rare_new_missing_value_uses_fisher_and_serialises_its_infinite_odds_ratio_as_null() -> None:
    rng = np.random.default_rng(8)
    reference, current = delivery_window(rng, 2000), delivery_window(rng, 500)
    current.loc[:2, "distance_km"] = np.nan

    result = _check(reference, current)

    missing = _by_feature(result, "missing_share")["distance_km"]
    assert missing.test == "fisher_exact" and missing.statistic == np.inf
    assert json.loads(json.dumps(result.as_dict(), allow_nan=False))["features"][-1]["statistic"] is None


def test_windows_below_the_minimum_sample_get_no_verdict() -> None:
    rng = np.random.default_rng(9)

    result = _check(delivery_window(rng, 2000), delivery_window(rng, 20, distance_shift_sd=3.0))

    assert result.status == "insufficient_data"
    assert result.tests_in_family == 0
    assert not result.is_drifted and result.severity == "none"
    assert all(check.status == "insufficient_data" and check.p_value is None for check in result.features)
    assert result.multivariate is not None and result.multivariate.status == "insufficient_data"
    assert json.dumps(result.as_dict(), allow_nan=False)


def test_one_thin_feature_is_insufficient_while_the_others_are_tested() -> None:
    rng = np.random.default_rng(10)
    reference, current = delivery_window(rng, 2000), delivery_window(rng, 500)
    current.loc[10:, "courier_load"] = np.nan  # 10 present values left

    result = _check(reference, current)

    assert result.status == "ok"
    load = _by_feature(result)["courier_load"]
    assert load.status == "insufficient_data" and load.corrected_p_value is None and load.n_current == 10
    assert _by_feature(result, "missing_share")["courier_load"].is_drifted
    # 2 KS + chi-square + missing share + prediction + MMD: the thin feature is left out of the family.
    assert result.tests_in_family == 6


def test_same_seed_same_result_and_as_dict_is_strict_json() -> None:
    rng = np.random.default_rng(11)
    reference, current = delivery_window(rng, 3000), delivery_window(rng, 800, distance_shift_sd=0.2)

    first = _check(reference, current, seed=42)
    again = _check(reference, current, seed=42)

    encoded = json.dumps(first.as_dict(), allow_nan=False, sort_keys=True)
    assert encoded == json.dumps(again.as_dict(), allow_nan=False, sort_keys=True)
    decoded = json.loads(encoded)
    assert decoded["schema_version"] == 1
    assert decoded["thresholds"] == DriftThresholds().as_dict()
    assert decoded["multivariate"]["n_reference"] == 500  # subsampled to the bound
    assert len(decoded["features"][0]["histogram"]["bin_edges"]) == 21


def test_drift_verdict_needs_both_gates_and_grades_severity_by_effect() -> None:
    thresholds = DriftThresholds(alpha=0.05, numeric_min_effect=0.1, critical_multiplier=2.0)

    def verdict(corrected_p_value: float, effect: float) -> tuple[bool, str]:
        return drift_verdict(corrected_p_value, effect, min_effect=0.1, thresholds=thresholds)

    assert verdict(0.01, 0.05) == (False, "none")  # significant, too small
    assert verdict(0.2, 0.5) == (False, "none")  # large, not significant
    assert verdict(0.01, 0.1) == (True, "warning")
    assert verdict(0.01, 0.2) == (True, "critical")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"numeric": ["distance_km", "nope"]}, "has no column"),
        ({"categorical": ["weather", "distance_km"]}, "more than once"),
    ],
)
def test_bad_column_lists_are_rejected(change: dict[str, object], message: str) -> None:
    rng = np.random.default_rng(12)
    with pytest.raises(ValueError, match=message):
        _check(delivery_window(rng, 100), delivery_window(rng, 100), **change)


def test_text_in_a_numeric_column_is_an_error_not_a_missing_value() -> None:
    rng = np.random.default_rng(13)
    current = delivery_window(rng, 100)
    current["courier_load"] = current["courier_load"].astype(object)
    current.loc[0, "courier_load"] = "three"

    with pytest.raises(ValueError):
        _check(delivery_window(rng, 100), current)


@pytest.mark.parametrize(
    "bad",
    [
        {"alpha": 0.0},
        {"alpha": 1.0},
        {"numeric_min_effect": -0.1},
        {"critical_multiplier": 0.5},
        {"min_samples_mmd": 1},
    ],
)
def test_thresholds_reject_settings_that_make_no_sense(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        DriftThresholds(**bad)
