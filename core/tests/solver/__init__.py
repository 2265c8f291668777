"""Pure tests of the routing solver core (no database), plus a helper to build small planar problems."""

from __future__ import annotations

import numpy as np

from core.solver import Depot, Job, Objective, Point, Problem, TravelMatrices, Vehicle


def planar_problem(
    depots: dict[str, tuple[float, float]],
    jobs: list[Job],
    vehicles: list[Vehicle],
    objective: Objective = Objective.DISTANCE,
) -> Problem:
    """A Problem on the plane: Euclidean distance, travel time = distance (speed 1), scales of 100."""
    depot_list = [Depot(id=name, location=Point(*xy)) for name, xy in depots.items()]
    coords = np.array([[d.location.x, d.location.y] for d in depot_list] + [[j.location.x, j.location.y] for j in jobs])
    distance = np.sqrt(((coords[:, None, :] - coords[None, :, :]) ** 2).sum(axis=-1))
    return Problem(
        depots=depot_list,
        vehicles=vehicles,
        jobs=jobs,
        travel=TravelMatrices(distance=distance, duration=distance.copy(), source="euclidean"),
        objective=objective,
        distance_scale=100,
        time_scale=100,
        name="planar",
    )
