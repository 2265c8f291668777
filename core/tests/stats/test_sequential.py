from __future__ import annotations

import itertools
import math

import pytest

from core.stats.sequential import information_fraction, obrien_fleming_alpha_spent, one_sided_boundary


def _normal_sf(x: float) -> float:
    return 0.5 * math.erfc(x / math.sqrt(2))


def test_spending_function_matches_the_lan_demets_formula() -> None:
    # alpha(t) = 2 - 2 Phi(z_{0.975} / sqrt(t)), with z_{0.975} = 1.959964
    for fraction in (0.1, 0.25, 0.5, 0.75, 1.0):
        expected = 2 * _normal_sf(1.959963984540054 / math.sqrt(fraction))
        assert obrien_fleming_alpha_spent(fraction, 0.05) == pytest.approx(expected, rel=1e-9)


def test_spending_starts_at_zero_ends_at_alpha_and_only_grows() -> None:
    values = [obrien_fleming_alpha_spent(step / 20, 0.05) for step in range(21)]

    assert values[0] == 0.0
    assert values[-1] == pytest.approx(0.05)
    assert all(earlier < later for earlier, later in itertools.pairwise(values))
    assert obrien_fleming_alpha_spent(0.25, 0.05) < 1e-4  # early looks spend almost nothing
    assert obrien_fleming_alpha_spent(1.7, 0.05) == pytest.approx(0.05)  # capped at the planned end


def test_the_one_sided_boundary_is_half_the_spent_alpha() -> None:
    assert one_sided_boundary(1.0, 0.05) == pytest.approx(0.025)
    assert one_sided_boundary(0.5, 0.05) == pytest.approx(obrien_fleming_alpha_spent(0.5, 0.05) / 2)


def test_information_fraction_is_capped_at_one() -> None:
    assert information_fraction(250, 1000) == 0.25
    assert information_fraction(5000, 1000) == 1.0
    with pytest.raises(ValueError):
        information_fraction(10, 0)
