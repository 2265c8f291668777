"""One-feature two-sample tests: KS for numeric values, chi-square (or Fisher) for category counts.

Each returns a `UnivariateOutcome` with the test's p-value and the effect size that the drift decision gates
on. The p-values are corrected across the whole check afterwards (`multiple_testing`), not here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from core.stats.constants import MIN_EXPECTED_CELL_COUNT, POOLED_CATEGORY_LABEL
from core.stats.effect_sizes import (
    jensen_shannon_distance,
    numeric_psi,
    population_stability_index,
    wasserstein_in_reference_sd,
)

KS_TEST = "ks_2samp"
CHI_SQUARE_TEST = "chi_square"
FISHER_TEST = "fisher_exact"
WASSERSTEIN_METRIC = "wasserstein_sd"
JENSEN_SHANNON_METRIC = "jensen_shannon"


@dataclass(frozen=True)
class UnivariateOutcome:
    """The result of one feature's test before multiple-testing correction.

    `statistic` is the test's own (KS D, chi-square, Fisher's odds ratio, which may be infinite); `effect_size`
    is the gated effect named by `effect_metric`; `psi` is reported alongside for people used to PSI rules.
    """

    test: str
    statistic: float
    p_value: float
    effect_size: float
    effect_metric: str
    psi: float
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PooledTable:
    """A 2 x k contingency table (row 0 reference, row 1 current) after sparse categories were pooled."""

    labels: tuple[str, ...]
    counts: np.ndarray
    pooled_labels: tuple[str, ...]


def numeric_drift_test(reference: np.ndarray, current: np.ndarray) -> UnivariateOutcome:
    """Two-sample KS on the present values, with Wasserstein-in-reference-sd as the effect size.

    KS is distribution-free and sees any change of shape, not only of the mean; its p-value says whether
    there is a change, the Wasserstein distance says how far the values moved.
    """
    result = stats.ks_2samp(reference, current)
    return UnivariateOutcome(
        test=KS_TEST,
        statistic=float(result.statistic),
        p_value=float(result.pvalue),
        effect_size=wasserstein_in_reference_sd(reference, current),
        effect_metric=WASSERSTEIN_METRIC,
        psi=numeric_psi(reference, current),
    )


def pool_sparse_categories(labels: list[str], reference_counts: np.ndarray, current_counts: np.ndarray) -> PooledTable:
    """Pool the categories whose expected count is under `MIN_EXPECTED_CELL_COUNT` (Cochran's rule).

    The rule, so that the chi-square approximation holds in every cell:
      1. a category is sparse when its smaller expected count, min(row totals) * column total / grand total,
         is under 5; all sparse categories are summed into one pooled column;
      2. if that pooled column is itself still sparse, it is folded into the smallest adequate category.
    Categories seen only in the current window are ordinary columns here: new and frequent ones are tested
    on their own, rare ones are pooled. Categories with no count on either side are dropped.
    """
    counts = np.vstack([reference_counts, current_counts]).astype(np.int64)
    keep = counts.sum(axis=0) > 0
    counts = counts[:, keep]
    kept_labels = [label for label, is_kept in zip(labels, keep, strict=True) if is_kept]
    grand_total = counts.sum()
    smaller_row_total = counts.sum(axis=1).min()
    column_totals = counts.sum(axis=0)

    def is_sparse(column_total: float) -> bool:
        return bool(smaller_row_total * column_total / grand_total < MIN_EXPECTED_CELL_COUNT)

    sparse = np.array([is_sparse(total) for total in column_totals], dtype=bool)
    if not sparse.any():
        return PooledTable(labels=tuple(kept_labels), counts=counts, pooled_labels=())
    adequate_counts = counts[:, ~sparse]
    adequate_labels = [label for label, is_s in zip(kept_labels, sparse, strict=True) if not is_s]
    pooled_labels = tuple(label for label, is_s in zip(kept_labels, sparse, strict=True) if is_s)
    pooled_column = counts[:, sparse].sum(axis=1, keepdims=True)
    if not is_sparse(pooled_column.sum()) or adequate_counts.shape[1] == 0:
        return PooledTable(
            labels=(*adequate_labels, POOLED_CATEGORY_LABEL),
            counts=np.hstack([adequate_counts, pooled_column]),
            pooled_labels=pooled_labels,
        )
    smallest = int(np.argmin(adequate_counts.sum(axis=0)))
    merged = adequate_counts.copy()
    merged[:, smallest] += pooled_column[:, 0]
    merged_labels = list(adequate_labels)
    merged_labels[smallest] = f"{merged_labels[smallest]}+pooled"
    return PooledTable(labels=tuple(merged_labels), counts=merged, pooled_labels=pooled_labels)


def categorical_drift_test(
    labels: list[str], reference_counts: np.ndarray, current_counts: np.ndarray
) -> UnivariateOutcome:
    """Chi-square test of homogeneity on the category counts, Jensen-Shannon distance as the effect size.

    The test runs on the table after `pool_sparse_categories`. When pooling leaves a single column (one
    category holds nearly everything, or a two-level table such as present/missing with a rare level), no
    chi-square is valid; Fisher's exact test on "largest category vs the rest" is used instead, which needs
    no expected-count rule. The effect size and PSI use the unpooled shares, so pooling never hides a change
    in how much mass the rare categories carry.
    """
    table = pool_sparse_categories(labels, reference_counts, current_counts)
    notes: list[str] = []
    if table.pooled_labels:
        notes.append(f"pooled sparse categories for the test: {', '.join(table.pooled_labels)}")
    if table.counts.shape[1] >= 2:
        chi_square = stats.chi2_contingency(table.counts, correction=False)
        test, statistic, p_value = CHI_SQUARE_TEST, float(chi_square.statistic), float(chi_square.pvalue)
    else:
        test, statistic, p_value = FISHER_TEST, *_largest_vs_rest_fisher(reference_counts, current_counts)
        notes.append("too few counts for chi-square: Fisher exact test of the largest category vs the rest")
    return UnivariateOutcome(
        test=test,
        statistic=statistic,
        p_value=p_value,
        effect_size=jensen_shannon_distance(reference_counts, current_counts),
        effect_metric=JENSEN_SHANNON_METRIC,
        psi=population_stability_index(
            reference_counts / reference_counts.sum(), current_counts / current_counts.sum()
        ),
        notes=tuple(notes),
    )


def _largest_vs_rest_fisher(reference_counts: np.ndarray, current_counts: np.ndarray) -> tuple[float, float]:
    """Fisher's exact test (two-sided) of the largest category's share, reference vs current."""
    largest = int(np.argmax(reference_counts + current_counts))
    table = np.array(
        [
            [reference_counts[largest], reference_counts.sum() - reference_counts[largest]],
            [current_counts[largest], current_counts.sum() - current_counts[largest]],
        ]
    )
    result = stats.fisher_exact(table)
    return float(result.statistic), float(result.pvalue)
