from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from scipy import stats

from core.stats import ABTestSettings, shadow_ab_decision
from core.stats.effect_sizes import hodges_lehmann
from core.tests.stats.synthetic import binomial_upper_bound

LOOKS = 10
PLANNED = 500


def _paired_errors(rng: np.random.Generator, orders: int, improvement: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Absolute errors of two models on the same orders: a shared per-order difficulty (some orders are hard
    for any model) plus each model's own noise; the challenger's error is `improvement` times smaller."""
    difficulty = rng.gamma(2.0, 3.0, size=orders)
    champion = np.abs(difficulty + rng.normal(0.0, 3.0, size=orders))
    challenger = np.abs(difficulty * (1.0 - improvement) + rng.normal(0.0, 3.0, size=orders))
    return champion, challenger


def test_peeking_ten_times_keeps_false_promotions_at_alpha_while_naive_peeking_does_not() -> None:
    # Given 300 experiments where both models are equally good, looked at after every 50 outcomes up to 500:
    trials = 300
    settings = ABTestSettings(alpha=0.05, min_samples=50, min_effect_minutes=0.0, planned_max_samples=PLANNED)
    sequential_false = naive_false = 0
    for seed in range(trials):
        champion, challenger = _paired_errors(np.random.default_rng(seed), PLANNED)
        looks = [PLANNED * (look + 1) // LOOKS for look in range(LOOKS)]
        # ... the spending boundary promotes the challenger in at most alpha of them (plus binomial slack) ...
        for n in looks:
            decision = shadow_ab_decision(champion[:n], challenger[:n], settings=settings)
            if decision.outcome != "keep_collecting":
                sequential_false += decision.is_challenger_better
                break
        # ... while testing at p < 0.05 at every look promotes far more often: each look is another chance.
        naive_false += any(
            stats.wilcoxon(champion[:n] - challenger[:n], alternative="greater").pvalue < 0.05 for n in looks
        )

    upper = binomial_upper_bound(trials, settings.alpha)
    assert sequential_false / trials <= upper
    assert naive_false / trials > upper


def test_a_real_improvement_is_declared_better_before_the_planned_end() -> None:
    champion, challenger = _paired_errors(np.random.default_rng(100), 2000, improvement=0.2)
    settings = ABTestSettings(min_samples=100, min_effect_minutes=0.5, planned_max_samples=2000)

    decisions = [shadow_ab_decision(champion[:n], challenger[:n], settings=settings) for n in range(200, 2001, 200)]
    first_final = next(decision for decision in decisions if decision.outcome != "keep_collecting")

    assert first_final.outcome == "challenger_better"
    assert first_final.n < 2000
    assert first_final.p_value < first_final.boundary
    assert first_final.effect_minutes >= 0.5
    assert first_final.effect_minutes == pytest.approx(
        hodges_lehmann(champion[: first_final.n] - challenger[: first_final.n])
    )
    assert first_final.challenger_mae < first_final.champion_mae
    assert "challenger better" in first_final.reasons[-1]


def test_below_the_minimum_sample_it_keeps_collecting_however_good_the_challenger_looks() -> None:
    champion, challenger = np.full(30, 10.0), np.full(30, 1.0)

    decision = shadow_ab_decision(champion, challenger, settings=ABTestSettings(min_samples=100))

    assert decision.outcome == "keep_collecting"
    assert decision.n == 30
    assert decision.reasons == ("30 paired outcomes, fewer than the minimum of 100",)


def test_a_significant_but_negligible_improvement_is_not_a_promotion() -> None:
    # 0.1 minute better on every one of 2,000 orders: certain, and too small to act on.
    rng = np.random.default_rng(101)
    champion = rng.gamma(2.0, 4.0, size=2000) + 0.1
    challenger = np.maximum(champion - 0.1 + rng.normal(0, 0.05, size=2000), 0.0)
    settings = ABTestSettings(min_samples=100, min_effect_minutes=0.5, planned_max_samples=2000)

    decision = shadow_ab_decision(champion, challenger, settings=settings)

    assert decision.p_value < decision.boundary
    assert decision.effect_minutes == pytest.approx(0.1, abs=0.02)
    assert decision.outcome == "not_better"  # the planned end is reached without a large enough improvement
    assert "below the minimum" in decision.reasons[0]
    early = shadow_ab_decision(champion[:1000], challenger[:1000], settings=settings)
    assert early.outcome == "keep_collecting"


def test_a_significantly_worse_challenger_ends_the_test_early() -> None:
    champion, challenger = _paired_errors(np.random.default_rng(102), 1000, improvement=-0.3)

    decision = shadow_ab_decision(champion, challenger, settings=ABTestSettings(planned_max_samples=2000))

    assert decision.outcome == "not_better"
    assert decision.p_value_worse < decision.boundary
    assert "significantly worse" in decision.reasons[0]


def test_pairs_after_the_planned_end_and_incomplete_pairs_are_ignored() -> None:
    champion, challenger = _paired_errors(np.random.default_rng(103), 600)
    champion_with_gaps = np.r_[np.nan, champion]
    challenger_with_gaps = np.r_[5.0, challenger]
    settings = ABTestSettings(min_samples=100, planned_max_samples=500)

    decision = shadow_ab_decision(champion_with_gaps, challenger_with_gaps, settings=settings)

    assert decision.n == 500
    assert decision.information_fraction == 1.0
    truncated = shadow_ab_decision(champion[:500], challenger[:500], settings=settings)
    assert (decision.p_value, decision.effect_minutes, decision.outcome) == (
        truncated.p_value,
        truncated.effect_minutes,
        truncated.outcome,
    )
    assert "100 later pairs are ignored" in decision.reasons[0]


def test_identical_models_have_p_value_one() -> None:
    errors = np.linspace(0.0, 20.0, 200)

    decision = shadow_ab_decision(errors, errors.copy(), settings=ABTestSettings(planned_max_samples=200))

    assert (decision.p_value, decision.p_value_worse, decision.effect_minutes) == (1.0, 1.0, 0.0)
    assert decision.outcome == "not_better"


def test_as_dict_is_strict_json_even_without_pairs() -> None:
    empty = shadow_ab_decision([], [])
    assert json.loads(json.dumps(empty.as_dict(), allow_nan=False))["p_value"] is None

    champion, challenger = _paired_errors(np.random.default_rng(104), 300)
    encoded = json.loads(json.dumps(shadow_ab_decision(champion, challenger).as_dict(), allow_nan=False))
    assert encoded["settings"] == ABTestSettings().as_dict()
    assert encoded["outcome"] == "keep_collecting"


@pytest.mark.parametrize(
    ("champion", "challenger", "message"),
    [([1.0, 2.0], [1.0], "same length"), ([1.0, -2.0], [1.0, 2.0], "absolute")],
)
def test_bad_inputs_are_rejected(champion: list[float], challenger: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        shadow_ab_decision(champion, challenger)


@pytest.mark.parametrize(
    "bad", [{"alpha": 1.0}, {"min_samples": 0}, {"min_effect_minutes": -1.0}, {"planned_max_samples": 10}]
)
def test_settings_reject_values_that_make_no_sense(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ABTestSettings(**bad)
