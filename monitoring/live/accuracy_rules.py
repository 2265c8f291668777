"""When realized accuracy counts as degraded, in plain Python (numpy/scipy, no Django).

A window of reported outcomes is compared with the version's own validation errors at the same hours of day
(errors depend on the hour: in the bundled history the evening jam hours are the hardest). Like drift, a
degradation needs both a change that matters and one that is real: the MAE must exceed its baseline by more
than the tolerance (or the bias move by more than its limit) AND the excess must be significant, a one-sided
z-test on the two means (the window's and the baseline's, whose uncertainty counts too). Without the test, a
window of 100 outcomes at a quiet hour, judged against 150 validation outcomes of that hour, is 15% worse by
chance every few checks.

Beside those windows, a sequential change detector (`change_detection`): a two-sided CUSUM (`core.stats.
cusum`) of each outcome's error standardised by the validation bias and sd at its order's hour, on the outcomes
of the last few hours in the order they were reported, over all of them and per segment (area, vehicle,
weather, traffic). A window's average is diluted by the outcomes from before a change; the CUSUM grows with
every changed outcome and so alarms as soon as enough of them have arrived, and a slowdown of one area shows in
that area's statistic long before it moves the overall figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

from core.stats.cusum import (
    CusumStatistic,
    adjusted_threshold,
    budgeted_threshold,
    check_threshold,
    cusum_statistic,
    min_stream_outcomes,
)

# Hours of day with fewer validation outcomes than this count at the version's overall validation figures:
# the MAE of a few dozen deliveries is mostly noise.
MIN_PROFILE_COUNT = 30
# A standardised error beyond this many sds counts as this many in the CUSUM: validation errors have a long tail of
# very slow deliveries (0.1% beyond -3.5 sd in the drift bench's no-change replays), and one delivery stuck for an
# hour must not move a small segment's statistic like three slow ones. A 20% slowdown is about 1 sd; it is kept.
CUSUM_CLIP_SD = 3.0
# Normal errors have MAE = sd * sqrt(2 / pi): the spread assumed for a version without a validation profile.
SD_PER_MAE = math.sqrt(math.pi / 2)
# How the CUSUM's whole-window stream is named in findings and alert summaries.
ALL_OUTCOMES = "all outcomes"
# Segment statistics stored with a report besides those in alarm: the closest to their thresholds.
STORED_SEGMENTS = 3
# Segments with fewer validation outcomes than this are standardised like every outcome (by their hours only):
# the sd of fewer errors is too uncertain to rescale a CUSUM by (about 7% at 100).
MIN_SEGMENT_PROFILE_COUNT = 100


@dataclass(frozen=True)
class ErrorSummary:
    """Errors (predicted minus actual, minutes) of a set of outcomes: MAE, bias, their spreads and the count."""

    count: int
    mae: float
    mae_sd: float
    bias: float
    bias_sd: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def error_summary(errors: np.ndarray) -> ErrorSummary | None:
    """The summary of these signed errors (None for none)."""
    values = np.asarray(errors, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    absolute = np.abs(values)
    spread = 1 if values.size > 1 else 0
    return ErrorSummary(
        count=int(values.size),
        mae=float(absolute.mean()),
        mae_sd=float(absolute.std(ddof=spread)),
        bias=float(values.mean()),
        bias_sd=float(values.std(ddof=spread)),
    )


def hourly_error_profile(order_hours: np.ndarray, errors: np.ndarray) -> dict[str, dict[str, float]]:
    """The `ErrorSummary` of validation errors per local hour of day ("0".."23": JSON keys are strings)."""
    hours = np.floor(np.asarray(order_hours, dtype=np.float64)) % 24
    signed = np.asarray(errors, dtype=np.float64)
    profile = {}
    for hour in range(24):
        summary = error_summary(signed[hours == hour])
        if summary is not None:
            profile[str(hour)] = summary.as_dict()
    return profile


def pooled_summary(profile: Mapping[str, Mapping[str, float]] | None, *, mae: float) -> ErrorSummary:
    """The whole validation window's summary from its hours, with its MAE taken from the version's metrics.

    Without a profile (a version without lineage) the spreads are unknown: 0, so the baseline counts as exact.
    """
    entries = [ErrorSummary(**entry) for entry in (profile or {}).values()]  # type: ignore[arg-type]
    count = sum(entry.count for entry in entries)
    if count == 0:
        return ErrorSummary(count=0, mae=mae, mae_sd=0.0, bias=0.0, bias_sd=0.0)

    def pooled_sd(mean_of: str, sd_of: str) -> float:
        grand = sum(getattr(e, mean_of) * e.count for e in entries) / count
        spread = sum(e.count * (getattr(e, sd_of) ** 2 + (getattr(e, mean_of) - grand) ** 2) for e in entries)
        return math.sqrt(spread / count)

    return ErrorSummary(
        count=count,
        mae=mae,
        mae_sd=pooled_sd("mae", "mae_sd"),
        bias=sum(entry.bias * entry.count for entry in entries) / count,
        bias_sd=pooled_sd("bias", "bias_sd"),
    )


@dataclass(frozen=True)
class Baseline:
    """The validation MAE and bias expected for a window's outcomes, with their standard errors."""

    mae: float
    mae_se: float
    bias: float
    bias_se: float


