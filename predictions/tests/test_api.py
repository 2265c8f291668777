"""The prediction API over real HTTP: predictions, audit, idempotency, batch, outcomes and every error code."""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import requests
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from core.features import Entity, EntityKey, build_features
from deliveries.models import Delivery
from deliveries.selectors import deliveries_frame
from features.online_store import read_states
from features.services import store_namespace
from intellilog.append_only import AppendOnlyError
from predictions.models import PredictionAudit, PredictionOutcome
from predictions.orders import OrderInput
from tenants.models import ApiKey

pytestmark = pytest.mark.django_db(transaction=True)

ETA = "/api/v1/predictions/eta"
BATCH = "/api/v1/predictions/eta/batch"


def order_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "order_id": "web-1",
        "pickup_latitude": 22.745049,
        "pickup_longitude": 75.892471,
        "drop_latitude": 22.765049,
        "drop_longitude": 75.912471,
        "traffic_condition": "High",
        "weather_condition": "sunny",
        "ordered_at": "2022-03-04T11:30:00+05:30",
        "vehicle_type": "motorcycle",
        "driver_id": "INDORES13DEL02",
        "picked_at": "2022-03-04T11:45:00+05:30",
        "area": "Urban",
        "driver_age": 37,
        "driver_rating": 4.9,
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not ...}


