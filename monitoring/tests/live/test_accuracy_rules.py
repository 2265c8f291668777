"""When realized accuracy is degraded: baselines matched to the hours of day, tolerance and significance, and the
sequential change detector on the outcome stream."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from core.tests.stats.synthetic import binomial_upper_bound
from monitoring.live.accuracy_rules import (
    AccuracyLimits,
    Baseline,
    ChangeDetection,
    ChangeLimits,
    ErrorSummary,
    WindowJudgement,
    change_detection,
    error_summary,
    hourly_error_profile,
    matched_baseline,
    pooled_summary,
    segment_error_profile,
    standardised_errors,
    stream_threshold,
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


# --- Sequential change detection -------------------------------------------------------------------------------

CHANGE = ChangeLimits(k=0.5, h=5.0, min_outcomes=100)
# Validation errors without a profile by hour: bias 0, sd 4 minutes.
FLAT = ErrorSummary(count=1000, mae=3.2, mae_sd=2.4, bias=0.0, bias_sd=4.0)
START = np.datetime64("2026-03-02T16:00:00", "ns")
# The segment shares of the bundled file's orders.
SEGMENT_SHARES = {
    "area": {"metropolitan": 0.75, "urban": 0.22, "other": 0.03},
    "vehicle": {"motorcycle": 0.58, "scooter": 0.33, "van": 0.09},
    "weather": {name: 1 / 6 for name in ("cloudy", "fog", "sandstorms", "stormy", "sunny", "windy")},
    "traffic": {"low": 0.34, "jam": 0.31, "medium": 0.24, "high": 0.11},
}


def _detect(errors: np.ndarray, segments: dict[str, np.ndarray], limits: ChangeLimits = CHANGE) -> ChangeDetection:
    """The CUSUMs of outcomes reported a minute apart from 16:00, all at 12:00 orders, against `FLAT`."""
    return change_detection(
        errors=errors,
        order_hours=np.full(errors.size, 12.0),
        reported_at=START + np.arange(errors.size) * np.timedelta64(1, "m"),
        segments=segments,
        profile=None,
        overall=FLAT,
        limits=limits,
    )


def test_errors_are_standardised_by_the_validation_bias_and_sd_of_their_orders_hour() -> None:
    profile = {
        "19": ErrorSummary(count=400, mae=6.0, mae_sd=4.0, bias=1.0, bias_sd=4.0).as_dict(),
        "8": ErrorSummary(count=400, mae=2.0, mae_sd=2.0, bias=0.0, bias_sd=2.0).as_dict(),
        "3": ErrorSummary(count=5, mae=9.0, mae_sd=1.0, bias=9.0, bias_sd=1.0).as_dict(),  # too few: overall
    }
    overall = ErrorSummary(count=1000, mae=3.0, mae_sd=3.0, bias=0.5, bias_sd=5.0)

    deviations, standardised = standardised_errors(
        profile, np.array([19.2, 8.5, 8.1, 3.0, np.nan]), np.array([5.0, -3.0, 20.0, 1.5, 0.5]), overall=overall
    )

    assert deviations.tolist() == [4.0, -3.0, 20.0, 1.0, 0.0]
    assert standardised.tolist() == pytest.approx([1.0, -1.5, 3.0, 0.2, 0.0])  # 20 / 2 = 10 sds counts as 3


def test_without_a_profile_the_sd_is_a_normal_errors_for_the_validation_mae() -> None:
    _, standardised = standardised_errors(
        None, np.array([12.0]), np.array([3.2 * math.sqrt(math.pi / 2)]), overall=pooled_summary(None, mae=3.2)
    )

    assert standardised.tolist() == pytest.approx([1.0])


def test_a_slowdown_of_one_segment_alarms_in_that_segment_named_with_its_direction() -> None:
    # 200 outcomes, every fourth urban; the last 12 urban ones 8 minutes (2 sds) slower than predicted, the rest exact.
    areas = np.array(["metropolitan", "metropolitan", "metropolitan", "urban"] * 50, dtype=object)
    errors = np.zeros(200)
    slow = np.flatnonzero(areas == "urban")[-12:]
    errors[slow] = -8.0
    segments = {"area": areas, "vehicle": np.full(200, "scooter", dtype=object), "weather": np.full(200, None)}

    detection = _detect(errors, segments)

    # Segments: metropolitan, urban, scooter (weather unknown): 6 one-sided statistics, h + ln 6 / (2 x 0.5).
    urban = next(stream for stream in detection.segments if stream.value == "urban")
    assert urban.threshold == pytest.approx(5.0 + math.log(6))
    assert urban.statistic.lower == pytest.approx(12 * (2.0 - 0.5)) and urban.statistic.count == 50
    assert urban.since == "2026-03-02T18:35:00+00:00"  # the first slow outcome, 155 minutes after 16:00
    assert urban.shift_minutes == pytest.approx(-8.0) and urban.is_slower
    # Overall, three exact outcomes take back each slow one's 1.5: the whole stream ends at 1.5, below h.
    assert detection.overall.statistic.lower == pytest.approx(1.5) and not detection.overall.is_alarm
    assert detection.alarms == [urban] and detection.is_alarm
    assert detection.ratio == pytest.approx(18.0 / (5.0 + math.log(6)))
    assert detection.describe() == (
        "area=urban: deliveries slower than predicted since 18:35 UTC (-8.0 min against validation over 50 "
        "outcomes, CUSUM S- 18.0 > 6.8)"
    )
    stored = detection.as_dict()
    assert stored["is_alarm"] and stored["segment_statistics"] == 6
    assert [(entry["value"], entry["direction"]) for entry in stored["segments"]] == [("urban", "slower")]
    assert stored["overall"]["lower"] == pytest.approx(1.5)


def test_too_few_outcomes_judge_nothing_whatever_the_statistic() -> None:
    detection = _detect(np.full(50, -8.0), {}, limits=ChangeLimits(k=0.5, h=5.0, min_outcomes=100))

    assert detection.overall.statistic.lower == pytest.approx(50 * 1.5)
    assert not detection.is_judged and not detection.is_alarm and detection.alarms == []


def _simulated_segments(rng: np.random.Generator, count: int) -> dict[str, np.ndarray]:
    return {
        dimension: rng.choice(list(shares), size=count, p=list(shares.values())).astype(object)
        for dimension, shares in SEGMENT_SHARES.items()
    }


def test_in_control_streams_of_nineteen_segments_rarely_alarm() -> None:
    # 300 checks, each of 600 outcomes whose errors are the validation's (normal, sd 4): the overall statistic and
    # 38 segment statistics at h = 7 with the raised threshold.
    rng = np.random.default_rng(11)
    limits = ChangeLimits(k=0.5, h=7.0, min_outcomes=100)
    alarms = [_detect(rng.normal(0.0, 4.0, 600), _simulated_segments(rng, 600), limits).is_alarm for _ in range(300)]

    assert np.mean(alarms) <= 0.01


def test_a_one_sd_slowdown_of_a_fifth_of_orders_is_found_within_about_forty_of_their_outcomes() -> None:
    # Urban (22% of orders) becomes 4 minutes (1 sd) slower after outcome 300; each stream is checked every 5 outcomes
    # from then on, as a check every few minutes recomputes it. Threshold h = 7 + ln(38) = 10.6 for urban: about
    # (10.6 + 1.2) / (1 - 0.5) = 24 urban outcomes expected (Siegmund).
    rng = np.random.default_rng(12)
    limits = ChangeLimits(k=0.5, h=7.0, min_outcomes=100)
    delays = []
    for _ in range(40):
        segments = _simulated_segments(rng, 600)
        errors = rng.normal(0.0, 4.0, 600)
        is_changed = (np.arange(600) >= 300) & (segments["area"] == "urban")
        errors[is_changed] -= 4.0
        found = next(
            (
                end
                for end in range(305, 601, 5)
                if any(
                    alarm.value == "urban"
                    for alarm in _detect(errors[:end], {k: v[:end] for k, v in segments.items()}, limits).alarms
                )
            ),
            None,
        )
        delays.append(int(is_changed[:found].sum()) if found is not None else 999)

    assert np.median(delays) <= 32
    assert np.mean(np.array(delays) <= 60) >= 0.9


def _days_with_an_alarm(limits: ChangeLimits, *, days: int, seed: int) -> float:
    """Share of simulated in-control days on which any check raised a CUSUM alarm.

    A day: 100 outcomes an hour with the validation's errors (normal, sd 4) over nineteen segments, checked every
    15 minutes on the outcomes of the last 3 hours, as the periodic check does.
    """
    rng = np.random.default_rng(seed)
    per_hour, hours = 100, 24 + 3  # three hours before the day fill the first window
    alarmed = 0
    for _ in range(days):
        count = per_hour * hours
        errors = rng.normal(0.0, 4.0, count)
        segments = _simulated_segments(rng, count)
        is_alarm = False
        for end in range(3 * per_hour, count + 1, per_hour // 4):
            window = slice(end - 3 * per_hour, end)
            if _detect(errors[window], {name: labels[window] for name, labels in segments.items()}, limits).is_alarm:
                is_alarm = True
                break
        alarmed += is_alarm
    return alarmed / days


def test_a_daily_budget_keeps_many_small_segments_from_alarming_every_day() -> None:
    # Thirty in-control days of 96 checks of 39 statistics. Budgeted at 0.2 false alarms a day, at most about a
    # fifth of the days see one; the per-check correction (h raised for the segments of one check) spends its rate
    # at every check and alarms on far more days.
    budgeted = ChangeLimits(k=0.5, h=3.0, min_outcomes=100, daily_alpha=0.2, stream_hours=3.0)
    per_check = ChangeLimits(k=0.5, h=5.0, min_outcomes=100)

    budgeted_rate = _days_with_an_alarm(budgeted, days=30, seed=21)
    per_check_rate = _days_with_an_alarm(per_check, days=30, seed=21)

    assert budgeted_rate <= binomial_upper_bound(30, 0.2)
    assert per_check_rate > 0.5 and per_check_rate > budgeted_rate


def test_a_change_smaller_than_the_minimum_effect_does_not_alarm() -> None:
    # Every outcome of the stream 1 minute slower than validation: a clear run, but below a 1.5-minute minimum.
    errors = np.full(400, -1.0)

    small = _detect(errors, {}, limits=ChangeLimits(k=0.05, h=5.0, min_outcomes=100, min_effect_minutes=1.5))
    counted = _detect(errors, {}, limits=ChangeLimits(k=0.05, h=5.0, min_outcomes=100))

    assert small.overall.statistic.largest > small.overall.threshold and not small.is_alarm
    assert counted.is_alarm


def test_a_segments_profile_is_how_its_errors_differ_from_those_of_their_hours() -> None:
    # Flat validation (bias 0, sd 4): urban errs +2 and +6 minutes (0.5 and 1.5 sds), metropolitan -4 and 0.
    errors = np.array([2.0, 6.0, -4.0, 0.0])
    areas = np.array(["urban", "urban", "metropolitan", "metropolitan"], dtype=object)

    profile = segment_error_profile(None, np.full(4, 12.0), errors, {"area": areas}, overall=FLAT)

    assert profile["area"]["urban"] == pytest.approx(
        {"count": 2, "mean_sd": 1.0, "sd": math.sqrt(0.5), "mean_minutes": 4.0}
    )
    assert profile["area"]["metropolitan"] == pytest.approx(
        {"count": 2, "mean_sd": -0.5, "sd": math.sqrt(0.5), "mean_minutes": -2.0}
    )


def _wide_segment_alarm_share(segment_profile: dict | None, *, seed: int) -> float:
    """Share of 400 in-control checks at which a segment whose errors spread 40% wider than its hours' alarms.

    Each check: 300 outcomes, a third of them motorcycles with errors of sd 5.6 where the hours' is 4, the rest 4.
    """
    rng = np.random.default_rng(seed)
    limits = ChangeLimits(k=0.5, h=5.0, min_outcomes=100)
    alarms = 0
    for _ in range(400):
        vehicles = rng.choice(np.array(["motorcycle", "scooter", "van"], dtype=object), size=300)
        errors = rng.normal(0.0, np.where(vehicles == "motorcycle", 5.6, 4.0))
        detection = change_detection(
            errors=errors,
            order_hours=np.full(300, 12.0),
            reported_at=START + np.arange(300) * np.timedelta64(1, "m"),
            segments={"vehicle": vehicles},
            profile=None,
            overall=FLAT,
            limits=limits,
            segment_profile=segment_profile,
        )
        alarms += any(stream.value == "motorcycle" for stream in detection.alarms)
    return alarms / 400


def test_a_segment_that_errs_wider_than_its_hours_is_judged_against_its_own_validation_errors() -> None:
    # Its validation errors (2,000, as wide as live) say so; judged by its hours alone it alarms at many checks.
    rng = np.random.default_rng(31)
    vehicles = rng.choice(np.array(["motorcycle", "scooter", "van"], dtype=object), size=6000)
    validation = rng.normal(0.0, np.where(vehicles == "motorcycle", 5.6, 4.0))
    own = segment_error_profile(None, np.full(6000, 12.0), validation, {"vehicle": vehicles}, overall=FLAT)

    with_profile = _wide_segment_alarm_share(own, seed=32)
    by_hours = _wide_segment_alarm_share(None, seed=32)

    assert own["vehicle"]["motorcycle"]["sd"] == pytest.approx(1.4, rel=0.05)
    assert with_profile <= binomial_upper_bound(400, 0.01)
    assert by_hours > 3 * max(with_profile, 0.01)


def test_a_segment_with_few_validation_outcomes_is_judged_by_its_hours() -> None:
    # 99 validation outcomes (below MIN_SEGMENT_PROFILE_COUNT): their large mean is not trusted.
    thin = {"area": {"urban": {"count": 99, "mean_sd": 2.0, "sd": 0.5, "mean_minutes": 8.0}}}
    errors = np.full(200, -8.0)
    areas = np.array(["urban", "metropolitan"] * 100, dtype=object)

    with_thin = _detect(errors, {"area": areas}).segments
    judged = change_detection(
        errors=errors,
        order_hours=np.full(200, 12.0),
        reported_at=START + np.arange(200) * np.timedelta64(1, "m"),
        segments={"area": areas},
        profile=None,
        overall=FLAT,
        limits=CHANGE,
        segment_profile=thin,
    ).segments

    assert [stream.as_dict() for stream in judged] == [stream.as_dict() for stream in with_thin]


def test_the_per_check_budget_raises_every_streams_threshold_to_the_family_wise_one() -> None:
    # 36 one-sided statistics at 1% of checks: ln(3600) = 8.19 for a thin stream the daily budget left at the floor.
    limits = ChangeLimits(k=0.5, h=5.0, min_outcomes=100, daily_alpha=0.25, stream_hours=3.0, check_alpha=0.01)
    daily_only = ChangeLimits(k=0.5, h=5.0, min_outcomes=100, daily_alpha=0.25, stream_hours=3.0)

    thin = stream_threshold(limits, count=3, statistics=36, is_segment=True)
    busy = stream_threshold(limits, count=5000, statistics=36, is_segment=True)

    assert thin == pytest.approx(math.log(3600))
    assert stream_threshold(daily_only, count=3, statistics=36, is_segment=True) < 6.5  # 24 outcomes a day
    assert busy == stream_threshold(daily_only, count=5000, statistics=36, is_segment=True) > thin


@given(
    outcomes=st.integers(min_value=8, max_value=40),
    slowdown_sd=st.floats(min_value=2.5, max_value=3.0),
    seed=st.integers(min_value=0, max_value=2**16),
)
@settings(max_examples=25, deadline=None)
def test_a_big_true_shift_of_a_thin_segment_still_alarms(outcomes: int, slowdown_sd: float, seed: int) -> None:
    # A segment of a few outcomes among 400 whose deliveries all became 2.5-3 sds slower: its statistic grows by
    # about 2 per outcome, past the per-check family-wise threshold (ln(36 / 0.01) = 8.2) within 8 outcomes.
    rng = np.random.default_rng(seed)
    limits = ChangeLimits(k=0.5, h=7.0, min_outcomes=100, daily_alpha=0.05, stream_hours=3.0, check_alpha=0.01)
    segments = _simulated_segments(rng, 400)
    stormy = np.flatnonzero(segments["weather"] == "stormy")[-outcomes:]
    segments["weather"][segments["weather"] == "stormy"] = "sunny"
    segments["weather"][stormy] = "stormy"
    errors = rng.normal(0.0, 4.0, 400)
    errors[stormy] = -4.0 * slowdown_sd

    detection = _detect(errors, segments, limits)

    assert [(alarm.name, alarm.is_slower) for alarm in detection.alarms if alarm.value == "stormy"] == [
        ("weather=stormy", True)
    ]


def test_a_segment_with_fewer_outcomes_than_the_power_argument_needs_cannot_alarm() -> None:
    # 0.5 sd at 0.5% of the checks of 8 statistics (3 segments and all outcomes, both sides): 67 outcomes. 40 urban
    # outcomes 3 sds slower stay a statistic far above the threshold, not an alarm; 80 of them alarm.
    limits = ChangeLimits(k=0.5, h=5.0, min_outcomes=100, check_alpha=0.005, segment_effect_sd=0.5)
    assert limits.min_segment_outcomes(8) == 67

    for urban, is_alarm in ((40, False), (80, True)):
        areas = np.array(["metropolitan"] * (400 - urban) + ["urban"] * urban, dtype=object)
        errors = np.zeros(400)
        errors[areas == "urban"] = -12.0
        segments = {"area": areas, "vehicle": np.full(400, "van", dtype=object)}

        stream = next(s for s in _detect(errors, segments, limits).segments if s.value == "urban")

        assert stream.statistic.largest > stream.threshold and stream.min_outcomes == 67
        assert stream.is_alarm is is_alarm and stream.as_dict()["min_outcomes"] == 67
