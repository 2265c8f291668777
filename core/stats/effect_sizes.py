"""Effect sizes: how large a difference is, as opposed to how sure we are that it exists (the p-value).

A drift check declares drift only when both are large enough, so that a window of 200,000 predictions does not
alarm on a shift nobody would act on. Every function here takes plain numpy arrays without missing values.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

from core.stats.constants import HODGES_LEHMANN_TOLERANCE, PSI_EPSILON, PSI_QUANTILE_BINS


def wasserstein_in_reference_sd(reference: np.ndarray, current: np.ndarray) -> float:
    """Wasserstein-1 distance between the samples, in standard deviations of the reference.

    Dividing by the reference spread makes one threshold fit every feature whatever its unit (a mean shift
    of 0.5 sd gives 0.5). A constant reference has no spread, so the pooled sample's spread is used instead:
    a feature that was constant in training and now varies has drifted by any measure. When both samples
    are the same constant the distance is 0.
    """
    distance = stats.wasserstein_distance(reference, current)
    scale = float(np.std(reference, ddof=1)) if reference.size > 1 else 0.0
    if scale == 0.0:
        scale = float(np.std(np.concatenate([reference, current]), ddof=1))
    if scale == 0.0:
        return 0.0
    return float(distance / scale)


def population_stability_index(reference_shares: np.ndarray, current_shares: np.ndarray) -> float:
    """PSI = sum((current - reference) * ln(current / reference)) over bins, shares floored at `PSI_EPSILON`.

    The floor keeps a bin that is empty on one side finite; a bin empty on both sides contributes 0.
    """
    reference_floored = np.maximum(np.asarray(reference_shares, dtype=float), PSI_EPSILON)
    current_floored = np.maximum(np.asarray(current_shares, dtype=float), PSI_EPSILON)
    return float(np.sum((current_floored - reference_floored) * np.log(current_floored / reference_floored)))


def reference_quantile_edges(reference: np.ndarray, bin_count: int = PSI_QUANTILE_BINS) -> np.ndarray:
    """The inner bin edges of numeric PSI: the reference's quantiles, ties merged.

    A feature with many equal values (a count that is mostly 0) has repeated quantiles; merging them leaves
    fewer, non-empty bins instead of zero-width ones.
    """
    inner_quantiles = np.linspace(0.0, 1.0, bin_count + 1)[1:-1]
    return np.unique(np.quantile(reference, inner_quantiles))


def numeric_psi(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI of a numeric feature on the reference's decile bins (values beyond the reference's range land in
    the outer bins, so a current window entirely above the reference maximum still scores high)."""
    edges = reference_quantile_edges(reference)
    bin_count = edges.size + 1
    reference_counts = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=bin_count)
    current_counts = np.bincount(np.searchsorted(edges, current, side="right"), minlength=bin_count)
    return population_stability_index(reference_counts / reference.size, current_counts / current.size)


def jensen_shannon_distance(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Jensen-Shannon distance in bits between two count vectors over the same categories, in [0, 1].

    The square root of the JS divergence; same value as `scipy.spatial.distance.jensenshannon(p, q, base=2)`,
    but the divergence is clipped at 0 before the root, because rounding can make it a hair negative for
    identical distributions and scipy then returns NaN.
    """
    reference_shares = np.asarray(reference_counts, dtype=float) / np.sum(reference_counts)
    current_shares = np.asarray(current_counts, dtype=float) / np.sum(current_counts)
    midpoint = (reference_shares + current_shares) / 2.0
    divergence_nats = 0.5 * (
        np.sum(special.rel_entr(reference_shares, midpoint)) + np.sum(special.rel_entr(current_shares, midpoint))
    )
    return float(math.sqrt(max(divergence_nats / math.log(2.0), 0.0)))


def hodges_lehmann(differences: np.ndarray, *, tolerance: float = HODGES_LEHMANN_TOLERANCE) -> float:
    """The Hodges-Lehmann estimate of a paired shift: the median of all Walsh averages (d_i + d_j) / 2, i <= j.

    It is the effect estimate that goes with the Wilcoxon signed-rank test (the test asks whether this is 0)
    and, unlike the mean, one order with a huge error barely moves it. There are n(n+1)/2 Walsh averages (12.5
    million for 5,000 orders), so instead of listing them the median is found by bisection on the value,
    counting the averages below a candidate in O(n log n) on the sorted differences. Exact to `tolerance`.
    Returns NaN for an empty input.
    """
    values = np.sort(np.asarray(differences, dtype=float))
    count = values.size
    if count == 0:
        return math.nan
    total = count * (count + 1) // 2
    positions = np.arange(count)

    def walsh_averages_at_most(threshold: float) -> int:
        # For sorted d and each i, the partners j >= i with d_i + d_j <= 2 * threshold.
        partner_limit = np.searchsorted(values, 2.0 * threshold - values, side="right")
        return int(np.sum(np.maximum(partner_limit - positions, 0)))

    def kth_smallest(rank: int) -> float:
        low, high = float(values[0]), float(values[-1])
        while high - low > tolerance:
            middle = (low + high) / 2.0
            if middle in (low, high):  # the bracket is as narrow as floats allow
                break
            if walsh_averages_at_most(middle) >= rank:
                high = middle
            else:
                low = middle
        return high

    if total % 2 == 1:
        return kth_smallest((total + 1) // 2)
    return (kth_smallest(total // 2) + kth_smallest(total // 2 + 1)) / 2.0