def matched_baseline(
    profile: Mapping[str, Mapping[str, float]] | None, order_hours: np.ndarray, *, overall: ErrorSummary
) -> Baseline:
    """The validation figures at the window's hours, weighted by its outcomes per hour.

    An hour with fewer than `MIN_PROFILE_COUNT` validation outcomes, an unknown hour (NaN) or no profile
    counts at `overall`. The standard error adds up each hour's: sqrt(sum of (w_h * sd_h)^2 / n_h), w_h being
    the window's share of outcomes at hour h.
    """
    hours = np.floor(np.asarray(order_hours, dtype=np.float64)) % 24
    if hours.size == 0:
        return Baseline(overall.mae, 0.0, overall.bias, 0.0)
    trusted = _trusted_hours(profile)
    groups: list[tuple[float, ErrorSummary]] = []
    is_fallback = np.ones(hours.size, dtype=bool)
    for hour, summary in trusted.items():
        at_hour = hours == hour
        if at_hour.any():
            groups.append((float(at_hour.mean()), summary))
            is_fallback &= ~at_hour
    if is_fallback.any():
        groups.append((float(is_fallback.mean()), overall))

    def standard_error(sd_of: str) -> float:
        return math.sqrt(sum((w * getattr(s, sd_of)) ** 2 / s.count for w, s in groups if s.count > 0))

    return Baseline(
        mae=sum(w * s.mae for w, s in groups),
        mae_se=standard_error("mae_sd"),
        bias=sum(w * s.bias for w, s in groups),
        bias_se=standard_error("bias_sd"),
    )


def _trusted_hours(profile: Mapping[str, Mapping[str, float]] | None) -> dict[int, ErrorSummary]:
    """The profile's hours with at least `MIN_PROFILE_COUNT` validation outcomes."""
    return {
        int(key): ErrorSummary(**entry)  # type: ignore[arg-type]
        for key, entry in (profile or {}).items()
        if entry["count"] >= MIN_PROFILE_COUNT
    }


@dataclass(frozen=True)
class AccuracyLimits:
    """What counts as degraded: the MAE tolerance (a share), the bias limit (minutes), significance, sample."""

    tolerance: float
    max_bias_minutes: float
    alpha: float
    min_outcomes: int


