"""Integer data for the solvers, derived from a Problem.

OR-Tools and PyVRP both work on integers. Each value is multiplied by the problem's scale
(``distance_scale`` for distances, ``time_scale`` for times) and rounded so that a plan feasible in
integers is feasible in the original (float) problem:

* distances: nearest integer (they only enter the objective);
* travel and service times: rounded up; window and shift starts: up; window ends, shift ends and
  maximum route durations: down. Rounding the other way could let the solver schedule a service a
  fraction of a minute after its window closes.

A tiny tolerance (``_EPS`` scaled units) absorbs float noise, so values that are exact after scaling
(Solomon: one decimal x 10; X: integers x 1) convert exactly and the solver's objective / scale equals
the benchmark cost.

Infinite window and shift ends become ``horizon``, an upper bound on any route's end time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.solver.problem import Objective, Problem

_EPS = 1e-6


def _up(value: float, scale: int) -> int:
    return math.ceil(value * scale - _EPS)


def _down(value: float, scale: int) -> int:
    return math.floor(value * scale + _EPS)


@dataclass(frozen=True)
class IntegerData:
    """Scaled integer view of a Problem restricted to the jobs handed to a backend.

    Node indices are the Problem's (depots first, then jobs); ``job_positions`` lists the jobs the
    backend should route.
    """

    job_positions: list[int]
    distance: np.ndarray
    travel_time: np.ndarray
    service: list[int]
    """Scaled service time per node (0 at depots)."""
    demand: list[int]
    """Demand per node (0 at depots)."""
    windows: list[list[tuple[int, int]]]
    """Per node: allowed service-start intervals, in order; ``[(0, horizon)]`` when unconstrained."""
    lateness_cost: list[int]
    """Per node: cost per scaled time unit after the last window (0 = hard window)."""
    shift: list[tuple[int, int]]
    """Per vehicle: (earliest departure, latest return)."""
    max_duration: list[int]
    """Per vehicle: maximum route duration (``horizon`` when unbounded)."""
    capacity: list[int]
    horizon: int
    vehicle_fixed_cost: int
    """Cost added per used vehicle: 0 for distance-only, else more than any set of routes can drive."""
    drop_penalty: int
    """Cost of leaving a job out: more than serving it can ever add (distance, a vehicle, lateness)."""


def to_integer_data(problem: Problem, job_positions: Sequence[int]) -> IntegerData:
    """Scale ``problem`` to integers for the jobs at ``job_positions`` (see module docstring)."""
    ds, ts = problem.distance_scale, problem.time_scale
    n = problem.num_nodes
    distance = np.rint(problem.travel.distance * ds).astype(np.int64)
    travel_time = np.ceil(problem.travel.duration * ts - _EPS).astype(np.int64)
    travel_time[travel_time < 0] = 0

    service = [0] * n
    demand = [0] * n
    for pos, job in enumerate(problem.jobs):
        service[problem.job_node(pos)] = _up(job.service_minutes, ts)
        demand[problem.job_node(pos)] = job.demand

    finite = [0.0]
    for vehicle in problem.vehicles:
        finite += [t for t in (vehicle.shift.start, vehicle.shift.end) if math.isfinite(t)]
    for job in problem.jobs:
        finite += [t for w in job.time_windows for t in (w.start, w.end) if math.isfinite(t)]
    # Any route ends before: the latest fixed time plus driving every arc's longest way out and serving
    # every node once.
    horizon = _up(max(finite), ts) + int(travel_time.max(axis=1).sum()) + sum(service) + 1

    def end_or_horizon(value: float) -> int:
        return min(_down(value, ts), horizon) if math.isfinite(value) else horizon

    windows: list[list[tuple[int, int]]] = [[(0, horizon)] for _ in range(n)]
    lateness_cost = [0] * n
    for pos, job in enumerate(problem.jobs):
        node = problem.job_node(pos)
        if job.time_windows:
            windows[node] = [(_up(w.start, ts), end_or_horizon(w.end)) for w in job.time_windows]
        if job.has_soft_window:
            # Cost per scaled time unit in scaled distance units; at least 1 so lateness is never free.
            per_unit = (job.lateness_cost_per_minute or 0.0) * ds / ts
            lateness_cost[node] = max(1, round(per_unit)) if per_unit > 0 else 0

    shift = [(_up(v.shift.start, ts), end_or_horizon(v.shift.end)) for v in problem.vehicles]
    max_duration = [
        horizon if v.max_route_duration is None else min(_down(v.max_route_duration, ts), horizon)
        for v in problem.vehicles
    ]
    fixed_cost = 0
    if problem.objective is Objective.VEHICLES_THEN_DISTANCE:
        # No plan drives more than each job's longest outgoing arc plus each vehicle's longest way out of a
        # depot, so one vehicle more always costs more than any distance saving. Lateness is left out of
        # the bound on purpose: its price is the caller's, and a vehicle that saves more lateness cost
        # than it costs is worth adding.
        depot_rows = len(problem.depots)
        fixed_cost = (
            int(distance[depot_rows:].max(axis=1, initial=0).sum())
            + len(problem.vehicles) * int(distance[:depot_rows].max(initial=0))
            + 1
        )
    routed_nodes = list(range(len(problem.depots))) + [problem.job_node(p) for p in job_positions]
    routed = np.ix_(routed_nodes, routed_nodes)
    drop_penalty = (
        int(distance[routed].max(axis=1).sum())
        + fixed_cost
        + sum(lateness_cost[node] for node in routed_nodes) * horizon
        + 1
    )
    return IntegerData(
        job_positions=list(job_positions),
        distance=distance,
        travel_time=travel_time,
        service=service,
        demand=demand,
        windows=windows,
        lateness_cost=lateness_cost,
        shift=shift,
        max_duration=max_duration,
        capacity=[v.capacity for v in problem.vehicles],
        horizon=horizon,
        vehicle_fixed_cost=fixed_cost,
        drop_penalty=drop_penalty,
    )
