"""The A/B evaluation: paired errors of champion and challenger, one recorded look per run with new outcomes."""

from __future__ import annotations

import numpy as np
import pytest

from predictions.shadow import shadow_evaluation_run, shadow_paired_errors
from predictions.tasks import shadow_evaluate_all_tenants_task
from predictions.tests.factories import paired_orders, served_with_outcomes
from registry.choices import ShadowOutcome
from registry.models import ShadowEvaluation
from registry.services import challenger_set, promotion_request_approve, promotion_request_create
from registry.tests.factories import ModelVersionFactory, UserFactory, approver

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair():  # type: ignore[no-untyped-def]
    """A tenant's champion and challenger versions (no artifacts needed: the errors are written directly)."""
    champion = ModelVersionFactory()
    request = promotion_request_create(version=champion, user=UserFactory(), reason="first")
    promotion_request_approve(request=request, user=approver(), comment="ok")
    challenger = ModelVersionFactory(registered_model=champion.registered_model)
    challenger_set(version=challenger, actor="test", reason="retrained")
    return champion, challenger


def errors(seed: int, size: int, scale: float) -> np.ndarray:
    """Skewed absolute errors like ETA errors: mostly a few minutes, a long tail."""
    return np.round(np.random.default_rng(seed).gamma(2.0, scale, size=size), 2)


def test_paired_errors_judge_both_models_against_the_same_actual_time(pair) -> None:  # type: ignore[no-untyped-def]
    champion, challenger = pair
    paired_orders(
        champion=champion, challenger=challenger, champion_errors=[4.0, 6.0, 2.0], challenger_errors=[1, 2, 3]
    )
    # Served by the champion but not shadow-scored: no pair.
    served_with_outcomes(version=champion, errors=[9.0])

    pairs = shadow_paired_errors(champion=champion, challenger=challenger)

    assert pairs.champion.tolist() == [4.0, 6.0, 2.0]
    assert pairs.challenger.tolist() == [1.0, 2.0, 3.0]


def test_a_clearly_better_challenger_is_found_significantly_better(pair, settings) -> None:  # type: ignore[no-untyped-def]
    champion, challenger = pair
    settings.AB_MIN_PAIRS, settings.AB_PLANNED_MAX_PAIRS, settings.AB_MIN_EFFECT_MINUTES = 100, 400, 0.5
    champion_errors = errors(1, 300, 2.5)
    paired_orders(
        champion=champion,
        challenger=challenger,
        champion_errors=champion_errors,
        challenger_errors=np.round(champion_errors * 0.5 + errors(2, 300, 0.3), 2),
    )

    evaluation = shadow_evaluation_run(tenant=champion.tenant)

    assert evaluation is not None and evaluation.outcome == ShadowOutcome.CHALLENGER_BETTER
    assert (evaluation.look, evaluation.pairs, evaluation.champion, evaluation.challenger) == (
        1,
        300,
        champion,
        challenger,
    )
    assert evaluation.p_value < evaluation.boundary and evaluation.effect_minutes >= 0.5
    assert evaluation.challenger_mae < evaluation.champion_mae
    assert evaluation.summary.startswith("challenger significantly better (p=")
    assert evaluation.decision["settings"]["planned_max_samples"] == 400


def test_equally_good_models_are_not_found_better(pair, settings) -> None:  # type: ignore[no-untyped-def]
    champion, challenger = pair
    settings.AB_MIN_PAIRS, settings.AB_PLANNED_MAX_PAIRS = 100, 2000
    paired_orders(
        champion=champion,
        challenger=challenger,
        champion_errors=errors(3, 300, 2.5),
        challenger_errors=errors(4, 300, 2.5),
    )

    evaluation = shadow_evaluation_run(tenant=champion.tenant)

    assert evaluation is not None and evaluation.outcome == ShadowOutcome.KEEP_COLLECTING
    assert not evaluation.is_significant
    assert evaluation.summary.startswith("no significant evidence (")


def test_each_run_with_new_outcomes_is_one_more_look_and_a_run_without_is_none(pair, settings) -> None:  # type: ignore[no-untyped-def]
    champion, challenger = pair
    settings.AB_MIN_PAIRS, settings.AB_PLANNED_MAX_PAIRS = 50, 1000
    paired_orders(
        champion=champion,
        challenger=challenger,
        champion_errors=errors(5, 30, 2.5),
        challenger_errors=errors(6, 30, 2.5),
    )
    first = shadow_evaluation_run(tenant=champion.tenant)
    again = shadow_evaluation_run(tenant=champion.tenant)
    # The settings of a test are those of its first look: changing them mid-test must not move the boundaries.
    settings.AB_PLANNED_MAX_PAIRS = 100
    paired_orders(
        champion=champion,
        challenger=challenger,
        champion_errors=errors(7, 30, 2.5),
        challenger_errors=errors(8, 30, 2.5),
    )
    second = shadow_evaluation_run(tenant=champion.tenant)

    assert first.outcome == ShadowOutcome.KEEP_COLLECTING and first.pairs == 30
    assert again.pk == first.pk
    assert (second.look, second.pairs) == (2, 60)
    assert second.decision["settings"]["planned_max_samples"] == 1000
    assert ShadowEvaluation.objects.count() == 2


def test_the_test_stops_at_its_decision(pair, settings) -> None:  # type: ignore[no-untyped-def]
    champion, challenger = pair
    settings.AB_MIN_PAIRS, settings.AB_PLANNED_MAX_PAIRS = 100, 400
    better = errors(9, 300, 2.5)
    paired_orders(champion=champion, challenger=challenger, champion_errors=better, challenger_errors=better * 0.4)
    decided = shadow_evaluation_run(tenant=champion.tenant)
    paired_orders(
        champion=champion,
        challenger=challenger,
        champion_errors=errors(10, 50, 1.0),
        challenger_errors=errors(11, 50, 5),
    )

    assert shadow_evaluation_run(tenant=champion.tenant).pk == decided.pk
    assert decided.outcome == ShadowOutcome.CHALLENGER_BETTER


def test_nothing_is_evaluated_without_a_challenger_and_the_beat_task_covers_tenants_with_one(pair) -> None:  # type: ignore[no-untyped-def]
    champion, challenger = pair
    alone = ModelVersionFactory()
    promotion_request_create(version=alone, user=UserFactory(), reason="first")
    paired_orders(champion=champion, challenger=challenger, champion_errors=[3.0], challenger_errors=[2.0])

    assert shadow_evaluation_run(tenant=alone.tenant) is None
    assert shadow_evaluate_all_tenants_task() == [champion.tenant_id]
    assert ShadowEvaluation.objects.get().pairs == 1