@dataclass(frozen=True)
class WindowJudgement:
    """One window's live errors against its baseline, and whether they break the limits."""

    window: str
    live: ErrorSummary | None
    baseline: Baseline | None
    limits: AccuracyLimits

    @property
    def is_judged(self) -> bool:
        return self.live is not None and self.baseline is not None and self.live.count >= self.limits.min_outcomes

    @property
    def mae_increase(self) -> float:
        """Live MAE over the baseline minus 1 (0.2: 20% worse)."""
        return self.live.mae / self.baseline.mae - 1 if self.is_judged and self.baseline.mae > 0 else 0.0  # type: ignore[union-attr]

    @property
    def bias_shift(self) -> float:
        """Minutes the bias moved (negative: ETAs now too short, deliveries slower than predicted)."""
        return self.live.bias - self.baseline.bias if self.is_judged else 0.0  # type: ignore[union-attr]

    @property
    def mae_p_value(self) -> float:
        """One-sided: the chance of a live MAE this much above the baseline if nothing had changed."""
        if not self.is_judged:
            return 1.0
        live, baseline = self.live, self.baseline
        return _p_value(live.mae - baseline.mae, live.mae_sd / math.sqrt(live.count), baseline.mae_se)  # type: ignore[union-attr, operator]

    @property
    def bias_p_value(self) -> float:
        """Two-sided: the chance of a bias this far from the baseline's if nothing had changed."""
        if not self.is_judged:
            return 1.0
        live, baseline = self.live, self.baseline
        return 2 * _p_value(abs(self.bias_shift), live.bias_sd / math.sqrt(live.count), baseline.bias_se)  # type: ignore[union-attr, operator]

    @property
    def is_mae_degraded(self) -> bool:
        return self.mae_increase > self.limits.tolerance and self.mae_p_value < self.limits.alpha

    @property
    def is_bias_degraded(self) -> bool:
        return abs(self.bias_shift) > self.limits.max_bias_minutes and self.bias_p_value < self.limits.alpha

    @property
    def is_degraded(self) -> bool:
        return self.is_mae_degraded or self.is_bias_degraded

    @property
    def is_critical(self) -> bool:
        return (self.is_mae_degraded and self.mae_increase > 2 * self.limits.tolerance) or (
            self.is_bias_degraded and abs(self.bias_shift) > 2 * self.limits.max_bias_minutes
        )

    def describe(self) -> str:
        parts = []
        if self.is_mae_degraded:
            parts.append(
                f"MAE {self.live.mae:.2f} min is {self.mae_increase:+.0%} over {self.baseline.mae:.2f} "  # type: ignore[union-attr]
                f"(p={self.mae_p_value:.2g})"
            )
        if self.is_bias_degraded:
            parts.append(f"bias {self.live.bias:+.2f} min moved {self.bias_shift:+.2f} (p={self.bias_p_value:.2g})")  # type: ignore[union-attr]
        return f"{self.window}: {' and '.join(parts) or 'within limits'}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "is_judged": self.is_judged,
            "live": self.live.as_dict() if self.live else None,
            "baseline": asdict(self.baseline) if self.baseline else None,
            "mae_increase": self.mae_increase,
            "mae_p_value": self.mae_p_value,
            "bias_shift": self.bias_shift,
            "bias_p_value": self.bias_p_value,
            "is_mae_degraded": self.is_mae_degraded,
            "is_bias_degraded": self.is_bias_degraded,
        }


def _p_value(excess: float, live_se: float, baseline_se: float) -> float:
    standard_error = math.hypot(live_se, baseline_se)
    if standard_error == 0:
        return 0.0 if excess > 0 else 1.0
    return float(norm.sf(excess / standard_error))


# --- Sequential change detection -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeLimits:
    """The CUSUM's reference value k and decision interval h (in validation sds), and the outcomes it needs.

    With `daily_alpha`, the thresholds spend a family-wise budget of that many false alarms a day over every
    statistic (overall and per segment, both sides; `core.stats.cusum.budgeted_threshold`), each stream's scaled
    from its outcomes in the last `stream_hours` to a day, and h is the floor no stream goes below; without it,
    the whole stream keeps h and the segments get h raised per check (`adjusted_threshold`). With `check_alpha`,
    no stream's threshold is below the one at which all statistics together stand above their thresholds at no
    more than that share of checks (`core.stats.cusum.check_threshold`): a thin stream crosses rarely but stays
    crossed for many checks, which a budget of alarms a day does not count. A stream alarms only
    when its run's mean deviation is also at least `min_effect_minutes` from the validation bias: a segment
    0.3 minutes slower than validation is real after enough outcomes, and not worth anyone's attention. With
    `segment_effect_sd` (and a per-check budget), a segment alarms only on at least `min_segment_outcomes`
    outcomes: those on which a shift of that many sds is found with 80% power at its share of the budget.
    """

    k: float
    h: float
    min_outcomes: int
    daily_alpha: float | None = None
    stream_hours: float = 3.0
    min_effect_minutes: float = 0.0
    check_alpha: float | None = None
    segment_effect_sd: float = 0.0

    def min_segment_outcomes(self, statistics: int) -> int:
        """The fewest outcomes a segment needs to alarm (`core.stats.cusum.min_stream_outcomes`; 0: no minimum).

        Only with a per-check budget: the power argument is at the statistic's share of it.
        """
        if self.check_alpha is None:
            return 0
        return min_stream_outcomes(
            effect_sd=self.segment_effect_sd, statistics=statistics, check_alpha=self.check_alpha
        )


