"""Accuracy and fairness metrics for ETA predictions, as JSON-ready dataclasses.

Used by the accuracy bench, the registry's evaluation command and its evidence page, so "MAE" and
"coverage" mean the same thing everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

# A delivery counts as "on time" when the point ETA is within this many minutes of the actual duration.
WITHIN_MINUTES = 5.0
# Segments smaller than this are reported but cannot be the "worst": their MAE is mostly noise.
MIN_SEGMENT_SIZE = 50
COURIER_AGE_BANDS: tuple[tuple[int, int], ...] = ((0, 24), (25, 29), (30, 34), (35, 39), (40, 200))


@dataclass(frozen=True)
class Metrics:
    """Point and interval accuracy over a set of deliveries (minutes)."""

    count: int
    mae: float
    rmse: float
    r2: float | None
    within_5_min: float
    interval_coverage: float | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class SegmentMetrics:
    """Metrics for one value of one segmenting dimension (e.g. traffic = jam)."""

    dimension: str
    value: str
    metrics: Metrics
    mae_gap: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class EvaluationReport:
    """Overall metrics, per-segment metrics and the worst segment (largest MAE gap to overall)."""

    overall: Metrics
    segments: tuple[SegmentMetrics, ...]
    worst_segment: SegmentMetrics | None

    def as_dict(self) -> dict[str, object]:
        return {
            "overall": self.overall.as_dict(),
            "segments": [segment.as_dict() for segment in self.segments],
            "worst_segment": self.worst_segment.as_dict() if self.worst_segment else None,
        }


def compute_metrics(
    actual: np.ndarray | Sequence[float],
    predicted: np.ndarray | Sequence[float],
    *,
    lower: np.ndarray | Sequence[float] | None = None,
    upper: np.ndarray | Sequence[float] | None = None,
) -> Metrics:
    """MAE, RMSE, R² (None for constant actuals), share within 5 minutes and p05-p95 coverage."""
    y = np.asarray(actual, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1 or len(y) == 0:
        raise ValueError("actual and predicted must be non-empty 1-d arrays of the same length")
    error = p - y
    total_variance = float(np.sum((y - y.mean()) ** 2))
    coverage = None
    if lower is not None and upper is not None:
        low, high = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
        coverage = float(np.mean((y >= low) & (y <= high)))
    return Metrics(
        count=len(y),
        mae=float(np.mean(np.abs(error))),
        rmse=float(np.sqrt(np.mean(error**2))),
        r2=None if total_variance == 0 else 1.0 - float(np.sum(error**2)) / total_variance,
        within_5_min=float(np.mean(np.abs(error) <= WITHIN_MINUTES)),
        interval_coverage=coverage,
    )


def courier_age_band(ages: np.ndarray | Sequence[float] | pd.Series) -> np.ndarray:
    """Courier ages as band labels ("<25", "25-29", ..., "40+"), "unknown" where missing."""
    values = np.asarray(ages, dtype=np.float64)
    labels = np.full(len(values), "unknown", dtype=object)
    for low, high in COURIER_AGE_BANDS:
        label = f"<{high + 1}" if low == 0 else (f"{low}+" if high >= 200 else f"{low}-{high}")
        labels[(values >= low) & (values <= high)] = label
    return labels


def evaluate(
    actual: np.ndarray | Sequence[float],
    predicted: np.ndarray | Sequence[float],
    *,
    lower: np.ndarray | Sequence[float] | None = None,
    upper: np.ndarray | Sequence[float] | None = None,
    segments: Mapping[str, np.ndarray | Sequence[object] | pd.Series] | None = None,
    min_segment_size: int = MIN_SEGMENT_SIZE,
) -> EvaluationReport:
    """Overall and per-segment metrics; ``segments`` maps a dimension name to one label per delivery.

    Missing labels are reported as the segment "unknown". The worst segment is the one with the largest
    MAE above overall among segments with at least ``min_segment_size`` deliveries.
    """
    y = np.asarray(actual, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    low = None if lower is None else np.asarray(lower, dtype=np.float64)
    high = None if upper is None else np.asarray(upper, dtype=np.float64)
    overall = compute_metrics(y, p, lower=low, upper=high)
    results: list[SegmentMetrics] = []
    for dimension, raw_labels in (segments or {}).items():
        labels = pd.Series(np.asarray(raw_labels, dtype=object)).fillna("unknown").astype(str).to_numpy()
        if len(labels) != len(y):
            raise ValueError(f"segment {dimension!r} has {len(labels)} labels for {len(y)} deliveries")
        for value in sorted(set(labels)):
            mask = labels == value
            metrics = compute_metrics(
                y[mask],
                p[mask],
                lower=None if low is None else low[mask],
                upper=None if high is None else high[mask],
            )
            results.append(SegmentMetrics(dimension, value, metrics, metrics.mae - overall.mae))
    eligible = [segment for segment in results if segment.metrics.count >= min_segment_size]
    worst = max(eligible, key=lambda segment: segment.mae_gap, default=None)
    return EvaluationReport(overall=overall, segments=tuple(results), worst_segment=worst)


def delivery_segments(deliveries: pd.DataFrame) -> dict[str, np.ndarray]:
    """The standard fairness dimensions of a clean-delivery frame: area, vehicle, weather, traffic, age band."""
    segments = {name: deliveries[name].to_numpy(dtype=object) for name in ("area", "vehicle", "weather", "traffic")}
    segments["courier_age_band"] = courier_age_band(deliveries["courier_age"])
    return segments
