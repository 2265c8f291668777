"""Drift-check inputs in plain Python (numpy/pandas, no Django): which features are tested, the cached
reference sample as JSON columns, and the reference matched to a window's hours of day.

Why hour matching: a drift window is one hour of traffic, and much of what an order looks like depends on
the hour it is placed (in the bundled history, road traffic is a function of the hour: "Jam" from 19:00 to
21:59, "Low" in the morning). Against the whole day's training data, every evening window would "drift" in
traffic. So each check compares the window with reference rows re-sampled to the window's own mix of hours
of day; what remains is a change *at that time of day*. A shift in the hour mix itself cannot be seen in a
one-hour window and is not tested.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from predictions.ml.features import FEATURES_BY_NAME, FeatureKind

# The column of predicted ETAs in reference and window frames (the name of the audit field).
PREDICTION_COLUMN = "predicted_eta_minutes"
# The local time of day of an order, in hours: the column windows and references are matched on.
HOUR_COLUMN = "order_hour"
HOURS_PER_DAY = 24
# Not tested: constant within a one-hour window (day of week), or growing by design with the history
# (completed counts: every order after training has more history than any training row had).
UNTESTED_FEATURES: frozenset[str] = frozenset(
    {"day_of_week"} | {name for name, feature in FEATURES_BY_NAME.items() if not feature.has_stable_range}
)


@dataclass(frozen=True)
class DriftFeatures:
    """The features of a model that a drift check tests, split by kind, in the model's order."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.numeric, *self.categorical)

    def as_dict(self) -> dict[str, list[str]]:
        return {"numeric": list(self.numeric), "categorical": list(self.categorical)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Sequence[str]]) -> DriftFeatures:
        return cls(numeric=tuple(data["numeric"]), categorical=tuple(data["categorical"]))


def drift_features(model_features: Sequence[str]) -> DriftFeatures:
    """The model's features that drift is tested on (see `UNTESTED_FEATURES`), by kind."""
    names = [name for name in model_features if name not in UNTESTED_FEATURES]
    return DriftFeatures(
        numeric=tuple(name for name in names if FEATURES_BY_NAME[name].kind is FeatureKind.NUMERIC),
        categorical=tuple(name for name in names if FEATURES_BY_NAME[name].kind is FeatureKind.CATEGORICAL),
    )


def reference_sample(frame: pd.DataFrame, *, max_rows: int, seed: int) -> pd.DataFrame:
    """At most `max_rows` rows of `frame`, drawn uniformly without replacement (seeded), in their order.

    Uniform, so the sample keeps the reference period's mix of hours; hour matching happens per check.
    """
    if len(frame) <= max_rows:
        return frame.reset_index(drop=True)
    positions = np.sort(np.random.default_rng(seed).choice(len(frame), size=max_rows, replace=False))
    return frame.iloc[positions].reset_index(drop=True)


def frame_to_columns(frame: pd.DataFrame) -> dict[str, list[Any]]:
    """A frame as JSON-ready columns: numbers as floats, categories as strings, missing as None."""
    columns: dict[str, list[Any]] = {}
    for name in frame.columns:
        values = frame[name].tolist()
        columns[str(name)] = [_json_value(value) for value in values]
    return columns


def columns_to_frame(columns: Mapping[str, Sequence[Any]], kinds: Mapping[str, str]) -> pd.DataFrame:
    """Undo `frame_to_columns`: numeric columns (per `kinds`, numeric when absent) as float64 with NaN."""
    data: dict[str, Any] = {}
    for name, values in columns.items():
        if kinds.get(name, FeatureKind.NUMERIC.value) == FeatureKind.CATEGORICAL.value:
            data[name] = pd.Series(list(values), dtype=object)
        else:
            data[name] = pd.Series([math.nan if value is None else value for value in values], dtype=np.float64)
    return pd.DataFrame(data)


@dataclass(frozen=True)
class MatchedReference:
    """The reference rows matched to a window's hours, and how well the match went.

    `unmatched_share` is the share of the window's rows placed at hours of day the reference has no rows
    for: they are compared with the reference of the other hours (and show up in `order_hour`).
    """

    frame: pd.DataFrame
    hours: tuple[int, ...]
    unmatched_share: float


def hour_matched_reference(
    reference: pd.DataFrame, current_hours: Sequence[float] | np.ndarray, *, seed: int
) -> MatchedReference:
    """Reference rows sampled without replacement so that their hour-of-day mix equals the window's.

    The largest such sample: with window shares c_h and reference counts r_h, n = min_h floor(r_h / c_h)
    rows in all, round(c_h * n) of hour h. Hours the reference lacks are left out of the matching (see
    `MatchedReference.unmatched_share`). A window without any known hour gets the whole reference.
    """
    reference_hours = _hours_of_day(reference[HOUR_COLUMN].to_numpy(dtype=np.float64))
    window_hours = _hours_of_day(np.asarray(current_hours, dtype=np.float64))
    window_hours = window_hours[window_hours >= 0]
    if window_hours.size == 0:
        return MatchedReference(frame=reference, hours=(), unmatched_share=0.0)
    window_counts = np.bincount(window_hours, minlength=HOURS_PER_DAY)
    reference_counts = np.bincount(reference_hours[reference_hours >= 0], minlength=HOURS_PER_DAY)
    matchable = (window_counts > 0) & (reference_counts > 0)
    unmatched_share = float(window_counts[~matchable].sum() / window_hours.size)
    if not matchable.any():
        return MatchedReference(frame=reference, hours=(), unmatched_share=unmatched_share)
    shares = window_counts[matchable] / window_counts[matchable].sum()
    total = int(np.min(np.floor(reference_counts[matchable] / shares)))
    rng = np.random.default_rng(seed)
    chosen: list[np.ndarray] = []
    for hour, share in zip(np.flatnonzero(matchable), shares, strict=True):
        rows_of_hour = np.flatnonzero(reference_hours == hour)
        size = min(int(np.rint(share * total)), rows_of_hour.size)
        chosen.append(rng.choice(rows_of_hour, size=size, replace=False))
    positions = np.sort(np.concatenate(chosen))
    return MatchedReference(
        frame=reference.iloc[positions].reset_index(drop=True),
        hours=tuple(int(hour) for hour in np.flatnonzero(matchable)),
        unmatched_share=unmatched_share,
    )


def _hours_of_day(order_hours: np.ndarray) -> np.ndarray:
    """Whole hours of day 0..23 (an order_hour of 23.99 is hour 23); -1 where unknown."""
    hours = np.full(order_hours.shape, -1, dtype=np.int64)
    known = np.isfinite(order_hours)
    hours[known] = np.floor(order_hours[known]).astype(np.int64) % HOURS_PER_DAY
    return hours


def _json_value(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    return str(value)