def stream_threshold(limits: ChangeLimits, *, count: int, statistics: int, is_segment: bool) -> float:
    """The decision interval of one stream of `count` outcomes among `statistics` one-sided statistics.

    See `ChangeLimits`: the daily budget's share (or, without one, the per-check Bonferroni raise of the segments'
    h), never below the floor h, nor below the per-check family-wise threshold when `check_alpha` is set.
    """
    if limits.daily_alpha is None:
        threshold = adjusted_threshold(limits.h, k=limits.k, tests=statistics - 2) if is_segment else limits.h
    else:
        per_day = count * 24.0 / limits.stream_hours
        budgeted = budgeted_threshold(
            k=limits.k, statistics=statistics, observations_per_day=per_day, daily_alpha=limits.daily_alpha
        )
        threshold = max(limits.h, budgeted)
    if limits.check_alpha is not None:
        threshold = max(threshold, check_threshold(k=limits.k, statistics=statistics, check_alpha=limits.check_alpha))
    return threshold


def standardised_errors(
    profile: Mapping[str, Mapping[str, float]] | None,
    order_hours: np.ndarray,
    errors: np.ndarray,
    *,
    overall: ErrorSummary,
) -> tuple[np.ndarray, np.ndarray]:
    """Each error's deviation from the validation bias at its order's hour (minutes), and that in the hour's sds.

    Hours as in `matched_baseline`: one with fewer than `MIN_PROFILE_COUNT` validation outcomes, an unknown one
    (NaN) or no profile count at `overall`; without any spread (a version without a profile) the sd is the one a
    normal error of the validation MAE would have. The standardised values are clipped at +-`CUSUM_CLIP_SD`.
    """
    hours = np.floor(np.asarray(order_hours, dtype=np.float64)) % 24
    signed = np.asarray(errors, dtype=np.float64)
    fallback_sd = overall.bias_sd if overall.bias_sd > 0 else overall.mae * SD_PER_MAE
    bias = np.full(signed.size, overall.bias)
    sd = np.full(signed.size, fallback_sd)
    for hour, summary in _trusted_hours(profile).items():
        if summary.bias_sd > 0:
            at_hour = hours == hour
            bias[at_hour], sd[at_hour] = summary.bias, summary.bias_sd
    deviations = signed - bias
    if fallback_sd <= 0:  # no validation spread at all: nothing can be standardised
        return deviations, np.zeros(signed.size)
    return deviations, np.clip(deviations / sd, -CUSUM_CLIP_SD, CUSUM_CLIP_SD)


@dataclass(frozen=True)
class SegmentErrors:
    """How one segment's validation errors differ from the validation errors at the same hours.

    `mean_sd` and `sd`: the mean and sd of its errors standardised by their hours (`standardised_errors`; 0 and 1
    when the segment errs like everyone else at those hours); `mean_minutes`: their mean deviation in minutes.
    """

    count: int
    mean_sd: float
    sd: float
    mean_minutes: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def segment_error_profile(
    profile: Mapping[str, Mapping[str, float]] | None,
    order_hours: np.ndarray,
    errors: np.ndarray,
    segments: Mapping[str, np.ndarray],
    *,
    overall: ErrorSummary,
) -> dict[str, dict[str, dict[str, float]]]:
    """Per dimension and segment, the `SegmentErrors` of validation errors (JSON: {"weather": {"stormy": {...}}}).

    A segment's outcomes are not a random sample of its hours' outcomes: in the bundled history motorcycles' errors
    spread 10% wider than their hours' and stormy weather's sit 0.1 sd above them. Standardised by the hours alone,
    such a segment's CUSUM drifts in control and crosses its threshold far more often than its share.
    """
    deviations, standardised = standardised_errors(profile, order_hours, errors, overall=overall)
    result: dict[str, dict[str, dict[str, float]]] = {}
    for dimension, column in segments.items():
        labels = np.asarray(column, dtype=object)
        for value in _segment_values(labels):
            mask = labels == value
            result.setdefault(dimension, {})[str(value)] = SegmentErrors(
                count=int(mask.sum()),
                mean_sd=float(standardised[mask].mean()),
                sd=float(standardised[mask].std(ddof=1)) if mask.sum() > 1 else 1.0,
                mean_minutes=float(deviations[mask].mean()),
            ).as_dict()
    return result


