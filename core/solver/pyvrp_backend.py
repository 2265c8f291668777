"""PyVRP (iterated local search over SWAP*/relocate neighbourhoods) for problems that fit its model.

PyVRP models capacities, one hard time window per job, service times, several depots, per-vehicle
shifts and maximum route durations, and a fixed cost per vehicle; it does not model soft windows with a
lateness cost or several windows per job (``solve`` sends those to OR-Tools).

Mapping (integers from ``core.solver.scaling``):
* locations: every depot, then every job handed in; distance and duration matrices are the scaled
  matrices restricted to them (service time is a client attribute, not part of the matrix);
* identical vehicles (same capacity, depots, shift, maximum duration) become one vehicle type with
  ``num_available`` = their count; routes are given back to the individual vehicles in order;
* hierarchical objective: ``fixed_cost`` per vehicle larger than any distance total;
* ``required_jobs=False`` makes every job optional with a prize equal to the drop penalty, so a fleet
  that is too small still yields a feasible plan that leaves out what it cannot fit. Required jobs search
  faster, so ``solve`` uses them first.
"""

from __future__ import annotations

import time

import numpy as np
import pyvrp
from pyvrp.stop import MaxRuntime

from core.solver.backend import BackendRun
from core.solver.problem import Problem
from core.solver.scaling import IntegerData


def solve_pyvrp(
    problem: Problem, data: IntegerData, time_limit: float, *, required_jobs: bool = True, seed: int = 0
) -> BackendRun:
    """Solve ``data.job_positions`` with PyVRP for ``time_limit`` seconds.

    The status is ``feasible`` or ``infeasible`` (PyVRP's best solution breaks capacity, windows or
    durations, e.g. because required jobs do not fit the fleet) followed by the iteration count.
    """
    started = time.perf_counter()
    num_depots = len(problem.depots)
    nodes = list(range(num_depots)) + [problem.job_node(position) for position in data.job_positions]
    points = [d.location for d in problem.depots] + [problem.jobs[p].location for p in data.job_positions]
    locations = [pyvrp.Location(x=point.x, y=point.y) for point in points]
    depots = [pyvrp.Depot(location=i, tw_early=0, tw_late=data.horizon) for i in range(num_depots)]
    clients = []
    for offset, node in enumerate(nodes[num_depots:]):
        ((tw_early, tw_late),) = data.windows[node]
        clients.append(
            pyvrp.Client(
                location=num_depots + offset,
                delivery=[data.demand[node]],
                service_duration=data.service[node],
                tw_early=tw_early,
                tw_late=tw_late,
                required=required_jobs,
                prize=0 if required_jobs else data.drop_penalty,
            )
        )

    members: dict[tuple[int, int, int, int, int, int], list[int]] = {}
    for index, vehicle in enumerate(problem.vehicles):
        key = (
            data.capacity[index],
            problem.depot_node(vehicle.start_depot),
            problem.depot_node(vehicle.return_depot),
            *data.shift[index],
            data.max_duration[index],
        )
        members.setdefault(key, []).append(index)
    vehicle_types = [
        pyvrp.VehicleType(
            num_available=len(indices),
            capacity=[capacity],
            start_depot=start,
            end_depot=end,
            fixed_cost=data.vehicle_fixed_cost,
            tw_early=shift_start,
            tw_late=shift_end,
            shift_duration=max_duration,
        )
        for (capacity, start, end, shift_start, shift_end, max_duration), indices in members.items()
    ]

    sub = np.ix_(nodes, nodes)
    # pyvrp annotates its distance matrices with the shape type `int` (numpy's is a tuple): no array fits.
    pyvrp_data = pyvrp.ProblemData(
        locations,
        clients,
        depots,
        vehicle_types,
        [data.distance[sub]],  # type: ignore[list-item]
        [data.travel_time[sub]],  # type: ignore[list-item]
    )
    result = pyvrp.solve(pyvrp_data, MaxRuntime(time_limit), seed=seed, collect_stats=False, display=False)

    routes: list[tuple[int, list[int]]] = []
    unused = [list(indices) for indices in members.values()]
    for route in result.best.routes():
        # A client activity's idx is the client's index in ``clients``, i.e. the offset into job_positions.
        positions = [data.job_positions[activity.idx] for activity in route.schedule() if activity.is_client()]
        if positions:
            routes.append((unused[route.vehicle_type()].pop(0), positions))
    status = "feasible" if result.best.is_feasible() else "infeasible"
    return BackendRun(
        routes=routes,
        status=f"{status}, {result.num_iterations} iterations",
        seconds=time.perf_counter() - started,
    )
