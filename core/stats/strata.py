"""References that carry the known seasonality: the reference re-drawn to the live window's mix of strata.

A drift window is an hour of traffic on one day, and much of what its orders look like recurs: the time of day
(road traffic in the bundled history is "jam" from 19:00 to 21:59), weekday or weekend, and in some histories
a kind of day that alternates (the bundled file alternates long-distance and short-distance days, mean distance
about 15 km against 7 km). Against a reference that mixes all of them, every window of a long day "drifts" in
distance, a pattern that repeats every two days and is not news. So each window is compared with the reference
re-drawn to the window's own mix of strata,

    stratum = (quarter hour of the day, weekend or not, day type),

the importance weights p_window(stratum) / p_reference(stratum) realised by sampling reference rows without
replacement (`matched_positions`), so the tests see plain unweighted samples. What remains is a change *within*
a stratum; the caller runs the unadjusted comparison beside it, so a shift the strata explain stays visible.

Day types. Which kind of day a live window belongs to is not known in advance, so it is estimated from the
window itself: `detect_day_types` finds, on the reference, a numeric feature whose daily means fall into two
well-separated groups (1-D two-means on the daily means); `day_type_mix` places the window's mean of that
feature between the two groups' means at the window's times of day, giving the share of "high" days in the
window: 0 or 1 for a window of one day, about 0.5 for traffic that mixes both kinds. A shift of that feature
beyond what either kind of day shows (values higher than any long day's) stays drift: the mix
cannot exceed 1. The price: a shift that turns one kind of day into exactly the other is not drift here; the
raw comparison beside it shows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

# Windows and references are matched per quarter hour of the day: fine enough that a window's edges match
# (orders in the bundled history are placed on 5-minute marks), coarse enough that a 14-day reference still
# has dozens of rows per slot at busy times.
TIME_SLOT_MINUTES = 15
SLOTS_PER_DAY = 24 * 60 // TIME_SLOT_MINUTES
# Saturday and Sunday, in the day-of-week numbering of the features (Monday = 0).
WEEKEND_DAYS = (5, 6)
# The day type of a reference row whose day is unknown or was not typed.
UNKNOWN_DAY_TYPE = -1
# Two kinds of day: a feature whose daily means split in two groups. More would need more reference days than a
# two-week reference has (each kind needs several days to have a mean at every time of day).
DAY_TYPE_COUNT = 2
# A day-type feature: its two groups of daily means are at least this many within-day sds apart, the split
# explains at least this share of the daily means' variance, and each group has at least this many days, and
# each day this many rows. Half an sd is a shift every drift test finds on an hour of traffic; 80% is a clear
# two-group structure, not a trend (a slow trend split in two explains about 75%).
MIN_DAY_TYPE_SEPARATION_SD = 0.5
MIN_DAY_TYPE_EXPLAINED_SHARE = 0.8
MIN_DAYS_PER_TYPE = 2
MIN_ROWS_PER_DAY = 30


def slots_of_day(order_hours: np.ndarray) -> np.ndarray:
    """Time-of-day slots 0..SLOTS_PER_DAY-1 of local order hours (23.99 is the last slot); -1 where unknown."""
    hours = np.asarray(order_hours, dtype=np.float64)
    slots = np.full(hours.shape, -1, dtype=np.int64)
    known = np.isfinite(hours)
    slots[known] = np.floor(hours[known] * 60 / TIME_SLOT_MINUTES).astype(np.int64) % SLOTS_PER_DAY
    return slots


def weekend_flags(days_of_week: np.ndarray) -> np.ndarray:
    """1 for a Saturday or Sunday, 0 for a weekday, -1 where unknown."""
    days = np.asarray(days_of_week, dtype=np.float64)
    flags = np.full(days.shape, -1, dtype=np.int64)
    known = np.isfinite(days)
    flags[known] = np.isin(np.floor(days[known]).astype(np.int64) % 7, WEEKEND_DAYS).astype(np.int64)
    return flags


@dataclass(frozen=True)
class MatchedPositions:
    """Reference rows drawn to a target mix of strata: their positions, the strata used, what was unmatched."""

    positions: np.ndarray
    strata: tuple[int, ...]
    unmatched_share: float


def matched_positions(
    reference_keys: np.ndarray, target_shares: np.ndarray, *, rng: np.random.Generator
) -> MatchedPositions:
    """The largest sample of reference rows, without replacement, whose mix of strata is `target_shares`.

    `reference_keys`: each reference row's stratum 0..K-1 (-1: unknown, never drawn); `target_shares`: length
    K, summing to 1. With target shares c_s and reference counts r_s, n = min_s floor(r_s / c_s) rows in all,
    round(c_s x n) of stratum s: the importance weights c_s / (r_s / R) realised as a sample. Strata the reference
    has no rows of are left out (their target share is `unmatched_share`).
    """
    keys = np.asarray(reference_keys, dtype=np.int64)
    target = np.asarray(target_shares, dtype=np.float64)
    counts = np.bincount(keys[keys >= 0], minlength=target.size)[: target.size]
    matchable = (target > 0) & (counts > 0)
    unmatched_share = float(target[~matchable].sum() / target.sum()) if target.sum() > 0 else 0.0
    if not matchable.any():
        return MatchedPositions(np.arange(0), (), unmatched_share)
    shares = target[matchable] / target[matchable].sum()
    total = int(np.min(np.floor(counts[matchable] / shares)))
    chosen = []
    for stratum, share in zip(np.flatnonzero(matchable), shares, strict=True):
        rows = np.flatnonzero(keys == stratum)
        chosen.append(rng.choice(rows, size=min(int(np.rint(share * total)), rows.size), replace=False))
    return MatchedPositions(
        positions=np.sort(np.concatenate(chosen)),
        strata=tuple(int(stratum) for stratum in np.flatnonzero(matchable)),
        unmatched_share=unmatched_share,
    )


@dataclass(frozen=True)
class DayTypes:
    """Two kinds of day told apart by one feature's daily mean (type 0 the lower, type 1 the higher).

    `threshold` is the midpoint between the two groups' means of daily means, `separation_sd` their distance in
    within-day sds of the feature, `explained_share` the share of the daily means' variance the split explains.
    """

    feature: str
    low_mean: float
    high_mean: float
    threshold: float
    separation_sd: float
    explained_share: float
    days: tuple[int, int]

    def day_type(self, daily_mean: float) -> int:
        """The type of a day with this mean of the feature (UNKNOWN_DAY_TYPE for NaN)."""
        if not np.isfinite(daily_mean):
            return UNKNOWN_DAY_TYPE
        return int(daily_mean > self.threshold)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "days": list(self.days)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DayTypes:
        return cls(**{**data, "days": tuple(data["days"])})


def detect_day_types(frame: pd.DataFrame, *, day_column: str, features: Sequence[str]) -> DayTypes | None:
    """The feature whose daily means split most clearly into two kinds of day, or None when none does.

    Days with fewer than `MIN_ROWS_PER_DAY` rows are left out. Per feature, the sorted daily means are split where
    the within-group sum of squares is least (two-means in one dimension is exact by trying every split); the
    split qualifies when it passes the `MIN_DAY_TYPE_*` rules; the largest separation among those wins.
    """
    sizes = frame.groupby(day_column, sort=True).size()
    days = sizes.index[sizes >= MIN_ROWS_PER_DAY]
    if len(days) < DAY_TYPE_COUNT * MIN_DAYS_PER_TYPE:
        return None
    rows = frame[frame[day_column].isin(days)]
    best: DayTypes | None = None
    for name in features:
        values = pd.to_numeric(rows[name], errors="coerce")
        means = values.groupby(rows[day_column]).mean().dropna()
        within_sd = float(np.sqrt((values - values.groupby(rows[day_column]).transform("mean")).pow(2).mean()))
        if len(means) < DAY_TYPE_COUNT * MIN_DAYS_PER_TYPE or not within_sd > 0:
            continue
        candidate = _two_means(means.to_numpy(dtype=np.float64), name, within_sd)
        if candidate is not None and (best is None or candidate.separation_sd > best.separation_sd):
            best = candidate
    return best


def _two_means(daily: np.ndarray, feature: str, within_sd: float) -> DayTypes | None:
    ordered = np.sort(daily)
    total = float(((ordered - ordered.mean()) ** 2).sum())
    if total <= 0:
        return None
    best_split, best_within = 0, np.inf
    for split in range(MIN_DAYS_PER_TYPE, ordered.size - MIN_DAYS_PER_TYPE + 1):
        low, high = ordered[:split], ordered[split:]
        within = float(((low - low.mean()) ** 2).sum() + ((high - high.mean()) ** 2).sum())
        if within < best_within:
            best_split, best_within = split, within
    if best_split == 0:
        return None
    low_mean, high_mean = float(ordered[:best_split].mean()), float(ordered[best_split:].mean())
    separation = (high_mean - low_mean) / within_sd
    explained = 1 - best_within / total
    if separation < MIN_DAY_TYPE_SEPARATION_SD or explained < MIN_DAY_TYPE_EXPLAINED_SHARE:
        return None
    return DayTypes(
        feature=feature,
        low_mean=low_mean,
        high_mean=high_mean,
        threshold=(float(ordered[best_split - 1]) + float(ordered[best_split])) / 2,
        separation_sd=float(separation),
        explained_share=float(explained),
        days=(best_split, int(ordered.size - best_split)),
    )


@dataclass(frozen=True)
class StratifiedReference:
    """The reference rows drawn to a window's mix of strata, and how the match went.

    `slots`: the window's quarter-hour slots the reference had rows for (slot k starts k x TIME_SLOT_MINUTES after
    midnight). `unmatched_share`: the share of the window's mix in strata the reference lacks (compared with the
    rest). `strata`: the dimensions used ("time of day", "weekend", "day type"). `day_type_mix`: the estimated
    share of the window from days of the higher type (None without day types).
    """

    frame: pd.DataFrame
    slots: tuple[int, ...]
    unmatched_share: float
    strata: tuple[str, ...]
    day_type_mix: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """Everything but the frame, for a report."""
        return {
            "strata": list(self.strata),
            "matched_slots": list(self.slots),
            "unmatched_share": self.unmatched_share,
            "day_type_mix": self.day_type_mix,
        }


def stratified_reference(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    hour_column: str,
    weekday_column: str | None = None,
    day_type_column: str | None = None,
    day_types: DayTypes | None = None,
    seed: int,
) -> StratifiedReference:
    """Reference rows sampled without replacement so that their mix of strata equals the window's.

    Always stratified by quarter hour of `hour_column`. By weekend too when `weekday_column` is given and known for
    every row of both frames; by day type when `day_types` and the reference's `day_type_column` are given (the
    window's mix of types estimated by `day_type_mix`). A window without any known time gets the whole reference.
    """
    all_window_slots = slots_of_day(current[hour_column].to_numpy(dtype=np.float64))
    known_time = all_window_slots >= 0
    window_slots = all_window_slots[known_time]
    if window_slots.size == 0:
        return StratifiedReference(reference, (), 0.0, ())
    reference_slots = slots_of_day(reference[hour_column].to_numpy(dtype=np.float64))
    reference_weekend = current_weekend = None
    if weekday_column is not None and weekday_column in reference.columns and weekday_column in current.columns:
        reference_weekend = weekend_flags(reference[weekday_column].to_numpy(dtype=np.float64))
        current_weekend = weekend_flags(current[weekday_column].to_numpy(dtype=np.float64))
        if (reference_weekend < 0).any() or (current_weekend < 0).any():
            reference_weekend = current_weekend = None
    # (slot, weekend) of the window's rows: its calendar mix, which the reference is drawn to.
    calendar_count = 2 * SLOTS_PER_DAY
    window_calendar = window_slots + SLOTS_PER_DAY * (current_weekend[known_time] if current_weekend is not None else 0)
    calendar_shares = np.bincount(window_calendar, minlength=calendar_count) / window_calendar.size
    reference_calendar = reference_slots + SLOTS_PER_DAY * (reference_weekend if reference_weekend is not None else 0)
    reference_calendar[reference_slots < 0] = -1
    strata = ["time of day", *(["weekend"] if reference_weekend is not None else [])]

    mix = None
    keys, target = reference_calendar, calendar_shares
    if day_types is not None and day_type_column is not None and day_type_column in reference.columns:
        reference_types = reference[day_type_column].to_numpy(dtype=np.float64)
        mix = day_type_mix(
            reference[day_types.feature].to_numpy(dtype=np.float64),
            reference_calendar,
            reference_types,
            current[day_types.feature].to_numpy(dtype=np.float64),
            calendar_shares,
        )
        if mix is not None:
            typed = np.isfinite(reference_types) & (reference_types >= 0) & (reference_calendar >= 0)
            keys = np.where(typed, reference_calendar + calendar_count * np.nan_to_num(reference_types), -1).astype(
                np.int64
            )
            target = np.concatenate([calendar_shares * (1 - mix), calendar_shares * mix])
            strata.append("day type")
    matched = matched_positions(keys, target, rng=np.random.default_rng(seed))
    if matched.positions.size == 0:
        return StratifiedReference(reference, (), matched.unmatched_share, tuple(strata), mix)
    return StratifiedReference(
        frame=reference.iloc[matched.positions].reset_index(drop=True),
        slots=tuple(sorted({stratum % SLOTS_PER_DAY for stratum in matched.strata})),
        unmatched_share=matched.unmatched_share,
        strata=tuple(strata),
        day_type_mix=mix,
    )


def day_type_mix(
    reference_values: np.ndarray,
    reference_calendar: np.ndarray,
    reference_types: np.ndarray,
    current_values: np.ndarray,
    calendar_shares: np.ndarray,
) -> float | None:
    """The window's estimated share of higher-type days, in [0, 1] (None when it cannot be estimated).

    The expected window mean of the day-type feature on a day of type t is the reference's mean at each
    (slot, weekend) of type t, weighted by the window's shares of those; the window's own mean placed between the
    two expectations is the mix (method of moments), clipped to [0, 1].
    """
    values = np.asarray(current_values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    expected = []
    for day_type in range(DAY_TYPE_COUNT):
        of_type = (reference_types == day_type) & np.isfinite(reference_values) & (reference_calendar >= 0)
        if not of_type.any():
            return None
        overall = float(reference_values[of_type].mean())
        frame = pd.DataFrame({"calendar": reference_calendar[of_type], "value": reference_values[of_type]})
        by_calendar = frame.groupby("calendar")["value"].mean()
        means = np.full(calendar_shares.size, overall)
        means[by_calendar.index.to_numpy(dtype=np.int64)] = by_calendar.to_numpy()
        expected.append(float((calendar_shares * means).sum()))
    low, high = expected
    if not high > low:
        return None
    return float(np.clip((values.mean() - low) / (high - low), 0.0, 1.0))
