from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from core.stats.constants import PSI_EPSILON
from core.stats.effect_sizes import (
    hodges_lehmann,
    jensen_shannon_distance,
    numeric_psi,
    population_stability_index,
    wasserstein_in_reference_sd,
)


def test_wasserstein_is_scipy_distance_over_reference_sd() -> None:
    rng = np.random.default_rng(1)
    reference, current = rng.normal(10, 4, size=300), rng.normal(12, 4, size=200)

    expected = stats.wasserstein_distance(reference, current) / np.std(reference, ddof=1)

    assert wasserstein_in_reference_sd(reference, current) == pytest.approx(expected)


def test_wasserstein_in_sd_does_not_depend_on_the_unit() -> None:
    rng = np.random.default_rng(2)
    reference, current = rng.normal(size=400), rng.normal(0.5, 1, size=400)

    in_km = wasserstein_in_reference_sd(reference, current)
    in_metres = wasserstein_in_reference_sd(reference * 1000, current * 1000)

    assert in_metres == pytest.approx(in_km)
    assert in_km == pytest.approx(0.5, abs=0.1)


def test_wasserstein_falls_back_to_pooled_sd_for_a_constant_reference() -> None:
    reference, current = np.full(50, 3.0), np.array([3.0, 4.0] * 25)
    pooled_sd = np.std(np.concatenate([reference, current]), ddof=1)

    assert wasserstein_in_reference_sd(reference, current) == pytest.approx(0.5 / pooled_sd)
    assert wasserstein_in_reference_sd(reference, reference.copy()) == 0.0


def test_psi_matches_the_hand_worked_example_and_floors_empty_bins() -> None:
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5)
    expected = 0.25 * math.log(2) + 0.25 * math.log(1.5)
    assert population_stability_index(np.array([0.5, 0.5]), np.array([0.25, 0.75])) == pytest.approx(expected)

    with_empty_bin = population_stability_index(np.array([0.5, 0.5, 0.0]), np.array([0.5, 0.4, 0.1]))
    assert math.isfinite(with_empty_bin)
    assert with_empty_bin == pytest.approx(
        -0.1 * math.log(0.4 / 0.5) + (0.1 - PSI_EPSILON) * math.log(0.1 / PSI_EPSILON)
    )


def test_numeric_psi_is_near_zero_for_the_same_distribution_and_large_beyond_the_reference_range() -> None:
    rng = np.random.default_rng(3)
    reference = rng.normal(size=5000)

    assert numeric_psi(reference, rng.normal(size=5000)) < 0.01
    # Everything above the reference's maximum lands in the top decile bin: shares 0.1 -> 1.0.
    assert numeric_psi(reference, np.full(100, 99.0)) == pytest.approx(
        0.9 * math.log(1.0 / 0.1) + 9 * (PSI_EPSILON - 0.1) * math.log(PSI_EPSILON / 0.1), rel=0.02
    )


def test_numeric_psi_merges_tied_quantiles() -> None:
    # 90% zeros: most deciles are 0; merged edges keep every bin non-empty and the PSI of a copy at 0.
    reference = np.r_[np.zeros(900), np.arange(1, 101)]

    assert numeric_psi(reference, reference.copy()) == pytest.approx(0.0, abs=1e-12)


def test_jensen_shannon_matches_scipy_in_bits() -> None:
    reference, current = np.array([50, 30, 15, 5]), np.array([20, 30, 30, 20])

    assert jensen_shannon_distance(reference, current) == pytest.approx(
        jensenshannon(reference / reference.sum(), current / current.sum(), base=2)
    )


def test_jensen_shannon_is_zero_for_identical_and_one_for_disjoint_distributions() -> None:
    shares = np.array([0.1, 0.2, 0.7]) * 1000

    assert jensen_shannon_distance(shares, shares.copy()) == 0.0
    assert jensen_shannon_distance(np.array([10, 0]), np.array([0, 10])) == pytest.approx(1.0)


def _brute_force_hodges_lehmann(differences: np.ndarray) -> float:
    pairs = [(differences[i] + differences[j]) / 2 for i in range(differences.size) for j in range(i, differences.size)]
    return float(np.median(pairs))


@pytest.mark.parametrize("size", [1, 2, 3, 10, 41, 60])
def test_hodges_lehmann_matches_the_median_of_all_walsh_averages(size: int) -> None:
    rng = np.random.default_rng(size)
    differences = np.round(rng.standard_t(df=3, size=size) * 4, 1)  # rounded: ties, like minutes in audits

    assert hodges_lehmann(differences) == pytest.approx(_brute_force_hodges_lehmann(differences), abs=1e-5)


def test_hodges_lehmann_resists_one_huge_difference_and_is_nan_when_empty() -> None:
    differences = np.r_[np.full(99, 1.0), 500.0]

    assert hodges_lehmann(differences) == pytest.approx(1.0, abs=1e-5)
    assert math.isnan(hodges_lehmann(np.array([])))
