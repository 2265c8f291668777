"""What ``solve`` returns: routes with their schedule, totals, unassigned jobs and solver stats."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from core.solver.instances import gap_percent


class UnassignedReason(StrEnum):
    """Why a job is not in any route, in terms a dispatcher can act on."""

    DEMAND_EXCEEDS_CAPACITY = "demand_exceeds_capacity"
    """The job alone is more than the largest vehicle carries: split it or send a bigger vehicle."""
    TIME_WINDOW_UNREACHABLE = "time_window_unreachable"
    """No vehicle can reach it inside its window and be back at its depot by the end of its shift
    (or within its maximum route duration), even serving nothing else."""
    INSUFFICIENT_FLEET = "insufficient_fleet"
    """It fits a vehicle on its own, but every vehicle is full or out of time with the other jobs:
    add vehicles or capacity, or widen windows."""
    TIME_LIMIT = "time_limit"
    """A feasible place for it exists, but the solver did not find one within its time limit."""


@dataclass(frozen=True)
class UnassignedJob:
    """A job left out of the plan, with a machine-readable reason and a sentence for the dispatcher."""

    job_id: str
    reason: UnassignedReason
    detail: str


@dataclass(frozen=True)
class Stop:
    """One job on a route: arrival, service start, departure (minutes) and load on board when leaving."""

    job_id: str
    arrival: float
    service_start: float
    departure: float
    load: int
    lateness: float


@dataclass(frozen=True)
class RoutePlan:
    """One vehicle's route: stops in visiting order between its start and end depot."""

    vehicle_id: str
    start_depot: str
    end_depot: str
    start_time: float
    end_time: float
    distance: float
    load: int
    stops: list[Stop]

    @property
    def job_ids(self) -> list[str]:
        """Job ids in visiting order."""
        return [stop.job_id for stop in self.stops]


@dataclass(frozen=True)
class SolverStats:
    """How the plan was found."""

    backend: str
    """``pyvrp`` or ``ortools``."""
    status: str
    """The backend's own status word (e.g. ``ROUTING_SUCCESS``, ``feasible``)."""
    seconds: float
    time_limit: float
    backend_reason: str
    """Why this backend was chosen (see ``core.solver.choose_backend``)."""


@dataclass(frozen=True)
class Solution:
    """A routing plan, checked by the independent evaluator."""

    problem_name: str
    objective: str
    objective_value: float
    """Distance plus lateness cost (vehicles are reported separately in ``vehicles_used``)."""
    routes: list[RoutePlan]
    total_distance: float
    total_duration: float
    total_lateness: float
    vehicles_used: int
    unassigned: list[UnassignedJob]
    stats: SolverStats
    is_feasible: bool
    violations: list[str]
    travel_source: str
    best_known_distance: float | None = None

    @property
    def gap_percent(self) -> float | None:
        """Distance above the best-known solution in percent, for benchmark instances."""
        if self.best_known_distance is None:
            return None
        return gap_percent(self.total_distance, self.best_known_distance)

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (enums as their values, infinities as None)."""
        data = asdict(self)
        data["gap_percent"] = self.gap_percent
        for route, plan in zip(data["routes"], self.routes, strict=True):
            route["job_ids"] = plan.job_ids
        for item in data["unassigned"]:
            item["reason"] = str(item["reason"])
        return _finite(data)


def _finite(value: Any) -> Any:
    # JSON has no infinity; an unbounded shift end becomes null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value
