"""Authentication and tenant isolation over real HTTP against the live test server."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from django.utils import timezone

from deliveries.models import Delivery
from deliveries.tests.factories import DeliveryFactory
from tenants.models import ApiKey
from tenants.services import api_key_revoke

pytestmark = pytest.mark.django_db(transaction=True)


def test_missing_key_is_401_with_a_code(live_server) -> None:  # type: ignore[no-untyped-def]
    response = requests.get(f"{live_server.url}/api/v1/deliveries", timeout=10)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"].startswith("Api-Key")


@pytest.mark.parametrize(
    "header",
    ["Bearer il_abc.def", "Api-Key ", "Api-Key il_nope.nope", "Api-Key not-even-shaped-like-a-key"],
)
def test_malformed_or_unknown_key_is_401(live_server, header: str) -> None:  # type: ignore[no-untyped-def]
    response = requests.get(f"{live_server.url}/api/v1/deliveries", headers={"Authorization": header}, timeout=10)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"


def test_wrong_secret_for_an_existing_prefix_is_401(make_tenant_client) -> None:  # type: ignore[no-untyped-def]
    client = make_tenant_client()
    client.raw_key = client.raw_key[:-4] + "AAAA"
    assert client.get("/api/v1/deliveries").json()["code"] == "invalid_api_key"


def test_revoked_and_expired_keys_are_401_with_their_reason(make_tenant_client) -> None:  # type: ignore[no-untyped-def]
    revoked, expired = make_tenant_client(), make_tenant_client()
    assert revoked.get("/api/v1/deliveries").status_code == 200

    api_key_revoke(api_key=ApiKey.objects.get(tenant=revoked.tenant))
    ApiKey.objects.filter(tenant=expired.tenant).update(expires_at=timezone.now() - dt.timedelta(minutes=1))

    assert revoked.get("/api/v1/deliveries").json() == {"code": "api_key_revoked", "detail": "API key revoked"}
    assert expired.get("/api/v1/deliveries").json() == {"code": "api_key_expired", "detail": "API key expired"}


def test_tenant_sees_only_its_own_deliveries(make_tenant_client) -> None:  # type: ignore[no-untyped-def]
    alice, bob = make_tenant_client(), make_tenant_client()
    DeliveryFactory.create_batch(3, tenant=alice.tenant)
    bobs = DeliveryFactory(tenant=bob.tenant, external_order_id="0xb0b")

    listed = alice.get("/api/v1/deliveries").json()
    assert listed["count"] == 3
    assert "0xb0b" not in {row["order_id"] for row in listed["results"]}
    assert alice.get("/api/v1/deliveries/0xb0b").status_code == 404
    assert bob.get("/api/v1/deliveries/0xb0b").json()["order_id"] == bobs.external_order_id
    assert alice.get(f"/api/v1/import-batches/{bobs.import_batch_id}").status_code == 404


def test_same_order_id_in_two_tenants_resolves_to_the_callers_row(make_tenant_client) -> None:  # type: ignore[no-untyped-def]
    alice, bob = make_tenant_client(), make_tenant_client()
    DeliveryFactory(tenant=alice.tenant, external_order_id="0x1", delivery_minutes=11)
    DeliveryFactory(tenant=bob.tenant, external_order_id="0x1", delivery_minutes=44)
    assert alice.get("/api/v1/deliveries/0x1").json()["delivery_minutes"] == 11
    assert bob.get("/api/v1/deliveries/0x1").json()["delivery_minutes"] == 44


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_no_write_path_to_another_tenants_deliveries(make_tenant_client, method: str) -> None:  # type: ignore[no-untyped-def]
    alice, bob = make_tenant_client(), make_tenant_client()
    target = DeliveryFactory(tenant=bob.tenant, external_order_id="0xb0b", delivery_minutes=30)
    before = list(Delivery.objects.values_list("id", "tenant_id", "delivery_minutes"))

    collection = alice.request(method, "/api/v1/deliveries", json={"order_id": "0xb0b", "delivery_minutes": 1})
    item = alice.request(method, "/api/v1/deliveries/0xb0b", json={"delivery_minutes": 1})

    assert collection.status_code == 405 and collection.json()["code"] == "method_not_allowed"
    assert item.status_code in (404, 405)
    assert list(Delivery.objects.values_list("id", "tenant_id", "delivery_minutes")) == before
    target.refresh_from_db()
    assert target.delivery_minutes == 30
