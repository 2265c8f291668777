"""Stratified references: a recurring pattern is not drift after adjustment, a shift within a stratum still is."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.stats import DriftResult, DriftThresholds, drift_check
from core.stats.strata import (
    DayTypes,
    detect_day_types,
    matched_positions,
    slots_of_day,
    stratified_reference,
    weekend_flags,
)

HOUR = "order_hour"
WEEKDAY = "day_of_week"
DAY = "day"
DAY_TYPE = "day_type"
NUMERIC = ["distance_km", "prep_minutes"]
CATEGORICAL = ["traffic"]
PREDICTION = "eta"


def _day(rng: np.random.Generator, day: int, rows: int, *, is_long: bool, prep_shift: float = 0.0) -> pd.DataFrame:
    """One day of orders from 10:00 to 22:00: distance depends on the kind of day, traffic on the hour."""
    hours = rng.uniform(10, 22, size=rows)
    distance = rng.gamma(4.0, 1.0, size=rows) * (2.0 if is_long else 1.0)
    prep = rng.normal(12.0, 3.0, size=rows) + prep_shift
    traffic = np.where(hours >= 19, "jam", rng.choice(["low", "medium"], size=rows))
    return pd.DataFrame(
        {
            HOUR: hours,
            WEEKDAY: float(day % 7),
            DAY: day,
            "distance_km": distance,
            "prep_minutes": prep,
            "traffic": traffic,
            PREDICTION: 10 + 2.0 * distance + 0.5 * prep,
        }
    )


def _reference(rng: np.random.Generator) -> tuple[pd.DataFrame, DayTypes]:
    """Fourteen days alternating long and short, typed by `detect_day_types`."""
    frame = pd.concat([_day(rng, day, 600, is_long=day % 2 == 0) for day in range(14)], ignore_index=True)
    day_types = detect_day_types(frame, day_column=DAY, features=NUMERIC)
    assert day_types is not None
    daily = frame.groupby(DAY)[day_types.feature].transform("mean")
    frame[DAY_TYPE] = [day_types.day_type(mean) for mean in daily]
    return frame, day_types


def _drift(reference: pd.DataFrame, current: pd.DataFrame) -> DriftResult:
    return drift_check(
        reference,
        current,
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        prediction_column=PREDICTION,
        thresholds=DriftThresholds(alpha=0.01, impact_tolerance_minutes=2.0),
        seed=0,
    )


def _evening_window(rng: np.random.Generator, *, is_long: bool, prep_shift: float = 0.0) -> pd.DataFrame:
    day = _day(rng, 20, 3000, is_long=is_long, prep_shift=prep_shift)
    return day[(day[HOUR] >= 18) & (day[HOUR] < 19)].reset_index(drop=True)


def test_alternating_days_are_detected_on_the_feature_that_alternates() -> None:
    reference, day_types = _reference(np.random.default_rng(0))

    assert day_types.feature == "distance_km" and day_types.days == (7, 7)
    assert day_types.separation_sd > 0.5 and day_types.explained_share > 0.8
    assert reference.groupby(DAY)[DAY_TYPE].first().tolist() == [1, 0] * 7


def test_no_day_types_where_days_do_not_differ() -> None:
    rng = np.random.default_rng(1)
    frame = pd.concat([_day(rng, day, 600, is_long=False) for day in range(14)], ignore_index=True)

    assert detect_day_types(frame, day_column=DAY, features=NUMERIC) is None


@pytest.mark.parametrize("is_long", [True, False])
def test_a_recurring_day_type_is_raw_drift_but_not_drift_after_adjustment(is_long: bool) -> None:
    rng = np.random.default_rng(2)
    reference, day_types = _reference(rng)
    window = _evening_window(rng, is_long=is_long)

    raw = stratified_reference(reference, window, hour_column=HOUR, weekday_column=WEEKDAY, seed=0)
    adjusted = stratified_reference(
        reference,
        window,
        hour_column=HOUR,
        weekday_column=WEEKDAY,
        day_type_column=DAY_TYPE,
        day_types=day_types,
        seed=0,
    )

    raw_result, adjusted_result = _drift(raw.frame, window), _drift(adjusted.frame, window)
    assert "distance_km" in raw_result.drifted_features
    assert not adjusted_result.is_drifted
    assert adjusted.day_type_mix == pytest.approx(1.0 if is_long else 0.0, abs=0.15)
    assert adjusted.strata == ("time of day", "weekend", "day type")
    # The ETA moved with the raw reference's mix of days, not with the adjusted one's.
    assert raw_result.impact is not None and adjusted_result.impact is not None
    assert raw_result.impact.wasserstein_minutes > 2.0 > adjusted_result.impact.wasserstein_minutes


def test_traffic_mixing_both_kinds_of_day_is_matched_to_that_mix() -> None:
    rng = np.random.default_rng(3)
    reference, day_types = _reference(rng)
    window = pd.concat([_evening_window(rng, is_long=True), _evening_window(rng, is_long=False)], ignore_index=True)

    adjusted = stratified_reference(
        reference, window, hour_column=HOUR, day_type_column=DAY_TYPE, day_types=day_types, seed=0
    )

    assert adjusted.day_type_mix == pytest.approx(0.5, abs=0.15)
    assert not _drift(adjusted.frame, window).is_drifted


def test_a_real_shift_within_a_stratum_is_still_found() -> None:
    rng = np.random.default_rng(4)
    reference, day_types = _reference(rng)
    # A long day whose preparation times rose by one sd: not something any kind of day shows.
    window = _evening_window(rng, is_long=True, prep_shift=3.0)

    adjusted = stratified_reference(
        reference, window, hour_column=HOUR, day_type_column=DAY_TYPE, day_types=day_types, seed=0
    )

    result = _drift(adjusted.frame, window)
    assert result.drifted_features == ("prep_minutes",)
    assert result.severity == "warning"  # ETAs moved 1.5 minutes: below the 2-minute tolerance, no page


def test_distances_beyond_any_kind_of_day_stay_drift() -> None:
    rng = np.random.default_rng(5)
    reference, day_types = _reference(rng)
    window = _evening_window(rng, is_long=True)
    window["distance_km"] *= 1.6
    window[PREDICTION] = 10 + 2.0 * window["distance_km"] + 0.5 * window["prep_minutes"]

    adjusted = stratified_reference(
        reference, window, hour_column=HOUR, day_type_column=DAY_TYPE, day_types=day_types, seed=0
    )

    result = _drift(adjusted.frame, window)
    assert adjusted.day_type_mix == 1.0 and "distance_km" in result.drifted_features
    assert result.severity == "critical" and result.impact is not None and result.impact.is_above_tolerance


def test_the_sample_has_the_target_mix_and_leaves_out_strata_without_rows() -> None:
    keys = np.repeat([0, 1, 2, -1], [400, 100, 50, 30])
    target = np.array([0.5, 0.3, 0.0, 0.2])  # stratum 3: no reference rows

    matched = matched_positions(keys, target, rng=np.random.default_rng(0))

    drawn = keys[matched.positions]
    assert matched.strata == (0, 1) and matched.unmatched_share == pytest.approx(0.2)
    # 100 rows of stratum 1 at 3/8 of the sample bound it at 266: 166 of stratum 0 and 100 of stratum 1.
    assert (drawn == 0).sum() == 166 and (drawn == 1).sum() == 100 and len(set(matched.positions)) == drawn.size


def test_slots_and_weekend_flags_mark_unknowns() -> None:
    assert slots_of_day(np.array([0.0, 19.6, 23.99, np.nan])).tolist() == [0, 78, 95, -1]
    assert weekend_flags(np.array([0.0, 4.0, 5.0, 6.0, np.nan])).tolist() == [0, 0, 1, 1, -1]


def test_day_types_round_trip_through_json() -> None:
    _, day_types = _reference(np.random.default_rng(6))

    assert DayTypes.from_dict(day_types.as_dict()) == day_types