def _segment_values(labels: np.ndarray) -> list[object]:
    """The segments present among these labels (None, NaN and "" are an unknown label, not a segment)."""
    return sorted({label for label in labels if label is not None and label == label and label != ""})


def _trusted_segment(
    segment_profile: Mapping[str, Mapping[str, Mapping[str, float]]] | None, dimension: str, value: str
) -> SegmentErrors | None:
    entry = ((segment_profile or {}).get(dimension) or {}).get(value)
    if entry is None or entry["count"] < MIN_SEGMENT_PROFILE_COUNT or entry["sd"] <= 0:
        return None
    return SegmentErrors(**entry)  # type: ignore[arg-type]


@dataclass(frozen=True)
class StreamChange:
    """The CUSUM of one stream of outcomes (all of them, or one segment's) against its threshold.

    `is_slower`: the larger side is the lower one (errors fell: deliveries took longer than predicted). `since`
    (ISO time the first outcome of that side's current run was reported) and `shift_minutes` (its outcomes' mean
    deviation from the validation bias) estimate when the change began and how large it is.
    """

    dimension: str
    value: str
    statistic: CusumStatistic
    threshold: float
    since: str | None
    shift_minutes: float
    min_effect_minutes: float = 0.0
    min_outcomes: int = 0

    @property
    def is_alarm(self) -> bool:
        return (
            self.statistic.largest > self.threshold
            and abs(self.shift_minutes) >= self.min_effect_minutes
            and self.statistic.count >= self.min_outcomes
        )

    @property
    def is_slower(self) -> bool:
        return self.statistic.lower > self.statistic.upper

    @property
    def ratio(self) -> float:
        """The larger side over the threshold (above 1: an alarm)."""
        return self.statistic.largest / self.threshold if self.threshold > 0 else 0.0

    @property
    def name(self) -> str:
        return self.value if self.dimension == ALL_OUTCOMES else f"{self.dimension}={self.value}"

    def describe(self) -> str:
        direction = "slower" if self.is_slower else "faster"
        side = "S-" if self.is_slower else "S+"
        since = f" since {self.since[11:16]} UTC" if self.since else ""
        return (
            f"{self.name}: deliveries {direction} than predicted{since} ({self.shift_minutes:+.1f} min against "
            f"validation over {self.statistic.count} outcomes, CUSUM {side} {self.statistic.largest:.1f} > "
            f"{self.threshold:.1f})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension,
            "value": self.value,
            "count": self.statistic.count,
            "upper": self.statistic.upper,
            "lower": self.statistic.lower,
            "threshold": self.threshold,
            "min_effect_minutes": self.min_effect_minutes,
            "min_outcomes": self.min_outcomes,
            "ratio": self.ratio,
            "is_alarm": self.is_alarm,
            "direction": "slower" if self.is_slower else "faster",
            "since": self.since,
            "shift_minutes": self.shift_minutes,
            "shift_sd": self.statistic.lower_shift if self.is_slower else self.statistic.upper_shift,
        }


