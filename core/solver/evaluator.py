"""Independent check of a plan against its Problem.

Written apart from the model builders on purpose: it never looks at solver data or the integer scaling,
only at the Problem (float minutes, demands, windows, the distance matrix in the benchmark convention)
and the routes as job ids in visiting order. If a backend models something wrongly, this is where it
shows. Every solution ``solve`` returns has been through ``evaluate``.

Schedule rules:
* a vehicle leaves its start depot no earlier than its shift start and must be back at its end depot by
  the shift end;
* service starts at arrival or, if earlier, at the next window start (waiting); with several windows
  the earliest window still open is used; after the last window's end the stop is late: a violation for
  a hard window, a lateness cost for a soft one;
* the departure from the depot is delayed as far as possible without moving the return time or making
  any stop later (forward time slack), so the reported duration is the shortest for that sequence; that
  duration must not exceed the vehicle's maximum route duration;
* load: deliveries, so the vehicle leaves the depot carrying its route's total demand, which must fit
  its capacity;
* each job at most once, each vehicle at most one route.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from core.solver.problem import Job, Problem, Vehicle

TOLERANCE = 1e-6
"""Float slack for comparisons (minutes / units), far below any rounding the solvers use."""


@dataclass(frozen=True)
class PlannedRoute:
    """A vehicle and the job ids it serves in order (the depot is implicit at both ends)."""

    vehicle_id: str
    job_ids: tuple[str, ...]


@dataclass(frozen=True)
class StopTimes:
    """When a stop is reached, served and left, and the load on board when leaving."""

    job_id: str
    arrival: float
    service_start: float
    departure: float
    load_after: int
    lateness: float


@dataclass(frozen=True)
class RouteEvaluation:
    """Schedule and totals of one route, with any rule it breaks."""

    vehicle_id: str
    stops: tuple[StopTimes, ...]
    start_time: float
    end_time: float
    distance: float
    load: int
    lateness_cost: float
    violations: tuple[str, ...]

    @property
    def duration(self) -> float:
        """Return time minus departure time, waiting included."""
        return self.end_time - self.start_time


@dataclass(frozen=True)
class Evaluation:
    """Result of checking a whole plan."""

    routes: tuple[RouteEvaluation, ...]
    violations: tuple[str, ...]
    total_distance: float
    total_duration: float
    total_lateness: float
    lateness_cost: float
    served_job_ids: frozenset[str]

    @property
    def is_feasible(self) -> bool:
        """True when no rule is broken."""
        return not self.violations

    @property
    def vehicles_used(self) -> int:
        """Routes with at least one stop."""
        return sum(1 for route in self.routes if route.stops)


def _service_start(job: Job, arrival: float) -> tuple[float, float, float]:
    """(service start, lateness, slack to the end of the window used) for a stop reached at ``arrival``."""
    if not job.time_windows:
        return arrival, 0.0, math.inf
    for window in job.time_windows:
        if arrival <= window.end + TOLERANCE:
            start = max(arrival, window.start)
            return start, 0.0, window.end - start
    return arrival, arrival - job.time_windows[-1].end, 0.0


def _forward_pass(
    problem: Problem, vehicle: Vehicle, jobs: Sequence[tuple[int, Job]], departure: float
) -> tuple[list[tuple[float, float, float, float]], float, float]:
    """Per stop (arrival, start, lateness, window slack); the return time; and the forward time slack."""
    node = problem.depot_node(vehicle.start_depot)
    time = departure
    waited = 0.0
    slack = math.inf
    timeline = []
    for position, job in jobs:
        job_node = problem.job_node(position)
        arrival = time + float(problem.travel.duration[node, job_node])
        start, lateness, window_slack = _service_start(job, arrival)
        waited += start - arrival
        # Leaving the depot later by d moves this stop by max(0, d - waiting so far): it must stay inside
        # its window, and a stop that is already late must not get later.
        slack = min(slack, waited + max(window_slack, 0.0))
        timeline.append((arrival, start, lateness, window_slack))
        time = start + job.service_minutes
        node = job_node
    end = time + float(problem.travel.duration[node, problem.depot_node(vehicle.return_depot)])
    return timeline, end, min(slack, waited)


def evaluate_route(problem: Problem, vehicle: Vehicle, jobs: Sequence[tuple[int, Job]]) -> RouteEvaluation:
    """Schedule ``jobs`` (pairs of position in ``problem.jobs`` and job) on ``vehicle`` and list violations."""
    violations: list[str] = []
    load = sum(job.demand for _, job in jobs)
    if load > vehicle.capacity:
        violations.append(f"vehicle {vehicle.id}: load {load} exceeds capacity {vehicle.capacity}")
    if not jobs:
        return RouteEvaluation(vehicle.id, (), vehicle.shift.start, vehicle.shift.start, 0.0, 0, 0.0, ())

    _, _, slack = _forward_pass(problem, vehicle, jobs, vehicle.shift.start)
    departure = vehicle.shift.start + max(slack, 0.0)
    timeline, end, _ = _forward_pass(problem, vehicle, jobs, departure)

    stops = []
    on_board = load
    lateness_cost = 0.0
    for (_, job), (arrival, start, lateness, _) in zip(jobs, timeline, strict=True):
        on_board -= job.demand
        if lateness > TOLERANCE:
            if job.has_soft_window:
                lateness_cost += lateness * (job.lateness_cost_per_minute or 0.0)
            else:
                violations.append(f"job {job.id}: service starts at {start:.2f}, after its window closes")
        stops.append(StopTimes(job.id, arrival, start, start + job.service_minutes, on_board, max(lateness, 0.0)))

    if end > vehicle.shift.end + TOLERANCE:
        violations.append(f"vehicle {vehicle.id}: returns at {end:.2f}, after its shift ends at {vehicle.shift.end}")
    duration = end - departure
    if vehicle.max_route_duration is not None and duration > vehicle.max_route_duration + TOLERANCE:
        violations.append(
            f"vehicle {vehicle.id}: route takes {duration:.2f}, more than its maximum {vehicle.max_route_duration}"
        )

    nodes = (
        [problem.depot_node(vehicle.start_depot)]
        + [problem.job_node(position) for position, _ in jobs]
        + [problem.depot_node(vehicle.return_depot)]
    )
    distance = math.fsum(float(problem.travel.distance[a, b]) for a, b in itertools.pairwise(nodes))
    return RouteEvaluation(
        vehicle_id=vehicle.id,
        stops=tuple(stops),
        start_time=departure,
        end_time=end,
        distance=distance,
        load=load,
        lateness_cost=lateness_cost,
        violations=tuple(violations),
    )


def evaluate(problem: Problem, routes: Sequence[PlannedRoute]) -> Evaluation:
    """Check a whole plan: every route's rules, each vehicle used once, each job served at most once."""
    vehicles = {vehicle.id: vehicle for vehicle in problem.vehicles}
    job_positions = {job.id: position for position, job in enumerate(problem.jobs)}
    violations: list[str] = []

    for vehicle_id, count in Counter(route.vehicle_id for route in routes).items():
        if count > 1:
            violations.append(f"vehicle {vehicle_id}: has {count} routes")
    visits = Counter(job_id for route in routes for job_id in route.job_ids)
    for job_id, count in visits.items():
        if job_id not in job_positions:
            violations.append(f"job {job_id}: not in the problem")
        elif count > 1:
            violations.append(f"job {job_id}: served {count} times")

    evaluated = []
    for route in routes:
        vehicle = vehicles.get(route.vehicle_id)
        if vehicle is None:
            violations.append(f"vehicle {route.vehicle_id}: not in the problem")
            continue
        jobs = [(job_positions[j], problem.jobs[job_positions[j]]) for j in route.job_ids if j in job_positions]
        result = evaluate_route(problem, vehicle, jobs)
        violations.extend(result.violations)
        evaluated.append(result)

    used = [r for r in evaluated if r.stops]
    return Evaluation(
        routes=tuple(evaluated),
        violations=tuple(violations),
        total_distance=math.fsum(r.distance for r in used),
        total_duration=sum(r.duration for r in used),
        total_lateness=sum(stop.lateness for r in used for stop in r.stops),
        lateness_cost=sum(r.lateness_cost for r in used),
        served_job_ids=frozenset(j for j in visits if j in job_positions),
    )
