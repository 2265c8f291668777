"""Feature store services on real PostgreSQL and Redis: registration, materialisation, serving, outcomes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from core.features import (
    FEATURE_SET_NAME,
    FEATURE_SET_VERSION,
    FEATURES,
    HISTORY_FEATURES,
    ORDER_FEATURES,
    Entity,
    EntityKey,
    build_order_features,
    build_training_features,
    entity_keys,
    entity_states_as_of,
)
from core.tests import assert_same_vector, order_from
from deliveries.selectors import deliveries_frame
from deliveries.tests.factories import DeliveryFactory
from features import fallback_cache
from features.choices import FeatureSource, Freshness
from features.fallback_cache import fallback_cache_size
from features.models import FeatureSet, MaterializationWatermark
from features.online_store import OnlineStoreUnavailable, read_states, write_states
from features.services import (
    FeatureSetConflict,
    OnlineFeatures,
    feature_set_register_current,
    features_apply_outcome,
    features_materialize,
    online_features_for_order,
    store_namespace,
)
from features.tests.helpers import CountingRedis
from intellilog import redis_client
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def _keys(courier_id: str) -> list[EntityKey]:
    return [EntityKey(entity, key) for entity, key in entity_keys(courier_id).items() if key is not None]


def _sources(result: OnlineFeatures, entity: Entity) -> set[tuple[Freshness, FeatureSource]]:
    return {
        (result.freshness[feature.name].status, result.freshness[feature.name].source)
        for feature in FEATURES
        if feature.entity is entity
    }


def test_registering_the_current_feature_set_is_idempotent_and_mirrors_the_code(settings) -> None:  # type: ignore[no-untyped-def]
    first = feature_set_register_current()
    second = feature_set_register_current()

    assert first.pk == second.pk and FeatureSet.objects.count() == 1
    assert (first.name, first.version) == (FEATURE_SET_NAME, FEATURE_SET_VERSION)
    assert first.entities == ["order", "courier", "restaurant", "city"]
    assert first.features == [feature.as_dict() for feature in FEATURES]
    assert first.features[0] == {
        "name": "distance_km",
        "kind": "numeric",
        "entity": "order",
        "description": "Great-circle distance pickup to drop; valid even for placeholder coordinates.",
        "levels": [],
    }
    assert first.ttl_seconds == django_settings.FEATURE_TTL_SECONDS

    settings.FEATURE_TTL_SECONDS = 7200
    assert feature_set_register_current().ttl_seconds == 7200
    assert FeatureSet.objects.get().ttl_seconds == 7200


def test_changed_definitions_under_the_same_version_are_refused() -> None:
    feature_set = feature_set_register_current()
    FeatureSet.objects.filter(pk=feature_set.pk).update(features=feature_set.features[:-1])

    with pytest.raises(FeatureSetConflict, match="needs a new FEATURE_SET_VERSION"):
        feature_set_register_current()
    assert FeatureSet.objects.get().features == feature_set.features[:-1]  # nothing rewritten


def test_materialising_writes_every_entity_state_with_the_feature_set_ttl(tenant_with_history, redis_client) -> None:  # type: ignore[no-untyped-def]
    as_of = dt.datetime(2022, 2, 17, 12, 0, tzinfo=ZoneInfo("Asia/Kolkata"))
    history = deliveries_frame(tenant=tenant_with_history)
    expected = entity_states_as_of(history, as_of)

    result = features_materialize(tenant=tenant_with_history, as_of=as_of)

    assert result.entities_written == len(expected) > 40
    assert result.feature_set == FeatureSet.objects.get()  # registered by the materialiser
    assert result.deliveries_read == int((history["ordered_at"] < as_of).sum())
    namespace = store_namespace(tenant=tenant_with_history)
    stored = read_states(namespace, list(expected))
    assert {key: value.state for key, value in stored.items()} == expected
    ttl = redis_client.ttl(namespace.key(next(iter(expected))))
    assert django_settings.FEATURE_TTL_SECONDS - 10 <= ttl <= django_settings.FEATURE_TTL_SECONDS


def test_features_served_through_the_store_equal_the_training_rows(tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    history = deliveries_frame(tenant=tenant_with_history)
    offline = build_training_features(history, time_zone=ZoneInfo(tenant_with_history.time_zone))

    for position in (400, 650, len(history) - 1):
        order = order_from(history, position)
        features_materialize(tenant=tenant_with_history, as_of=order["ordered_at"])

        served = online_features_for_order(tenant=tenant_with_history, order=order)

        assert not served.used_fallback and served.fallback_reason is None
        for entity in (Entity.COURIER, Entity.RESTAURANT, Entity.CITY):
            assert _sources(served, entity) == {(Freshness.FRESH, FeatureSource.ONLINE_STORE)}
        assert _sources(served, Entity.ORDER) == {(Freshness.FRESH, FeatureSource.REQUEST)}
        assert served.values["courier_completed_count"] > 0
        assert_same_vector(served.values, offline.iloc[position])


def test_missing_states_are_computed_from_the_database_and_equal_the_training_row(tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    history = deliveries_frame(tenant=tenant_with_history)
    offline = build_training_features(history, time_zone=ZoneInfo(tenant_with_history.time_zone))
    order = order_from(history, 500)

    served = online_features_for_order(tenant=tenant_with_history, order=order)  # nothing materialised

    assert served.used_fallback
    assert served.fallback_reason is not None and "courier" in served.fallback_reason
    assert "not in the store" in served.fallback_reason
    for entity in (Entity.COURIER, Entity.RESTAURANT, Entity.CITY):
        assert _sources(served, entity) == {(Freshness.MISSING, FeatureSource.DATABASE)}
    assert_same_vector(served.values, offline.iloc[500])


def test_a_store_newer_than_the_order_is_not_served_so_nothing_leaks(tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    history = deliveries_frame(tenant=tenant_with_history)
    offline = build_training_features(history, time_zone=ZoneInfo(tenant_with_history.time_zone))
    features_materialize(tenant=tenant_with_history)  # as of now: every delivery counted
    order = order_from(history, 300)

    served = online_features_for_order(tenant=tenant_with_history, order=order)

    assert served.used_fallback
    assert "stored state counts deliveries completed after the order" in (served.fallback_reason or "")
    assert _sources(served, Entity.COURIER) == {(Freshness.MISSING, FeatureSource.DATABASE)}
    assert_same_vector(served.values, offline.iloc[300])


def test_freshness_is_fresh_stale_or_missing_and_stale_values_are_still_served(tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    history = deliveries_frame(tenant=tenant_with_history)
    order = order_from(history, 600)
    courier, restaurant, city = _keys(str(order["courier_id"]))
    states = entity_states_as_of(history, order["ordered_at"])
    namespace = store_namespace(tenant=tenant_with_history)
    now = timezone.now()
    one_hour_ago, seven_hours_ago = now - dt.timedelta(hours=1), now - dt.timedelta(hours=7)
    write_states(namespace, {courier: states[courier]}, computed_at=one_hour_ago, ttl_seconds=60)
    # Counts one delivery fewer than the database would, so serving it (not recomputing) is visible.
    stale_state = entity_states_as_of(history.drop(index=history.index[0]), order["ordered_at"])[restaurant]
    write_states(namespace, {restaurant: stale_state}, computed_at=seven_hours_ago, ttl_seconds=60)

    served = online_features_for_order(tenant=tenant_with_history, order=order)

    assert _sources(served, Entity.COURIER) == {(Freshness.FRESH, FeatureSource.ONLINE_STORE)}
    assert served.freshness["courier_mean_minutes"].computed_at == one_hour_ago
    assert _sources(served, Entity.RESTAURANT) == {(Freshness.STALE, FeatureSource.ONLINE_STORE)}
    assert served.freshness["restaurant_mean_minutes"].computed_at == seven_hours_ago
    assert served.values["restaurant_completed_count"] == stale_state.count
    assert _sources(served, Entity.CITY) == {(Freshness.MISSING, FeatureSource.DATABASE)}
    assert served.values["city_completed_count"] == states[city].count
    for feature in ORDER_FEATURES:
        assert served.freshness[feature.name].status == Freshness.FRESH
        assert served.freshness[feature.name].source == FeatureSource.REQUEST
    assert served.used_fallback and served.fallback_reason == f"city {city.key}: not in the store"


def test_stale_threshold_comes_from_settings(settings, tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    history = deliveries_frame(tenant=tenant_with_history)
    order = order_from(history, 600)
    features_materialize(tenant=tenant_with_history, as_of=order["ordered_at"])
    settings.FEATURE_STALE_AFTER_SECONDS = 0

    served = online_features_for_order(tenant=tenant_with_history, order=order)

    assert {served.freshness[feature.name].status for feature in HISTORY_FEATURES} == {Freshness.STALE}


def test_serving_reads_all_entities_in_one_round_trip(monkeypatch, tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    history = deliveries_frame(tenant=tenant_with_history)
    order = order_from(history, 700)
    features_materialize(tenant=tenant_with_history, as_of=order["ordered_at"])
    client = CountingRedis.from_url(django_settings.REDIS_URL)
    monkeypatch.setattr(redis_client, "_client", client)

    served = online_features_for_order(tenant=tenant_with_history, order=order)

    assert client.round_trips == ["MGET"]
    assert not served.used_fallback
    client.close()


def test_redis_down_falls_back_to_the_database_without_crashing(settings, tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    history = deliveries_frame(tenant=tenant_with_history)
    offline = build_training_features(history, time_zone=ZoneInfo(tenant_with_history.time_zone))
    order = order_from(history, 650)
    features_materialize(tenant=tenant_with_history, as_of=order["ordered_at"])
    settings.REDIS_URL = "redis://127.0.0.1:6390/0"  # nothing listens there: a real connection refused

    served = online_features_for_order(tenant=tenant_with_history, order=order)

    assert served.used_fallback
    assert "online store read failed" in (served.fallback_reason or "")
    assert "Connection refused" in (served.fallback_reason or "")
    for entity in (Entity.COURIER, Entity.RESTAURANT, Entity.CITY):
        assert _sources(served, entity) == {(Freshness.MISSING, FeatureSource.DATABASE)}
    assert_same_vector(served.values, offline.iloc[650])
    with pytest.raises(OnlineStoreUnavailable):
        features_materialize(tenant=tenant_with_history)


def test_incremental_outcomes_equal_a_full_recompute(tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    tenant = tenant_with_history
    features_materialize(tenant=tenant)
    history = deliveries_frame(tenant=tenant)
    courier_id = str(history["courier_id"].iloc[-1])
    keys = _keys(courier_id)
    namespace = store_namespace(tenant=tenant)
    start = history["ordered_at"].max().to_pydatetime() + dt.timedelta(days=1)

    def stored_states():  # type: ignore[no-untyped-def]
        return {key: value.state for key, value in read_states(namespace, keys).items()}

    def recomputed_states():  # type: ignore[no-untyped-def]
        states = entity_states_as_of(deliveries_frame(tenant=tenant), timezone.now())
        return {key: states[key] for key in keys}

    # Outcomes in completion order are folded in incrementally.
    for hours, minutes in ((0, 31.0), (2, 17.5)):
        delivery = DeliveryFactory(
            tenant=tenant,
            external_order_id=f"new-{hours}",
            courier_id=courier_id,
            ordered_at=start + dt.timedelta(hours=hours),
            delivery_minutes=minutes,
        )
        applied = features_apply_outcome(tenant=tenant, delivery=delivery)
        assert (applied.incremental, applied.recomputed) == (keys, [])
    assert stored_states() == recomputed_states()

    # An outcome completing before the last stored completion changes "recent": recomputed from the database.
    late = DeliveryFactory(
        tenant=tenant,
        external_order_id="new-late",
        courier_id=courier_id,
        ordered_at=start + dt.timedelta(hours=1),
        delivery_minutes=12.0,
    )
    applied = features_apply_outcome(tenant=tenant, delivery=late)
    assert (applied.incremental, applied.recomputed) == ([], keys)
    assert stored_states() == recomputed_states()
    assert stored_states()[keys[0]].recent[-3:] == (31.0, 12.0, 17.5)

    # The same outcome twice (a retried task) is not counted twice.
    features_apply_outcome(tenant=tenant, delivery=late)
    assert stored_states() == recomputed_states()


def test_an_outcome_for_an_entity_not_in_the_store_is_recomputed(tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    tenant = tenant_with_history
    history = deliveries_frame(tenant=tenant)
    delivery = DeliveryFactory(
        tenant=tenant,
        external_order_id="new-1",
        courier_id=str(history["courier_id"].iloc[0]),
        ordered_at=history["ordered_at"].max().to_pydatetime() + dt.timedelta(days=1),
    )
    keys = _keys(delivery.courier_id)

    applied = features_apply_outcome(tenant=tenant, delivery=delivery)

    assert (applied.incremental, applied.recomputed) == ([], keys)
    expected = entity_states_as_of(deliveries_frame(tenant=tenant), timezone.now())
    stored = read_states(store_namespace(tenant=tenant), keys)
    assert {key: value.state for key, value in stored.items()} == {key: expected[key] for key in keys}


def test_one_tenants_states_are_never_served_to_another(tenant_with_history, redis_client) -> None:  # type: ignore[no-untyped-def]
    tenant_a = tenant_with_history
    history = deliveries_frame(tenant=tenant_a)
    order = order_from(history, len(history) - 1)
    order["ordered_at"] = order["ordered_at"] + dt.timedelta(days=1)
    courier_id = str(order["courier_id"])
    courier = _keys(courier_id)[0]
    features_materialize(tenant=tenant_a)
    # Tenant B has one delivery by a courier with the same id; tenant C has no deliveries at all.
    tenant_b, tenant_c = TenantFactory(), TenantFactory()
    DeliveryFactory(
        tenant=tenant_b, courier_id=courier_id, ordered_at=history["ordered_at"].iloc[0], delivery_minutes=99.0
    )
    features_materialize(tenant=tenant_b)

    served_a = online_features_for_order(tenant=tenant_a, order=order)
    served_b = online_features_for_order(tenant=tenant_b, order=order)
    served_c = online_features_for_order(tenant=tenant_c, order=order)

    count_a = int((history["courier_id"] == courier_id).sum())
    assert served_a.values["courier_completed_count"] == count_a > 1
    assert (served_b.values["courier_completed_count"], served_b.values["courier_mean_minutes"]) == (1.0, 99.0)
    assert _sources(served_b, Entity.COURIER) == {(Freshness.FRESH, FeatureSource.ONLINE_STORE)}
    assert served_c.values["courier_completed_count"] == 0.0
    assert _sources(served_c, Entity.COURIER) == {(Freshness.MISSING, FeatureSource.DATABASE)}
    key_a = store_namespace(tenant=tenant_a).key(courier)
    key_b = store_namespace(tenant=tenant_b).key(courier)
    assert key_a != key_b and f":{tenant_a.pk}:" in key_a and f":{tenant_b.pk}:" in key_b
    assert redis_client.exists(store_namespace(tenant=tenant_c).key(courier)) == 0


def test_outcome_of_another_tenants_delivery_is_refused(tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    delivery = DeliveryFactory(tenant=TenantFactory())

    with pytest.raises(ValueError, match="another tenant"):
        features_apply_outcome(tenant=tenant_with_history, delivery=delivery)


def test_a_naive_order_time_is_refused(tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    order = order_from(deliveries_frame(tenant=tenant_with_history), 10)
    order["ordered_at"] = dt.datetime(2022, 3, 1, 12, 0)

    with pytest.raises(ValueError, match="time-zone-aware"):
        online_features_for_order(tenant=tenant_with_history, order=order)


# ----- the database fallback: cost, cache, and equality with what materialisation writes -----

CLOSED_REDIS_URL = "redis://127.0.0.1:6390/0"  # nothing listens there: a real connection refused


def test_database_states_equal_the_materialised_ones_bit_for_bit(settings, tenant_with_fractional_minutes) -> None:  # type: ignore[no-untyped-def]
    tenant = tenant_with_fractional_minutes
    history = deliveries_frame(tenant=tenant)
    as_of = history["ordered_at"].iloc[250].to_pydatetime()  # later deliveries exist and must not count
    features_materialize(tenant=tenant, as_of=as_of)
    couriers = sorted(set(history["courier_id"]))
    orders = []
    for courier_id in couriers:
        order = order_from(history, int((history["courier_id"] == courier_id).to_numpy().argmax()))
        orders.append({**order, "ordered_at": as_of})
    keys = [key for courier_id in couriers for key in _keys(courier_id)]
    materialised = {key: value.state for key, value in read_states(store_namespace(tenant=tenant), keys).items()}
    from_store = [online_features_for_order(tenant=tenant, order=order) for order in orders]
    settings.REDIS_URL = CLOSED_REDIS_URL

    from_database = [online_features_for_order(tenant=tenant, order=order) for order in orders]

    assert len(materialised) == len(set(keys)) == 8 + 4 + 2
    for store_served, database_served in zip(from_store, from_database, strict=True):
        assert not store_served.used_fallback and database_served.used_fallback
        assert_same_vector(database_served.values, pd.Series(store_served.values))
    for key in keys:
        cached = fallback_cache.cached_state(tenant_id=tenant.pk, entity_key=key, as_of=as_of)
        assert cached is not None and cached.span.state == materialised[key]
    # Durations with decimals: the totals carry compensated rounding a plain sum would not reproduce.
    city_totals = [materialised[key].total for key in keys if key.entity is Entity.CITY]
    assert all(total != int(total) for total in city_totals)


def test_redis_down_takes_at_most_one_query_per_order_and_none_for_cached_entities(
    settings, tenant_with_history, django_assert_num_queries
) -> None:  # type: ignore[no-untyped-def]
    history = deliveries_frame(tenant=tenant_with_history)
    offline = build_training_features(history, time_zone=ZoneInfo(tenant_with_history.time_zone))
    last = len(history) - 1
    order = order_from(history, last)
    restaurant = _keys(str(order["courier_id"]))[1]
    colleague = history[
        history["courier_id"].str.startswith(restaurant.key + "DEL") & (history["courier_id"] != order["courier_id"])
    ].index[0]
    # Another courier of the same restaurant, ordering at the same time.
    neighbour_order = {**order_from(history, int(colleague)), "ordered_at": order["ordered_at"]}
    settings.REDIS_URL = CLOSED_REDIS_URL

    with django_assert_num_queries(1):
        first = online_features_for_order(tenant=tenant_with_history, order=order)
    with django_assert_num_queries(0):
        again = online_features_for_order(tenant=tenant_with_history, order=order)
    with django_assert_num_queries(1) as captured:
        neighbour = online_features_for_order(tenant=tenant_with_history, order=neighbour_order)

    assert_same_vector(first.values, offline.iloc[last])
    assert_same_vector(again.values, offline.iloc[last])
    # Only the courier was read: its restaurant and city came from the cache.
    assert "LIKE" not in captured.captured_queries[0]["sql"]
    states = entity_states_as_of(history, order["ordered_at"])
    expected = build_order_features(neighbour_order, states, time_zone=ZoneInfo(tenant_with_history.time_zone))
    assert_same_vector(neighbour.values, pd.Series(expected))
    for served in (first, again, neighbour):
        assert served.used_fallback and "online store read failed" in (served.fallback_reason or "")
        for entity in (Entity.COURIER, Entity.RESTAURANT, Entity.CITY):
            assert _sources(served, entity) == {(Freshness.MISSING, FeatureSource.DATABASE)}
    # A cached state reports when the database was read for it, not the later request.
    assert again.freshness["city_mean_minutes"].computed_at == first.freshness["city_mean_minutes"].computed_at


def test_a_cached_state_is_only_served_to_orders_it_holds_for(settings, tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    history = deliveries_frame(tenant=tenant_with_history)
    offline = build_training_features(history, time_zone=ZoneInfo(tenant_with_history.time_zone))
    courier_id = str(history["courier_id"].iloc[-1])
    positions = history.index[history["courier_id"] == courier_id][[5, 10, -1]]
    settings.REDIS_URL = CLOSED_REDIS_URL

    # Later first, then an earlier replay, then one in between: each gets its own point in time.
    for position in (positions[2], positions[0], positions[1]):
        served = online_features_for_order(tenant=tenant_with_history, order=order_from(history, int(position)))
        assert_same_vector(served.values, offline.iloc[int(position)])


def test_cached_states_expire_after_the_configured_seconds(monkeypatch, settings, tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    tenant = tenant_with_history
    history = deliveries_frame(tenant=tenant)
    order = order_from(history, len(history) - 1)
    order["ordered_at"] = order["ordered_at"] + dt.timedelta(days=1)
    settings.REDIS_URL = CLOSED_REDIS_URL
    settings.FEATURE_FALLBACK_CACHE_SECONDS = 30
    clock = [1000.0]
    monkeypatch.setattr(fallback_cache, "monotonic", lambda: clock[0])
    before = online_features_for_order(tenant=tenant, order=order)
    DeliveryFactory(
        tenant=tenant,
        external_order_id="new-1",
        courier_id=order["courier_id"],
        ordered_at=order["ordered_at"] - dt.timedelta(hours=2),
        delivery_minutes=30.0,
    )

    clock[0] += 29.9
    cached = online_features_for_order(tenant=tenant, order=order)
    clock[0] += 0.1
    expired = online_features_for_order(tenant=tenant, order=order)

    count = before.values["courier_completed_count"]
    assert cached.values["courier_completed_count"] == count  # read 29.9 s ago: the new delivery is not seen
    assert expired.values["courier_completed_count"] == count + 1
    assert expired.freshness["courier_mean_minutes"].computed_at > before.freshness["courier_mean_minutes"].computed_at


def test_the_cache_can_be_turned_off_and_is_bounded(settings, tenant_with_history, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    history = deliveries_frame(tenant=tenant_with_history)
    settings.REDIS_URL = CLOSED_REDIS_URL
    settings.FEATURE_FALLBACK_CACHE_SECONDS = 0
    order = order_from(history, 600)

    for _ in range(2):
        with django_assert_num_queries(1):
            online_features_for_order(tenant=tenant_with_history, order=order)
    assert fallback_cache_size() == 0

    settings.FEATURE_FALLBACK_CACHE_SECONDS = 5
    settings.FEATURE_FALLBACK_CACHE_ENTRIES = 4
    for position in (100, 300, 500, 700):
        online_features_for_order(tenant=tenant_with_history, order=order_from(history, position))
    assert fallback_cache_size() == 4
    # The most recently read are kept: the last order's three entities.
    last = order_from(history, 700)
    for key in _keys(str(last["courier_id"])):
        assert fallback_cache.cached_state(tenant_id=tenant_with_history.pk, entity_key=key, as_of=last["ordered_at"])


def test_an_applied_outcome_drops_its_entities_from_the_cache(tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    tenant = tenant_with_history
    history = deliveries_frame(tenant=tenant)
    order = order_from(history, len(history) - 1)
    order["ordered_at"] = order["ordered_at"] + dt.timedelta(days=1)
    keys = _keys(str(order["courier_id"]))
    online_features_for_order(tenant=tenant, order=order)  # nothing materialised: read from the database
    assert all(
        fallback_cache.cached_state(tenant_id=tenant.pk, entity_key=key, as_of=order["ordered_at"]) for key in keys
    )
    delivery = DeliveryFactory(
        tenant=tenant,
        external_order_id="new-1",
        courier_id=order["courier_id"],
        ordered_at=order["ordered_at"] - dt.timedelta(hours=2),
    )

    features_apply_outcome(tenant=tenant, delivery=delivery)

    assert fallback_cache_size() == 0


def test_incremental_materialisation_writes_only_changed_states_and_equals_a_full_run(tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    tenant = tenant_with_history
    history = deliveries_frame(tenant=tenant)
    first_as_of = history["ordered_at"].iloc[len(history) // 2].to_pydatetime()
    second_as_of = first_as_of + dt.timedelta(hours=3)  # some stored deliveries complete in between
    first = features_materialize(tenant=tenant, as_of=first_as_of)
    # Stored after the first run: a new courier in a new city, and a late record of an old courier's delivery.
    new_courier = "ZZZZRES99DEL01"
    for index in range(3):
        DeliveryFactory(tenant=tenant, external_order_id=f"new-{index}", courier_id=new_courier, ordered_at=first_as_of)
    old_courier = history["courier_id"].iloc[0]
    late = history["ordered_at"].iloc[0].to_pydatetime()
    DeliveryFactory(tenant=tenant, external_order_id="late", courier_id=old_courier, ordered_at=late)

    incremental = features_materialize(tenant=tenant, as_of=second_as_of)

    expected = entity_states_as_of(deliveries_frame(tenant=tenant), second_as_of)
    namespace = store_namespace(tenant=tenant)
    after_incremental = {key: value.state for key, value in read_states(namespace, list(expected)).items()}
    full = features_materialize(tenant=tenant, as_of=second_as_of, full=True)
    after_full = {key: value.state for key, value in read_states(namespace, list(expected)).items()}
    assert not first.is_incremental and incremental.is_incremental and not full.is_incremental
    assert after_incremental == after_full == expected  # bit for bit: floats compared exactly
    assert full.entities_written == len(expected) > incremental.entities_written
    assert {EntityKey(Entity.COURIER, new_courier), EntityKey(Entity.CITY, "ZZZZ")} <= set(after_incremental)
    old_key = EntityKey(Entity.COURIER, old_courier)
    assert after_incremental[old_key].count == entity_states_as_of(history, second_as_of)[old_key].count + 1


def test_an_earlier_as_of_or_an_old_full_run_makes_a_full_run(settings, tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    history = deliveries_frame(tenant=tenant_with_history)
    late, early = (history["ordered_at"].iloc[index].to_pydatetime() for index in (600, 300))
    features_materialize(tenant=tenant_with_history, as_of=late)

    assert not features_materialize(tenant=tenant_with_history, as_of=early).is_incremental
    assert features_materialize(tenant=tenant_with_history, as_of=late).is_incremental
    settings.FEATURE_TTL_SECONDS = 2 * 3600
    MaterializationWatermark.objects.update(full_run_at=timezone.now() - dt.timedelta(hours=1))
    assert not features_materialize(tenant=tenant_with_history, as_of=late).is_incremental
