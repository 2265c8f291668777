"""Route planning workflows: accept a tenant's problem, solve it (inline or on a worker), store the plan.

The solving itself is `core.solver` (plain Python); this module decides where travel times come from,
when a problem is too big to solve inside the request, and keeps the plan's status honest whatever the
solver does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from core.solver import (
    HaversineTravelTimes,
    Point,
    Problem,
    Solution,
    SpeedProfile,
    TravelTimeProvider,
    load_instance,
    problem_from_dict,
    solve,
)
from core.solver.engine import Backend
from intellilog.dispatch import task_enqueue_on_commit
from registry.loader import model_version_load
from registry.selectors import eta_champion
from routing.choices import RoutePlanStatus, TravelTimeSource
from routing.constants import DEFAULT_SPEED_KMH, SYNC_MAX_JOBS, SYNC_MAX_TIME_LIMIT_SECONDS, USER_MATRIX_SOURCE
from routing.eta_travel import EtaModelTravelTimes
from routing.models import RoutePlan
from tenants.models import Tenant

logger = logging.getLogger(__name__)

# Benchmark-only fields of `Solution.as_dict()`: always empty for a tenant's problem.
_BENCHMARK_ONLY_KEYS = ("problem_name", "best_known_distance", "gap_percent")


@dataclass(frozen=True)
class MatrixTravelTimes:
    """A travel-time provider that returns a caller-supplied duration matrix (minutes) as it is."""

    minutes: np.ndarray
    name: str = USER_MATRIX_SOURCE

    def __call__(self, points: Sequence[Point], departure_bucket: int | None) -> np.ndarray:
        return self.minutes


def route_travel_time_provider(*, tenant: Tenant, request: Mapping[str, Any]) -> TravelTimeProvider:
    """Where a plan's travel times come from: the caller's matrix, the tenant's ETA model, or haversine.

    With `travel_times` "auto" (the default) the tenant's champion ETA model is used when it has one, the
    same model that answers ETA requests; the solver records the provider's `name` as `travel_source`.
    (The API refuses "eta_model" for a tenant without a champion, naming the field.)
    """
    if request.get("duration_matrix") is not None:
        return MatrixTravelTimes(np.asarray(request["duration_matrix"], dtype=float))
    source = request.get("travel_times", TravelTimeSource.AUTO)
    if source != TravelTimeSource.HAVERSINE:
        champion = eta_champion(tenant=tenant)
        if champion is not None:
            return EtaModelTravelTimes(
                model_version_load(version=champion),
                label=str(champion),
                speed_kmh=float(request.get("speed_kmh", DEFAULT_SPEED_KMH)),
                traffic=request.get("traffic_condition"),
                weather=request.get("weather_condition"),
            )
    return HaversineTravelTimes(SpeedProfile(default_kmh=float(request.get("speed_kmh", DEFAULT_SPEED_KMH))))


def _departure_hour(request: Mapping[str, Any]) -> int | None:
    """The hour the plan's day starts: the earliest vehicle shift start (minutes from the day's origin)."""
    starts = [vehicle["shift"]["start"] for vehicle in request["vehicles"] if vehicle.get("shift")]
    return int(min(starts) // 60) if starts else None


def route_problem_build(*, tenant: Tenant, request: Mapping[str, Any]) -> Problem:
    """The solver's Problem for a validated API request (see `routing.api.serializers`).

    A request-wide `max_route_duration` applies to every vehicle that does not set its own.
    """
    default_duration = request.get("max_route_duration")
    vehicles = [
        {**vehicle, "max_route_duration": default_duration} if vehicle.get("max_route_duration") is None else vehicle
        for vehicle in request["vehicles"]
    ]
    provider = route_travel_time_provider(tenant=tenant, request=request)
    return problem_from_dict(
        {**request, "vehicles": vehicles},
        travel_provider=provider,
        # Only the ETA model's times depend on the hour; other sources stay unlabelled by it.
        departure_bucket=_departure_hour(request) if isinstance(provider, EtaModelTravelTimes) else None,
    )


def route_plan_is_async(*, job_count: int, time_limit_seconds: float) -> bool:
    """Whether a problem of this size is solved by a Celery worker (see `routing.constants`)."""
    return job_count > SYNC_MAX_JOBS or time_limit_seconds > SYNC_MAX_TIME_LIMIT_SECONDS


def route_plan_create(*, tenant: Tenant, request: Mapping[str, Any]) -> RoutePlan:
    """Store a tenant's validated routing problem and solve it.

    Small problems are solved before returning (the plan comes back solved or failed); larger ones are
    queued to `routing.tasks.route_plan_solve_task` once the row is committed and come back queued.
    """
    time_limit = float(request["time_limit_seconds"])
    is_async = route_plan_is_async(job_count=len(request["jobs"]), time_limit_seconds=time_limit)
    with transaction.atomic():
        plan = RoutePlan.objects.create(
            tenant=tenant,
            request=dict(request),
            job_count=len(request["jobs"]),
            vehicle_count=len(request["vehicles"]),
            time_limit_seconds=time_limit,
            is_async=is_async,
        )
        if is_async:
            # robust: a broker that is down must not turn an accepted request into a 500; the plan stays
            # queued and visible, and the task can be sent again for its id.
            task_enqueue_on_commit("routing.tasks.route_plan_solve_task", plan.pk)
    if is_async:
        plan.refresh_from_db()  # without a broker the task ran inline at commit and the plan is finished
        return plan
    return route_plan_solve(plan_id=plan.pk)


def route_plan_solve(*, plan_id: int) -> RoutePlan:
    """Solve a stored plan and record the result; running it again for a finished plan changes nothing.

    Whatever the solver raises ends as a FAILED plan with the error, never as a plan stuck in SOLVING;
    so does a plan the independent evaluator finds infeasible (its result is kept for diagnosis). Jobs
    that cannot be served are not a failure: they are listed in the result with their reasons. If two
    runs overlap (a redelivered task), the first to finish is kept.
    """
    with transaction.atomic():
        plan = RoutePlan.objects.select_for_update().select_related("tenant").get(pk=plan_id)
        if plan.is_finished:
            return plan
        plan.status = RoutePlanStatus.SOLVING
        plan.started_at = timezone.now()
        plan.save(update_fields=["status", "started_at"])
    try:
        problem = route_problem_build(tenant=plan.tenant, request=plan.request)
        solution = solve(problem, time_limit=plan.time_limit_seconds)
    except Exception as exc:  # any failure inside the solver must still finish the plan
        logger.exception("route plan %s failed to solve", plan_id)
        return _route_plan_finish(plan_id, status=RoutePlanStatus.FAILED, error=str(exc) or type(exc).__name__)
    result = solution.as_dict()
    for key in _BENCHMARK_ONLY_KEYS:
        result.pop(key)
    if not solution.is_feasible:
        # A plan that breaks a rule (overloaded, late on a hard window) must not be dispatched: it is kept
        # for diagnosis, but the plan is FAILED, not SOLVED.
        error = "the solver returned a plan that the evaluator rejects: " + "; ".join(solution.violations)
        return _route_plan_finish(plan_id, status=RoutePlanStatus.FAILED, result=result, error=error)
    return _route_plan_finish(plan_id, status=RoutePlanStatus.SOLVED, result=result)


def _route_plan_finish(
    plan_id: int, *, status: RoutePlanStatus, result: dict[str, Any] | None = None, error: str = ""
) -> RoutePlan:
    with transaction.atomic():
        plan = RoutePlan.objects.select_for_update().get(pk=plan_id)
        if plan.is_finished:
            return plan
        plan.status = status
        plan.result = result
        plan.error = error
        plan.finished_at = timezone.now()
        plan.save(update_fields=["status", "result", "error", "finished_at"])
    return plan


def vrp_instance_solve(*, path: Path, time_limit: float, backend: Backend = "auto") -> Solution:
    """Solve a Solomon (`.txt`) or VRPLIB CVRP (`.vrp`) benchmark file in the benchmark's distance convention.

    Raises OSError or ValueError (or the VRPLIB reader's own errors) when the file cannot be read.
    """
    return solve(load_instance(path), time_limit=time_limit, backend=backend)
