"""OR-Tools routing model: CVRP / VRPTW with everything the Problem can express.

Model (all values integer, see ``core.solver.scaling``):
* nodes are the depots and the jobs handed in; each vehicle starts and ends at its depots;
* arc cost = scaled distance, registered once as a matrix (``RegisterTransitMatrix``), so the search
  never calls back into Python per arc;
* ``Capacity`` dimension from the demand vector (``RegisterUnaryTransitVector``), per-vehicle capacity;
* ``Time`` dimension from a second matrix, travel time plus the service time of the node left; slack
  is waiting; each job's cumul is limited to its windows (gaps between several windows are removed
  from the domain); a soft window keeps its start hard and turns its end into a soft upper bound
  costing ``lateness_cost`` per unit; vehicle start/end cumuls are limited to the shift; the span is
  limited to the maximum route duration;
* hierarchical objective: a fixed cost per used vehicle larger than any distance total;
* every job is a disjunction with a drop penalty above anything serving it can cost, so the search
  drops only what it cannot fit and always returns a plan;
* first solution by parallel cheapest insertion (windows) or savings (none), then guided local search
  until the time limit.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from core.solver.backend import BackendRun
from core.solver.problem import Problem
from core.solver.scaling import IntegerData

_STATUS_NAMES = {value: name for name, value in routing_enums_pb2.RoutingSearchStatus.Value.items()}


def solve_ortools(problem: Problem, data: IntegerData, time_limit: float) -> BackendRun:
    """Build the OR-Tools model for ``data.job_positions`` and run guided local search for ``time_limit`` s."""
    started = time.perf_counter()
    depot_nodes = list(range(len(problem.depots)))
    job_nodes = [problem.job_node(position) for position in data.job_positions]
    model_nodes = depot_nodes + job_nodes
    num_vehicles = len(problem.vehicles)
    manager = pywrapcp.RoutingIndexManager(
        len(model_nodes),
        num_vehicles,
        [problem.depot_node(v.start_depot) for v in problem.vehicles],
        [problem.depot_node(v.return_depot) for v in problem.vehicles],
    )
    routing = pywrapcp.RoutingModel(manager)

    sub = np.ix_(model_nodes, model_nodes)
    distance_cb = routing.RegisterTransitMatrix(data.distance[sub].tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(distance_cb)
    if data.vehicle_fixed_cost:
        routing.SetFixedCostOfAllVehicles(data.vehicle_fixed_cost)

    demand_cb = routing.RegisterUnaryTransitVector([data.demand[node] for node in model_nodes])
    routing.AddDimensionWithVehicleCapacity(demand_cb, 0, data.capacity, True, "Capacity")

    service = np.array([data.service[node] for node in model_nodes], dtype=np.int64)
    time_matrix = data.travel_time[sub] + service[:, None]
    time_cb = routing.RegisterTransitMatrix(time_matrix.tolist())
    routing.AddDimension(time_cb, data.horizon, data.horizon, False, "Time")
    time_dim = routing.GetDimensionOrDie("Time")

    penalty = data.drop_penalty
    for model_node, node in enumerate(model_nodes[len(depot_nodes) :], start=len(depot_nodes)):
        index = manager.NodeToIndex(model_node)
        windows = data.windows[node]
        cumul = time_dim.CumulVar(index)
        if data.lateness_cost[node]:
            cumul.SetRange(windows[0][0], data.horizon)
            time_dim.SetCumulVarSoftUpperBound(index, windows[-1][1], data.lateness_cost[node])
        else:
            cumul.SetRange(windows[0][0], windows[-1][1])
        for (_, gap_start), (gap_end, _) in itertools.pairwise(windows):
            cumul.RemoveInterval(gap_start + 1, gap_end - 1)
        routing.AddDisjunction([index], penalty)

    for vehicle in range(num_vehicles):
        shift_start, shift_end = data.shift[vehicle]
        time_dim.CumulVar(routing.Start(vehicle)).SetRange(shift_start, shift_end)
        time_dim.CumulVar(routing.End(vehicle)).SetRange(shift_start, shift_end)
        time_dim.SetSpanUpperBoundForVehicle(data.max_duration[vehicle], vehicle)

    params = pywrapcp.DefaultRoutingSearchParameters()
    has_windows = any(job.time_windows for job in problem.jobs)
    strategy = routing_enums_pb2.FirstSolutionStrategy
    params.first_solution_strategy = strategy.PARALLEL_CHEAPEST_INSERTION if has_windows else strategy.SAVINGS
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(max(1, int(time_limit * 1000)))

    assignment = routing.SolveWithParameters(params)
    routes: list[tuple[int, list[int]]] = []
    if assignment is not None:
        for vehicle in range(num_vehicles):
            index = assignment.Value(routing.NextVar(routing.Start(vehicle)))
            positions = []
            while not routing.IsEnd(index):
                positions.append(data.job_positions[manager.IndexToNode(index) - len(depot_nodes)])
                index = assignment.Value(routing.NextVar(index))
            if positions:
                routes.append((vehicle, positions))
    status = _STATUS_NAMES.get(routing.status(), str(routing.status()))
    return BackendRun(routes=routes, status=status, seconds=time.perf_counter() - started)
