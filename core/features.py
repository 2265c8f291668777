"""ETA features: one definition, computed offline over a history frame or online for one order.

Every feature describes a delivery as known when it is ordered; the outcome (`delivery_minutes`) of the
order itself is never used. History features summarise each entity's (courier, restaurant, city) earlier
deliveries, but only those *completed* (``ordered_at + delivery_minutes``) strictly before the order's
``ordered_at``, the way a feature store that learns of an outcome when the delivery ends would see them.

Both paths reduce history to the same per-entity `EntityState` (count, sum, sum of squares, the last
`RECENT_WINDOW` durations, last completion time) and turn a state into feature values with the same
numpy function, so the online vector for an order equals the row the offline builder produced for it,
bit for bit. That equality is what makes training honest and audit rows replayable.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from core.delivery.schema import AREA_VALUES, TRAFFIC_VALUES, VEHICLE_VALUES, WEATHER_VALUES

FEATURE_SET_NAME = "eta_order_features"
FEATURE_SET_VERSION = 1

# Durations averaged by the "recent" history features: long enough to smooth single deliveries, short
# enough to follow a courier whose pace changes. The online store keeps exactly this many per entity.
RECENT_WINDOW = 10
EARTH_RADIUS_KM = 6371.0088
_RESTAURANT_PATTERN = r"^(.*?RES\d+)"
_RESTAURANT_RE = re.compile(_RESTAURANT_PATTERN)
_CITY_PREFIX_LENGTH = 4
_NS_PER_HOUR = 3_600_000_000_000
_NS_PER_MINUTE = 60_000_000_000

FeatureValue = float | str | None
FeatureVector = dict[str, FeatureValue]


class FeatureKind(enum.StrEnum):
    """How the model reads a feature: a number (NaN when unknown) or one of a fixed set of levels."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


class Entity(enum.StrEnum):
    """What a feature describes; history features are kept per courier, restaurant and city."""

    ORDER = "order"
    COURIER = "courier"
    RESTAURANT = "restaurant"
    CITY = "city"


HISTORY_ENTITIES: tuple[Entity, ...] = (Entity.COURIER, Entity.RESTAURANT, Entity.CITY)


@dataclass(frozen=True)
class FeatureDefinition:
    """One feature: its name in the vector, its kind, the entity it describes and its allowed levels."""

    name: str
    kind: FeatureKind
    entity: Entity
    description: str
    levels: tuple[str, ...] = ()
    # False for a count that grows with history: every order after the training period exceeds the
    # training range, so an out-of-distribution range check would flag them all.
    has_stable_range: bool = True

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "entity": self.entity.value,
            "description": self.description,
            "levels": list(self.levels),
        }


def _numeric(name: str, description: str, entity: Entity = Entity.ORDER) -> FeatureDefinition:
    return FeatureDefinition(name, FeatureKind.NUMERIC, entity, description)


def _categorical(name: str, levels: tuple[str, ...], description: str) -> FeatureDefinition:
    return FeatureDefinition(name, FeatureKind.CATEGORICAL, Entity.ORDER, description, levels)


ORDER_FEATURES: tuple[FeatureDefinition, ...] = (
    _numeric("distance_km", "Great-circle distance pickup to drop; valid even for placeholder coordinates."),
    _numeric("has_usable_coordinates", "1 when the pickup point is a real place, 0 for the (0, 0) placeholder."),
    _numeric("order_hour", "Local time of day of the order in hours, minutes as a fraction."),
    _numeric("day_of_week", "Local day of week of the order, Monday = 0."),
    _numeric("pickup_wait_minutes", "Minutes from order to pickup; NaN when not yet known at serving time."),
    _categorical("weather", WEATHER_VALUES, "Weather at order time."),
    _categorical("traffic", TRAFFIC_VALUES, "Road traffic density at order time."),
    _categorical("vehicle", VEHICLE_VALUES, "Courier's vehicle."),
    _categorical("area", AREA_VALUES, "Kind of area delivered to."),
    _numeric("courier_age", "Courier's age in years."),
    _numeric("courier_rating", "Courier's rating 1..5; NaN when unrated."),
)

_HISTORY_STATISTICS: tuple[tuple[str, str], ...] = (
    ("completed_count", "Deliveries completed before the order."),
    ("mean_minutes", "Mean duration of deliveries completed before the order."),
    ("std_minutes", "Standard deviation of those durations (NaN below two deliveries)."),
    ("recent_mean_minutes", f"Mean duration of the last {RECENT_WINDOW} deliveries completed before the order."),
    ("hours_since_last", "Hours from the last completed delivery to the order."),
)

