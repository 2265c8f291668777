"""Plan workflows: solving is idempotent, failures end as FAILED plans, travel times come from one seam."""

from __future__ import annotations

import dataclasses

import pytest

from routing import services
from routing.choices import RoutePlanStatus
from routing.models import RoutePlan
from routing.services import route_plan_create, route_plan_solve, route_problem_build
from routing.tasks import route_plan_solve_task
from routing.tests.factories import RoutePlanFactory, problem_payload
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def test_solving_a_finished_plan_again_changes_nothing() -> None:
    plan = route_plan_solve(plan_id=RoutePlanFactory().pk)
    assert plan.status == RoutePlanStatus.SOLVED
    before = RoutePlan.objects.values().get(pk=plan.pk)

    assert route_plan_solve_task(plan.pk) == RoutePlanStatus.SOLVED

    assert RoutePlan.objects.values().get(pk=plan.pk) == before


def test_a_solver_exception_ends_as_a_failed_plan(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("backend crashed")

    monkeypatch.setattr(services, "solve", broken)

    plan = route_plan_solve(plan_id=RoutePlanFactory().pk)

    assert (plan.status, plan.error, plan.result) == (RoutePlanStatus.FAILED, "backend crashed", None)
    assert plan.finished_at is not None


def test_a_plan_the_evaluator_rejects_is_failed_not_solved(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    real_solve = services.solve

    def overloading(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        return dataclasses.replace(
            real_solve(*args, **kwargs), is_feasible=False, violations=["vehicle V1: load 11 exceeds capacity 10"]
        )

    monkeypatch.setattr(services, "solve", overloading)

    plan = route_plan_solve(plan_id=RoutePlanFactory().pk)

    assert plan.status == RoutePlanStatus.FAILED
    assert plan.error.endswith("vehicle V1: load 11 exceeds capacity 10")
    assert plan.result["violations"] == ["vehicle V1: load 11 exceeds capacity 10"]


def test_request_wide_max_route_duration_applies_to_vehicles_without_their_own() -> None:
    payload = problem_payload(vehicles=2, max_route_duration=90.0)
    payload["vehicles"][1]["max_route_duration"] = 45.0

    problem = route_problem_build(tenant=TenantFactory(), request=payload)

    assert [v.max_route_duration for v in problem.vehicles] == [90.0, 45.0]
    assert problem.travel.source == "haversine@30kmh"


def test_large_problems_are_queued_and_run_once_committed(django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    payload = problem_payload(jobs=2, time_limit_seconds=11.0)  # above the inline time limit

    with django_capture_on_commit_callbacks() as callbacks:
        plan = route_plan_create(tenant=TenantFactory(), request=payload)

    # Nothing was solved before the commit; the queued task is the only callback.
    assert (plan.status, plan.is_async, len(callbacks)) == (RoutePlanStatus.QUEUED, True, 1)
