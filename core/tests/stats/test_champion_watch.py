"""The post-promotion watch's rule on arrays: one-sided Mann-Whitney, minimum sample and effect, alpha spending."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from core.stats.champion_watch import WatchSettings, champion_worse_decision
from core.stats.sequential import one_sided_boundary


def absolute_errors(rng: np.random.Generator, size: int, scale: float = 2.0) -> np.ndarray:
    return rng.gamma(2.0, scale, size=size)


def test_a_clearly_worse_champion_is_called_worse_with_scipys_p_value() -> None:
    rng = np.random.default_rng(1)
    previous, new = absolute_errors(rng, 1000), absolute_errors(rng, 200, scale=3.0)
    settings = WatchSettings(planned_outcomes=500)

    decision = champion_worse_decision(new, previous, settings=settings)

    assert decision.is_worse
    assert decision.p_value == pytest.approx(stats.mannwhitneyu(new, previous, alternative="greater").pvalue)
    assert decision.boundary == pytest.approx(one_sided_boundary(200 / 500, 0.05))
    assert decision.mae_increase == pytest.approx(new.mean() - previous.mean())
    assert "significantly worse" in decision.summary and not decision.is_watch_over
    json.dumps(decision.as_dict(), allow_nan=False)


def test_an_equally_good_or_better_champion_is_not_worse() -> None:
    rng = np.random.default_rng(2)
    previous = absolute_errors(rng, 1000)
    assert not champion_worse_decision(absolute_errors(rng, 300), previous).is_worse
    assert not champion_worse_decision(absolute_errors(rng, 300, scale=1.5), previous).is_worse


def test_below_the_minimum_sample_nothing_is_decided_however_bad_it_looks() -> None:
    decision = champion_worse_decision(np.full(50, 20.0), np.full(500, 2.0), settings=WatchSettings(min_outcomes=100))
    assert not decision.is_worse and decision.p_value is None
    assert "fewer than the minimum of 100" in decision.reasons[0]


def test_a_significant_but_negligible_increase_is_not_worse() -> None:
    rng = np.random.default_rng(3)
    previous = absolute_errors(rng, 20_000)
    new = absolute_errors(rng, 2000) + 0.4  # a real shift, below the 0.5-minute minimum
    decision = champion_worse_decision(new, previous, settings=WatchSettings(planned_outcomes=2000))
    assert not decision.is_worse
    assert decision.p_value < decision.boundary and "below the minimum increase" in decision.reasons[0]
    assert decision.is_watch_over


def test_looking_after_every_batch_keeps_false_rollbacks_near_alpha() -> None:
    # 400 watches of an equally good champion, each looked at every 50 outcomes up to the planned 500.
    settings = WatchSettings(alpha=0.05, min_outcomes=50, min_effect_minutes=0.0, planned_outcomes=500)
    rng = np.random.default_rng(4)
    false_rollbacks = 0
    for _ in range(400):
        previous, new = absolute_errors(rng, 1000), absolute_errors(rng, 500)
        false_rollbacks += any(
            champion_worse_decision(new[:n], previous, settings=settings).is_worse for n in range(50, 501, 50)
        )
    assert false_rollbacks / 400 <= 0.05 + 0.03  # alpha plus binomial slack


def test_negative_errors_are_refused() -> None:
    with pytest.raises(ValueError, match="absolute"):
        champion_worse_decision([-1.0], [1.0])
