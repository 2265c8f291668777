"""Feature definitions: point-in-time history, no leakage, and offline == online."""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from core.delivery.schema import load_clean_frame
from core.features import (
    FEATURE_NAMES,
    FEATURES,
    HISTORY_ENTITIES,
    Entity,
    EntityKey,
    EntityState,
    EntityStateSpan,
    FeatureKind,
    build_features,
    build_order_features,
    build_training_features,
    city_id,
    entity_keys,
    entity_state_spans,
    entity_states_as_of,
    restaurant_id,
)
from core.tests import REAL_DATA, TIME_ZONE, assert_same_vector, order_from, synthetic_deliveries


def test_definitions_are_unique_and_typed() -> None:
    assert len(set(FEATURE_NAMES)) == len(FEATURES)
    categorical = {feature.name for feature in FEATURES if feature.kind is FeatureKind.CATEGORICAL}
    assert categorical == {"weather", "traffic", "vehicle", "area"}
    assert all(feature.levels for feature in FEATURES if feature.kind is FeatureKind.CATEGORICAL)
    assert {feature.entity for feature in FEATURES} == {Entity.ORDER, *HISTORY_ENTITIES}


def test_entity_ids_from_courier_id() -> None:
    assert restaurant_id("INDORES13DEL02") == "INDORES13"
    assert city_id("INDORES13DEL02") == "INDO"
    assert restaurant_id("COURIER7") is None


def test_order_features_from_a_constructed_delivery() -> None:
    deliveries = synthetic_deliveries(rows=3)
    deliveries.loc[0, ["pickup_latitude", "pickup_longitude", "drop_latitude", "drop_longitude"]] = [0, 0, 0, 1]
    deliveries.loc[0, "ordered_at"] = pd.Timestamp("2022-03-07 13:45", tz="UTC")  # 19:15 in Kolkata, a Monday
    deliveries.loc[0, "picked_at"] = pd.Timestamp("2022-03-07 13:55", tz="UTC")

    features = build_training_features(deliveries, time_zone=TIME_ZONE)

    row = features.iloc[0]
    assert row["distance_km"] == pytest.approx(111.195, abs=1e-3)  # one degree of longitude at the equator
    assert row["order_hour"] == pytest.approx(19.25)
    assert row["day_of_week"] == 0
    assert row["pickup_wait_minutes"] == 10
    assert row["courier_completed_count"] == 0
    assert math.isnan(row["courier_mean_minutes"])


def test_history_counts_only_deliveries_completed_strictly_before_theorder_from() -> None:
    start = pd.Timestamp("2022-03-01 10:00", tz=TIME_ZONE)
    deliveries = synthetic_deliveries(rows=4)
    deliveries["courier_id"] = "INDORES1DEL01"
    deliveries["ordered_at"] = [start, start + pd.Timedelta(minutes=5), start + pd.Timedelta(minutes=10), start]
    deliveries["picked_at"] = deliveries["ordered_at"]
    # Row 0 completes 10:20, row 1 at 10:15, row 3 at 11:00; row 2 is ordered at 10:10.
    deliveries["delivery_minutes"] = [20.0, 10.0, 30.0, 60.0]
    deliveries.loc[2, "ordered_at"] = start + pd.Timedelta(minutes=20)  # exactly when row 0 completes

    features = build_training_features(deliveries, time_zone=TIME_ZONE)

    # Row 2 (ordered 10:20) sees row 1 (done 10:15) but not row 0 (done at the same instant) nor row 3.
    assert features.loc[2, "courier_completed_count"] == 1
    assert features.loc[2, "courier_mean_minutes"] == 10.0
    assert features.loc[2, "courier_hours_since_last"] == pytest.approx(5 / 60)


