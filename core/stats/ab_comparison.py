"""The shadow A/B decision: is the challenger's ETA error smaller than the champion's on the same orders?

While a challenger exists it scores a share of live orders in the shadow; once outcomes arrive both models have
an absolute error on each such order. The pairs are compared with the Wilcoxon signed-rank test (paired, no
normality assumption: ETA errors are skewed with long tails), one-sided "challenger better". The challenger
is declared better only when all of these hold:
  - at least `min_samples` pairs (fewer give too noisy an estimate to act on, whatever the p-value);
  - the one-sided p-value is below the alpha-spending boundary for this look (`sequential`), so looking
    after every batch of outcomes does not inflate false promotions;
  - the Hodges-Lehmann estimate of the per-order improvement is at least `min_effect_minutes`, so a large
    experiment does not promote a model for a difference nobody would notice.
A challenger significantly *worse* (the mirror test against the same boundary) ends the test as not better;
reaching `planned_max_samples` without a promotion ends it as not better.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from core.stats.effect_sizes import hodges_lehmann
from core.stats.sequential import information_fraction, obrien_fleming_alpha_spent, one_sided_boundary
from core.stats.serialise import finite_or_none

ABOutcome = Literal["challenger_better", "not_better", "keep_collecting"]


@dataclass(frozen=True)
class ABTestSettings:
    """The rules of one shadow A/B test, fixed when the challenger is created.

    `planned_max_samples` is the information horizon of the alpha spending: it must be chosen before looking
    (changing it mid-test moves every boundary). Pairs beyond it are ignored, so the decision at the planned
    end is final. `alpha` is the one-sided overall false-promotion rate.
    """

    alpha: float = 0.05
    min_samples: int = 100
    min_effect_minutes: float = 0.5
    planned_max_samples: int = 2000

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.min_samples < 1:
            raise ValueError(f"min_samples must be >= 1, got {self.min_samples}")
        if self.min_effect_minutes < 0.0:
            raise ValueError(f"min_effect_minutes must be >= 0, got {self.min_effect_minutes}")
        if self.planned_max_samples < self.min_samples:
            raise ValueError("planned_max_samples must be >= min_samples")

    def as_dict(self) -> dict[str, Any]:
        """The settings as a JSON-serialisable dict (stored with each decision)."""
        return asdict(self)


@dataclass(frozen=True)
class ABDecision:
    """One look at a shadow A/B test and what it decided.

    `effect_minutes` is the Hodges-Lehmann estimate of champion error minus challenger error per order
    (positive: the challenger is better). `p_value` is one-sided for "challenger better", `p_value_worse`
    one-sided for "challenger worse"; both are compared with `boundary`, the nominal level of this look, and
    `alpha_spent` is the spending function's value at `information_fraction`. `reasons` explain the outcome
    in words for the approval page.
    """

    outcome: ABOutcome
    n: int
    information_fraction: float
    p_value: float | None
    p_value_worse: float | None
    boundary: float
    alpha_spent: float
    effect_minutes: float | None
    min_effect_minutes: float
    champion_mae: float | None
    challenger_mae: float | None
    reasons: tuple[str, ...]
    settings: ABTestSettings

    @property
    def is_challenger_better(self) -> bool:
        return self.outcome == "challenger_better"

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (None for every missing or non-finite number)."""
        return {
            "outcome": self.outcome,
            "n": self.n,
            "information_fraction": self.information_fraction,
            "p_value": finite_or_none(self.p_value),
            "p_value_worse": finite_or_none(self.p_value_worse),
            "boundary": finite_or_none(self.boundary),
            "alpha_spent": finite_or_none(self.alpha_spent),
            "effect_minutes": finite_or_none(self.effect_minutes),
            "min_effect_minutes": self.min_effect_minutes,
            "champion_mae": finite_or_none(self.champion_mae),
            "challenger_mae": finite_or_none(self.challenger_mae),
            "reasons": list(self.reasons),
            "settings": self.settings.as_dict(),
        }


