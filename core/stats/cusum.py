"""Two-sided CUSUM: a sequential change detector for the mean of a standardised stream.

Page's cumulative sum (E. S. Page, "Continuous inspection schemes", Biometrika 41, 1954) on observations z_n
that have mean 0 and sd 1 while nothing has changed:

    S+_n = max(0, S+_{n-1} + z_n - k)      evidence that the mean rose
    S-_n = max(0, S-_{n-1} - z_n - k)      evidence that the mean fell          S+_0 = S-_0 = 0

Each side forgets the past whenever it returns to 0 and grows by about (delta - k) per observation once the
mean has moved by delta > k, so it reacts as soon as enough changed observations have arrived, however many
unchanged ones came before: a moving-window average is diluted by them instead. The reference value k is half
the smallest shift worth finding fast (k = delta / 2 is the optimal choice for a shift of delta; Moustakides
1986); an alarm is a statistic above the decision interval h.

Operating characteristics, for unit-variance normal observations (Siegmund's approximation, D. Siegmund,
"Sequential Analysis", Springer 1985, p. 27; within a few percent of the exact values for h >= 3):

    ARL(delta) ~= (exp(-2 D b) + 2 D b - 1) / (2 D^2),   D = delta - k,  b = h + 1.166   (b^2 when D = 0)

the average number of observations until one side alarms: with k = 0.5, h = 5 about 940 in control and 10
after a one-sd shift. The level a side stays above in the long run has a tail exp(-2k x) in x (the Cramer-
Lundberg root theta of E[exp(theta (z - k))] = 1 is 2k for normal z), so the share of looks at which a side
stands above h falls by a factor e for every 1 / (2k) added to h. `adjusted_threshold` uses that to keep the
false-alarm rate of many statistics judged at once (every segment's, both sides) near that of one: h is
raised by ln(m) / (2k) for m statistics, a Bonferroni correction on this scale.

That correction is per check. A monitor recomputes its statistics every few minutes, all day, so a per-check
rate is not what a team feels: they feel false alarms per day. `budgeted_threshold` spends a daily family-wise
budget instead: a one-sided statistic over a stream of n outcomes a day crosses h about n / ARL0(h) times a day
when nothing changed (each crossing is one alert, however many checks see it), so giving each of the m statistics
alpha / m of a budget of alpha false alarms a day (Bonferroni over the family) needs ARL0(h) = m n / alpha. A
stream with many outcomes a day gets a higher threshold than a quiet one, and adding segments raises all of them,
so many small segments together still stay within the budget.

Neither counts what a monitor that recomputes its statistics at every check shows its team: the share of checks
at which some statistic stands above its threshold. A crossing lasts until the side falls back to 0, and in wall-
clock time that takes as long as the stream needs for a few outcomes: a stream of 20 outcomes in three hours crosses
rarely but stays crossed for many checks. Its share of checks above h is the side's long-run tail, about
exp(-2k h) whatever the stream's volume (simulated with k 0.5, clipped normal observations: 0.0009 above 7 for
16 to 100 observations, e^-7 = 0.0009; 0.0003 above 8.2, e^-8.2 = 0.0003). The daily budget gives a thin stream a
low threshold, since it crosses rarely, so thin streams stood above h at many more checks than their share.
`check_threshold` spends a per-check family-wise budget: m statistics stand above h at no more than a share
m exp(-2k h) of checks (union bound), so h = ln(m / check_alpha) / (2k) keeps that at check_alpha, for thin and
busy streams alike.

A stream may also hold too few outcomes for any alarm of it to mean much: day-to-day clusters of similar
deliveries (one evening's jams, all late) move a stream of 20-30 outcomes by several minutes, far more often than
independent errors would. `min_stream_outcomes` is the power argument for a segment: the outcomes on which a mean
shift of d sds is found with 80% power by a one-sided test at the statistic's share check_alpha / m of the
per-check budget, n = ((z(1 - check_alpha / m) + z(0.8)) / d)^2; a smaller segment does not alarm on its own (its
outcomes still count in the whole stream).

The detector here is stateless: the statistics are computed from the first observation handed to it, so a
caller that recomputes them from the same stored observations always gets the same answer.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm

# Siegmund's correction for the overshoot of a normal random walk over the boundary: h + 1.166 (2 x 0.583).
SIEGMUND_OVERSHOOT = 1.166


def cusum_paths(values: np.ndarray, *, k: float) -> tuple[np.ndarray, np.ndarray]:
    """S+_n and S-_n after each observation (arrays as long as `values`).

    Vectorised with Lindley's identity: the recursion max(0, S_{n-1} + x_n) from 0 equals W_n - min(0, W_1..W_n)
    for the partial sums W_n of x.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    observations = np.asarray(values, dtype=np.float64)
    return _lindley(observations - k), _lindley(-observations - k)


def _lindley(steps: np.ndarray) -> np.ndarray:
    walk = np.cumsum(steps)
    return walk - np.minimum(np.minimum.accumulate(walk), 0.0) if walk.size else walk


