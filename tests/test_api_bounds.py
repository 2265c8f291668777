"""Every answer under /api/ is JSON with a `code`, whatever the body, the URL or a failure inside (issue 11).

Bodies too large (413), nested too deep (400), with undeclared fields (400 naming them), unknown URLs
(404), a crash inside a view (500), and the same outcome reported twice at the same moment (200/409).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import pytest
import requests
from django.conf import settings
from django.test import Client

from predictions.models import PredictionAudit, PredictionOutcome
from predictions.tests.test_api import order_body
from routing.models import RoutePlan
from tenants.services import api_key_create
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

ETA = "/api/v1/predictions/eta"
BATCH = "/api/v1/predictions/eta/batch"
OPTIMIZE = "/api/v1/routes/optimize"
POST_ENDPOINTS = (ETA, BATCH, "/api/v1/deliveries/any-order/outcome", OPTIMIZE)


@pytest.fixture
def api() -> Client:
    """An in-process client with a tenant's key that answers a crash with the 500 page, as gunicorn would."""
    tenant = TenantFactory()
    issued = api_key_create(tenant=tenant, name="test")
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {issued.raw_key}", raise_request_exception=False)
    client.tenant = tenant  # type: ignore[attr-defined]
    return client


def post_raw(api: Client, path: str, body: bytes | str):  # type: ignore[no-untyped-def]
    return api.generic("POST", path, body, content_type="application/json")


def assert_json_error(response, status: int, code: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    assert (response.status_code, body["code"]) == (status, code), body
    assert isinstance(body["detail"], str) and body["detail"]
    return body


@pytest.mark.parametrize("path", ["/api/v1/nowhere", "/api/v1/predictions/eta/x/y", "/api/"])
def test_unknown_api_urls_answer_json_404(api: Client, path: str) -> None:
    assert_json_error(api.get(path), 404, "not_found")


@pytest.mark.parametrize("path", POST_ENDPOINTS)
def test_a_body_over_the_limit_is_413_json_before_it_is_read(api: Client, path: str) -> None:
    ten_megabytes = json.dumps({"order_id": "x", "padding": "x" * 10_000_000})
    assert_json_error(post_raw(api, path, ten_megabytes), 413, "payload_too_large")
    assert not PredictionAudit.objects.exists()


def test_a_hundred_thousand_order_batch_is_413_json(api: Client) -> None:
    body = json.dumps({"orders": [order_body(order_id=f"o{index}") for index in range(100_000)]})
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert_json_error(post_raw(api, BATCH, body), 413, "payload_too_large")


@pytest.mark.parametrize("path", POST_ENDPOINTS)
@pytest.mark.parametrize("depth", [40, 600, 5000])
def test_deeply_nested_json_is_a_400_on_every_post_endpoint(api: Client, path: str, depth: int) -> None:
    assert_json_error(post_raw(api, path, "[" * depth + "]" * depth), 400, "too_deep")
    nested_field = '{"order_id": "x", "orders": ' + "[" * depth + "]" * depth + "}"
    assert_json_error(post_raw(api, path, nested_field), 400, "too_deep")


@pytest.mark.parametrize("path", POST_ENDPOINTS)
def test_malformed_json_is_a_400_json(api: Client, path: str) -> None:
    assert_json_error(post_raw(api, path, b"{\xff not json"), 400, "parse_error")


def test_unknown_fields_are_refused_by_name_and_nothing_is_audited(api: Client) -> None:
    body = assert_json_error(
        api.post(ETA, order_body(junk="x" * 100_000), content_type="application/json"), 400, "invalid"
    )
    assert body["field"] == "junk"
    batch = {"orders": [order_body(), order_body(extra=1)]}
    body = assert_json_error(post_raw(api, BATCH, json.dumps(batch)), 400, "invalid")
    assert body["field"] == "orders.1.extra"
    body = assert_json_error(
        api.post(
            "/api/v1/deliveries/x/outcome", {"delivery_minutes": 30, "note": "hi"}, content_type="application/json"
        ),
        400,
        "invalid",
    )
    assert body["field"] == "note"
    assert not PredictionAudit.objects.exists()


def test_unknown_fields_in_a_routing_problem_are_refused(api: Client) -> None:
    problem = {
        "depots": [{"id": "d", "location": {"lat": 12.9, "lon": 77.6, "alt": 3}}],
        "vehicles": [{"id": "v", "capacity": 10, "start_depot": "d"}],
        "jobs": [{"id": "j", "location": {"lat": 12.95, "lon": 77.65}}],
    }
    body = assert_json_error(post_raw(api, OPTIMIZE, json.dumps(problem)), 400, "invalid")
    assert body["field"] == "depots.0.location.alt"
    assert not RoutePlan.objects.exists()


@pytest.mark.parametrize("value", [True, False, "NaN", "-Infinity"])
def test_booleans_and_non_finite_numbers_are_not_coordinates(api: Client, value: object) -> None:
    body = json.dumps(order_body(pickup_latitude=value))
    assert assert_json_error(post_raw(api, ETA, body), 400, "invalid")["field"] == "pickup_latitude"
    problem = {
        "depots": [{"id": "d", "location": {"lat": value, "lon": 77.6}}],
        "vehicles": [{"id": "v", "capacity": 10, "start_depot": "d"}],
        "jobs": [{"id": "j", "location": {"lat": 12.95, "lon": 77.65}}],
    }
    body = json.dumps(problem)
    assert assert_json_error(post_raw(api, OPTIMIZE, body), 400, "invalid")["field"] == "depots.0.location.lat"


def test_a_crash_inside_a_view_is_a_json_500(api: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(**kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("predictions.api.views.serving_model", crash)
    body = assert_json_error(api.get("/api/v1/models/info"), 500, "server_error")
    assert "a bug" not in json.dumps(body)


def test_pages_are_capped_whatever_limit_asks(api: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.API_MAX_PAGE_SIZE = 2
    from deliveries.tests.factories import DeliveryFactory

    DeliveryFactory.create_batch(3, tenant=api.tenant)  # type: ignore[attr-defined]
    page = api.get("/api/v1/deliveries?limit=100000").json()
    assert (page["count"], len(page["results"])) == (3, 2)


@pytest.mark.django_db(transaction=True)
def test_the_same_outcome_sent_at_the_same_moment_is_one_201_and_repeats(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    client = serving_tenant.client
    pairs = 8
    for index in range(pairs):
        assert client.post(ETA, json=order_body(order_id=f"race-{index}")).status_code == 200

    def together(*calls: Callable[[], requests.Response]) -> list[requests.Response]:
        barrier = threading.Barrier(len(calls))
        answers: list[requests.Response] = [None] * len(calls)  # type: ignore[list-item]

        def run(position: int) -> None:
            barrier.wait()
            answers[position] = calls[position]()

        threads = [threading.Thread(target=run, args=(position,)) for position in range(len(calls))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return answers

    for index in range(pairs):
        url = f"/api/v1/deliveries/race-{index}/outcome"
        minutes = (30, 30) if index % 2 == 0 else (30, 41)
        answers = together(*(lambda u=url, m=m: client.post(u, json={"delivery_minutes": m}) for m in minutes))
        statuses = sorted(answer.status_code for answer in answers)
        assert all(answer.headers["Content-Type"].startswith("application/json") for answer in answers)
        assert statuses == ([200, 201] if minutes[0] == minutes[1] else [201, 409]), [a.text for a in answers]
    assert PredictionOutcome.objects.filter(tenant=client.tenant).count() == pairs
