from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from core.stats.constants import POOLED_CATEGORY_LABEL
from core.stats.univariate import (
    CHI_SQUARE_TEST,
    FISHER_TEST,
    KS_TEST,
    categorical_drift_test,
    numeric_drift_test,
    pool_sparse_categories,
)
from core.tests.stats.synthetic import binomial_upper_bound


def test_numeric_test_reports_scipy_ks_and_wasserstein_effect() -> None:
    rng = np.random.default_rng(11)
    reference, current = rng.normal(size=800), rng.normal(0.3, 1.0, size=300)
    expected = stats.ks_2samp(reference, current)

    outcome = numeric_drift_test(reference, current)

    assert outcome.test == KS_TEST
    assert outcome.statistic == pytest.approx(expected.statistic)
    assert outcome.p_value == pytest.approx(expected.pvalue)
    assert outcome.effect_size == pytest.approx(stats.wasserstein_distance(reference, current) / reference.std(ddof=1))
    assert outcome.effect_metric == "wasserstein_sd"


def test_categorical_test_without_sparse_cells_is_scipy_chi_square_of_homogeneity() -> None:
    reference, current = np.array([500, 300, 200]), np.array([90, 60, 50])
    expected = stats.chi2_contingency(np.vstack([reference, current]), correction=False)

    outcome = categorical_drift_test(["a", "b", "c"], reference, current)

    assert outcome.test == CHI_SQUARE_TEST
    assert outcome.statistic == pytest.approx(expected.statistic)
    assert outcome.p_value == pytest.approx(expected.pvalue)
    assert outcome.effect_size == pytest.approx(jensenshannon(reference / 1000, current / 200, base=2))
    assert outcome.notes == ()


def test_a_frequent_category_seen_only_in_current_is_its_own_column() -> None:
    table = pool_sparse_categories(["a", "b", "new"], np.array([600, 400, 0]), np.array([100, 60, 40]))

    assert table.labels == ("a", "b", "new")
    assert table.pooled_labels == ()
    np.testing.assert_array_equal(table.counts, [[600, 400, 0], [100, 60, 40]])


def test_sparse_categories_are_pooled_into_one_column_when_the_pool_is_large_enough() -> None:
    # Smaller row total 200 of 1200: a column needs a total of at least 5 * 1200 / 200 = 30.
    labels = ["a", "b", "c", "d", "e"]
    reference, current = np.array([500, 400, 40, 35, 25]), np.array([80, 70, 10, 20, 20])
    # totals: a 580, b 470, c 50, d 55, e 45 -> all adequate
    assert pool_sparse_categories(labels, reference, current).pooled_labels == ()

    reference, current = np.array([600, 350, 20, 15, 15]), np.array([100, 70, 10, 10, 10])
    # totals: c 30 (adequate), d 25 and e 25 sparse; pooled d+e = 50 is adequate on its own.
    table = pool_sparse_categories(labels, reference, current)

    assert table.labels == ("a", "b", "c", POOLED_CATEGORY_LABEL)
    assert table.pooled_labels == ("d", "e")
    np.testing.assert_array_equal(table.counts, [[600, 350, 20, 30], [100, 70, 10, 20]])
    assert stats.contingency.expected_freq(table.counts).min() >= 5


def test_a_pool_still_too_small_is_folded_into_the_smallest_adequate_category() -> None:
    labels = ["a", "b", "rare"]
    reference, current = np.array([600, 350, 2]), np.array([100, 70, 1])

    table = pool_sparse_categories(labels, reference, current)

    assert table.labels == ("a", "b+pooled")
    np.testing.assert_array_equal(table.counts, [[600, 352], [100, 71]])


def test_the_chi_square_runs_on_the_pooled_table_while_the_effect_uses_every_category() -> None:
    labels = ["a", "b", "c", "d", "e"]
    reference, current = np.array([600, 350, 20, 15, 15]), np.array([100, 70, 10, 10, 10])
    pooled = np.array([[600, 350, 20, 30], [100, 70, 10, 20]])

    outcome = categorical_drift_test(labels, reference, current)

    assert outcome.p_value == pytest.approx(stats.chi2_contingency(pooled, correction=False).pvalue)
    assert outcome.effect_size == pytest.approx(jensenshannon(reference / 1000, current / 200, base=2))
    assert outcome.notes == ("pooled sparse categories for the test: d, e",)


def test_a_rare_level_of_a_two_level_table_uses_fisher_exact() -> None:
    # Never missing in 2,000 reference rows, 3 of 500 current rows missing: expected missing counts are 0.6.
    reference, current = np.array([2000, 0]), np.array([497, 3])

    outcome = categorical_drift_test(["present", "missing"], reference, current)

    expected = stats.fisher_exact([[2000, 0], [497, 3]])
    assert outcome.test == FISHER_TEST
    assert outcome.p_value == pytest.approx(expected.pvalue)
    assert outcome.statistic == expected.statistic  # inf: the reference had no missing values at all


def test_ks_and_chi_square_reject_at_their_nominal_rate_when_nothing_changed() -> None:
    # Given 300 pairs of windows from one distribution, each test rejects at p < 0.05 about 5% of the time:
    # not much more (false alarms) and not far less (a test that never rejects would have no power either).
    trials = 300
    ks_rejections = chi_square_rejections = 0
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        ks_rejections += numeric_drift_test(rng.gamma(2.0, size=1000), rng.gamma(2.0, size=300)).p_value < 0.05
        reference = np.bincount(rng.choice(4, p=[0.5, 0.3, 0.15, 0.05], size=1000), minlength=4)
        current = np.bincount(rng.choice(4, p=[0.5, 0.3, 0.15, 0.05], size=300), minlength=4)
        chi_square_rejections += categorical_drift_test(["a", "b", "c", "d"], reference, current).p_value < 0.05

    upper = binomial_upper_bound(trials, 0.05)
    assert 0.01 <= ks_rejections / trials <= upper
    assert 0.01 <= chi_square_rejections / trials <= upper