HISTORY_FEATURES: tuple[FeatureDefinition, ...] = tuple(
    FeatureDefinition(
        f"{entity.value}_{statistic}",
        FeatureKind.NUMERIC,
        entity,
        f"{entity.value.capitalize()}: {description}",
        has_stable_range=statistic != "completed_count",
    )
    for entity in HISTORY_ENTITIES
    for statistic, description in _HISTORY_STATISTICS
)

FEATURES: tuple[FeatureDefinition, ...] = ORDER_FEATURES + HISTORY_FEATURES
FEATURES_BY_NAME: dict[str, FeatureDefinition] = {feature.name: feature for feature in FEATURES}
FEATURE_NAMES: tuple[str, ...] = tuple(feature.name for feature in FEATURES)


@dataclass(frozen=True)
class EntityKey:
    """Identifies one entity's history in the online store."""

    entity: Entity
    key: str


@dataclass(frozen=True)
class EntityState:
    """What the online store keeps per entity: enough to compute every history feature for it.

    ``recent`` holds the last `RECENT_WINDOW` durations, oldest first, in completion order.
    """

    count: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    recent: tuple[float, ...] = ()
    last_completed_at: dt.datetime | None = None

    def with_completion(self, minutes: float, completed_at: dt.datetime) -> EntityState:
        """The state after one more delivery completed; what the materialiser applies per outcome.

        Completions must arrive in completion order, as the offline builder sorts them.
        """
        return EntityState(
            count=self.count + 1,
            total=self.total + minutes,
            total_sq=self.total_sq + minutes * minutes,
            recent=(*self.recent, minutes)[-RECENT_WINDOW:],
            last_completed_at=completed_at,
        )


EntityStates = Mapping[EntityKey, EntityState]


@dataclass(frozen=True)
class EntityStateSpan:
    """An entity's state as of some time, and every other time it is the state as of.

    ``state`` is None when none of the entity's deliveries had completed. The same state holds as of any
    time after its last completion (``last_completed_ns``) up to and including the entity's next completion
    in the history it came from (``next_completed_ns``; None: no later one), since a state counts the
    completions strictly before the time it is taken at. Both bounds are in whole nanoseconds, as the
    completion events are, so no rounding decides which side of a bound a time falls on.
    """

    state: EntityState | None
    last_completed_ns: int | None
    next_completed_ns: int | None

    def holds_as_of(self, as_of: dt.datetime) -> bool:
        """Whether ``state`` is also the state as of ``as_of``, given the same history."""
        as_of_ns = _timestamp_ns(as_of)
        is_after_last = self.last_completed_ns is None or self.last_completed_ns < as_of_ns
        return is_after_last and (self.next_completed_ns is None or as_of_ns <= self.next_completed_ns)


def restaurant_id(courier_id: str) -> str | None:
    """The restaurant part of a courier id (``INDORES13DEL02`` -> ``INDORES13``), None when absent."""
    match = _RESTAURANT_RE.match(courier_id)
    return match.group(1) if match else None


def city_id(courier_id: str) -> str | None:
    """The city part of a courier id (its first four characters), None for a shorter id."""
    return courier_id[:_CITY_PREFIX_LENGTH] if len(courier_id) >= _CITY_PREFIX_LENGTH else None


def entity_keys(courier_id: str) -> dict[Entity, str | None]:
    """The history entities an order belongs to, keyed by entity."""
    return {Entity.COURIER: courier_id, Entity.RESTAURANT: restaurant_id(courier_id), Entity.CITY: city_id(courier_id)}


def _entity_key_column(courier_ids: pd.Series, entity: Entity) -> pd.Series:
    """Vectorised `entity_keys` for one entity; must agree with the scalar functions above.

    Keys are derived once per distinct courier id (a few thousand, against millions of rows) and then
    spread to the rows by their codes.
    """
    codes, distinct = pd.factorize(courier_ids, use_na_sentinel=True)
    ids = pd.Series(np.asarray(distinct, dtype=object), dtype=object)
    if entity is Entity.COURIER:
        keys = ids
    elif entity is Entity.RESTAURANT:
        keys = ids.str.extract(_RESTAURANT_PATTERN, expand=False).astype(object)
    else:
        keys = ids.where(ids.str.len() >= _CITY_PREFIX_LENGTH).str[:_CITY_PREFIX_LENGTH].astype(object)
    spread = np.append(keys.to_numpy(dtype=object), np.nan)[codes]
    return pd.Series(spread, index=courier_ids.index, dtype=object)


