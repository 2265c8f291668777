"""After a promotion: is the new champion's realized error significantly worse than the previous champion's?

Plain Python (numpy/scipy, no Django), so the rule is tested on arrays alone; `predictions.champion_watch` feeds
it the absolute errors of reported outcomes and acts on the answer.

The two samples are not paired: the new champion's errors on orders it served since the promotion, the previous
champion's on orders it served in a window before. The test is a one-sided Mann-Whitney U ("the new errors are
stochastically larger"; no normality assumption, absolute errors are skewed with long tails). The watch looks
again every time it runs, so each look's p-value must beat the O'Brien-Fleming alpha-spending boundary of
`core.stats.sequential` at information fraction n_new / planned_outcomes (the previous champion's sample is
fixed, so the evidence grows with the new champion's outcomes). The new champion is called worse only when all of
these hold:
  - at least `min_outcomes` errors on each side;
  - p below the boundary of this look;
  - realized MAE higher by at least `min_effect_minutes`, so a big sample cannot roll back for a difference
    nobody would notice.
Only the first `planned_outcomes` new errors are used: at that point the watch has ended.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from core.stats.sequential import information_fraction, one_sided_boundary


@dataclass(frozen=True)
class WatchSettings:
    """The rules of the post-promotion watch: overall false-rollback rate, minimum sample and effect, horizon."""

    alpha: float = 0.05
    min_outcomes: int = 100
    min_effect_minutes: float = 0.5
    planned_outcomes: int = 500

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.min_outcomes < 1:
            raise ValueError(f"min_outcomes must be >= 1, got {self.min_outcomes}")
        if self.min_effect_minutes < 0.0:
            raise ValueError(f"min_effect_minutes must be >= 0, got {self.min_effect_minutes}")
        if self.planned_outcomes < self.min_outcomes:
            raise ValueError("planned_outcomes must be >= min_outcomes")


@dataclass(frozen=True)
class WatchDecision:
    """One look of the watch. ``mae_increase`` is new minus previous MAE (positive: the new one is worse)."""

    is_worse: bool
    new_count: int
    previous_count: int
    p_value: float | None
    boundary: float
    new_mae: float | None
    previous_mae: float | None
    mae_increase: float | None
    is_watch_over: bool
    reasons: tuple[str, ...]
    settings: WatchSettings

    @property
    def summary(self) -> str:
        """The figures in one line, for the event log and the alert."""
        p_value = "-" if self.p_value is None else f"{self.p_value:.3g}"
        new_mae = "-" if self.new_mae is None else f"{self.new_mae:.2f}"
        previous_mae = "-" if self.previous_mae is None else f"{self.previous_mae:.2f}"
        return (
            f"realized MAE {new_mae} min on {self.new_count} outcomes vs {previous_mae} min on "
            f"{self.previous_count} before the promotion; one-sided Mann-Whitney p={p_value} vs boundary "
            f"{self.boundary:.3g}; {self.reasons[-1]}"
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (the alert's details)."""
        values = asdict(self)
        values["reasons"] = list(self.reasons)
        return values


def champion_worse_decision(
    new_errors: Sequence[float] | np.ndarray,
    previous_errors: Sequence[float] | np.ndarray,
    *,
    settings: WatchSettings | None = None,
) -> WatchDecision:
    """Decide, at this look, whether the new champion's absolute errors are larger than the previous champion's.

    `new_errors` in the order the outcomes arrived (only the first `planned_outcomes` count); missing values
    are left out. Raises ValueError for a negative error (these are absolute errors).
    """
    settings = settings or WatchSettings()
    new = np.asarray(new_errors, dtype=float)
    previous = np.asarray(previous_errors, dtype=float)
    new, previous = new[np.isfinite(new)], previous[np.isfinite(previous)]
    if (new < 0).any() or (previous < 0).any():
        raise ValueError("errors must be absolute (>= 0)")
    is_watch_over = new.size >= settings.planned_outcomes
    new = new[: settings.planned_outcomes]
    fraction = information_fraction(int(new.size), settings.planned_outcomes)
    boundary = one_sided_boundary(fraction, settings.alpha)
    new_mae = float(new.mean()) if new.size else None
    previous_mae = float(previous.mean()) if previous.size else None
    increase = new_mae - previous_mae if new_mae is not None and previous_mae is not None else None

    def decided(is_worse: bool, reason: str, p_value: float | None = None) -> WatchDecision:
        return WatchDecision(
            is_worse=is_worse,
            new_count=int(new.size),
            previous_count=int(previous.size),
            p_value=p_value,
            boundary=boundary,
            new_mae=new_mae,
            previous_mae=previous_mae,
            mae_increase=increase,
            is_watch_over=is_watch_over and not is_worse,
            reasons=(reason,),
            settings=settings,
        )

    if new.size < settings.min_outcomes or previous.size < settings.min_outcomes:
        return decided(
            False,
            f"{new.size} new and {previous.size} previous outcomes, fewer than the minimum of {settings.min_outcomes}",
        )
    p_value = float(stats.mannwhitneyu(new, previous, alternative="greater").pvalue)
    assert increase is not None  # both samples are non-empty here
    if p_value < boundary and increase >= settings.min_effect_minutes:
        return decided(
            True,
            f"significantly worse: MAE +{increase:.2f} min (minimum {settings.min_effect_minutes:g}), "
            f"p={p_value:.3g} below the boundary {boundary:.3g} at this look",
            p_value,
        )
    if p_value < boundary:
        reason = f"significant (p={p_value:.3g}) but MAE {increase:+.2f} min is below the minimum increase"
    else:
        reason = f"p={p_value:.3g} not below the boundary {boundary:.3g} at this look (MAE {increase:+.2f} min)"
    if is_watch_over:
        reason += f"; the watch ended at the planned {settings.planned_outcomes} outcomes"
    return decided(False, reason, p_value)
