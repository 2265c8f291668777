"""Backtest metrics: a version's accuracy day by day over a stretch of history (no Django).

The registry replays stored history with point-in-time features and hands the predictions here; the
metrics are computed column-wise (one group-by over the days), never one Python object per delivery, so
a ten-million-row range costs a few vector passes. "Within 5 minutes" is `core.evaluation`'s threshold, so
a backtest's figures mean what the evaluation page's mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from core.evaluation import WITHIN_MINUTES


@dataclass(frozen=True)
class BacktestMetrics:
    """Accuracy over a set of deliveries (minutes): bias is mean(predicted - actual), positive = too slow."""

    rows: int
    mae: float
    bias: float
    within_5_min: float
    interval_coverage: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class BacktestResult:
    """Metrics per local day (ISO date -> metrics, oldest first) and over the whole range."""

    days: dict[str, BacktestMetrics]
    overall: BacktestMetrics

    def days_as_list(self) -> list[dict[str, object]]:
        return [{"day": day, **metrics.as_dict()} for day, metrics in self.days.items()]


def backtest_metrics(
    *,
    days: np.ndarray | pd.Series,
    actual: np.ndarray | Sequence[float],
    predicted: np.ndarray | Sequence[float],
    lower: np.ndarray | Sequence[float],
    upper: np.ndarray | Sequence[float],
) -> BacktestResult:
    """Per-day and overall metrics; ``days`` holds each delivery's local day (datetime64, midnight).

    Raises `ValueError` on empty or mismatched inputs: a backtest of nothing has no metrics to store.
    """
    y = np.asarray(actual, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    low, high = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    day_values = np.asarray(days, dtype="datetime64[D]")
    if len(y) == 0 or not (len(y) == len(p) == len(low) == len(high) == len(day_values)):
        raise ValueError("a backtest needs one day, actual, prediction and interval per delivery (and some)")
    error = p - y
    frame = pd.DataFrame(
        {
            "day": day_values,
            "abs_error": np.abs(error),
            "error": error,
            "is_within": np.abs(error) <= WITHIN_MINUTES,
            "is_covered": (y >= low) & (y <= high),
        }
    )
    per_day = frame.groupby("day", sort=True).agg(
        rows=("error", "size"),
        mae=("abs_error", "mean"),
        bias=("error", "mean"),
        within_5_min=("is_within", "mean"),
        interval_coverage=("is_covered", "mean"),
    )
    labels = pd.DatetimeIndex(per_day.index).strftime("%Y-%m-%d")
    by_day = {
        label: _metrics(int(row.rows), row.mae, row.bias, row.within_5_min, row.interval_coverage)
        for label, row in zip(labels, per_day.itertuples(index=False), strict=True)
    }
    overall = _metrics(
        len(y),
        frame["abs_error"].mean(),
        frame["error"].mean(),
        frame["is_within"].mean(),
        frame["is_covered"].mean(),
    )
    return BacktestResult(days=by_day, overall=overall)


def _metrics(rows: int, mae: float, bias: float, within: float, coverage: float) -> BacktestMetrics:
    return BacktestMetrics(rows, float(mae), float(bias), float(within), float(coverage))