def test_no_leakage_from_deliveries_completing_after_theorder_from() -> None:
    deliveries = synthetic_deliveries(rows=600)
    features = build_training_features(deliveries, time_zone=TIME_ZONE)
    position = 400
    order_time = deliveries.loc[position, "ordered_at"]
    completed = deliveries["ordered_at"] + pd.to_timedelta(deliveries["delivery_minutes"], unit="min")

    changed = deliveries.copy()
    later = (completed >= order_time).to_numpy()
    # Change every outcome not yet known at the order (its own included) and add same-entity deliveries
    # that are ordered before it but complete after it.
    changed.loc[later, "delivery_minutes"] = changed.loc[later, "delivery_minutes"] + 17
    extra = changed.loc[[position] * 3].copy()
    extra["external_order_id"] = ["extra1", "extra2", "extra3"]
    extra["ordered_at"] = order_time - pd.Timedelta(minutes=5)
    extra["delivery_minutes"] = [6.0, 30.0, 50.0]
    changed = pd.concat([changed, extra], ignore_index=True)

    changed_features = build_training_features(changed, time_zone=TIME_ZONE)

    pd.testing.assert_series_equal(changed_features.loc[position], features.loc[position])
    assert features.loc[position, "courier_completed_count"] + features.loc[position, "city_completed_count"] > 0


def test_offline_equals_online_on_synthetic_history() -> None:
    deliveries = synthetic_deliveries(rows=800)
    offline = build_training_features(deliveries, time_zone=TIME_ZONE)

    for position in (0, 50, 333, 799):
        order = order_from(deliveries, position)
        states = entity_states_as_of(deliveries, order["ordered_at"])
        assert_same_vector(build_order_features(order, states, time_zone=TIME_ZONE), offline.iloc[position])


def test_incremental_state_equals_state_from_history() -> None:
    deliveries = synthetic_deliveries(rows=300)
    as_of = deliveries["ordered_at"].iloc[250]
    completed = deliveries["ordered_at"] + pd.to_timedelta(deliveries["delivery_minutes"], unit="min")
    courier = deliveries["courier_id"].iloc[0]

    state = EntityState()
    mine = deliveries.assign(completed=completed)[lambda d: (d["courier_id"] == courier) & (d["completed"] < as_of)]
    for row in mine.sort_values("completed", kind="stable").itertuples():
        state = state.with_completion(row.delivery_minutes, row.completed.to_pydatetime())

    assert entity_states_as_of(deliveries, as_of)[EntityKey(Entity.COURIER, courier)] == state


def _with_fractional_minutes(deliveries: pd.DataFrame) -> pd.DataFrame:
    """Durations with many decimals, where the order and the compensation of a sum change its last bits,
    and pairs of deliveries of one courier that complete at the same instant (ties keep history order)."""
    rng = np.random.default_rng(3)
    deliveries = deliveries.assign(delivery_minutes=deliveries["delivery_minutes"] + rng.uniform(0, 1, len(deliveries)))
    tied = deliveries.iloc[::40].copy()
    tied["ordered_at"] = tied["ordered_at"] + pd.Timedelta(seconds=30)
    tied["delivery_minutes"] = tied["delivery_minutes"] - 0.5
    merged = pd.concat([deliveries, tied]).sort_values("ordered_at", kind="stable")
    return merged.reset_index(drop=True)


def test_state_spans_equal_the_states_from_history_bit_for_bit() -> None:
    deliveries = _with_fractional_minutes(synthetic_deliveries(rows=1500))
    unknown = EntityKey(Entity.COURIER, "NONERES1DEL01")

    for as_of in (deliveries["ordered_at"].iloc[700], deliveries["ordered_at"].max() + pd.Timedelta(hours=2)):
        expected = entity_states_as_of(deliveries, as_of)

        spans = entity_state_spans(deliveries, [*expected, unknown], as_of)

        assert len(expected) > 40
        assert {key: span.state for key, span in spans.items() if key != unknown} == expected
        assert spans[unknown] == EntityStateSpan(state=None, last_completed_ns=None, next_completed_ns=None)
    # The data exercises ties in completion time, and what a plain running sum gets wrong: a total.
    completed = deliveries["ordered_at"] + pd.to_timedelta(deliveries["delivery_minutes"], unit="min")
    assert deliveries.assign(completed=completed).duplicated(["courier_id", "completed"]).sum() > 10
    city = next(key for key in expected if key.entity is Entity.CITY)
    in_city = deliveries.assign(completed=completed)[lambda d: d["courier_id"].str.startswith(city.key)]
    assert sum(in_city.sort_values("completed", kind="stable")["delivery_minutes"]) != expected[city].total


