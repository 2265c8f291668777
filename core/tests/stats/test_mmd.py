from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import pdist

from core.stats.mmd import (
    median_heuristic_bandwidth,
    mmd_permutation_test,
    pairwise_squared_distances,
    standardise_by_reference,
    unbiased_mmd_squared,
)
from core.tests.stats.synthetic import binomial_upper_bound


def _rbf(a: np.ndarray, b: np.ndarray, bandwidth: float) -> float:
    return float(np.exp(-np.sum((a - b) ** 2) / (2 * bandwidth**2)))


def _loop_mmd_squared(x: np.ndarray, y: np.ndarray, bandwidth: float) -> float:
    """The textbook unbiased MMD^2 (Gretton et al. 2012, eq. 3), one kernel evaluation per pair."""
    m, n = len(x), len(y)
    within_x = sum(_rbf(x[i], x[j], bandwidth) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    within_y = sum(_rbf(y[i], y[j], bandwidth) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    between = sum(_rbf(x[i], y[j], bandwidth) for i in range(m) for j in range(n)) / (m * n)
    return within_x + within_y - 2 * between


def test_vectorised_mmd_equals_the_pairwise_loop_definition() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(7, 3)), rng.normal(0.5, 1.0, size=(5, 3))
    pooled = np.vstack([x, y])
    squared = pairwise_squared_distances(pooled)
    bandwidth = median_heuristic_bandwidth(squared)
    membership = np.r_[np.ones(7), np.zeros(5)]

    vectorised = unbiased_mmd_squared(np.exp(-squared / (2 * bandwidth**2)), membership)

    assert vectorised[0] == pytest.approx(_loop_mmd_squared(x, y, bandwidth))


def test_many_labellings_at_once_equal_one_at_a_time() -> None:
    rng = np.random.default_rng(6)
    kernel = np.exp(-pairwise_squared_distances(rng.normal(size=(12, 2))))
    labellings = np.array([rng.permutation(np.r_[np.ones(5), np.zeros(7)]) for _ in range(4)])

    together = unbiased_mmd_squared(kernel, labellings)

    np.testing.assert_allclose(together, [unbiased_mmd_squared(kernel, row)[0] for row in labellings])


def test_median_heuristic_is_the_median_pairwise_distance() -> None:
    points = np.random.default_rng(8).normal(size=(30, 4))

    bandwidth = median_heuristic_bandwidth(pairwise_squared_distances(points))

    assert bandwidth == pytest.approx(np.median(pdist(points)))


def test_median_heuristic_ignores_coinciding_points_and_is_zero_for_one_point_repeated() -> None:
    points = np.r_[np.zeros((20, 1)), [[1.0], [3.0]]]  # most pairs coincide: the plain median is 0

    assert median_heuristic_bandwidth(pairwise_squared_distances(points)) == pytest.approx(
        np.median(pdist(points)[pdist(points) > 0])
    )
    assert median_heuristic_bandwidth(pairwise_squared_distances(np.ones((5, 2)))) == 0.0


def test_standardising_uses_reference_statistics_and_puts_missing_values_at_the_reference_mean() -> None:
    reference = np.array([[1.0, 5.0], [3.0, 5.0], [np.nan, 5.0]])
    current = np.array([[5.0, np.nan], [2.0, 7.0]])

    scaled_reference, scaled_current = standardise_by_reference(reference, current)

    # Column 0: mean 2, sd 1 (missing ignored); column 1 is constant: centred only.
    np.testing.assert_allclose(scaled_reference, [[-1.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(scaled_current, [[3.0, 0.0], [0.0, 2.0]])


def test_a_column_missing_everywhere_in_the_reference_standardises_without_warnings() -> None:
    reference = np.array([[np.nan, 1.0], [np.nan, 3.0]])

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scaled_reference, scaled_current = standardise_by_reference(reference, np.array([[4.0, 2.0]]))

    np.testing.assert_allclose(scaled_reference, [[0.0, -1.0], [0.0, 1.0]])
    np.testing.assert_allclose(scaled_current, [[4.0, 0.0]])


def test_permutation_test_is_deterministic_for_a_seed_and_subsamples_large_windows() -> None:
    rng = np.random.default_rng(9)
    reference, current = rng.normal(size=(2000, 3)), rng.normal(size=(800, 3))

    def run(seed: int) -> object:
        return mmd_permutation_test(
            reference, current, max_rows_per_side=300, permutations=50, rng=np.random.default_rng(seed)
        )

    first = run(1)
    assert run(1) == first
    assert (first.n_reference, first.n_current, first.permutations) == (300, 300, 50)
    assert run(2).statistic != first.statistic  # another seed draws other subsamples


def test_p_value_is_never_zero_and_identical_points_are_no_drift() -> None:
    rng = np.random.default_rng(10)
    shifted = mmd_permutation_test(
        rng.normal(size=(200, 2)), rng.normal(3.0, 1.0, size=(200, 2)), max_rows_per_side=200, permutations=99, rng=rng
    )
    assert shifted.p_value == pytest.approx(1 / 100)

    constant = mmd_permutation_test(np.ones((60, 2)), np.ones((60, 2)), max_rows_per_side=60, permutations=10, rng=rng)
    assert (constant.statistic, constant.p_value) == (0.0, 1.0)


def test_mmd_p_values_are_uniform_when_nothing_changed() -> None:
    # Given 200 windows without drift (a skewed and a correlated feature), the permutation p-values spread
    # evenly: about 5% fall below 0.05 (a valid test, neither alarming nor blind) and KS finds no departure.
    trials = 200
    p_values = []
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        covariance = [[1.0, 0.6], [0.6, 1.0]]
        reference = rng.multivariate_normal([0, 0], covariance, size=300)
        current = rng.multivariate_normal([0, 0], covariance, size=150)
        reference[:, 0], current[:, 0] = np.exp(reference[:, 0]), np.exp(current[:, 0])
        outcome = mmd_permutation_test(reference, current, max_rows_per_side=150, permutations=100, rng=rng)
        p_values.append(outcome.p_value)

    rejection_rate = np.mean(np.array(p_values) < 0.05)
    assert 0.01 <= rejection_rate <= binomial_upper_bound(trials, 0.05)
    assert stats.kstest(p_values, "uniform").pvalue > 0.001


def test_mmd_sees_a_correlation_change_with_identical_marginals() -> None:
    rng = np.random.default_rng(12)
    reference = rng.multivariate_normal([0, 0], [[1, 0], [0, 1]], size=500)
    current = rng.multivariate_normal([0, 0], [[1, 0.8], [0.8, 1]], size=500)

    outcome = mmd_permutation_test(reference, current, max_rows_per_side=500, permutations=200, rng=rng)

    assert outcome.p_value == pytest.approx(1 / 201)
    assert outcome.statistic > 0.01
