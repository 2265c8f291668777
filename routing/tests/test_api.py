"""The routing API over real HTTP against the live test server: solve, poll, validate, isolate tenants."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import requests

from core.solver import PlannedRoute, evaluate, problem_from_dict
from routing.choices import RoutePlanStatus
from routing.constants import MAX_JOBS, MAX_TIME_LIMIT_SECONDS, MAX_VEHICLES, SYNC_MAX_JOBS
from routing.models import RoutePlan
from routing.tests.factories import RoutePlanFactory, job, problem_payload, vehicle
from tenants.services import api_key_create
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db(transaction=True)

OPTIMIZE = "/api/v1/routes/optimize"


def _check_against_evaluator(payload: dict[str, Any], result: dict[str, Any]) -> None:
    """The plan the API returned, re-checked by the solver's independent evaluator on the same problem."""
    problem = problem_from_dict(payload)
    planned = [PlannedRoute(route["vehicle_id"], tuple(route["job_ids"])) for route in result["routes"]]
    evaluation = evaluate(problem, planned)
    assert evaluation.is_feasible, evaluation.violations
    unassigned = {item["job_id"] for item in result["unassigned"]}
    assert evaluation.served_job_ids | unassigned == {j["id"] for j in payload["jobs"]}
    assert not evaluation.served_job_ids & unassigned
    assert result["total_distance"] == pytest.approx(evaluation.total_distance)
    checked = {r.vehicle_id: r for r in evaluation.routes}
    for route in result["routes"]:
        expected = checked[route["vehicle_id"]]
        assert (
            route["load"]
            == expected.load
            <= next(v["capacity"] for v in payload["vehicles"] if v["id"] == route["vehicle_id"])
        )
        for stop, truth in zip(route["stops"], expected.stops, strict=True):
            assert stop["job_id"] == truth.job_id
            assert stop["arrival"] == pytest.approx(truth.arrival)
            assert stop["departure"] == pytest.approx(truth.departure)
            assert stop["load"] == truth.load_after


def test_small_problem_is_solved_inline_with_a_feasible_plan(make_tenant_client) -> None:  # type: ignore[no-untyped-def]
    client = make_tenant_client()
    payload = problem_payload(jobs=8, vehicles=2)

    response = client.post(OPTIMIZE, json=payload)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "solved" and body["is_async"] is False and body["error"] == ""
    result = body["result"]
    assert result["unassigned"] == []
    assert result["objective"] == "vehicles_then_distance"
    assert result["vehicles_used"] == 1  # 8 units fit one vehicle of 10, and the windows allow it
    assert result["travel_source"] == "haversine@30kmh"
    assert result["stats"]["backend"] == "pyvrp" and result["stats"]["time_limit"] == 1
    assert result["is_feasible"] is True and result["violations"] == []
    stop = result["routes"][0]["stops"][0]
    assert set(stop) == {"job_id", "arrival", "service_start", "departure", "load", "lateness"}
    _check_against_evaluator(payload, result)
    assert response.headers["Location"].endswith(f"/api/v1/routes/{body['id']}")
    polled = client.get(f"/api/v1/routes/{body['id']}").json()
    assert polled == body


def test_large_problem_answers_202_and_the_polled_plan_is_complete(make_tenant_client) -> None:  # type: ignore[no-untyped-def]
    client = make_tenant_client()
    payload = problem_payload(jobs=SYNC_MAX_JOBS + 1, vehicles=25, objective="distance")
    for item in payload["jobs"]:
        item["time_windows"] = []  # a pure CVRP: 201 units on 25 x 10 capacity always fits

    response = client.post(OPTIMIZE, json=payload)

    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued["is_async"] is True
    polled = client.get(f"/api/v1/routes/{queued['id']}")
    assert polled.status_code == 200
    plan = polled.json()
    assert plan["status"] == "solved"
    assert plan["job_count"] == SYNC_MAX_JOBS + 1
    assert plan["finished_at"] >= plan["started_at"] >= plan["created_at"]
    assert plan["result"]["unassigned"] == []
    _check_against_evaluator(payload, plan["result"])


def test_soft_window_is_served_late_at_its_cost(make_tenant_client) -> None:  # type: ignore[no-untyped-def]
    client = make_tenant_client()
    late = job(1, time_windows=[{"start": 0, "end": 400}], lateness_cost_per_minute=0.01)
    payload = problem_payload(jobs=0, vehicles=1) | {"jobs": [late, job(2)]}

    result = client.post(OPTIMIZE, json=payload).json()["result"]

    assert result["stats"]["backend"] == "ortools"  # soft windows need OR-Tools
    assert result["unassigned"] == []
    stops = {stop["job_id"]: stop for route in result["routes"] for stop in route["stops"]}
    assert stops["J1"]["lateness"] == pytest.approx(stops["J1"]["service_start"] - 400)
    assert stops["J1"]["lateness"] >= 80  # the shift starts at 480
    assert result["objective_value"] == pytest.approx(result["total_distance"] + 0.01 * result["total_lateness"])
    _check_against_evaluator(payload, result)


