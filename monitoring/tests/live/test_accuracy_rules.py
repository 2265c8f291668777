"""When realized accuracy is degraded: baselines matched to the hours of day, tolerance and significance."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from monitoring.live.accuracy_rules import (
    AccuracyLimits,
    Baseline,
    ErrorSummary,
    WindowJudgement,
    error_summary,
    hourly_error_profile,
    matched_baseline,
    pooled_summary,
)

LIMITS = AccuracyLimits(tolerance=0.15, max_bias_minutes=1.5, alpha=0.01, min_outcomes=100)


def test_the_profile_summarises_each_hours_errors() -> None:
    profile = hourly_error_profile(np.array([8.2, 8.9, 19.1, 19.4, 19.7]), np.array([-1.0, 3.0, 5.0, -6.0, 7.0]))

    assert set(profile) == {"8", "19"}
    assert profile["8"] == {"count": 2, "mae": 2.0, "mae_sd": pytest.approx(math.sqrt(2)), "bias": 1.0,
                            "bias_sd": pytest.approx(math.sqrt(8))}  # fmt: skip
    assert profile["19"]["mae"] == 6.0 and profile["19"]["bias"] == 2.0 and profile["19"]["count"] == 3


def test_the_baseline_weights_each_hour_by_the_windows_outcomes_and_adds_up_their_uncertainty() -> None:
    profile = {
        "19": ErrorSummary(count=400, mae=6.0, mae_sd=4.0, bias=1.0, bias_sd=8.0).as_dict(),
        "8": ErrorSummary(count=400, mae=2.0, mae_sd=2.0, bias=0.0, bias_sd=3.0).as_dict(),
        "3": ErrorSummary(count=5, mae=9.0, mae_sd=1.0, bias=9.0, bias_sd=1.0).as_dict(),  # too few: overall
    }
    overall = ErrorSummary(count=1000, mae=3.0, mae_sd=3.0, bias=0.5, bias_sd=4.0)
    # Three outcomes at 19:00, one at 08:00, one at 03:00.
    baseline = matched_baseline(profile, np.array([19.0, 19.5, 19.9, 8.5, 3.2]), overall=overall)

    assert baseline.mae == pytest.approx(0.6 * 6.0 + 0.2 * 2.0 + 0.2 * 3.0)
    assert baseline.bias == pytest.approx(0.6 * 1.0 + 0.2 * 0.0 + 0.2 * 0.5)
    assert baseline.mae_se == pytest.approx(
        math.sqrt((0.6 * 4) ** 2 / 400 + (0.2 * 2) ** 2 / 400 + (0.2 * 3) ** 2 / 1000)
    )
    assert matched_baseline(None, np.array([19.0]), overall=overall) == Baseline(
        3.0, math.sqrt(9 / 1000), 0.5, math.sqrt(16 / 1000)
    )


def test_without_a_profile_the_validation_mae_counts_as_exact() -> None:
    overall = pooled_summary(None, mae=3.2)

    assert overall == ErrorSummary(count=0, mae=3.2, mae_sd=0.0, bias=0.0, bias_sd=0.0)
    assert matched_baseline({}, np.array([12.0]), overall=overall) == Baseline(3.2, 0.0, 0.0, 0.0)


def test_a_window_is_degraded_only_when_the_change_is_both_large_and_significant() -> None:
    baseline = Baseline(mae=3.0, mae_se=0.1, bias=0.0, bias_se=0.1)

    def judge(mae: float, mae_sd: float, bias: float = 0.0, count: int = 200) -> WindowJudgement:
        live = ErrorSummary(count=count, mae=mae, mae_sd=mae_sd, bias=bias, bias_sd=4.0)
        return WindowJudgement("last 30 min", live, baseline, LIMITS)

    clear = judge(3.9, 2.5)  # +30%, se sqrt(2.5^2/200 + 0.1^2) = 0.2: z = 4.5
    noisy = judge(3.9, 9.0)  # +30%, but se 0.64: z = 1.4
    small = judge(3.3, 0.5)  # significant, +10%: below the tolerance
    slow = judge(3.0, 2.5, bias=-2.0)  # MAE as usual, ETAs 2 minutes short
    thin = judge(9.0, 1.0, count=99)

    assert clear.is_mae_degraded and clear.is_degraded and clear.mae_increase == pytest.approx(0.3)
    assert clear.mae_p_value == pytest.approx(norm.sf(0.9 / math.hypot(2.5 / math.sqrt(200), 0.1)))
    assert not noisy.is_degraded and noisy.mae_p_value > 0.05
    assert not small.is_degraded and small.mae_p_value < 0.01
    assert slow.is_bias_degraded and not slow.is_mae_degraded and "bias -2.00 min moved -2.00" in slow.describe()
    assert not slow.is_critical and judge(3.0, 2.5, bias=-3.5).is_critical
    assert not thin.is_judged and not thin.is_degraded


def test_a_summary_of_no_errors_is_none() -> None:
    assert error_summary(np.array([np.nan])) is None
    assert error_summary(np.array([2.0])) == ErrorSummary(count=1, mae=2.0, mae_sd=0.0, bias=2.0, bias_sd=0.0)
