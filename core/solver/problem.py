"""Plain data describing a vehicle-routing problem, independent of any solver.

Units: time is in minutes (any unit works as long as windows, service times and the duration matrix agree),
distance in kilometres for real problems or in the instance's own unit for benchmarks. Location indices
used by the matrices are: every depot in ``Problem.depots`` order, then every job in ``Problem.jobs`` order
(see ``Problem.depot_node`` / ``Problem.job_node``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from core.solver.travel import Point, TravelMatrices, TravelTimeProvider, build_travel_matrices


class Objective(StrEnum):
    """What the solver minimises, matching the two conventions of the benchmark literature."""

    VEHICLES_THEN_DISTANCE = "vehicles_then_distance"
    """Hierarchical (SINTEF / classic metaheuristics): fewest vehicles first, then total distance."""
    DISTANCE = "distance"
    """Total distance only (DIMACS / CVRPLIB): vehicles are free up to the fleet size."""


@dataclass(frozen=True)
class TimeWindow:
    """Interval ``[start, end]`` in minutes in which service must start (or a vehicle's shift)."""

    start: float
    end: float = math.inf

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"time window ends ({self.end}) before it starts ({self.start})")


@dataclass(frozen=True)
class Depot:
    """A place where vehicles start and end their routes."""

    id: str
    location: Point


@dataclass(frozen=True)
class Vehicle:
    """One vehicle: capacity, the depots it starts and ends at, and the shift it is available for."""

    id: str
    capacity: int
    start_depot: str
    end_depot: str | None = None
    """``None`` means the vehicle returns to its start depot."""
    shift: TimeWindow = TimeWindow(0.0)
    """The vehicle may leave its start depot at ``shift.start`` and must be back by ``shift.end``."""
    max_route_duration: float | None = None
    """Upper bound on (return time - departure time), waiting included."""

    @property
    def return_depot(self) -> str:
        """Id of the depot the vehicle must finish at."""
        return self.end_depot if self.end_depot is not None else self.start_depot


@dataclass(frozen=True)
class Job:
    """A stop to serve: a delivery of ``demand`` units with a service time and optional time windows.

    Service must start inside one of ``time_windows`` (none means any time within the vehicle's shift).
    With ``lateness_cost_per_minute`` set, the end of the last window is soft: service may start later at
    that cost per minute of lateness (in distance units, so 1.0 makes a minute late cost as much as one
    kilometre driven); the starts of the windows stay hard (the vehicle waits).
    """

    id: str
    location: Point
    demand: int = 0
    service_minutes: float = 0.0
    time_windows: tuple[TimeWindow, ...] = ()
    lateness_cost_per_minute: float | None = None

    def __post_init__(self) -> None:
        if self.demand < 0:
            raise ValueError(f"job {self.id}: demand must be >= 0")
        ordered = sorted(self.time_windows, key=lambda w: w.start)
        for before, after in itertools.pairwise(ordered):
            if after.start <= before.end:
                raise ValueError(f"job {self.id}: time windows overlap; merge them")
        object.__setattr__(self, "time_windows", tuple(ordered))

    @property
    def has_soft_window(self) -> bool:
        """True when lateness after the last window is allowed at a cost."""
        return self.lateness_cost_per_minute is not None and bool(self.time_windows)


@dataclass
class Problem:
    """Everything a solver needs: fleet, jobs, travel matrices and the objective.

    ``distance_scale`` / ``time_scale`` say how many integer units the solvers use per distance / time
    unit (e.g. 1000 -> metres, 60 -> seconds); benchmark instances set them so that their matrices are
    exact integers after scaling (Solomon: 10, X: 1). See ``core.solver.scaling``.
    """

    depots: list[Depot]
    vehicles: list[Vehicle]
    jobs: list[Job]
    travel: TravelMatrices
    objective: Objective = Objective.VEHICLES_THEN_DISTANCE
    distance_scale: int = 1000
    time_scale: int = 60
    name: str = ""
    best_known_distance: float | None = None
    """Best-known distance for benchmark instances (from the ``.sol`` file), else None."""
    _depot_index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._depot_index = {depot.id: i for i, depot in enumerate(self.depots)}
        if len(self._depot_index) != len(self.depots):
            raise ValueError("depot ids must be unique")
        if len({job.id for job in self.jobs}) != len(self.jobs):
            raise ValueError("job ids must be unique")
        if len({vehicle.id for vehicle in self.vehicles}) != len(self.vehicles):
            raise ValueError("vehicle ids must be unique")
        for vehicle in self.vehicles:
            for depot_id in (vehicle.start_depot, vehicle.return_depot):
                if depot_id not in self._depot_index:
                    raise ValueError(f"vehicle {vehicle.id}: unknown depot {depot_id!r}")
        size = len(self.depots) + len(self.jobs)
        for label, matrix in (("distance", self.travel.distance), ("duration", self.travel.duration)):
            if matrix.shape != (size, size):
                raise ValueError(f"{label} matrix is {matrix.shape}, expected {(size, size)}")

    @property
    def num_nodes(self) -> int:
        """Number of matrix rows: depots then jobs."""
        return len(self.depots) + len(self.jobs)

    def depot_node(self, depot_id: str) -> int:
        """Matrix index of a depot."""
        return self._depot_index[depot_id]

    def job_node(self, job_position: int) -> int:
        """Matrix index of the job at ``job_position`` in ``jobs``."""
        return len(self.depots) + job_position


