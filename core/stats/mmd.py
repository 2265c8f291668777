"""Multivariate drift: the maximum mean discrepancy (MMD) with an RBF kernel and a permutation p-value.

Per-feature tests miss a change in how features move together (rush hour used to mean long distances; now it
does not) when every marginal stays the same. MMD compares the joint distributions: with a characteristic
kernel such as the RBF it is zero only when they are equal.

- Features are standardised by the reference's mean and standard deviation, so no unit dominates the kernel.
  A missing value becomes the reference mean (0 after standardising): missingness has its own test, and
  dropping incomplete rows would bias the sample when missingness depends on the values.
- The bandwidth is the median pairwise distance of the pooled sample (the median heuristic).
- The p-value comes from a permutation test: under "no drift" the reference/current labels are exchangeable,
  so the observed MMD^2 is ranked among MMD^2 values of randomly relabelled samples. Both sides are subsampled
  to a bounded size first, which bounds the O(n^2) kernel matrix; the permutations are vectorised as one
  matrix product rather than a Python loop per pair or per permutation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Ranks an observed statistic as "at least as extreme" as a permuted one equal up to rounding: relabelling the
# same two sets in another order gives the same MMD^2 up to float error, and must count as a tie.
_TIE_TOLERANCE = 1e-12


@dataclass(frozen=True)
class MMDOutcome:
    """An MMD permutation test: the unbiased MMD^2, its p-value, the kernel bandwidth and the rows used."""

    statistic: float
    p_value: float
    bandwidth: float
    n_reference: int
    n_current: int
    permutations: int


def standardise_by_reference(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale both (rows x features) arrays by the reference's column means and standard deviations.

    Statistics ignore missing values; missing values then become 0 (the reference mean). A constant
    reference column is only centred (a scale of 1), since dividing by 0 would make it infinite.
    """
    is_present = ~np.isnan(reference)
    counts = is_present.sum(axis=0)
    filled = np.where(is_present, reference, 0.0)
    # Written out rather than np.nanmean/nanstd, which warn on a column missing everywhere (then: 0 and 1).
    means = np.divide(filled.sum(axis=0), counts, out=np.zeros(reference.shape[1]), where=counts > 0)
    squared_deviations = np.where(is_present, (reference - means) ** 2, 0.0)
    variances = np.divide(squared_deviations.sum(axis=0), counts, out=np.zeros(reference.shape[1]), where=counts > 0)
    scales = np.where(variances > 0, np.sqrt(variances), 1.0)
    return (
        np.nan_to_num((reference - means) / scales, nan=0.0, posinf=0.0, neginf=0.0),
        np.nan_to_num((current - means) / scales, nan=0.0, posinf=0.0, neginf=0.0),
    )


