"""``solve`` on small constructed problems: feasibility, unassigned reasons, soft windows, objectives."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from core.solver import (
    Job,
    Objective,
    PlannedRoute,
    Point,
    TimeWindow,
    UnassignedReason,
    Vehicle,
    choose_backend,
    evaluate,
    problem_from_dict,
    solve,
)
from core.solver.unassigned import explain_dropped
from core.tests.solver import planar_problem

LIMIT = 0.5


def _random_vrptw(seed: int = 7, num_jobs: int = 14):
    rng = random.Random(seed)
    jobs = []
    for i in range(num_jobs):
        start = rng.uniform(0, 120)
        jobs.append(
            Job(
                f"j{i}",
                Point(rng.uniform(-30, 30), rng.uniform(-30, 30)),
                demand=rng.randint(1, 6),
                service_minutes=rng.choice([2.0, 5.0]),
                time_windows=(TimeWindow(start, start + rng.uniform(30, 80)),),
            )
        )
    vehicles = [
        Vehicle("v1", capacity=15, start_depot="north", shift=TimeWindow(0, 260), max_route_duration=200),
        Vehicle("v2", capacity=15, start_depot="north", end_depot="south", shift=TimeWindow(0, 260)),
        Vehicle("v3", capacity=20, start_depot="south", shift=TimeWindow(10, 240)),
        Vehicle("v4", capacity=20, start_depot="south", shift=TimeWindow(10, 240)),
    ]
    return planar_problem({"north": (0, 20), "south": (0, -20)}, jobs, vehicles)


@pytest.mark.parametrize("backend", ["pyvrp", "ortools"])
def test_plans_respect_capacity_windows_and_shifts(backend):
    problem = _random_vrptw()

    solution = solve(problem, time_limit=LIMIT, backend=backend)

    assert solution.is_feasible, solution.violations
    assert solution.unassigned == []
    jobs = {job.id: job for job in problem.jobs}
    vehicles = {vehicle.id: vehicle for vehicle in problem.vehicles}
    for route in solution.routes:
        vehicle = vehicles[route.vehicle_id]
        assert route.load <= vehicle.capacity
        assert vehicle.shift.start <= route.start_time and route.end_time <= vehicle.shift.end + 1e-6
        assert route.end_depot == vehicle.return_depot
        if vehicle.max_route_duration is not None:
            assert route.end_time - route.start_time <= vehicle.max_route_duration + 1e-6
        for stop in route.stops:
            (window,) = jobs[stop.job_id].time_windows
            assert window.start - 1e-6 <= stop.service_start <= window.end + 1e-6
    # The plan's own arithmetic agrees with a fresh evaluation of its routes.
    replay = evaluate(problem, [PlannedRoute(r.vehicle_id, tuple(r.job_ids)) for r in solution.routes])
    assert replay.is_feasible
    assert replay.total_distance == pytest.approx(solution.total_distance)
    assert solution.stats.backend == backend


def test_auto_picks_pyvrp_for_hard_windows_and_ortools_for_soft_or_several():
    hard = _random_vrptw()
    soft = planar_problem(
        {"D": (0, 0)},
        [Job("s", Point(1, 0), time_windows=(TimeWindow(0, 5),), lateness_cost_per_minute=1.0)],
        [Vehicle("v1", capacity=1, start_depot="D")],
    )
    several = planar_problem(
        {"D": (0, 0)},
        [Job("m", Point(1, 0), time_windows=(TimeWindow(0, 5), TimeWindow(10, 20)))],
        [Vehicle("v1", capacity=1, start_depot="D")],
    )

    assert choose_backend(hard)[0] == "pyvrp"
    assert choose_backend(soft)[0] == "ortools"
    assert choose_backend(several)[0] == "ortools"
    with pytest.raises(ValueError, match="PyVRP cannot model"):
        solve(soft, backend="pyvrp")


def _reason_problem():
    """Depot at 0, one vehicle of capacity 10 on shift [0, 100]; each job hits one reason."""
    jobs = [
        Job("ok", Point(10, 0), demand=8),
        Job("heavy", Point(5, 0), demand=11),
        Job("too-early", Point(30, 0), demand=1, time_windows=(TimeWindow(0, 20),)),
        Job("too-far", Point(60, 0), demand=1),
        Job("no-room", Point(-10, 0), demand=8),
    ]
    return planar_problem({"D": (0, 0)}, jobs, [Vehicle("v1", capacity=10, start_depot="D", shift=TimeWindow(0, 100))])


@pytest.mark.parametrize("backend", ["pyvrp", "ortools"])
def test_unassigned_jobs_come_back_with_the_reason(backend):
    solution = solve(_reason_problem(), time_limit=LIMIT, backend=backend)

    assert solution.is_feasible
    reasons = {u.job_id: u.reason for u in solution.unassigned}
    assert reasons.pop("heavy") == UnassignedReason.DEMAND_EXCEEDS_CAPACITY
    assert reasons.pop("too-early") == UnassignedReason.TIME_WINDOW_UNREACHABLE
    assert reasons.pop("too-far") == UnassignedReason.TIME_WINDOW_UNREACHABLE
    # "ok" and "no-room" each fill the only vehicle; whichever is left out lacks fleet.
    assert list(reasons.values()) == [UnassignedReason.INSUFFICIENT_FLEET]
    assert len(solution.routes) == 1 and len(solution.routes[0].stops) == 1
    details = {u.job_id: u.detail for u in solution.unassigned}
    assert details["heavy"] == "demand 11 exceeds the largest vehicle capacity 10"
    assert "after its window closes" in details["too-early"]
    assert "after its shift ends" in details["too-far"]


def test_max_route_duration_makes_a_job_unreachable():
    problem = planar_problem(
        {"D": (0, 0)},
        [Job("far", Point(30, 0))],
        [Vehicle("v1", capacity=1, start_depot="D", max_route_duration=50)],
    )

    (unassigned,) = solve(problem, time_limit=LIMIT).unassigned

    assert unassigned.reason == UnassignedReason.TIME_WINDOW_UNREACHABLE
    assert "more than its maximum 50" in unassigned.detail


def test_a_job_the_solver_missed_but_that_fits_is_blamed_on_the_time_limit():
    problem = _reason_problem()
    ok, no_room = 0, 4
    plan = evaluate(problem, [PlannedRoute("v1", ())])  # as if the search stopped before placing anything

    (explained,) = explain_dropped(problem, plan, [ok])
    assert explained.reason == UnassignedReason.TIME_LIMIT

    full = evaluate(problem, [PlannedRoute("v1", ("ok",))])
    (explained,) = explain_dropped(problem, full, [no_room])
    assert explained.reason == UnassignedReason.INSUFFICIENT_FLEET


def test_soft_window_is_served_late_at_a_cost_instead_of_dropped():
    def problem(lateness_cost: float | None):
        job = Job("late", Point(30, 0), time_windows=(TimeWindow(0, 10),), lateness_cost_per_minute=lateness_cost)
        return planar_problem({"D": (0, 0)}, [job], [Vehicle("v1", capacity=1, start_depot="D")])

    soft = solve(problem(2.0), time_limit=LIMIT)
    hard = solve(problem(None), time_limit=LIMIT)

    assert soft.stats.backend == "ortools"
    assert soft.is_feasible and soft.unassigned == []
    assert soft.total_lateness == pytest.approx(20)
    assert soft.objective_value == pytest.approx(60 + 2.0 * 20)
    assert [u.reason for u in hard.unassigned] == [UnassignedReason.TIME_WINDOW_UNREACHABLE]


def test_soft_windows_order_stops_to_limit_lateness():
    # Two jobs on opposite sides, both due by 12: one must be late; the cheap one should be.
    jobs = [
        Job("cheap", Point(10, 0), time_windows=(TimeWindow(0, 12),), lateness_cost_per_minute=0.1),
        Job("dear", Point(-10, 0), time_windows=(TimeWindow(0, 12),), lateness_cost_per_minute=5.0),
    ]
    problem = planar_problem({"D": (0, 0)}, jobs, [Vehicle("v1", capacity=2, start_depot="D")])

    solution = solve(problem, time_limit=LIMIT)

    assert solution.is_feasible and solution.unassigned == []
    assert solution.routes[0].job_ids == ["dear", "cheap"]


def test_several_windows_are_honoured():
    jobs = [
        Job("m", Point(15, 0), time_windows=(TimeWindow(0, 10), TimeWindow(40, 50))),
        Job("n", Point(16, 0), time_windows=(TimeWindow(0, 30),)),
    ]
    problem = planar_problem({"D": (0, 0)}, jobs, [Vehicle("v1", capacity=2, start_depot="D")])

    solution = solve(problem, time_limit=LIMIT)

    assert solution.is_feasible and solution.unassigned == []
    stops = {stop.job_id: stop for stop in solution.routes[0].stops}
    assert 40 <= stops["m"].service_start <= 50


def _objective_problem(objective: Objective):
    """One vehicle can serve all three jobs only by zig-zagging; two vehicles drive much less."""
    jobs = [
        Job("x", Point(10, 0), time_windows=(TimeWindow(0, 12),)),
        Job("y", Point(-10, 0), time_windows=(TimeWindow(30, 32),)),
        Job("z", Point(10, 1), time_windows=(TimeWindow(50, 52),)),
    ]
    vehicles = [Vehicle(f"v{i}", capacity=3, start_depot="D", shift=TimeWindow(0, 200)) for i in range(3)]
    return planar_problem({"D": (0, 0)}, jobs, vehicles, objective)


@pytest.mark.parametrize("backend", ["pyvrp", "ortools"])
def test_objectives_trade_vehicles_against_distance(backend):
    distance_only = solve(_objective_problem(Objective.DISTANCE), time_limit=LIMIT, backend=backend)
    hierarchical = solve(_objective_problem(Objective.VEHICLES_THEN_DISTANCE), time_limit=LIMIT, backend=backend)

    assert distance_only.is_feasible and hierarchical.is_feasible
    assert (distance_only.vehicles_used, round(distance_only.total_distance, 2)) == (2, 41.05)
    assert (hierarchical.vehicles_used, round(hierarchical.total_distance, 2)) == (1, 60.07)
    assert hierarchical.objective == "vehicles_then_distance"


def test_problem_from_dict_uses_the_travel_provider_and_serialises():
    payload = {
        "depots": [{"id": "D1", "location": {"lat": 52.370, "lon": 4.890}}],
        "vehicles": [{"id": "V1", "capacity": 10, "start_depot": "D1", "shift": {"start": 480, "end": 1080}}],
        "jobs": [
            {"id": "J1", "location": {"lat": 52.360, "lon": 4.900}, "demand": 2, "service_minutes": 5},
            {
                "id": "J2",
                "location": {"lat": 52.380, "lon": 4.870},
                "demand": 3,
                "time_windows": [{"start": 540, "end": 600}],
            },
        ],
    }

    def eta_model(points, departure_bucket):
        assert departure_bucket == 8
        return np.full((len(points), len(points)), 7.0) - 7.0 * np.eye(len(points))

    eta_model.name = "eta-champion-v3"
    default = solve(problem_from_dict(payload), time_limit=LIMIT)
    plugged = solve(problem_from_dict(payload, travel_provider=eta_model, departure_bucket=8), time_limit=LIMIT)

    assert default.travel_source == "haversine@30kmh"
    assert plugged.travel_source == "eta-champion-v3[bucket=8]"
    assert plugged.is_feasible and plugged.unassigned == []
    assert plugged.total_duration == pytest.approx(3 * 7.0 + 5 + 0)
    data = json.loads(json.dumps(plugged.as_dict()))
    assert data["routes"][0]["vehicle_id"] == "V1"
    assert sorted(data["routes"][0]["job_ids"]) == ["J1", "J2"]
    assert data["stats"]["backend"] == "pyvrp"
    assert data["travel_source"] == "eta-champion-v3[bucket=8]"


def test_a_provider_returning_the_wrong_shape_is_rejected():
    payload = {
        "depots": [{"id": "D", "location": [52.37, 4.89]}],
        "vehicles": [{"id": "V", "capacity": 1, "start_depot": "D"}],
        "jobs": [{"id": "J", "location": [52.36, 4.90]}],
    }

    with pytest.raises(ValueError, match=r"returned shape \(1, 1\), expected \(2, 2\)"):
        problem_from_dict(payload, travel_provider=lambda points, bucket: np.zeros((1, 1)))


@pytest.mark.parametrize("backend", ["pyvrp", "ortools"])
def test_a_fleet_short_of_time_drops_a_job_for_lack_of_fleet(backend):
    # Capacity is ample, but both jobs must be served at about the same time on opposite sides.
    jobs = [
        Job("east", Point(10, 0), demand=1, time_windows=(TimeWindow(10, 12),)),
        Job("west", Point(-10, 0), demand=1, time_windows=(TimeWindow(10, 12),)),
    ]
    problem = planar_problem({"D": (0, 0)}, jobs, [Vehicle("v1", capacity=5, start_depot="D")])

    solution = solve(problem, time_limit=LIMIT, backend=backend)

    assert solution.is_feasible
    assert [u.reason for u in solution.unassigned] == [UnassignedReason.INSUFFICIENT_FLEET]
    assert solution.vehicles_used == 1


def test_a_tight_fleet_under_vehicles_then_distance_never_yields_overloaded_routes():
    """PyVRP's penalties can stay below the fixed vehicle cost and overload routes; solve must not return that."""
    rng = random.Random(1)
    data = {
        "depots": [{"id": "D", "location": {"lat": 52.37, "lon": 4.89}}],
        "vehicles": [
            {"id": f"V{i}", "capacity": 10, "start_depot": "D", "shift": {"start": 480, "end": 1080}} for i in range(25)
        ],
        "jobs": [
            {
                "id": f"J{i}",
                "location": {"lat": 52.37 + rng.uniform(-0.05, 0.05), "lon": 4.89 + rng.uniform(-0.05, 0.05)},
                "demand": 1,
                "service_minutes": 2,
                "time_windows": [{"start": 480, "end": None}],
            }
            for i in range(201)
        ],
        "objective": "vehicles_then_distance",
    }

    solution = solve(problem_from_dict(data), time_limit=1)

    assert solution.is_feasible, solution.violations[:3]
    assert max(route.load for route in solution.routes) <= 10
    assert solution.vehicles_used >= 21  # 201 units on vehicles of 10
    assert len(solution.unassigned) + sum(len(route.stops) for route in solution.routes) == 201