def shadow_ab_decision(
    champion_errors: Sequence[float] | np.ndarray,
    challenger_errors: Sequence[float] | np.ndarray,
    *,
    settings: ABTestSettings | None = None,
) -> ABDecision:
    """Decide, at this look, whether the challenger's absolute errors are smaller than the champion's.

    The two sequences are absolute errors in minutes on the same orders, in the order the outcomes arrived
    (element i of both is one order). Pairs with a missing error on either side are left out; only the
    first `planned_max_samples` complete pairs are used. Raises ValueError for sequences of different length
    or a negative error (these are absolute errors; a signed one means the caller forgot `abs`).
    """
    settings = settings or ABTestSettings()
    champion = np.asarray(champion_errors, dtype=float)
    challenger = np.asarray(challenger_errors, dtype=float)
    if champion.shape != challenger.shape or champion.ndim != 1:
        raise ValueError("champion_errors and challenger_errors must be 1-D and of the same length")
    is_complete = np.isfinite(champion) & np.isfinite(challenger)
    champion, challenger = champion[is_complete], challenger[is_complete]
    if (champion < 0).any() or (challenger < 0).any():
        raise ValueError("errors must be absolute (>= 0)")
    reasons: list[str] = []
    if champion.size > settings.planned_max_samples:
        reasons.append(
            f"the test ended at the planned {settings.planned_max_samples} pairs; "
            f"{champion.size - settings.planned_max_samples} later pairs are ignored"
        )
        champion = champion[: settings.planned_max_samples]
        challenger = challenger[: settings.planned_max_samples]

    sample_size = int(champion.size)
    fraction = information_fraction(sample_size, settings.planned_max_samples)
    boundary = one_sided_boundary(fraction, settings.alpha)
    differences = champion - challenger
    p_better, p_worse = _one_sided_wilcoxon_p_values(differences)
    effect = hodges_lehmann(differences) if sample_size else math.nan
    outcome = _decide(sample_size, p_better, p_worse, effect, boundary, settings, reasons)
    return ABDecision(
        outcome=outcome,
        n=sample_size,
        information_fraction=fraction,
        p_value=p_better,
        p_value_worse=p_worse,
        boundary=boundary,
        alpha_spent=obrien_fleming_alpha_spent(fraction, settings.alpha),
        effect_minutes=effect,
        min_effect_minutes=settings.min_effect_minutes,
        champion_mae=float(champion.mean()) if sample_size else None,
        challenger_mae=float(challenger.mean()) if sample_size else None,
        reasons=tuple(reasons),
        settings=settings,
    )


def _one_sided_wilcoxon_p_values(differences: np.ndarray) -> tuple[float | None, float | None]:
    """One-sided Wilcoxon signed-rank p-values for "differences > 0" and "differences < 0".

    Zero differences (both models equally wrong on an order) carry no information on which is better and are
    dropped, scipy's default `zero_method="wilcox"`. With no non-zero difference there is nothing to test:
    p = 1 both ways. With no pairs at all, there is no p-value (None).
    """
    if differences.size == 0:
        return None, None
    if not np.any(differences != 0.0):
        return 1.0, 1.0
    better = stats.wilcoxon(differences, alternative="greater")
    worse = stats.wilcoxon(differences, alternative="less")
    return float(better.pvalue), float(worse.pvalue)


def _decide(
    sample_size: int,
    p_better: float | None,
    p_worse: float | None,
    effect: float,
    boundary: float,
    settings: ABTestSettings,
    reasons: list[str],
) -> ABOutcome:
    """The decision rule, appending to `reasons` the facts it rests on."""
    if sample_size < settings.min_samples:
        reasons.append(f"{sample_size} paired outcomes, fewer than the minimum of {settings.min_samples}")
        return "keep_collecting"
    assert p_better is not None and p_worse is not None  # sample_size >= min_samples >= 1
    is_significant = p_better < boundary
    is_large_enough = effect >= settings.min_effect_minutes
    if is_significant and is_large_enough:
        reasons.append(
            f"challenger better: one-sided p={p_better:.3g} below the boundary {boundary:.3g} at this look, "
            f"improvement {effect:.2f} min per order (minimum {settings.min_effect_minutes:g})"
        )
        return "challenger_better"
    if p_worse < boundary:
        reasons.append(f"challenger significantly worse: one-sided p={p_worse:.3g} below the boundary {boundary:.3g}")
        return "not_better"
    if is_significant:
        reasons.append(
            f"significant (p={p_better:.3g}) but the improvement {effect:.2f} min is below the minimum "
            f"{settings.min_effect_minutes:g} min"
        )
    else:
        reasons.append(f"one-sided p={p_better:.3g} not below the boundary {boundary:.3g} at this look")
    if sample_size >= settings.planned_max_samples:
        reasons.append(f"reached the planned {settings.planned_max_samples} pairs without showing an improvement")
        return "not_better"
    return "keep_collecting"