def _point(raw: Mapping[str, Any] | Sequence[float]) -> Point:
    if isinstance(raw, Mapping):
        return Point(x=float(raw["lon"]), y=float(raw["lat"]))
    lat, lon = raw
    return Point(x=float(lon), y=float(lat))


def _window(raw: Mapping[str, Any] | Sequence[float]) -> TimeWindow:
    if isinstance(raw, Mapping):
        end = raw.get("end")
        return TimeWindow(float(raw["start"]), math.inf if end is None else float(end))
    start, end = raw
    return TimeWindow(float(start), float(end))


def problem_from_dict(
    data: Mapping[str, Any],
    *,
    travel_provider: TravelTimeProvider | None = None,
    departure_bucket: int | None = None,
) -> Problem:
    """Build a Problem from JSON-like input (what ``POST /api/v1/routes/optimize`` receives).

    Shape (times in minutes from the planning day's origin, locations as ``{"lat": .., "lon": ..}``)::

        {"depots": [{"id": "D1", "location": {"lat": 52.37, "lon": 4.89}}],
         "vehicles": [{"id": "V1", "capacity": 100, "start_depot": "D1", "end_depot": "D1",
                       "shift": {"start": 480, "end": 1080}, "max_route_duration": 480}],
         "jobs": [{"id": "J1", "location": {"lat": 52.36, "lon": 4.90}, "demand": 3,
                   "service_minutes": 5, "time_windows": [{"start": 540, "end": 600}],
                   "lateness_cost_per_minute": 0.5}],
         "objective": "vehicles_then_distance",
         "speed_kmh": 30}

    Travel times come from ``travel_provider(points, departure_bucket)`` when given, else from haversine
    distance at ``speed_kmh`` (see ``core.solver.travel``).
    """
    depots = [Depot(id=str(d["id"]), location=_point(d["location"])) for d in data["depots"]]
    vehicles = [
        Vehicle(
            id=str(v["id"]),
            capacity=int(v["capacity"]),
            start_depot=str(v["start_depot"]),
            end_depot=str(v["end_depot"]) if v.get("end_depot") is not None else None,
            shift=_window(v["shift"]) if v.get("shift") is not None else TimeWindow(0.0),
            max_route_duration=float(v["max_route_duration"]) if v.get("max_route_duration") is not None else None,
        )
        for v in data["vehicles"]
    ]
    jobs = [
        Job(
            id=str(j["id"]),
            location=_point(j["location"]),
            demand=int(j.get("demand", 0)),
            service_minutes=float(j.get("service_minutes", 0.0)),
            time_windows=tuple(_window(w) for w in j.get("time_windows", ())),
            lateness_cost_per_minute=(
                float(j["lateness_cost_per_minute"]) if j.get("lateness_cost_per_minute") is not None else None
            ),
        )
        for j in data["jobs"]
    ]
    points = [d.location for d in depots] + [j.location for j in jobs]
    travel = build_travel_matrices(
        points,
        provider=travel_provider,
        departure_bucket=departure_bucket,
        speed_kmh=float(data.get("speed_kmh", 30.0)),
    )
    return Problem(
        depots=depots,
        vehicles=vehicles,
        jobs=jobs,
        travel=travel,
        objective=Objective(data.get("objective", Objective.VEHICLES_THEN_DISTANCE)),
        name=str(data.get("name", "")),
    )