def _timestamp_ns(value: dt.datetime) -> int:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: ETA features need time-zone-aware times")
    return int(pd.Timestamp(value).as_unit("ns").value)


def datetime_from_ns(nanoseconds: int) -> dt.datetime:
    """The UTC datetime of epoch `nanoseconds`, cut to the whole microseconds a datetime holds (on purpose)."""
    return pd.Timestamp(nanoseconds, tz="UTC").floor("us").to_pydatetime()


def _timestamps_ns(values: pd.Series) -> np.ndarray:
    if getattr(values.dt, "tz", None) is None:
        raise ValueError("naive datetimes: ETA features need time-zone-aware times")
    return values.dt.as_unit("ns").astype("int64").to_numpy()


def _haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(a, dtype=np.float64)) for a in (lat1, lon1, lat2, lon2))
    half_chord = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(half_chord))


def _history_values(
    count: np.ndarray,
    total: np.ndarray,
    total_sq: np.ndarray,
    recent_sum: np.ndarray,
    recent_count: np.ndarray,
    hours_since: np.ndarray,
) -> dict[str, np.ndarray]:
    """History feature values from entity states; the one formula both paths share."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(count > 0, total / count, np.nan)
        variance = np.maximum(total_sq / count - mean * mean, 0.0)
        return {
            "completed_count": count.astype(np.float64),
            "mean_minutes": mean,
            "std_minutes": np.where(count > 1, np.sqrt(variance), np.nan),
            "recent_mean_minutes": np.where(recent_count > 0, recent_sum / recent_count, np.nan),
            "hours_since_last": hours_since,
        }


def _completed_ns(history: pd.DataFrame) -> np.ndarray:
    """When each delivery of ``history`` completed, in whole nanoseconds (its minutes rounded to them)."""
    minutes = history["delivery_minutes"].to_numpy(dtype=np.float64)
    return _timestamps_ns(history["ordered_at"]) + np.round(minutes * _NS_PER_MINUTE).astype(np.int64)


def _completion_events(history: pd.DataFrame, entity: Entity) -> pd.DataFrame:
    """One row per delivery with a known entity, in completion order, carrying the state after it.

    Ties in completion time keep the history's row order (stable sort), and the online path uses this
    same function, so both agree on which durations count as "recent".
    """
    events = pd.DataFrame(
        {
            "key": _entity_key_column(history["courier_id"], entity).to_numpy(),
            "completed_ns": _completed_ns(history),
            "minutes": history["delivery_minutes"].to_numpy(dtype=np.float64),
        }
    )
    events = events[events["key"].notna()].sort_values("completed_ns", kind="stable").reset_index(drop=True)
    by_key = events.groupby("key", sort=False)
    events["count"] = by_key.cumcount() + 1
    events["total"] = by_key["minutes"].cumsum()
    events["total_sq"] = (events["minutes"] * events["minutes"]).groupby(events["key"]).cumsum()
    # Summed oldest first, starting from 0.0, exactly as Python's sum() over the online state's tuple, so
    # the two paths round identically; a missing lag adds 0.0, which changes nothing.
    recent_sum = pd.Series(0.0, index=events.index)
    for lag in range(RECENT_WINDOW - 1, -1, -1):
        recent_sum = recent_sum + by_key["minutes"].shift(lag).fillna(0.0)
    events["recent_sum"] = recent_sum
    events["recent_count"] = np.minimum(events["count"], RECENT_WINDOW)
    return events


def _order_features(
    *,
    pickup: tuple[np.ndarray, np.ndarray],
    drop: tuple[np.ndarray, np.ndarray],
    has_usable_coordinates: np.ndarray,
    local_hour: np.ndarray,
    local_minute: np.ndarray,
    local_second: np.ndarray,
    day_of_week: np.ndarray,
    pickup_wait_ns: np.ndarray,
    courier_age: np.ndarray,
    courier_rating: np.ndarray,
) -> dict[str, np.ndarray]:
    """Numeric order-level features from arrays; shared by both paths for identical rounding."""
    return {
        "distance_km": _haversine_km(pickup[0], pickup[1], drop[0], drop[1]),
        "has_usable_coordinates": has_usable_coordinates.astype(np.float64),
        "order_hour": local_hour + local_minute / 60.0 + local_second / 3600.0,
        "day_of_week": day_of_week.astype(np.float64),
        "pickup_wait_minutes": pickup_wait_ns / _NS_PER_MINUTE,
        "courier_age": courier_age.astype(np.float64),
        "courier_rating": courier_rating.astype(np.float64),
    }


def _category_values(values: Sequence[object] | pd.Series) -> list[str | None]:
    """Categorical values as plain strings or None; unknown levels stay as written so OOD can name them."""
    return [
        None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value) for value in values
    ]


def _category_column(values: pd.Series) -> pd.Series:
    """`_category_values` over a column, applied once per distinct value rather than once per row."""
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    labels = np.array([*_category_values(list(distinct)), None], dtype=object)
    return pd.Series(labels[codes], index=values.index, dtype=object)


def build_training_features(history: pd.DataFrame, *, time_zone: ZoneInfo) -> pd.DataFrame:
    """Features for every delivery in ``history``, point-in-time, vectorised (no per-row Python loop).

    ``history`` has the clean delivery columns (see `core.delivery.schema.CleanDelivery`). The result has the
    same index and the columns `FEATURE_NAMES`: float64 for numeric features, object (str or None) for
    categorical ones. ``time_zone`` is the tenant's local zone, used for time of day and day of week.
    """
    return build_features(history, history=history, time_zone=time_zone)


def build_features(orders: pd.DataFrame, *, history: pd.DataFrame, time_zone: ZoneInfo) -> pd.DataFrame:
    """Features for ``orders`` whose history features come from the deliveries in ``history``.

    Each order sees only the ``history`` deliveries completed strictly before it was ordered; the orders'
    own outcomes are not used unless they are also in ``history``. Evaluating a file of new orders against
    a tenant's stored deliveries is ``build_features(file_orders, history=stored)``; training is the
    special case ``orders is history``.
    """
    ordered_local = orders["ordered_at"].dt.tz_convert(time_zone)
    ordered_ns = _timestamps_ns(orders["ordered_at"])
    picked = orders["picked_at"]
    picked_ns = np.where(picked.notna(), _timestamps_ns(picked.fillna(orders["ordered_at"])), 0)
    wait_ns = np.where(picked.notna().to_numpy(), (picked_ns - ordered_ns).astype(np.float64), np.nan)
    numeric = _order_features(
        pickup=(orders["pickup_latitude"].to_numpy(), orders["pickup_longitude"].to_numpy()),
        drop=(orders["drop_latitude"].to_numpy(), orders["drop_longitude"].to_numpy()),
        has_usable_coordinates=orders["has_usable_coordinates"].to_numpy(dtype=bool),
        local_hour=ordered_local.dt.hour.to_numpy(dtype=np.float64),
        local_minute=ordered_local.dt.minute.to_numpy(dtype=np.float64),
        local_second=ordered_local.dt.second.to_numpy(dtype=np.float64),
        day_of_week=ordered_local.dt.day_of_week.to_numpy(),
        pickup_wait_ns=wait_ns,
        courier_age=orders["courier_age"].to_numpy(dtype=np.float64),
        courier_rating=pd.to_numeric(orders["courier_rating"], errors="coerce").to_numpy(dtype=np.float64),
    )
    columns: dict[str, object] = dict(numeric)
    for name in ("weather", "traffic", "vehicle", "area"):
        columns[name] = _category_column(orders[name])

    positions = np.arange(len(orders))
    for entity in HISTORY_ENTITIES:
        events = _completion_events(history, entity)
        order_keys = pd.DataFrame(
            {
                "position": positions,
                "key": _entity_key_column(orders["courier_id"], entity).to_numpy(),
                "ordered_ns": ordered_ns,
            }
        )
        known = order_keys[order_keys["key"].notna()].sort_values("ordered_ns", kind="stable")
        # One key dtype on both sides: pandas infers str for non-empty frames and object for empty ones.
        known = known.astype({"key": object})
        # allow_exact_matches=False: a delivery completing at the very instant of the order is not yet known.
        # Only the event's row number travels through the join: merge_asof turns columns with gaps into
        # float64, which would round nanosecond timestamps.
        joined = pd.merge_asof(
            known,
            events[["key", "completed_ns"]].astype({"key": object}).assign(event_row=np.arange(len(events))),
            left_on="ordered_ns",
            right_on="completed_ns",
            by="key",
            allow_exact_matches=False,
            direction="backward",
        )
        has_history = joined["event_row"].notna().to_numpy()
        target = joined["position"].to_numpy()[has_history]
        source = joined["event_row"].to_numpy()[has_history].astype(np.int64)
        state = {}
        for column in ("count", "total", "total_sq", "recent_sum", "recent_count"):
            state[column] = np.zeros(len(orders), dtype=np.float64)
            state[column][target] = events[column].to_numpy(dtype=np.float64)[source]
        hours_since = np.full(len(orders), np.nan)
        hours_since[target] = (ordered_ns[target] - events["completed_ns"].to_numpy()[source]) / _NS_PER_HOUR
        values = _history_values(
            state["count"],
            state["total"],
            state["total_sq"],
            state["recent_sum"],
            state["recent_count"],
            hours_since,
        )
        for statistic, array in values.items():
            columns[f"{entity.value}_{statistic}"] = array
    return pd.DataFrame({name: columns[name] for name in FEATURE_NAMES}, index=orders.index)


def entity_states_as_of(history: pd.DataFrame, as_of: dt.datetime) -> dict[EntityKey, EntityState]:
    """Each entity's state from the deliveries in ``history`` completed strictly before ``as_of``.

    This is what the online store holds at ``as_of``: the materialiser can build it once from history and
    then keep it current with `EntityState.with_completion`.
    """
    cutoff_ns = _timestamp_ns(as_of)
    states: dict[EntityKey, EntityState] = {}
    for entity in HISTORY_ENTITIES:
        events = _completion_events(history, entity)
        events = events[events["completed_ns"] < cutoff_ns]
        recent = events.groupby("key", sort=False)["minutes"].apply(lambda minutes: tuple(minutes.tail(RECENT_WINDOW)))
        last = events.groupby("key", sort=False).tail(1)
        for row in last.itertuples(index=False):
            states[EntityKey(entity, str(row.key))] = EntityState(
                count=int(row.count),
                total=float(row.total),
                total_sq=float(row.total_sq),
                recent=tuple(float(minutes) for minutes in recent[row.key]),
                last_completed_at=datetime_from_ns(int(row.completed_ns)),
            )
    return states


def entity_state_spans(
    history: pd.DataFrame, keys: Iterable[EntityKey], as_of: dt.datetime
) -> dict[EntityKey, EntityStateSpan]:
    """The states of ``keys`` as of ``as_of`` from the deliveries in ``history``, each with its span.

    Every state equals the one `entity_states_as_of(history, as_of)` has for its key, bit for bit (None
    where that has no entry), but only the rows of the given keys are reduced: this is what serving
    computes when the online store cannot answer, for three entities of one order. ``history`` needs the
    columns ``courier_id``, ``ordered_at`` and ``delivery_minutes``, in the row order the other builders
    read (ties in completion time keep it). It may hold other entities' deliveries; they are left out.
    """
    cutoff_ns = _timestamp_ns(as_of)
    completed_ns = _completed_ns(history)
    minutes = history["delivery_minutes"].to_numpy(dtype=np.float64)
    # Entity keys are derived once per distinct courier id: a city's thousands of rows have a few hundred.
    codes, courier_ids = pd.factorize(history["courier_id"].to_numpy(dtype=object))
    distinct_keys: dict[Entity, np.ndarray] = {}
    spans: dict[EntityKey, EntityStateSpan] = {}
    for entity_key in dict.fromkeys(keys):
        entity = entity_key.entity
        if entity not in distinct_keys:
            distinct_keys[entity] = _entity_key_column(pd.Series(courier_ids, dtype=object), entity).to_numpy()
        rows = np.flatnonzero((distinct_keys[entity] == entity_key.key)[codes])
        # The events' order: completion time, ties in history order (a stable sort of the key's rows).
        rows = rows[np.argsort(completed_ns[rows], kind="stable")]
        counted = int(np.searchsorted(completed_ns[rows], cutoff_ns, side="left"))
        next_ns = int(completed_ns[rows[counted]]) if counted < len(rows) else None
        if counted == 0:
            spans[entity_key] = EntityStateSpan(state=None, last_completed_ns=None, next_completed_ns=next_ns)
            continue
        durations = minutes[rows[:counted]]
        total, total_sq = _running_totals(durations)
        last_ns = int(completed_ns[rows[counted - 1]])
        state = EntityState(
            count=counted,
            total=total,
            total_sq=total_sq,
            recent=tuple(float(value) for value in durations[-RECENT_WINDOW:]),
            last_completed_at=datetime_from_ns(last_ns),
        )
        spans[entity_key] = EntityStateSpan(state=state, last_completed_ns=last_ns, next_completed_ns=next_ns)
    return spans


def _running_totals(durations: np.ndarray) -> tuple[float, float]:
    """The sum and the sum of squares of ``durations``, added in order as `_completion_events` adds them.

    Through the same pandas routine (a grouped cumulative sum, here of one group), because it compensates
    rounding (Kahan): a plain running sum, or SQL's SUM, can differ from the materialised state in the
    last bits once durations have fractions.
    """
    one_group = np.zeros(len(durations), dtype=np.intp)
    total = pd.Series(durations).groupby(one_group).cumsum().iloc[-1]
    total_sq = pd.Series(durations * durations).groupby(one_group).cumsum().iloc[-1]
    return float(total), float(total_sq)


def _optional_float(value: object) -> float:
    return math.nan if value is None else float(value)  # type: ignore[arg-type]


def build_order_features(
    order: Mapping[str, object], entity_states: EntityStates, *, time_zone: ZoneInfo
) -> FeatureVector:
    """The feature vector for one order at order time, from its fields and its entities' states.

    ``order`` has the clean delivery fields except the outcome; ``picked_at`` may be missing or None when
    the pickup has not happened yet. When the caller knows only the distance, not the coordinates, the
    coordinates are None and ``distance_km`` gives the distance (with ``has_usable_coordinates`` false, as
    for a placeholder location in training). Entities absent from ``entity_states`` have no history.
    """
    ordered_at = order["ordered_at"]
    if not isinstance(ordered_at, dt.datetime):
        raise TypeError(f"ordered_at must be a datetime, got {type(ordered_at).__name__}")
    ordered_ns = _timestamp_ns(ordered_at)
    local = ordered_at.astimezone(time_zone)
    picked_at = order.get("picked_at")
    wait_ns = (
        np.array([math.nan])
        if picked_at is None
        else np.array([_timestamp_ns(picked_at) - ordered_ns], dtype=np.int64).astype(np.float64)  # type: ignore[arg-type]
    )
    numeric = _order_features(
        pickup=(
            np.array([_optional_float(order["pickup_latitude"])]),
            np.array([_optional_float(order["pickup_longitude"])]),
        ),
        drop=(
            np.array([_optional_float(order["drop_latitude"])]),
            np.array([_optional_float(order["drop_longitude"])]),
        ),
        has_usable_coordinates=np.array([bool(order["has_usable_coordinates"])]),
        local_hour=np.array([float(local.hour)]),
        local_minute=np.array([float(local.minute)]),
        local_second=np.array([float(local.second)]),
        day_of_week=np.array([local.weekday()]),
        pickup_wait_ns=wait_ns,
        courier_age=np.array([_optional_float(order["courier_age"])]),
        courier_rating=np.array([_optional_float(order.get("courier_rating"))]),
    )
    vector: FeatureVector = {name: float(values[0]) for name, values in numeric.items()}
    if order["pickup_latitude"] is None:
        vector["distance_km"] = float(order["distance_km"])  # type: ignore[arg-type]
    for name in ("weather", "traffic", "vehicle", "area"):
        vector[name] = _category_values([order.get(name)])[0]

    for entity, key in entity_keys(str(order["courier_id"])).items():
        state = entity_states.get(EntityKey(entity, key), EntityState()) if key is not None else EntityState()
        # int64 arithmetic then one division, as the offline builder does, so the rounding is the same.
        hours_since = (
            np.array([math.nan])
            if state.last_completed_at is None
            else np.array([ordered_ns - _timestamp_ns(state.last_completed_at)], dtype=np.int64) / _NS_PER_HOUR
        )
        values = _history_values(
            np.array([float(state.count)]),
            np.array([state.total]),
            np.array([state.total_sq]),
            np.array([sum(state.recent)], dtype=np.float64),
            np.array([float(len(state.recent))]),
            hours_since,
        )
        for statistic, array in values.items():
            vector[f"{entity.value}_{statistic}"] = float(array[0])
    return {name: vector[name] for name in FEATURE_NAMES}