def test_infeasible_jobs_come_back_unassigned_with_reasons(make_tenant_client) -> None:  # type: ignore[no-untyped-def]
    client = make_tenant_client()
    payload = problem_payload(jobs=0, vehicles=1) | {
        "jobs": [
            job(1, demand=6),
            job(2, demand=6),  # fits alone, but not together with J1 in the one vehicle
            job(3, demand=11),  # more than any vehicle carries
            job(4, time_windows=[{"start": 100, "end": 200}]),  # closes before the shift starts at 480
        ]
    }

    response = client.post(OPTIMIZE, json=payload)

    assert response.status_code == 201
    result = response.json()["result"]
    reasons = {item["job_id"]: item["reason"] for item in result["unassigned"]}
    assert reasons.pop("J3") == "demand_exceeds_capacity"
    assert reasons.pop("J4") == "time_window_unreachable"
    assert list(reasons.values()) == ["insufficient_fleet"]  # J1 or J2, whichever the solver left out
    assert all(item["detail"] for item in result["unassigned"])
    _check_against_evaluator(payload, result)


def test_a_duration_matrix_replaces_haversine_as_the_travel_source(make_tenant_client) -> None:  # type: ignore[no-untyped-def]
    client = make_tenant_client()
    payload = problem_payload(jobs=0, vehicles=1) | {"jobs": [job(1)]}
    payload["duration_matrix"] = [[0, 17], [23, 0]]

    result = client.post(OPTIMIZE, json=payload).json()["result"]

    assert result["travel_source"] == "user-matrix"
    route = result["routes"][0]
    assert route["stops"][0]["arrival"] - route["start_time"] == pytest.approx(17)
    assert route["end_time"] - route["stops"][0]["departure"] == pytest.approx(23)


