"""Drift-check inputs in plain Python (numpy/pandas, no Django): which features are tested, the cached
reference sample as JSON columns, and the reference matched to a window's times of day.

Why time matching: a drift window is one hour of traffic, and much of what an order looks like depends on
the hour it is placed (in the bundled history, road traffic is a function of the hour: "jam" from 19:00 to
21:59, "low" in the morning). Against the whole day's training data, every evening window would "drift" in
traffic. So each check compares the window with reference rows re-sampled to the window's own mix of times
of day; what remains is a change *at that time of day*. A shift in the mix of hours itself cannot be seen in
a one-hour window and is not tested. The adjusted comparison goes further (weekend, kind of day): see
`core.stats.strata`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.features import FEATURES_BY_NAME, FeatureKind
from core.stats.strata import StratifiedReference, stratified_reference

# The column of predicted ETAs in reference and window frames (the name of the audit field).
PREDICTION_COLUMN = "predicted_eta_minutes"
# The local time of day of an order, in hours: the column windows and references are matched on.
HOUR_COLUMN = "order_hour"
# The local day of week of an order (Monday = 0): weekday or weekend, one of the adjusted reference's strata.
WEEKDAY_COLUMN = "day_of_week"
# A reference row's kind of day (`core.stats.strata.detect_day_types`; -1 where its day was not typed).
DAY_TYPE_COLUMN = "day_type"
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


def time_matched_reference(
    reference: pd.DataFrame, current_hours: Sequence[float] | np.ndarray, *, seed: int
) -> StratifiedReference:
    """Reference rows sampled without replacement so that their time-of-day mix equals the window's.

    Times of day are compared in quarter-hour slots, not whole hours: a window from 16:45 to 17:45 holds a quarter
    hour of the 16:00 hour, and matching it with the whole of that hour would show a difference in `order_hour`
    (and in whatever changes at 16:00) that is only the window's edge. The unadjusted comparison of a drift check;
    `core.stats.strata.stratified_reference` with weekend and day type is the adjusted one.
    """
    current = pd.DataFrame({HOUR_COLUMN: np.asarray(current_hours, dtype=np.float64)})
    return stratified_reference(reference, current, hour_column=HOUR_COLUMN, seed=seed)


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
