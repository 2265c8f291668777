"""Two-sided CUSUM: hand-computed paths, the threshold for many statistics, and its run lengths on simulated streams."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import norm

from core.stats.cusum import (
    CusumStatistic,
    adjusted_threshold,
    average_run_length,
    budgeted_threshold,
    check_threshold,
    cusum_paths,
    cusum_statistic,
    min_stream_outcomes,
)
from core.tests.stats.synthetic import binomial_upper_bound


def _first_crossings(streams: np.ndarray, *, k: float, h: float, side: str) -> np.ndarray:
    """Per stream (row), the 1-based index of the first observation after which `side` stands above h (0: none)."""
    crossings = []
    for stream in streams:
        upper, lower = cusum_paths(stream, k=k)
        above = np.flatnonzero((upper if side == "upper" else lower) > h)
        crossings.append(above[0] + 1 if above.size else 0)
    return np.array(crossings)


def test_the_paths_follow_pages_recursion_by_hand() -> None:
    # k = 0.5: upper adds z - 0.5 = 0.5, 1.5, -3.5, 0.0, 1.0; lower adds -z - 0.5 = -1.5, -2.5, 2.5, -1.0, -2.0.
    upper, lower = cusum_paths(np.array([1.0, 2.0, -3.0, 0.5, 1.5]), k=0.5)

    assert upper.tolist() == [0.5, 2.0, 0.0, 0.0, 1.0]
    assert lower.tolist() == [0.0, 0.0, 2.5, 1.5, 0.0]


def test_the_statistic_dates_the_current_run_and_estimates_the_new_mean() -> None:
    rising = cusum_statistic(np.array([1.0, 2.0, -3.0, 0.5, 1.5]), k=0.5)
    # lower: 0.5, 1.0, 0.0, 1.5 -> its run is the last observation alone, mean -2 = -(k + 1.5 / 1).
    falling = cusum_statistic(np.array([-1.0, -1.0, 2.0, -2.0]), k=0.5)

    assert rising == CusumStatistic(
        count=5, k=0.5, upper=1.0, lower=0.0, upper_since=4, lower_since=None, upper_shift=1.5, lower_shift=0.0
    )
    assert falling.lower == 1.5 and falling.lower_since == 3 and falling.lower_shift == -2.0
    assert falling.upper == 0.0 and falling.upper_since is None and falling.largest == 1.5


def test_a_run_that_never_returned_to_zero_began_with_the_first_observation() -> None:
    statistic = cusum_statistic(np.array([-1.5, -1.0, -2.5]), k=0.5)

    assert statistic.lower == pytest.approx(1.0 + 0.5 + 2.0) and statistic.lower_since == 0
    assert statistic.lower_shift == pytest.approx(-5.0 / 3)


def test_no_observations_give_zero() -> None:
    statistic = cusum_statistic(np.array([]), k=0.5)

    assert statistic.count == 0 and statistic.largest == 0.0 and statistic.upper_since is None


def test_the_threshold_rises_by_log_tests_over_2k() -> None:
    assert adjusted_threshold(7.0, k=0.5, tests=38) == pytest.approx(7.0 + math.log(38))
    assert adjusted_threshold(5.0, k=0.25, tests=4) == pytest.approx(5.0 + 2 * math.log(4))
    assert adjusted_threshold(7.0, k=0.5, tests=1) == adjusted_threshold(7.0, k=0.5, tests=0) == 7.0
    with pytest.raises(ValueError):
        adjusted_threshold(5.0, k=0.0, tests=3)


def test_siegmunds_run_lengths_by_hand() -> None:
    b = 5.0 + 1.166
    assert average_run_length(h=5.0, k=0.5) == pytest.approx((math.exp(b) - b - 1) / 0.5)  # about 938
    assert average_run_length(h=5.0, k=0.5, shift=1.0) == pytest.approx((math.exp(-b) + b - 1) / 0.5)  # about 10.3
    assert average_run_length(h=5.0, k=0.5, shift=0.5) == pytest.approx(b**2)


def test_in_control_streams_alarm_as_rarely_as_siegmund_says() -> None:
    # 1,000 in-control streams, each until its upper side first stands above h = 5: ARL about 938 (a stream that
    # never crosses in 8,000 observations, exp(-8) of them, counts as 8,000: a slight underestimate).
    streams = np.random.default_rng(1).standard_normal((1000, 8000))
    crossings = _first_crossings(streams, k=0.5, h=5.0, side="upper")

    run_lengths = np.where(crossings > 0, crossings, 8000)
    assert run_lengths.mean() == pytest.approx(average_run_length(h=5.0, k=0.5), rel=0.12)


def test_a_one_sd_shift_is_found_after_about_ten_observations() -> None:
    streams = np.random.default_rng(2).standard_normal((2000, 200)) - 1.0  # deliveries slower: errors fell
    crossings = _first_crossings(streams, k=0.5, h=5.0, side="lower")

    assert (crossings > 0).all()
    assert crossings.mean() == pytest.approx(average_run_length(h=5.0, k=0.5, shift=1.0), rel=0.1)
    assert np.percentile(crossings, 95) <= 25


def test_many_statistics_at_the_adjusted_threshold_alarm_about_as_often_as_one_at_h() -> None:
    # The share of looks at which a statistic stands above its threshold, the false-alarm rate of checks that
    # recompute it: 20 in-control streams judged together at the raised threshold against one at h.
    rng = np.random.default_rng(3)
    h, k, tests = 4.0, 0.5, 20
    one_upper, _ = cusum_paths(rng.standard_normal(400_000), k=k)
    uppers = np.array([cusum_paths(rng.standard_normal(100_000), k=k)[0] for _ in range(tests)])

    single_rate = float((one_upper > h).mean())
    any_rate = float((uppers > adjusted_threshold(h, k=k, tests=tests)).any(axis=0).mean())
    unadjusted_rate = float((uppers > h).any(axis=0).mean())

    assert 0.003 < single_rate < 0.02  # about exp(-2k h) times a constant below 1
    assert any_rate <= 1.5 * single_rate
    assert unadjusted_rate > 10 * single_rate


def test_the_budgeted_threshold_spends_its_share_of_the_daily_budget() -> None:
    h = budgeted_threshold(k=0.5, statistics=40, observations_per_day=500, daily_alpha=0.5)

    # 40 statistics over 500 outcomes a day at 0.5 false alarms a day: ARL0(h) = 40 x 500 / 0.5.
    assert average_run_length(h=h, k=0.5) == pytest.approx(40_000, rel=1e-4)
    busier = budgeted_threshold(k=0.5, statistics=40, observations_per_day=5000, daily_alpha=0.5)
    more_segments = budgeted_threshold(k=0.5, statistics=80, observations_per_day=500, daily_alpha=0.5)
    assert busier > h and more_segments > h
    assert budgeted_threshold(k=0.5, statistics=2, observations_per_day=0.5, daily_alpha=1.0) == 0.0


def test_the_check_threshold_is_log_statistics_over_alpha_over_2k() -> None:
    assert check_threshold(k=0.5, statistics=36, check_alpha=0.01) == pytest.approx(math.log(3600))
    assert check_threshold(k=0.25, statistics=36, check_alpha=0.01) == pytest.approx(2 * math.log(3600))
    assert check_threshold(k=0.5, statistics=2, check_alpha=5.0) == 0.0
    with pytest.raises(ValueError):
        check_threshold(k=0.5, statistics=2, check_alpha=0.0)


@given(
    statistics=st.integers(min_value=1, max_value=500),
    alpha=st.floats(min_value=1e-4, max_value=0.5),
    k=st.floats(min_value=0.05, max_value=2.0),
)
def test_the_check_threshold_spends_its_budget_on_the_tail_bound(statistics: int, alpha: float, k: float) -> None:
    # m statistics whose long-run tails are exp(-2k h) stand above h at a share m exp(-2k h) of checks at most.
    h = check_threshold(k=k, statistics=statistics, check_alpha=alpha)

    assert statistics * math.exp(-2 * k * h) == pytest.approx(alpha, rel=1e-9)
    assert check_threshold(k=k, statistics=statistics + 1, check_alpha=alpha) > h  # more statistics: higher
    assert check_threshold(k=k, statistics=statistics, check_alpha=alpha / 2) > h  # smaller budget: higher


@pytest.mark.parametrize("observations", [16, 30, 300])
def test_thin_and_busy_streams_stand_above_the_check_threshold_at_its_share_of_checks(observations: int) -> None:
    # The share of checks at which 36 in-control statistics (18 two-sided streams) stand above the check threshold
    # for a 2% budget, each check recomputing every stream from its last `observations`: at most about 2% however
    # few outcomes a stream holds, where a daily budget would give a thin stream a low threshold.
    rng = np.random.default_rng(observations)
    streams, checks = 18, 2000
    h = check_threshold(k=0.5, statistics=2 * streams, check_alpha=0.02)
    values = np.clip(rng.standard_normal((checks, streams, observations)), -3, 3)
    above = np.zeros(checks, dtype=bool)
    for check in range(checks):
        for stream in range(streams):
            upper, lower = cusum_paths(values[check, stream], k=0.5)
            above[check] |= max(upper[-1], lower[-1]) > h

    assert above.mean() <= binomial_upper_bound(checks, 0.02)
    thin = budgeted_threshold(k=0.5, statistics=2 * streams, observations_per_day=8 * 3, daily_alpha=0.25)
    assert thin < h  # what the daily budget alone gave a stream of 3 outcomes in 3 hours


def test_the_minimum_outcomes_are_the_power_arguments() -> None:
    # 36 statistics at 0.5% of checks: a one-sided test at 0.005 / 36 (z 3.63) with 80% power (z 0.84).
    assert min_stream_outcomes(effect_sd=1.0, statistics=36, check_alpha=0.005) == 21
    assert min_stream_outcomes(effect_sd=0.5, statistics=36, check_alpha=0.005) == 81
    assert min_stream_outcomes(effect_sd=0.0, statistics=36, check_alpha=0.005) == 0


@given(
    effect=st.floats(min_value=0.05, max_value=3.0),
    statistics=st.integers(min_value=1, max_value=200),
    alpha=st.floats(min_value=1e-4, max_value=0.2),
)
def test_the_minimum_outcomes_find_the_effect_with_the_power(effect: float, statistics: int, alpha: float) -> None:
    # The mean of n unit-sd outcomes shifted by `effect` exceeds the test's critical value with probability >= 80%.
    n = min_stream_outcomes(effect_sd=effect, statistics=statistics, check_alpha=alpha)
    critical = float(norm.isf(min(alpha / statistics, 0.5)))

    assert float(norm.sf(critical - effect * math.sqrt(n))) >= 0.8
    assert float(norm.sf(critical - effect * math.sqrt(n - 1))) < 0.8 or n == 1
