"""Alpha spending for an A/B test that is looked at again and again as outcomes arrive.

Testing at p < 0.05 on every look promotes an equally good challenger far more often than 5% of the time:
each look is another chance for noise to cross the line. The Lan-DeMets O'Brien-Fleming-type spending function

    alpha(t) = 2 - 2 * Phi(z_{1 - alpha/2} / sqrt(t)),   t = n / planned_max_n in (0, 1],

spends almost nothing early (alpha(0.25) = 0.00009 for alpha = 0.05) and all of alpha by t = 1.

How the looks use it. alpha(t) is exactly the probability that a Brownian motion, which is what a standardised
rank statistic becomes as pairs arrive, crosses the flat level z_{1-alpha/2} on its score scale by time t
(reflection principle: P(max_{s<=t} B(s) >= c) = 2 - 2 Phi(c / sqrt(t))). In z-scale that level is the curve
z_{1-alpha/2} / sqrt(t), i.e. a one-sided nominal p-value threshold of alpha(t) / 2 at information fraction t.
Rejecting whenever the one-sided p-value at a look is below alpha(t) / 2 therefore keeps the overall chance
of a false "better" at most alpha for ANY number and timing of looks up to t = 1, so the service may look
every few minutes and needs no record of earlier looks. The price of that freedom: the last look (t = 1) uses
0.025 instead of the ~0.045 of a schedule of a few looks fixed in advance.
"""

from __future__ import annotations

import math

from scipy import stats


def information_fraction(sample_size: int, planned_max_samples: int) -> float:
    """n / planned_max_n, capped at 1 (the test ends at the planned maximum)."""
    if planned_max_samples <= 0:
        raise ValueError("planned_max_samples must be positive")
    return min(max(sample_size, 0) / planned_max_samples, 1.0)


def obrien_fleming_alpha_spent(fraction: float, alpha: float) -> float:
    """The Lan-DeMets O'Brien-Fleming-type spending function alpha(t); 0 at t = 0 and alpha at t = 1."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if fraction <= 0.0:
        return 0.0
    fraction = min(fraction, 1.0)
    critical_value = stats.norm.ppf(1.0 - alpha / 2.0)
    # 2 - 2 Phi(x) is 2 * sf(x): the survival function keeps precision when it is tiny early on.
    return float(2.0 * stats.norm.sf(critical_value / math.sqrt(fraction)))


def one_sided_boundary(fraction: float, alpha: float) -> float:
    """The nominal one-sided p-value a look at information fraction `fraction` must beat: alpha(t) / 2."""
    return obrien_fleming_alpha_spent(fraction, alpha) / 2.0
