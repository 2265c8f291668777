"""The independent evaluator: schedules, totals, and that it catches broken routes."""

from __future__ import annotations

import pytest

from core.solver import Job, PlannedRoute, Point, TimeWindow, Vehicle, evaluate, solve
from core.tests.solver import planar_problem


def _line_problem(**vehicle_options: object):
    """Depot at 0; jobs at x = 10 (window [20, 30]) and x = 20 (window [0, 100]); demand 4 each."""
    jobs = [
        Job("a", Point(10, 0), demand=4, service_minutes=5, time_windows=(TimeWindow(20, 30),)),
        Job("b", Point(20, 0), demand=4, service_minutes=5, time_windows=(TimeWindow(0, 100),)),
    ]
    vehicle = Vehicle("v1", capacity=10, start_depot="D", shift=TimeWindow(0, 200), **vehicle_options)
    return planar_problem({"D": (0, 0)}, jobs, [vehicle, Vehicle("v2", capacity=10, start_depot="D")])


def test_schedule_waits_for_window_and_leaves_depot_as_late_as_useful():
    problem = _line_problem()

    result = evaluate(problem, [PlannedRoute("v1", ("a", "b"))])

    assert result.is_feasible
    (route,) = result.routes
    # Leaving at 0 would mean waiting 10 at "a"; the evaluator delays departure to 10 instead.
    assert route.start_time == pytest.approx(10)
    a, b = route.stops
    assert (a.arrival, a.service_start, a.departure, a.load_after) == pytest.approx((20, 20, 25, 4))
    assert (b.arrival, b.service_start, b.departure, b.load_after) == pytest.approx((35, 35, 40, 0))
    assert route.end_time == pytest.approx(60)
    assert result.total_distance == pytest.approx(40)
    assert result.total_duration == pytest.approx(50)
    assert result.vehicles_used == 1


def test_catches_broken_routes():
    problem = _line_problem()
    cases = {
        "window": [PlannedRoute("v1", ("b", "a"))],  # "a" reached at 35, after its window closes at 30
        "twice": [PlannedRoute("v1", ("a",)), PlannedRoute("v2", ("a", "b"))],
        "vehicle twice": [PlannedRoute("v1", ("a",)), PlannedRoute("v1", ("b",))],
        "unknown job": [PlannedRoute("v1", ("a", "zz"))],
        "unknown vehicle": [PlannedRoute("v9", ("a",))],
    }
    expected = {
        "window": "job a: service starts at 35.00, after its window closes",
        "twice": "job a: served 2 times",
        "vehicle twice": "vehicle v1: has 2 routes",
        "unknown job": "job zz: not in the problem",
        "unknown vehicle": "vehicle v9: not in the problem",
    }
    for name, routes in cases.items():
        result = evaluate(problem, routes)
        assert not result.is_feasible, name
        assert expected[name] in result.violations, (name, result.violations)


def test_catches_capacity_shift_and_duration_breaches():
    small = _line_problem()
    small.vehicles[0] = Vehicle("v1", capacity=7, start_depot="D", shift=TimeWindow(0, 50), max_route_duration=45)

    result = evaluate(small, [PlannedRoute("v1", ("a", "b"))])

    assert result.violations == (
        "vehicle v1: load 8 exceeds capacity 7",
        "vehicle v1: returns at 60.00, after its shift ends at 50",
        "vehicle v1: route takes 50.00, more than its maximum 45",
    )


def test_catches_a_solver_plan_broken_by_hand():
    problem = _line_problem()
    solution = solve(problem, time_limit=0.3)
    assert solution.is_feasible
    routes = [PlannedRoute(r.vehicle_id, tuple(r.job_ids)) for r in solution.routes]
    assert evaluate(problem, routes).is_feasible

    broken = [PlannedRoute("v1", ("b", "a"))]

    assert not evaluate(problem, broken).is_feasible


def test_soft_window_lateness_is_a_cost_not_a_violation():
    job = Job("late", Point(30, 0), time_windows=(TimeWindow(0, 10),), lateness_cost_per_minute=2.0)
    problem = planar_problem({"D": (0, 0)}, [job], [Vehicle("v1", capacity=1, start_depot="D")])

    result = evaluate(problem, [PlannedRoute("v1", ("late",))])

    assert result.is_feasible
    assert result.total_lateness == pytest.approx(20)
    assert result.lateness_cost == pytest.approx(40)


def test_several_windows_wait_for_the_next_open_one():
    job = Job("two", Point(15, 0), time_windows=(TimeWindow(0, 10), TimeWindow(40, 50)))
    problem = planar_problem({"D": (0, 0)}, [job], [Vehicle("v1", capacity=1, start_depot="D")])

    result = evaluate(problem, [PlannedRoute("v1", ("two",))])

    assert result.is_feasible
    (stop,) = result.routes[0].stops
    assert stop.service_start == pytest.approx(40)
