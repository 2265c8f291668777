"""The Redis online store on a real Redis: layout, TTL, exact round trip of states, one round trip per read."""

from __future__ import annotations

import datetime as dt

import pytest
import redis
from django.conf import settings
from django.test import override_settings

from core.features import Entity, EntityKey, EntityState
from features.online_store import (
    OnlineStoreUnavailable,
    StoreNamespace,
    read_states,
    update_states,
    write_states,
)
from features.tests.helpers import CountingRedis
from intellilog.redis_client import get_client

COURIER = EntityKey(Entity.COURIER, "INDORES13DEL02")
RESTAURANT = EntityKey(Entity.RESTAURANT, "INDORES13")
CITY = EntityKey(Entity.CITY, "INDO")
COMPUTED_AT = dt.datetime(2022, 3, 1, 9, 30, 0, 123456, tzinfo=dt.UTC)


def _namespace(prefix: str, tenant_id: int = 7) -> StoreNamespace:
    return StoreNamespace(prefix=prefix, tenant_id=tenant_id, feature_set="eta_order_features", version=1)


def _state(*minutes: float) -> EntityState:
    state = EntityState()
    for index, value in enumerate(minutes):
        state = state.with_completion(value, dt.datetime(2022, 3, 1, 8, index, 0, 250001, tzinfo=dt.UTC))
    return state


def test_states_round_trip_exactly_under_the_documented_key_with_a_ttl(
    store_prefix: str, redis_client: redis.Redis
) -> None:
    namespace = _namespace(store_prefix)
    states = {COURIER: _state(0.1, 0.2, 1 / 3), CITY: _state(*range(15))}

    written = write_states(namespace, states, computed_at=COMPUTED_AT, ttl_seconds=3600)

    assert written == 2
    key = f"{store_prefix}:7:eta_order_features:v1:courier:INDORES13DEL02"
    assert namespace.key(COURIER) == key
    assert 3590 <= redis_client.ttl(key) <= 3600
    stored = read_states(namespace, [COURIER, RESTAURANT, CITY])
    assert set(stored) == {COURIER, CITY}  # the restaurant was never written: absent, not empty
    assert stored[COURIER].state == states[COURIER]
    assert stored[COURIER].state.total == 0.1 + 0.2 + 1 / 3  # float64 bits survive JSON
    assert stored[CITY].state.recent == tuple(float(m) for m in range(5, 15))
    assert stored[COURIER].computed_at == COMPUTED_AT


def test_a_read_of_all_entities_is_one_round_trip(store_prefix: str) -> None:
    namespace = _namespace(store_prefix)
    write_states(namespace, {COURIER: _state(10), RESTAURANT: _state(20)}, computed_at=COMPUTED_AT, ttl_seconds=60)
    client = CountingRedis.from_url(settings.REDIS_URL)

    stored = read_states(namespace, [COURIER, RESTAURANT, CITY], client=client)

    assert client.round_trips == ["MGET"]
    assert set(stored) == {COURIER, RESTAURANT}
    client.close()


def test_large_writes_go_in_pipelined_batches(store_prefix: str) -> None:
    namespace = _namespace(store_prefix)
    states = {EntityKey(Entity.COURIER, f"C{index}"): _state(index) for index in range(1200)}
    client = CountingRedis.from_url(settings.REDIS_URL)

    write_states(namespace, states, computed_at=COMPUTED_AT, ttl_seconds=60, client=client)

    # One pipeline object, executed in batches of 500: no per-key round trip.
    assert client.round_trips == ["PIPELINE"]
    assert len(read_states(namespace, list(states))) == 1200
    client.close()


def test_update_sees_the_stored_states_and_writes_with_ttl(store_prefix: str, redis_client: redis.Redis) -> None:
    namespace = _namespace(store_prefix)
    write_states(namespace, {COURIER: _state(10)}, computed_at=COMPUTED_AT, ttl_seconds=60)
    seen: list[set[EntityKey]] = []
    completed = dt.datetime(2022, 3, 1, 9, 0, tzinfo=dt.UTC)

    def add_twenty(stored):  # type: ignore[no-untyped-def]
        seen.append(set(stored))
        return {key: stored[key].state.with_completion(20.0, completed) for key in stored}

    update_states(namespace, [COURIER, CITY], add_twenty, computed_at=COMPUTED_AT, ttl_seconds=900)

    assert seen == [{COURIER}]
    assert read_states(namespace, [COURIER])[COURIER].state == _state(10).with_completion(20.0, completed)
    assert 890 <= redis_client.ttl(namespace.key(COURIER)) <= 900


def test_a_closed_port_is_reported_as_unavailable_not_crashed(settings, store_prefix: str) -> None:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = "redis://127.0.0.1:6390/0"  # nothing listens there: a real connection refused
    namespace = _namespace(store_prefix)

    with pytest.raises(OnlineStoreUnavailable, match="read failed"):
        read_states(namespace, [COURIER])
    with pytest.raises(OnlineStoreUnavailable, match="write failed"):
        write_states(namespace, {COURIER: _state(1)}, computed_at=COMPUTED_AT, ttl_seconds=60)


def test_the_shared_client_is_created_once_and_follows_redis_url_overrides() -> None:
    assert get_client() is get_client()
    assert get_client().ping()
    with override_settings(REDIS_URL="redis://127.0.0.1:6390/0"), pytest.raises(redis.ConnectionError):
        get_client().ping()
    assert get_client().ping()  # back on the real Redis, not stuck on the closed port
