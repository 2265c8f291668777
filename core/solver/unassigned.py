"""Why jobs end up unassigned, decided by explicit checks rather than read off solver internals.

Before solving (``screen_jobs``), each job is tried on its own against every vehicle with the
evaluator's arithmetic: a job no vehicle can carry, or no vehicle can serve inside its window and still
get back by its shift end, is reported and kept out of the model, so the solver spends no time on it.

After solving (``explain_dropped``), a job the solver left out is tried at every position of every route
of the plan and on every unused vehicle. If some insertion is feasible, the solver simply did not get
there in time (``TIME_LIMIT``); otherwise the fleet is out of room or time (``INSUFFICIENT_FLEET``).
"""

from __future__ import annotations

from collections.abc import Sequence

from core.solver.evaluator import Evaluation, evaluate_route
from core.solver.problem import Problem, Vehicle
from core.solver.result import UnassignedJob, UnassignedReason


def screen_jobs(problem: Problem) -> tuple[list[int], list[UnassignedJob]]:
    """Split jobs into positions worth routing and those that no vehicle can serve even alone."""
    routable: list[int] = []
    rejected: list[UnassignedJob] = []
    largest = max((vehicle.capacity for vehicle in problem.vehicles), default=0)
    # Vehicles alike in everything the check reads give the same answer: try one of each kind.
    kinds = {(v.capacity, v.start_depot, v.return_depot, v.shift, v.max_route_duration): v for v in problem.vehicles}
    for position, job in enumerate(problem.jobs):
        if job.demand > largest:
            rejected.append(
                UnassignedJob(
                    job.id,
                    UnassignedReason.DEMAND_EXCEEDS_CAPACITY,
                    f"demand {job.demand} exceeds the largest vehicle capacity {largest}",
                )
            )
            continue
        problems = [
            evaluate_route(problem, vehicle, [(position, job)]).violations
            for vehicle in kinds.values()
            if vehicle.capacity >= job.demand
        ]
        if any(not violations for violations in problems):
            routable.append(position)
            continue
        # Report the first vehicle's specific obstacle; they are usually all alike.
        rejected.append(
            UnassignedJob(
                job.id,
                UnassignedReason.TIME_WINDOW_UNREACHABLE,
                "no vehicle can serve it within its time window and shift, even with no other stop "
                f"(e.g. {problems[0][0]})",
            )
        )
    return routable, rejected


def explain_dropped(problem: Problem, evaluation: Evaluation, dropped: Sequence[int]) -> list[UnassignedJob]:
    """Reason for each job position in ``dropped`` that the solver left out of the evaluated plan."""
    positions = {job.id: position for position, job in enumerate(problem.jobs)}
    vehicles = {vehicle.id: vehicle for vehicle in problem.vehicles}
    used = {route.vehicle_id for route in evaluation.routes if route.stops}
    explained = []
    for position in dropped:
        job = problem.jobs[position]
        if _fits_somewhere(problem, evaluation, position, positions, vehicles, used):
            explained.append(
                UnassignedJob(
                    job.id,
                    UnassignedReason.TIME_LIMIT,
                    "a feasible place for it exists, but the solver did not find it within the time limit",
                )
            )
        else:
            explained.append(
                UnassignedJob(
                    job.id,
                    UnassignedReason.INSUFFICIENT_FLEET,
                    "it fits a vehicle alone, but every vehicle is full or out of time with the other jobs",
                )
            )
    return explained


def _fits_somewhere(
    problem: Problem,
    evaluation: Evaluation,
    position: int,
    positions: dict[str, int],
    vehicles: dict[str, Vehicle],
    used: set[str],
) -> bool:
    job = problem.jobs[position]
    for vehicle in problem.vehicles:
        if vehicle.id not in used and not evaluate_route(problem, vehicle, [(position, job)]).violations:
            return True
    for route in evaluation.routes:
        if not route.stops:
            continue
        vehicle = vehicles[route.vehicle_id]
        if route.load + job.demand > vehicle.capacity:
            continue
        current = [(positions[stop.job_id], problem.jobs[positions[stop.job_id]]) for stop in route.stops]
        for index in range(len(current) + 1):
            candidate = [*current[:index], (position, job), *current[index:]]
            if not evaluate_route(problem, vehicle, candidate).violations:
                return True
    return False
