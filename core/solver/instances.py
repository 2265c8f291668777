"""Benchmark instances (Solomon VRPTW, CVRPLIB X) as Problems, in the benchmark distance convention.

* Solomon (``.txt``): arc distance = Euclidean distance truncated to one decimal
  (``floor(10 * d) / 10``, the DIMACS / CVRPLIB convention); travel time = that distance; service must
  start inside ``[READY TIME, DUE DATE]``; vehicles leave the depot at its ready time and are back by its
  due date; 25 vehicles. Scales are 10 for distance and time, so the integer models are exact.
* X (``.vrp``): arc distance = Euclidean distance rounded to the nearest integer (TSPLIB ``EUC_2D``);
  no windows and no route limit. The fleet is unlimited in the benchmark; we give
  ``ceil(total demand / capacity)`` plus a quarter (at least 3) vehicles, which never binds (best-known
  solutions use at most two routes above the bound in the name). Scales are 1.

Job ids are the customer numbers of the CVRPLIB ``.sol`` files (depot 0, customers 1..n), so routes read
as in the literature. The ``.sol`` beside the instance, when present, gives ``best_known_distance``.
Both sets are benchmarked distance-only (``Objective.DISTANCE``), as their best-known solutions are.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import vrplib

from core.solver.problem import Depot, Job, Objective, Problem, TimeWindow, Vehicle
from core.solver.travel import Point, TravelMatrices

SOLOMON_SCALE = 10


def _euclidean(coords: np.ndarray) -> np.ndarray:
    delta = coords[:, None, :] - coords[None, :, :]
    return np.sqrt((delta**2).sum(axis=-1))


def _best_known(instance_path: Path) -> float | None:
    solution = instance_path.with_suffix(".sol")
    if not solution.exists():
        return None
    return float(vrplib.read_solution(str(solution))["cost"])


def read_solomon(path: str | Path, objective: Objective = Objective.DISTANCE) -> Problem:
    """A Solomon VRPTW instance with truncated one-decimal distances (see module docstring)."""
    path = Path(path)
    raw = vrplib.read_instance(str(path), instance_format="solomon")
    coords = np.asarray(raw["node_coord"], dtype=float)
    # Truncation is part of the instance definition: the best-known schedules rely on it.
    distance = np.floor(SOLOMON_SCALE * _euclidean(coords)) / SOLOMON_SCALE
    windows = np.asarray(raw["time_window"], dtype=float)
    points = [Point(float(x), float(y)) for x, y in coords]
    depot = Depot(id="0", location=points[0])
    shift = TimeWindow(windows[0, 0], windows[0, 1])
    vehicles = [
        Vehicle(id=f"v{k + 1}", capacity=int(raw["capacity"]), start_depot="0", shift=shift)
        for k in range(int(raw["vehicles"]))
    ]
    jobs = [
        Job(
            id=str(i),
            location=points[i],
            demand=int(raw["demand"][i]),
            service_minutes=float(raw["service_time"][i]),
            time_windows=(TimeWindow(windows[i, 0], windows[i, 1]),),
        )
        for i in range(1, len(points))
    ]
    return Problem(
        depots=[depot],
        vehicles=vehicles,
        jobs=jobs,
        travel=TravelMatrices(distance=distance, duration=distance.copy(), source="euclidean-truncated-0.1"),
        objective=objective,
        distance_scale=SOLOMON_SCALE,
        time_scale=SOLOMON_SCALE,
        name=str(raw["name"]),
        best_known_distance=_best_known(path),
    )


def read_cvrplib(path: str | Path, objective: Objective = Objective.DISTANCE) -> Problem:
    """A VRPLIB CVRP instance (depot = node 1) with nearest-integer distances (see module docstring)."""
    path = Path(path)
    raw = vrplib.read_instance(str(path), compute_edge_weights=False)
    coords = np.asarray(raw["node_coord"], dtype=float)
    (depot_index,) = np.asarray(raw["depot"]).ravel()
    if depot_index != 0:
        raise ValueError(f"{path.name}: depot must be the first node")
    distance = np.rint(_euclidean(coords))
    points = [Point(float(x), float(y)) for x, y in coords]
    demand = np.asarray(raw["demand"], dtype=int)
    capacity = int(raw["capacity"])
    lower_bound = math.ceil(demand.sum() / capacity)
    vehicles = [
        Vehicle(id=f"v{k + 1}", capacity=capacity, start_depot="0")
        for k in range(lower_bound + max(3, math.ceil(lower_bound / 4)))
    ]
    jobs = [Job(id=str(i), location=points[i], demand=int(demand[i])) for i in range(1, len(points))]
    return Problem(
        depots=[Depot(id="0", location=points[0])],
        vehicles=vehicles,
        jobs=jobs,
        travel=TravelMatrices(distance=distance, duration=distance.copy(), source="euclidean-rounded"),
        objective=objective,
        distance_scale=1,
        time_scale=1,
        name=str(raw["name"]),
        best_known_distance=_best_known(path),
    )


def load_instance(path: str | Path, objective: Objective = Objective.DISTANCE) -> Problem:
    """Read a Solomon ``.txt`` or VRPLIB ``.vrp`` instance by its suffix."""
    path = Path(path)
    if path.suffix == ".txt":
        return read_solomon(path, objective)
    if path.suffix == ".vrp":
        return read_cvrplib(path, objective)
    raise ValueError(f"{path.name}: expected a Solomon .txt or VRPLIB .vrp file")


def benchmark_class(name: str) -> str:
    """Benchmark class of an instance name: Solomon ``C1``/``C2``/``R1``/``R2``/``RC1``/``RC2``, or ``X``."""
    if name.startswith("X-"):
        return "X"
    match = re.fullmatch(r"(RC|R|C)([12])\d\d", name.upper())
    if match is None:
        raise ValueError(f"unknown benchmark instance name {name!r}")
    return match.group(1) + match.group(2)


def gap_percent(cost: float, best_known: float) -> float:
    """Percent above the best-known cost: ``100 * (cost - best_known) / best_known``."""
    return 100.0 * (cost - best_known) / best_known