def _without(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(payload: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        target: Any = payload
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        del target[leaf]

    return mutate


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(payload: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        target: Any = payload
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        target[int(leaf) if leaf.isdigit() else leaf] = value

    return mutate


INVALID = [
    (_set("jobs.0.demand", -1), "jobs.0.demand"),
    (_set("jobs.1.time_windows", [{"start": 600, "end": 540}]), "jobs.1.time_windows.0.end"),
    (_set("jobs.1.time_windows", [{"start": 500, "end": 600}, {"start": 550, "end": 700}]), "jobs.1.time_windows"),
    (_set("vehicles.0.shift", {"start": 900, "end": 480}), "vehicles.0.shift.end"),
    (_set("vehicles.1.start_depot", "NOPE"), "vehicles.1.start_depot"),
    (_set("vehicles.0.end_depot", "NOPE"), "vehicles.0.end_depot"),
    (_set("jobs.2.id", "J1"), "jobs.2.id"),
    (_set("vehicles.1.id", "V1"), "vehicles.1.id"),
    (_set("duration_matrix", [[0, 1], [1, 0]]), "duration_matrix"),
    (_set("duration_matrix", [[0, 1, 2], [1, 0]]), "duration_matrix"),
    (_set("duration_matrix", [[0, 1, 1, 1], [1, 0, -1, 1], [1, 1, 0, 1], [1, 1, 1, 0]]), "duration_matrix"),
    (_set("depots.0.id", "D2"), "vehicles.0.start_depot"),
    (_set("jobs", [job(i) for i in range(MAX_JOBS + 1)]), "jobs"),
    (_set("vehicles", [vehicle(k) for k in range(MAX_VEHICLES + 1)]), "vehicles"),
    (_set("vehicles", []), "vehicles"),
    (_set("jobs", "many"), "jobs"),
    (_set("time_limit_seconds", MAX_TIME_LIMIT_SECONDS + 1), "time_limit_seconds"),
    (_set("time_limit_seconds", 0), "time_limit_seconds"),
    (_set("objective", "fastest"), "objective"),
    (_set("speed_kmh", 0), "speed_kmh"),
    (_set("jobs.0.location", {"lat": 91, "lon": 0}), "jobs.0.location.lat"),
    (_set("jobs.0.lateness_cost_per_minute", 1.0), "jobs.0.lateness_cost_per_minute"),  # J1 has no window
    (_set("jobs.1.lateness_cost_per_minute", 0), "jobs.1.lateness_cost_per_minute"),
    (_without("vehicles.0.capacity"), "vehicles.0.capacity"),
    (_set("jobs.0.service_minutes", "soon"), "jobs.0.service_minutes"),
]


def test_each_invalid_problem_is_400_naming_the_field(make_tenant_client) -> None:  # type: ignore[no-untyped-def]
    client = make_tenant_client()
    mismatches = []
    # One tenant and one live server for all cases: a test per case would spend most of its time on setup.
    for mutate, field in INVALID:
        payload = copy.deepcopy(problem_payload(jobs=3))
        payload["jobs"][0]["time_windows"] = []  # so that a lateness cost on J1 has no window to soften
        mutate(payload)

        response = client.post(OPTIMIZE, json=payload)

        body = response.json()
        outcome = (response.status_code, body.get("code"), body.get("field"), str(body.get("detail")))
        if outcome[:3] != (400, "invalid", field) or not outcome[3].startswith(f"{field}: "):
            mismatches.append(outcome)
    assert mismatches == []
    assert not RoutePlan.objects.exists()


def test_malformed_bodies_are_400_never_500(make_tenant_client) -> None:  # type: ignore[no-untyped-def]
    client = make_tenant_client()
    for body in ["not json", "[1, 2]", "null", '{"depots": NaN}', "{}", '{"jobs": [[]]}']:
        response = client.post(OPTIMIZE, data=body, headers={"Content-Type": "application/json"})

        assert response.status_code == 400, (body, response.text)
        assert response.json()["code"] in ("invalid", "parse_error")
    assert not RoutePlan.objects.exists()


def test_missing_key_is_401_and_solves_nothing(live_server) -> None:  # type: ignore[no-untyped-def]
    response = requests.post(f"{live_server.url}{OPTIMIZE}", json=problem_payload(), timeout=10)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert not RoutePlan.objects.exists()


def test_another_tenants_plan_is_404_and_unchanged(make_tenant_client) -> None:  # type: ignore[no-untyped-def]
    alice, bob = make_tenant_client(), make_tenant_client()
    plan = RoutePlanFactory(tenant=alice.tenant)
    before = list(RoutePlan.objects.values())

    assert bob.get(f"/api/v1/routes/{plan.pk}").status_code == 404
    assert bob.get("/api/v1/routes").json()["count"] == 0
    for method in ("PUT", "PATCH", "DELETE"):
        assert bob.request(method, f"/api/v1/routes/{plan.pk}", json={"status": "solved"}).status_code in (404, 405)

    assert list(RoutePlan.objects.values()) == before
    assert alice.get(f"/api/v1/routes/{plan.pk}").json()["status"] == RoutePlanStatus.QUEUED
    assert [row["id"] for row in alice.get("/api/v1/routes").json()["results"]] == [plan.pk]


def test_plan_list_takes_a_fixed_number_of_queries(client, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    tenant = TenantFactory()
    issued = api_key_create(tenant=tenant, name="test")
    RoutePlanFactory.create_batch(5, tenant=tenant)
    RoutePlanFactory()  # another tenant's

    # key lookup, its last-used stamp, the count and the page
    with django_assert_num_queries(4):
        response = client.get("/api/v1/routes", headers={"Authorization": f"Api-Key {issued.raw_key}"})

    assert response.status_code == 200
    assert response.json()["count"] == 5
    assert "result" not in response.json()["results"][0]


def test_with_a_champion_eta_model_travel_times_come_from_it(make_tenant_client, model_storage, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from django.core.management import call_command

    from core.delivery.synthetic import SyntheticConfig, write_synthetic_file
    from registry.services import promotion_request_approve, promotion_request_create
    from registry.tests.factories import UserFactory, approver
    from registry.training import eta_model_train

    client = make_tenant_client()
    history = write_synthetic_file(tmp_path / "h.csv.gz", SyntheticConfig(rows=3000, seed=5, days=21))
    call_command("import_deliveries", str(history), tenant=client.tenant.slug)
    version = eta_model_train(tenant=client.tenant, created_by="test")
    request = promotion_request_create(version=version, user=UserFactory(), reason="serve")
    promotion_request_approve(request=request, user=approver(), comment="ok")

    response = client.post(OPTIMIZE, json=problem_payload(traffic_condition="jam"))

    assert response.status_code == 201, response.json()
    result = response.json()["result"]
    # shifts start at 08:00: the departure bucket is hour 8
    assert result["travel_source"] == f"eta-model:{version}@30kmh[traffic=jam][bucket=8]"
    assert result["is_feasible"] and not result["violations"]
    haversine = client.post(OPTIMIZE, json=problem_payload(travel_times="haversine")).json()["result"]
    assert haversine["travel_source"] == "haversine@30kmh"


def test_asking_for_the_eta_model_without_a_champion_is_400_naming_the_field(make_tenant_client) -> None:  # type: ignore[no-untyped-def]
    client = make_tenant_client()
    response = client.post(OPTIMIZE, json=problem_payload(travel_times="eta_model"))
    assert response.status_code == 400
    assert response.json()["field"] == "travel_times"
    assert not RoutePlan.objects.filter(tenant=client.tenant).exists()