@dataclass(frozen=True)
class ChangeDetection:
    """The CUSUM over all outcomes of a stream and per segment, each against its threshold (see `ChangeLimits`)."""

    limits: ChangeLimits
    overall: StreamChange
    segments: list[StreamChange]

    @property
    def is_judged(self) -> bool:
        return self.overall.statistic.count >= self.limits.min_outcomes

    @property
    def alarms(self) -> list[StreamChange]:
        if not self.is_judged:
            return []
        return [stream for stream in (self.overall, *self.segments) if stream.is_alarm]

    @property
    def is_alarm(self) -> bool:
        return bool(self.alarms)

    @property
    def ratio(self) -> float:
        """The largest statistic over its threshold, overall or in any segment."""
        return max(stream.ratio for stream in (self.overall, *self.segments))

    def describe(self) -> str:
        return "; ".join(stream.describe() for stream in self.alarms) or "no change"

    def as_dict(self) -> dict[str, Any]:
        closest = sorted(self.segments, key=lambda stream: -stream.ratio)
        stored = [stream for stream in closest if stream.is_alarm] or closest[:STORED_SEGMENTS]
        return {
            "method": "two-sided CUSUM of errors standardised by the validation errors at the same hours",
            "k": self.limits.k,
            "h": self.limits.h,
            "daily_alpha": self.limits.daily_alpha,
            "check_alpha": self.limits.check_alpha,
            "min_effect_minutes": self.limits.min_effect_minutes,
            "segment_threshold": max((stream.threshold for stream in self.segments), default=None),
            "segment_statistics": 2 * len(self.segments),
            "is_judged": self.is_judged,
            "is_alarm": self.is_alarm,
            "ratio": self.ratio,
            "overall": self.overall.as_dict(),
            "segments": [stream.as_dict() for stream in stored],
        }


def change_detection(
    *,
    errors: np.ndarray,
    order_hours: np.ndarray,
    reported_at: np.ndarray,
    segments: Mapping[str, np.ndarray],
    profile: Mapping[str, Mapping[str, float]] | None,
    overall: ErrorSummary,
    limits: ChangeLimits,
    segment_profile: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
) -> ChangeDetection:
    """CUSUMs of a stream of outcomes in the order they were reported (all arrays aligned, oldest first).

    `segments`: per dimension, each outcome's label (None: unknown, not a segment). Each segment present is a
    stream of its own, judged against its own validation errors where `segment_profile` has at least
    `MIN_SEGMENT_PROFILE_COUNT` of them (`segment_error_profile`): its standardised errors re-centred on its
    validation mean and rescaled by its validation sd, its minutes measured from its validation mean deviation.
    Thresholds: `stream_threshold` (`ChangeLimits`), so that a slowdown of one area is found
    without every check of twenty segments being twenty chances of a false alarm.
    """
    deviations, standardised = standardised_errors(profile, order_hours, errors, overall=overall)
    times = np.asarray(reported_at)
    masks: list[tuple[str, str, np.ndarray]] = []
    for dimension, column in segments.items():
        labels = np.asarray(column, dtype=object)
        # None (and NaN, which is not equal to itself) is an unknown label, not a segment.
        for value in _segment_values(labels):
            masks.append((dimension, str(value), labels == value))
    statistics = 2 * (len(masks) + 1)

    def stream(dimension: str, value: str, mask: np.ndarray | None) -> StreamChange:
        values = standardised if mask is None else standardised[mask]
        minutes = deviations if mask is None else deviations[mask]
        own = _trusted_segment(segment_profile, dimension, value) if mask is not None else None
        if own is not None:
            values, minutes = (values - own.mean_sd) / own.sd, minutes - own.mean_minutes
        when = times if mask is None else times[mask]
        statistic = cusum_statistic(values, k=limits.k)
        since = statistic.lower_since if statistic.lower > statistic.upper else statistic.upper_since
        return StreamChange(
            dimension=dimension,
            value=value,
            statistic=statistic,
            threshold=stream_threshold(limits, count=values.size, statistics=statistics, is_segment=mask is not None),
            since=_iso(when[since]) if since is not None and when.size else None,
            shift_minutes=float(minutes[since:].mean()) if since is not None else 0.0,
            min_effect_minutes=limits.min_effect_minutes,
            min_outcomes=limits.min_segment_outcomes(statistics) if mask is not None else 0,
        )

    return ChangeDetection(
        limits=limits,
        overall=stream(ALL_OUTCOMES, ALL_OUTCOMES, None),
        segments=[stream(dimension, value, mask) for dimension, value, mask in masks],
    )


def _iso(instant: np.datetime64) -> str:
    """A UTC instant (datetime64, naive UTC) as ISO text to the second."""
    return f"{np.datetime_as_string(instant, unit='s')}+00:00"
