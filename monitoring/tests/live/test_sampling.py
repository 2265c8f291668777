"""The plain-Python inputs of a drift check: tested features, reference JSON and time-of-day matching."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from core.features import FEATURE_NAMES
from monitoring.live.sampling import (
    columns_to_frame,
    drift_features,
    frame_to_columns,
    reference_sample,
    time_matched_reference,
)


def test_day_of_week_and_growing_counts_are_not_tested() -> None:
    features = drift_features(FEATURE_NAMES)

    assert "day_of_week" not in features.names and "courier_completed_count" not in features.names
    assert "distance_km" in features.numeric and "traffic" in features.categorical and "order_hour" in features.numeric
    assert features.names == tuple(n for n in features.numeric + features.categorical)


def test_reference_columns_round_trip_with_missing_values() -> None:
    frame = pd.DataFrame({"distance_km": [1.5, np.nan, 3.0], "traffic": ["Jam", None, "Low"], "flag": [1, 0, 1]})

    columns = frame_to_columns(frame)
    back = columns_to_frame(columns, {"traffic": "categorical"})

    assert columns == {"distance_km": [1.5, None, 3.0], "traffic": ["Jam", None, "Low"], "flag": [1.0, 0.0, 1.0]}
    assert back["distance_km"].dtype == np.float64 and math.isnan(back["distance_km"][1])
    assert back["traffic"].tolist() == ["Jam", None, "Low"]


def test_a_sample_is_bounded_seeded_and_keeps_row_order() -> None:
    frame = pd.DataFrame({"x": np.arange(1000)})

    first = reference_sample(frame, max_rows=100, seed=3)

    assert len(first) == 100 and first["x"].is_monotonic_increasing
    assert first.equals(reference_sample(frame, max_rows=100, seed=3))
    assert len(reference_sample(frame, max_rows=5000, seed=3)) == 1000


def test_the_matched_reference_has_the_windows_time_of_day_mix() -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"order_hour": rng.uniform(8, 24, size=8000)})
    reference["slot"] = np.floor(reference["order_hour"] * 4).astype(int)
    # 19:30-19:45 three times as busy as 20:00-20:15; two orders at 03:00, when the reference has none.
    window_hours = np.concatenate([np.full(300, 19.6), np.full(100, 20.1), np.full(2, 3.0)])

    matched = time_matched_reference(reference, window_hours, seed=1)

    shares = matched.frame["slot"].value_counts(normalize=True)
    assert matched.slots == (78, 80) and math.isclose(matched.unmatched_share, 2 / 402)
    assert set(shares.index) == {78, 80} and abs(shares[78] - 0.75) < 0.01
    assert 150 <= len(matched.frame) <= 170  # slot 78 (about 125 rows) is three quarters: about 125 / 0.75
    assert matched.frame.equals(time_matched_reference(reference, window_hours, seed=1).frame)


def test_a_window_edge_is_matched_within_the_hour() -> None:
    reference = pd.DataFrame({"order_hour": np.arange(16.0, 18.0, 1 / 60)})  # one order a minute, 16:00-17:59

    matched = time_matched_reference(reference, np.arange(16.75, 17.75, 1 / 60), seed=0)

    assert matched.frame["order_hour"].min() >= 16.75 and matched.frame["order_hour"].max() < 17.75


def test_a_window_without_times_is_compared_with_the_whole_reference() -> None:
    reference = pd.DataFrame({"order_hour": [9.0, 10.0, 11.0]})

    matched = time_matched_reference(reference, np.array([np.nan, np.nan]), seed=0)

    assert matched.frame is reference and matched.slots == ()