@dataclass(frozen=True)
class CusumStatistic:
    """Both sides of a CUSUM after its last observation, and where each side's current run began.

    `upper_since` / `lower_since`: the index of the first observation of the run the side is in (None when
    the side stands at 0), the usual estimate of when a change began. `upper_shift` / `lower_shift`: the mean
    observation over that run (k + S / run length), an estimate of the new mean (0 without a run).
    """

    count: int
    k: float
    upper: float
    lower: float
    upper_since: int | None
    lower_since: int | None
    upper_shift: float
    lower_shift: float

    @property
    def largest(self) -> float:
        return max(self.upper, self.lower)

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def cusum_statistic(values: np.ndarray, *, k: float) -> CusumStatistic:
    """The two-sided CUSUM of `values` (standardised observations, oldest first) at its end."""
    upper, lower = cusum_paths(values, k=k)
    observations = np.asarray(values, dtype=np.float64)
    upper_since, lower_since = _run_start(upper), _run_start(lower)
    return CusumStatistic(
        count=int(observations.size),
        k=k,
        upper=float(upper[-1]) if upper.size else 0.0,
        lower=float(lower[-1]) if lower.size else 0.0,
        upper_since=upper_since,
        lower_since=lower_since,
        upper_shift=float(observations[upper_since:].mean()) if upper_since is not None else 0.0,
        lower_shift=float(observations[lower_since:].mean()) if lower_since is not None else 0.0,
    )


def _run_start(path: np.ndarray) -> int | None:
    """The index after the path's last zero (None when it ends at zero or is empty)."""
    if path.size == 0 or path[-1] <= 0:
        return None
    zeros = np.flatnonzero(path <= 0)
    return int(zeros[-1]) + 1 if zeros.size else 0


def adjusted_threshold(h: float, *, k: float, tests: int) -> float:
    """The decision interval for each of `tests` statistics judged together: h + ln(tests) / (2k).

    Keeps the chance that any of them stands above its threshold near that of a single statistic at h (see the
    module docstring); h itself for one test or none.
    """
    if k <= 0:
        raise ValueError(f"k must be > 0 to adjust h, got {k}")
    return h + math.log(tests) / (2 * k) if tests > 1 else h


def average_run_length(*, h: float, k: float, shift: float = 0.0) -> float:
    """Siegmund's approximation of one side's average run length for unit-variance normal observations.

    `shift` is the mean of the observations (0: in control, the average number between false alarms).
    """
    drift = shift - k
    boundary = h + SIEGMUND_OVERSHOOT
    if abs(drift) < 1e-12:
        return boundary**2
    return (math.exp(-2 * drift * boundary) + 2 * drift * boundary - 1) / (2 * drift**2)


def budgeted_threshold(*, k: float, statistics: int, observations_per_day: float, daily_alpha: float) -> float:
    """The decision interval at which each of `statistics` one-sided CUSUMs spends daily_alpha / statistics.

    Solves ARL0(h) = statistics x observations_per_day / daily_alpha with Siegmund's approximation (see the module
    docstring): then the expected number of false alarms a day of all statistics together is at most
    `daily_alpha`. 0 when the stream is so thin that even h = 0 meets its share.
    """
    if k <= 0:
        raise ValueError(f"k must be > 0, got {k}")
    if daily_alpha <= 0.0:
        raise ValueError(f"daily_alpha must be > 0, got {daily_alpha}")
    target = max(statistics, 1) * max(observations_per_day, 0.0) / daily_alpha
    if average_run_length(h=0.0, k=k) >= target:
        return 0.0
    upper = 1.0
    while average_run_length(h=upper, k=k) < target:
        upper *= 2
    return float(brentq(lambda h: average_run_length(h=h, k=k) - target, 0.0, upper, xtol=1e-6))


def check_threshold(*, k: float, statistics: int, check_alpha: float) -> float:
    """The decision interval at which `statistics` one-sided CUSUMs together stand above it at most at a share
    `check_alpha` of checks when nothing changed: ln(statistics / check_alpha) / (2k) (see the module docstring).

    0 when even h = 0 meets it (check_alpha at least the number of statistics).
    """
    if k <= 0:
        raise ValueError(f"k must be > 0, got {k}")
    if check_alpha <= 0.0:
        raise ValueError(f"check_alpha must be > 0, got {check_alpha}")
    return max(math.log(max(statistics, 1) / check_alpha) / (2 * k), 0.0)


def min_stream_outcomes(*, effect_sd: float, statistics: int, check_alpha: float, power: float = 0.8) -> int:
    """The fewest outcomes on which a mean shift of `effect_sd` sds is found with `power` at the per-check share.

    ((z(1 - check_alpha / statistics) + z(power)) / effect_sd)^2, rounded up (see the module docstring); 0 (no
    minimum) for an effect of 0 or less.
    """
    if effect_sd <= 0.0:
        return 0
    if check_alpha <= 0.0:
        raise ValueError(f"check_alpha must be > 0, got {check_alpha}")
    level = min(check_alpha / max(statistics, 1), 0.5)
    return math.ceil(((float(norm.isf(level)) + float(norm.ppf(power))) / effect_sd) ** 2)
