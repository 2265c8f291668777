"""Benjamini-Hochberg adjusted p-values for the family of tests run by one drift check.

One check runs one test per feature (plus missing shares, the prediction and MMD). Testing each at `alpha`
would alarm on some feature in most checks of a wide model; BH keeps the expected share of false discoveries
at `alpha`, and when nothing has changed (the complete null) that is the chance of any false alarm at all.
BH is valid for independent or positively dependent tests, which is how drift tests on related features behave.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def benjamini_hochberg(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """BH-adjusted p-values ("q-values"), in the input order; reject test i at level alpha when q_i < alpha.

    q_(i) = min over j >= i of (m / j) * p_(j), capped at 1, where p_(1) <= ... <= p_(m) are the sorted
    p-values. The running minimum from the largest rank down keeps the adjusted values monotone in p.
    Same values as `scipy.stats.false_discovery_control(p, method="bh")`, written out so the rule is visible.
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise ValueError("p_values must be one-dimensional")
    if p.size == 0:
        return p.copy()
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError("p_values must be numbers in [0, 1]")
    count = p.size
    order = np.argsort(p, kind="stable")
    ranks = np.arange(1, count + 1)
    scaled = p[order] * count / ranks
    monotone = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty(count)
    adjusted[order] = np.minimum(monotone, 1.0)
    return adjusted