def test_a_prediction_is_explained_and_audited_exactly_as_returned(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    client = serving_tenant.client
    response = client.post(ETA, json=order_body(), headers={"X-Request-ID": "caller-42"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["order_id"] == "web-1"
    assert body["model_version"] == serving_tenant.version.version
    assert body["artifact_sha256"] == serving_tenant.version.artifact_sha256
    quantiles = [body["quantiles"][name] for name in ("p05", "p25", "p50", "p75", "p95")]
    assert quantiles == sorted(quantiles)
    assert 0.0 <= body["confidence_score"] <= 1.0
    explanation = body["explanation"]
    assert len(explanation["top"]) == 5
    total = (
        explanation["base_minutes"] + sum(item["minutes"] for item in explanation["top"]) + explanation["other_minutes"]
    )
    assert math.isclose(total, body["predicted_eta_minutes"], abs_tol=1e-3)
    assert body["is_ood"] is False and body["out_of_range_features"] == []
    assert body["request_id"] == "caller-42" == response.headers["X-Request-ID"]

    audit = PredictionAudit.objects.get(pk=body["audit_id"])
    assert audit.response == body
    assert audit.request == order_body()
    assert audit.tenant == client.tenant and audit.model_version == serving_tenant.version
    assert audit.order["traffic"] == "high" and audit.order["area"] == "urban"
    assert audit.latency_ms == body["processing_time_ms"] > 0
    assert set(audit.features) == set(audit.feature_freshness)


def test_values_outside_the_training_range_are_flagged_out_of_distribution(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    body = serving_tenant.client.post(ETA, json=order_body(driver_age=79, distance_km=...)).json()
    assert body["is_ood"] is True
    [flag] = body["out_of_range_features"]
    assert (flag["feature"], flag["value"]) == ("courier_age", 79.0)
    assert flag["reason"].startswith("above the training range")


def test_the_seed_fields_time_of_day_and_distance_km_are_accepted(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    coordinates = dict.fromkeys(("pickup_latitude", "pickup_longitude", "drop_latitude", "drop_longitude"), ...)
    body = order_body(ordered_at=..., picked_at=..., time_of_day="18:30", distance_km=4.2, **coordinates)
    response = serving_tenant.client.post(ETA, json=body)

    assert response.status_code == 200, response.text
    audit = PredictionAudit.objects.get(pk=response.json()["audit_id"])
    assert audit.features["distance_km"] == 4.2
    assert audit.features["has_usable_coordinates"] == 0.0
    assert audit.features["order_hour"] == 18.5


def test_served_features_equal_the_offline_features_for_the_same_order(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    """Training/serving skew: the online vector equals the offline builder's row, with Redis and without."""
    tenant = serving_tenant.client.tenant
    call_command("materialize_features", tenant=tenant.slug)
    history = deliveries_frame(tenant=tenant)
    time_zone = ZoneInfo(tenant.time_zone)
    late = history.iloc[-1]
    ordered_at = late["ordered_at"].to_pydatetime() + dt.timedelta(hours=2)
    body = order_body(
        order_id="skew-1",
        driver_id=late["courier_id"],
        ordered_at=ordered_at.isoformat(),
        picked_at=(ordered_at + dt.timedelta(minutes=10)).isoformat(),
    )
    online = serving_tenant.client.post(ETA, json=body).json()
    order = OrderInput.from_json(PredictionAudit.objects.get(pk=online["audit_id"]).order)
    orders = pd.DataFrame([{column: getattr(order, column, None) for column in history.columns}])
    orders["ordered_at"] = pd.to_datetime(orders["ordered_at"], utc=True)
    orders["picked_at"] = pd.to_datetime(orders["picked_at"], utc=True)
    offline = build_features(orders, history=history, time_zone=time_zone).iloc[0].to_dict()

    audit = PredictionAudit.objects.get(pk=online["audit_id"])
    assert {freshness["source"] for freshness in audit.feature_freshness.values()} == {"online_store", "request"}
    for name, value in offline.items():
        served = audit.features[name]
        assert (
            served is None and (value is None or (isinstance(value, float) and math.isnan(value)))
        ) or served == value, name


def test_redis_down_still_predicts_from_the_database_and_says_so(serving_tenant, settings) -> None:  # type: ignore[no-untyped-def]
    tenant = serving_tenant.client.tenant
    call_command("materialize_features", tenant=tenant.slug)
    with_redis = serving_tenant.client.post(ETA, json=order_body(order_id="r-1")).json()

    settings.REDIS_URL = "redis://127.0.0.1:6390/0"  # nothing listens there
    response = serving_tenant.client.post(ETA, json=order_body(order_id="r-2"))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["used_fallback"] is True
    assert "online store read failed" in body["fallback_reason"]
    assert body["feature_freshness"]["courier_mean_minutes"]["status"] == "missing"
    assert body["feature_freshness"]["courier_mean_minutes"]["source"] == "database"
    assert body["predicted_eta_minutes"] == with_redis["predicted_eta_minutes"]


def test_a_stale_feature_is_served_flagged_stale(serving_tenant, settings) -> None:  # type: ignore[no-untyped-def]
    call_command("materialize_features", tenant=serving_tenant.client.tenant.slug)
    settings.FEATURE_STALE_AFTER_SECONDS = 0
    body = serving_tenant.client.post(ETA, json=order_body()).json()
    assert body["feature_freshness"]["courier_completed_count"]["status"] == "stale"
    assert body["feature_freshness"]["courier_completed_count"]["source"] == "online_store"
    assert body["feature_freshness"]["distance_km"] == {"status": "fresh", "source": "request", "computed_at": None}


def test_an_idempotent_retry_returns_the_stored_prediction_and_a_different_body_conflicts(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    client = serving_tenant.client
    first = client.post(ETA, json=order_body(), headers={"Idempotency-Key": "k-1"})
    retry = client.post(ETA, json=order_body(), headers={"Idempotency-Key": "k-1"})

    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert PredictionAudit.objects.count() == 1

    conflict = client.post(ETA, json=order_body(driver_age=40), headers={"Idempotency-Key": "k-1"})
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "idempotency_conflict"
    assert PredictionAudit.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"driver_id": ...}, "driver_id"),
        ({"vehicle_type": "rocket"}, "vehicle_type"),
        ({"ordered_at": "2022-03-04T11:30:00"}, "ordered_at"),
        ({"ordered_at": "2022-13-45T11:30:00+05:30"}, "ordered_at"),
        ({"drop_longitude": ...}, "drop_longitude"),
        ({"pickup_latitude": 91}, "pickup_latitude"),
        ({"driver_rating": 7}, "driver_rating"),
        ({"picked_at": "2022-03-04T10:00:00+05:30"}, "picked_at"),
        ({"ordered_at": ..., "picked_at": ...}, "ordered_at"),
    ],
)
def test_invalid_input_is_a_400_naming_the_field_and_stores_nothing(serving_tenant, change, field) -> None:  # type: ignore[no-untyped-def]
    response = serving_tenant.client.post(ETA, json=order_body(**change))
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid"
    assert response.json()["field"] == field
    assert PredictionAudit.objects.count() == 0


def test_malformed_json_and_bad_idempotency_keys_are_400s(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    client = serving_tenant.client
    broken = client.post(ETA, data='{"order_id": NaN}', headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["code"] == "parse_error"
    too_long = client.post(ETA, json=order_body(), headers={"Idempotency-Key": "k" * 300})
    assert too_long.status_code == 400 and too_long.json()["field"] == "Idempotency-Key"
    assert PredictionAudit.objects.count() == 0


def test_keys_are_checked_and_rate_limited(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    client = serving_tenant.client
    missing = client.post(ETA, json=order_body(), headers={"Authorization": ""})
    assert missing.status_code == 401
    wrong = client.post(ETA, json=order_body(), headers={"Authorization": "Api-Key il_nope.nope"})
    assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_api_key")

    ApiKey.objects.filter(tenant=client.tenant).update(rate_limit_per_minute=2)
    codes = [client.post(ETA, json=order_body(order_id=f"rl-{i}")).status_code for i in range(4)]
    limited = client.post(ETA, json=order_body(order_id="rl-x"))
    assert codes[:2] == [200, 200] and codes[2:] == [429, 429]
    assert limited.status_code == 429 and limited.json()["code"] == "throttled"
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert PredictionAudit.objects.count() == 2


def test_without_a_champion_the_answer_is_503_with_a_code(make_tenant_client) -> None:  # type: ignore[no-untyped-def]
    response = make_tenant_client().post(ETA, json=order_body())
    assert response.status_code == 503
    assert response.json()["code"] == "no_champion"
    assert PredictionAudit.objects.count() == 0


def test_batch_predictions_equal_single_ones_and_are_each_audited(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    client = serving_tenant.client
    orders = [
        order_body(order_id=f"b-{i}", driver_age=25 + i, traffic_condition=level)
        for i, level in enumerate(["low", "jam", "medium"])
    ]
    response = client.post(BATCH, json={"orders": orders})

    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["order_id"] for p in predictions] == ["b-0", "b-1", "b-2"]
    single = client.post(ETA, json=orders[1]).json()
    assert predictions[1]["predicted_eta_minutes"] == single["predicted_eta_minutes"]
    assert predictions[1]["explanation"] == single["explanation"]
    assert PredictionAudit.objects.filter(source="batch_api").count() == 3


def test_one_bad_order_refuses_the_whole_batch_naming_it(serving_tenant, settings) -> None:  # type: ignore[no-untyped-def]
    client = serving_tenant.client
    response = client.post(BATCH, json={"orders": [order_body(), order_body(vehicle_type="rocket")]})
    assert response.status_code == 400
    assert response.json()["field"] == "orders.1.vehicle_type"
    too_many = client.post(BATCH, json={"orders": [order_body()] * 1001})
    assert too_many.status_code == 400 and too_many.json()["field"] == "orders"
    assert PredictionAudit.objects.count() == 0


def test_a_reported_outcome_becomes_ground_truth_and_feeds_the_feature_store(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    client = serving_tenant.client
    tenant = client.tenant
    call_command("materialize_features", tenant=tenant.slug)
    courier = EntityKey(Entity.COURIER, "INDORES13DEL02")
    before = read_states(store_namespace(tenant=tenant), [courier]).get(courier)
    predicted = client.post(ETA, json=order_body(order_id="out-1")).json()

    response = client.post("/api/v1/deliveries/out-1/outcome", json={"delivery_minutes": 31.5})

    assert response.status_code == 201, response.text
    assert response.json()["actual_minutes"] == 31.5
    [joined] = response.json()["predictions"]
    assert joined["audit_id"] == predicted["audit_id"]
    assert math.isclose(joined["error_minutes"], predicted["predicted_eta_minutes"] - 31.5)
    delivery = Delivery.objects.get(tenant=tenant, external_order_id="out-1")
    assert delivery.import_batch is None and delivery.delivery_minutes == 31.5
    assert PredictionOutcome.objects.get(audit_id=predicted["audit_id"]).delivery == delivery
    after = read_states(store_namespace(tenant=tenant), [courier])[courier]
    assert after.state.count == (before.state.count if before else 0) + 1

    again = client.post("/api/v1/deliveries/out-1/outcome", json={"delivery_minutes": 31.5})
    assert again.status_code == 200
    different = client.post("/api/v1/deliveries/out-1/outcome", json={"delivery_minutes": 40})
    assert (different.status_code, different.json()["code"]) == (409, "outcome_conflict")
    assert PredictionOutcome.objects.count() == 1


def test_outcome_errors_name_the_problem(serving_tenant, make_tenant_client) -> None:  # type: ignore[no-untyped-def]
    client = serving_tenant.client
    unknown = client.post("/api/v1/deliveries/never/outcome", json={"delivery_minutes": 30})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_order")
    client.post(ETA, json=order_body(order_id="no-pickup", picked_at=...))
    no_pickup = client.post("/api/v1/deliveries/no-pickup/outcome", json={"delivery_minutes": 30})
    assert (no_pickup.status_code, no_pickup.json()["field"]) == (400, "picked_at")
    too_fast = client.post("/api/v1/deliveries/no-pickup/outcome", json={"delivered_at": "2022-03-04T11:30:30+05:30"})
    assert (too_fast.status_code, too_fast.json()["field"]) == (400, "delivered_at")
    nothing = client.post("/api/v1/deliveries/no-pickup/outcome", json={})
    assert (nothing.status_code, nothing.json()["field"]) == (400, "delivery_minutes")

    client.post(ETA, json=order_body(order_id="mine"))
    other = make_tenant_client()
    stranger = other.post("/api/v1/deliveries/mine/outcome", json={"delivery_minutes": 30})
    assert stranger.status_code == 404
    assert not Delivery.objects.filter(external_order_id__in=["mine", "no-pickup"]).exists()


def test_instants_outside_the_plausible_window_are_400s_naming_the_field(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    """Orders dated 9999, 2262 or 1600 were an HTML 500; a pickup 30 days late passed as an outcome."""
    client = serving_tenant.client
    for ordered_at in ("9999-01-01T00:00:00+00:00", "2262-06-01T00:00:00+00:00", "1600-06-01T00:00:00+00:00"):
        for path, body in (
            (ETA, order_body(ordered_at=ordered_at)),
            (BATCH, {"orders": [order_body(ordered_at=ordered_at)]}),
        ):
            response = client.post(path, json=body)
            assert response.status_code == 400, (ordered_at, response.text)
            assert response.json()["field"] in ("ordered_at", "orders.0.ordered_at")
            assert "is implausible" in response.json()["detail"]
    late_pickup = client.post(ETA, json=order_body(picked_at="2022-03-04T18:30:00+05:30"))
    assert (late_pickup.status_code, late_pickup.json()["field"]) == (400, "picked_at")
    assert PredictionAudit.objects.count() == 0

    client.post(ETA, json=order_body(order_id="late", picked_at=...))
    outcome = "/api/v1/deliveries/late/outcome"
    for body, field in (
        ({"delivery_minutes": 30, "picked_at": "9999-01-01T00:00:00+00:00"}, "picked_at"),
        ({"delivery_minutes": 30, "picked_at": "2022-04-03T11:40:00+05:30"}, "picked_at"),
        ({"delivery_minutes": 30, "picked_at": "2022-03-04T11:00:00+05:30"}, "picked_at"),
        ({"delivered_at": "9999-12-31T23:59:59+00:00", "picked_at": "2022-03-04T11:40:00+05:30"}, "delivered_at"),
    ):
        refused = client.post(outcome, json=body)
        assert (refused.status_code, refused.json()["code"], refused.json()["field"]) == (400, "invalid", field), body
    assert not Delivery.objects.filter(external_order_id="late").exists()
    accepted = client.post(outcome, json={"delivery_minutes": 30, "picked_at": "2022-03-04T11:40:00+05:30"})
    assert accepted.status_code == 201, accepted.text


def test_audit_rows_are_append_only_in_the_orm_and_the_database(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    body = serving_tenant.client.post(ETA, json=order_body()).json()
    audit = PredictionAudit.objects.get(pk=body["audit_id"])

    audit.predicted_eta_minutes = 1.0
    with pytest.raises(AppendOnlyError):
        audit.save()
    with pytest.raises(AppendOnlyError):
        audit.delete()
    with pytest.raises(AppendOnlyError):
        PredictionAudit.objects.filter(pk=audit.pk).update(predicted_eta_minutes=1.0)
    with pytest.raises(AppendOnlyError):
        PredictionAudit.objects.filter(pk=audit.pk).delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM predictions_predictionaudit WHERE id = %s", [audit.pk])
    assert PredictionAudit.objects.get(pk=audit.pk).response == body


def test_predictions_and_feature_ages_reach_the_prometheus_metrics(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    client = serving_tenant.client
    call_command("materialize_features", tenant=client.tenant.slug)
    client.post(ETA, json=order_body())

    exposition = requests.get(f"{client.base_url}/metrics", timeout=10).text
    labels = f'model_version="{serving_tenant.version.version}",tenant="{client.tenant.slug}"'
    assert f"intellilog_prediction_latency_seconds_count{{{labels}}} 1.0" in exposition
    assert f'intellilog_feature_age_seconds_count{{entity="courier",tenant="{client.tenant.slug}"}} 1.0' in exposition


def test_error_responses_are_counted_per_tenant_and_code(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    client = serving_tenant.client
    client.post(ETA, json=order_body(vehicle_type="rocket"))
    exposition = requests.get(f"{client.base_url}/metrics", timeout=10).text
    assert f'intellilog_serving_errors_total{{code="invalid",tenant="{client.tenant.slug}"}} 1.0' in exposition
