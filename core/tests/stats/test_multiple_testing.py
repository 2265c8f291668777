from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from core.stats.multiple_testing import benjamini_hochberg


def test_bh_matches_the_hand_worked_example() -> None:
    # Given five p-values out of order. Sorted: 0.01, 0.02, 0.025, 0.045, 0.5 (m = 5); scaled by m / rank:
    # 0.05, 0.05, 0.041667, 0.05625, 0.5; running minimum from the largest rank down:
    # 0.041667, 0.041667, 0.041667, 0.05625, 0.5.
    p_values = [0.5, 0.025, 0.01, 0.045, 0.02]

    adjusted = benjamini_hochberg(p_values)

    # Then each adjusted value lands back at its input position; 0.01 alone would scale to 0.05 but the
    # step-up pulls it down to 0.041667, so three tests are rejected at 0.05 and 0.045 is not.
    np.testing.assert_allclose(adjusted, [0.5, 0.025 * 5 / 3, 0.025 * 5 / 3, 0.045 * 5 / 4, 0.025 * 5 / 3])
    assert list(adjusted < 0.05) == [False, True, True, False, True]


def test_bh_matches_scipy_on_random_p_values() -> None:
    rng = np.random.default_rng(7)
    p_values = np.concatenate([rng.uniform(size=40), rng.uniform(0, 0.01, size=10)])

    np.testing.assert_allclose(benjamini_hochberg(p_values), stats.false_discovery_control(p_values, method="bh"))


def test_bh_caps_at_one_and_keeps_ties_and_empty_input() -> None:
    np.testing.assert_allclose(benjamini_hochberg([0.9, 0.9, 0.9]), [0.9, 0.9, 0.9])
    np.testing.assert_allclose(benjamini_hochberg([1.0, 0.99]), [1.0, 1.0])
    assert benjamini_hochberg([]).size == 0


@pytest.mark.parametrize("bad", [[0.1, float("nan")], [-0.1], [1.5]])
def test_bh_rejects_values_that_are_not_p_values(bad: list[float]) -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        benjamini_hochberg(bad)
