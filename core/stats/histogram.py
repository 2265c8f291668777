"""Reference-vs-current histograms of one feature, stored with a drift report for the admin's plots.

Computed while the check has both windows in memory, so the admin can draw them later from the report alone,
without loading the training data again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from core.stats.columns import categorical_column, category_counts, numeric_column
from core.stats.constants import (
    HISTOGRAM_BINS,
    HISTOGRAM_LOWER_QUANTILE,
    HISTOGRAM_MAX_CATEGORIES,
    HISTOGRAM_UPPER_QUANTILE,
    POOLED_CATEGORY_LABEL,
)
from core.stats.serialise import finite_list

HistogramKind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class FeatureHistogram:
    """Plot data for one feature on both windows.

    numeric: `bin_edges` has one more entry than the densities; densities integrate to 1 over the edges
    (values beyond the plotted range are counted in the end bins). categorical: `categories` names each bar
    and the densities are shares summing to 1. A side with no values has all-zero densities.
    """

    kind: HistogramKind
    reference_density: tuple[float, ...]
    current_density: tuple[float, ...]
    bin_edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (lists, None for any non-finite number)."""
        return {
            "kind": self.kind,
            "bin_edges": finite_list(self.bin_edges),
            "categories": list(self.categories),
            "reference_density": finite_list(self.reference_density),
            "current_density": finite_list(self.current_density),
        }


def numeric_histogram(reference: np.ndarray, current: np.ndarray, *, bins: int = HISTOGRAM_BINS) -> FeatureHistogram:
    """Equal-width histogram densities of two samples of present values on shared edges.

    The range spans both samples from their 0.5% to their 99.5% quantile, so a shifted current window is
    visible next to the reference and one extreme value does not flatten the plot.
    """
    samples = [sample for sample in (reference, current) if sample.size]
    if not samples:
        return FeatureHistogram(kind="numeric", reference_density=(), current_density=())
    low = min(float(np.quantile(sample, HISTOGRAM_LOWER_QUANTILE)) for sample in samples)
    high = max(float(np.quantile(sample, HISTOGRAM_UPPER_QUANTILE)) for sample in samples)
    if high <= low:  # a constant feature still gets a visible bar
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, bins + 1)
    return FeatureHistogram(
        kind="numeric",
        bin_edges=tuple(edges.tolist()),
        reference_density=_densities(reference, edges),
        current_density=_densities(current, edges),
    )


def categorical_histogram(
    labels: list[str],
    reference_counts: np.ndarray,
    current_counts: np.ndarray,
    *,
    max_categories: int = HISTOGRAM_MAX_CATEGORIES,
) -> FeatureHistogram:
    """Shares of each category on both sides; beyond `max_categories` (by total count) the rest are pooled."""
    labels = list(labels)
    reference_counts = np.asarray(reference_counts, dtype=float)
    current_counts = np.asarray(current_counts, dtype=float)
    order = np.argsort(-(reference_counts + current_counts), kind="stable")
    labels = [labels[index] for index in order]
    reference_counts, current_counts = reference_counts[order], current_counts[order]
    if len(labels) > max_categories:
        kept = max_categories - 1
        labels = [*labels[:kept], POOLED_CATEGORY_LABEL]
        reference_counts = np.append(reference_counts[:kept], reference_counts[kept:].sum())
        current_counts = np.append(current_counts[:kept], current_counts[kept:].sum())
    return FeatureHistogram(
        kind="categorical",
        categories=tuple(labels),
        reference_density=_shares(reference_counts),
        current_density=_shares(current_counts),
    )


def feature_histogram(
    reference: pd.Series, current: pd.Series, *, kind: HistogramKind, bins: int = HISTOGRAM_BINS
) -> FeatureHistogram:
    """Reference-vs-current plot data for one feature column (missing values left out)."""
    if kind == "numeric":
        return numeric_histogram(numeric_column(reference).present, numeric_column(current).present, bins=bins)
    labels, reference_counts, current_counts = category_counts(
        categorical_column(reference).present, categorical_column(current).present
    )
    return categorical_histogram(labels, reference_counts, current_counts)


def _densities(sample: np.ndarray, edges: np.ndarray) -> tuple[float, ...]:
    if sample.size == 0:
        return tuple(0.0 for _ in range(edges.size - 1))
    counts, _ = np.histogram(np.clip(sample, edges[0], edges[-1]), bins=edges)
    return tuple((counts / (sample.size * np.diff(edges))).tolist())


def _shares(counts: np.ndarray) -> tuple[float, ...]:
    total = counts.sum()
    return tuple((counts / total).tolist()) if total > 0 else tuple(0.0 for _ in counts)