def pairwise_squared_distances(points: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between all rows, as |a|^2 + |b|^2 - 2ab (one matrix product)."""
    norms = np.einsum("ij,ij->i", points, points)
    squared = norms[:, None] + norms[None, :] - 2.0 * (points @ points.T)
    np.maximum(squared, 0.0, out=squared)  # rounding can leave tiny negatives
    np.fill_diagonal(squared, 0.0)
    return squared


def median_heuristic_bandwidth(squared_distances: np.ndarray) -> float:
    """The median distance between distinct points; 0.0 when all points coincide.

    Discrete features can make more than half of the pairs coincide and the median 0; the median of the
    non-zero distances is used then, so the kernel still separates the points that differ.
    """
    upper = squared_distances[np.triu_indices(squared_distances.shape[0], k=1)]
    median = float(np.sqrt(np.median(upper))) if upper.size else 0.0
    if median > 0.0:
        return median
    non_zero = upper[upper > 0.0]
    return float(np.sqrt(np.median(non_zero))) if non_zero.size else 0.0


def unbiased_mmd_squared(kernel: np.ndarray, reference_membership: np.ndarray) -> np.ndarray:
    """Unbiased MMD^2 for one or many labellings of the pooled sample, from its kernel matrix.

    `reference_membership` is (labellings x rows) of 0/1 (1 = reference side) or one such row. With the kernel
    diagonal zeroed, for indicator vectors a (reference) and b = 1 - a (current):
        MMD^2_u = a'Ka / (m(m-1)) + b'Kb / (n(n-1)) - 2 a'Kb / (mn)
    b'Kb and a'Kb follow from a'Ka, a'K1 and 1'K1, so all labellings cost one matrix product.
    """
    off_diagonal = kernel.copy()  # the caller's kernel is left as it was
    np.fill_diagonal(off_diagonal, 0.0)
    membership = np.atleast_2d(reference_membership).astype(float)
    reference_size = membership[0].sum()
    current_size = membership.shape[1] - reference_size
    row_sums = off_diagonal.sum(axis=1)
    grand_sum = row_sums.sum()
    within_reference = np.einsum("pi,pi->p", membership @ off_diagonal, membership)
    between = membership @ row_sums - within_reference
    within_current = grand_sum - within_reference - 2.0 * between
    return (
        within_reference / (reference_size * (reference_size - 1))
        + within_current / (current_size * (current_size - 1))
        - 2.0 * between / (reference_size * current_size)
    )


def mmd_permutation_test(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    max_rows_per_side: int,
    permutations: int,
    rng: np.random.Generator,
) -> MMDOutcome:
    """MMD^2 between two (rows x features) samples with a permutation p-value.

    Features are standardised by the reference; then each side is subsampled without replacement to at most
    `max_rows_per_side` rows; the RBF kernel exp(-d^2 / (2 h^2)) uses the pooled median distance h. The p-value
    (1 + #{permuted >= observed}) / (1 + permutations) is valid (under no drift it falls below a level at most
    that often), is never 0, and is deterministic for a given `rng` state.
    """
    if reference.ndim != 2 or current.ndim != 2 or reference.shape[1] != current.shape[1]:
        raise ValueError("reference and current must be 2-D arrays with the same columns")
    if min(reference.shape[0], current.shape[0]) < 2:
        raise ValueError("MMD needs at least two rows on each side")
    # Standardise with the whole reference's statistics, then subsample: the scale is the training data's,
    # not that of whichever rows the subsample happened to draw.
    reference_scaled, current_scaled = standardise_by_reference(reference, current)
    reference_scaled = _subsample_rows(reference_scaled, max_rows_per_side, rng)
    current_scaled = _subsample_rows(current_scaled, max_rows_per_side, rng)
    pooled = np.vstack([reference_scaled, current_scaled])
    squared_distances = pairwise_squared_distances(pooled)
    bandwidth = median_heuristic_bandwidth(squared_distances)
    if bandwidth == 0.0:
        # Every row is the same point: the two samples are identical, there is nothing to detect.
        return MMDOutcome(0.0, 1.0, 0.0, reference_scaled.shape[0], current_scaled.shape[0], permutations)
    kernel = np.exp(-squared_distances / (2.0 * bandwidth**2))
    observed_membership = np.zeros(pooled.shape[0])
    observed_membership[: reference_scaled.shape[0]] = 1.0
    permuted_memberships = rng.permuted(np.tile(observed_membership, (permutations, 1)), axis=1)
    # The observed labelling rides along as row 0, so the kernel is prepared once for all labellings.
    statistics = unbiased_mmd_squared(kernel, np.vstack([observed_membership, permuted_memberships]))
    observed, permuted = float(statistics[0]), statistics[1:]
    at_least_as_extreme = int(np.sum(permuted >= observed - _TIE_TOLERANCE))
    return MMDOutcome(
        statistic=observed,
        p_value=(1 + at_least_as_extreme) / (1 + permutations),
        bandwidth=bandwidth,
        n_reference=reference_scaled.shape[0],
        n_current=current_scaled.shape[0],
        permutations=permutations,
    )


def _subsample_rows(sample: np.ndarray, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    if sample.shape[0] <= max_rows:
        return sample
    # Sorted indices keep the subsample in the window's order (only matters for reading it while debugging).
    return sample[np.sort(rng.choice(sample.shape[0], size=max_rows, replace=False))]