def test_a_state_span_holds_from_its_last_completion_to_the_next() -> None:
    deliveries = _with_fractional_minutes(synthetic_deliveries(rows=300))
    courier_id = str(deliveries["courier_id"].iloc[150])
    keys = [EntityKey(entity, key) for entity, key in entity_keys(courier_id).items() if key is not None]
    as_of = deliveries["ordered_at"].iloc[150].to_pydatetime()

    for key, span in entity_state_spans(deliveries, keys, as_of).items():
        assert span.state is not None and span.last_completed_ns is not None and span.next_completed_ns is not None
        last = pd.Timestamp(span.last_completed_ns, tz="UTC")
        following = pd.Timestamp(span.next_completed_ns, tz="UTC")
        assert span.holds_as_of(as_of)
        # A completion counts strictly before the time a state is taken at.
        assert not span.holds_as_of(last.to_pydatetime())
        assert span.holds_as_of((last + pd.Timedelta(microseconds=1)).to_pydatetime())
        assert span.holds_as_of(following.to_pydatetime())
        assert not span.holds_as_of((following + pd.Timedelta(microseconds=1)).to_pydatetime())
        for time in (last + pd.Timedelta(microseconds=1), following):
            assert entity_states_as_of(deliveries, time.to_pydatetime())[key] == span.state
        assert entity_states_as_of(deliveries, (following + pd.Timedelta(microseconds=1)).to_pydatetime())[key] != (
            span.state
        )


def test_online_order_without_pickup_or_history_and_in_utc() -> None:
    order = order_from(synthetic_deliveries(rows=1), 0)
    order["picked_at"] = None
    order["ordered_at"] = dt.datetime(2022, 3, 7, 13, 45, tzinfo=ZoneInfo("UTC"))
    order["weather"] = "hail"  # unknown levels pass through so the model can flag them

    vector = build_order_features(order, {}, time_zone=TIME_ZONE)

    assert math.isnan(vector["pickup_wait_minutes"])
    assert vector["order_hour"] == pytest.approx(19.25)
    assert vector["weather"] == "hail"
    assert vector["restaurant_completed_count"] == 0.0


def test_naive_times_are_refused() -> None:
    order = order_from(synthetic_deliveries(rows=1), 0)
    order["ordered_at"] = dt.datetime(2022, 3, 7, 13, 45)
    with pytest.raises(ValueError, match="naive"):
        build_order_features(order, {}, time_zone=TIME_ZONE)


@pytest.mark.skipif(not REAL_DATA.exists(), reason=f"bundled history absent: {REAL_DATA}")
def test_offline_equals_online_on_the_real_file() -> None:
    deliveries, _ = load_clean_frame(REAL_DATA, time_zone=TIME_ZONE)
    offline = build_training_features(deliveries, time_zone=TIME_ZONE)

    for position in np.random.default_rng(7).choice(len(deliveries), 4, replace=False):
        order = order_from(deliveries, int(position))
        states = entity_states_as_of(deliveries, order["ordered_at"])
        assert_same_vector(build_order_features(order, states, time_zone=TIME_ZONE), offline.iloc[int(position)])


def test_orders_against_a_separate_history_equal_the_online_vectors() -> None:
    """New orders (say, a file to evaluate) get history only from stored deliveries, never from each other."""
    deliveries = synthetic_deliveries(seed=5)
    stored, new_orders = deliveries.iloc[:300], deliveries.iloc[300:340]

    offline = build_features(new_orders, history=stored, time_zone=TIME_ZONE)

    for position in (0, 17, 39):
        order = new_orders.iloc[position]
        states = entity_states_as_of(stored, order["ordered_at"])
        online = build_order_features(order_from(new_orders, position), states, time_zone=TIME_ZONE)
        assert_same_vector(online, offline.iloc[position])
    # The new orders' own outcomes must not feed each other's history features.
    alone = build_features(new_orders, history=stored.iloc[:0], time_zone=TIME_ZONE)
    assert (alone["courier_completed_count"] == 0).all()
