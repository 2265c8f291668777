"""Feature store workflows: register the feature set, materialise entity states, serve an order's features.

The feature definitions and their computation live in the plain-Python core `core.features`;
this module decides where entity states come from (the Redis online store, or the database when the
store cannot answer, through this process's short-lived `fallback_cache`) and keeps the store current.
Training builds the same features with `build_training_features`, so a vector served here equals the
training row for the same order.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.features import (
    FEATURE_SET_NAME,
    FEATURE_SET_VERSION,
    FEATURES,
    Entity,
    EntityKey,
    EntityState,
    FeatureVector,
    build_order_features,
    datetime_from_ns,
    entity_keys,
    entity_state_spans,
    entity_states_as_of,
)
from deliveries.columnar import deliveries_columnar
from deliveries.models import Delivery
from deliveries.selectors import (
    ImplausibleDeliveries,
    deliveries_implausible,
    deliveries_latest_id,
)
from features import fallback_cache, online_store
from features.choices import FeatureSource, Freshness
from features.constants import NS_PER_MINUTE
from features.fallback_cache import DatabaseState
from features.models import FeatureSet, MaterializationWatermark
from features.online_store import OnlineStoreUnavailable, StoredState, StoreNamespace
from features.selectors import courier_ids_changed, entity_completions_frame
from intellilog.tracing import traced
from tenants.models import Tenant

logger = logging.getLogger(__name__)


class FeatureSetConflict(Exception):
    """The database holds this feature-set version with definitions other than the code's."""


@dataclass(frozen=True)
class FeatureFreshness:
    """How current one served feature value is and where it came from.

    ``computed_at`` is when the value's entity state was computed: the materialisation time for the
    online store, when the database was read for values computed from it (at most
    FEATURE_FALLBACK_CACHE_SECONDS before the request), None for request features.
    """

    status: Freshness
    source: FeatureSource
    computed_at: dt.datetime | None


@dataclass(frozen=True)
class OnlineFeatures:
    """An order's feature vector (in `FEATURE_NAMES` order) with per-feature freshness and source."""

    feature_set: str
    feature_set_version: int
    values: FeatureVector
    freshness: dict[str, FeatureFreshness]
    used_fallback: bool
    # Why some entity states were computed from the database; None when the store served them all.
    fallback_reason: str | None


@dataclass(frozen=True)
class MaterializationResult:
    """What one materialisation wrote for a tenant."""

    tenant_id: int
    feature_set: FeatureSet
    as_of: dt.datetime
    deliveries_read: int
    entities_written: int
    # Stored deliveries left out because their instants are implausible (`deliveries.selectors.plausible_q`).
    skipped: ImplausibleDeliveries
    # Only the entities whose state may have changed since the last run were recomputed and written.
    is_incremental: bool


@dataclass(frozen=True)
class OutcomeApplied:
    """Which entity states one outcome updated incrementally and which it recomputed from the database."""

    incremental: list[EntityKey]
    recomputed: list[EntityKey]


def _current_definition() -> dict[str, list[object]]:
    entities = list(dict.fromkeys(feature.entity.value for feature in FEATURES))
    return {"entities": entities, "features": [feature.as_dict() for feature in FEATURES]}  # type: ignore[dict-item]


def feature_set_register_current() -> FeatureSet:
    """Register the code's feature set (`FEATURE_SET_NAME` v`FEATURE_SET_VERSION`) once; idempotent.

    A version's definitions never change once registered: if the stored ones differ from the code's,
    someone changed a feature without bumping `FEATURE_SET_VERSION`, and `FeatureSetConflict` says so
    rather than letting training and serving disagree about what version 1 means. The TTL is operational
    and follows `FEATURE_TTL_SECONDS`.
    """
    definition = _current_definition()
    ttl_seconds = settings.FEATURE_TTL_SECONDS
    feature_set = FeatureSet.objects.filter(name=FEATURE_SET_NAME, version=FEATURE_SET_VERSION).first()
    if feature_set is None:
        try:
            with transaction.atomic():
                return FeatureSet.objects.create(
                    name=FEATURE_SET_NAME, version=FEATURE_SET_VERSION, ttl_seconds=ttl_seconds, **definition
                )
        except IntegrityError:
            # A concurrent materialisation registered it first (the unique constraint decided).
            feature_set = FeatureSet.objects.get(name=FEATURE_SET_NAME, version=FEATURE_SET_VERSION)
    if feature_set.entities != definition["entities"] or feature_set.features != definition["features"]:
        raise FeatureSetConflict(
            f"{feature_set}: the registered definitions differ from core.features; "
            "a changed feature needs a new FEATURE_SET_VERSION"
        )
    if feature_set.ttl_seconds != ttl_seconds:
        FeatureSet.objects.filter(pk=feature_set.pk).update(ttl_seconds=ttl_seconds)
        feature_set.ttl_seconds = ttl_seconds
    return feature_set


def store_namespace(*, tenant: Tenant) -> StoreNamespace:
    """Where the tenant's entity states of the current feature set live in Redis."""
    return StoreNamespace(
        prefix=settings.FEATURE_STORE_KEY_PREFIX,
        tenant_id=tenant.pk,
        feature_set=FEATURE_SET_NAME,
        version=FEATURE_SET_VERSION,
    )


def features_materialize(
    *, tenant: Tenant, as_of: dt.datetime | None = None, full: bool = False
) -> MaterializationResult:
    """Bring the tenant's entity states in the online store up to ``as_of`` (default: now).

    A state counts the deliveries completed strictly before ``as_of``. After a first (full) run, a run
    recomputes only the entities whose state may have changed since the last one (`courier_ids_changed`:
    deliveries stored since, or completing in between), each from all of that entity's deliveries, so
    every state equals what a full run would write, bit for bit. A full run (every state rewritten) is
    made when ``full`` is set, on the first run, when ``as_of`` is earlier than the last run's, and when
    the last full run is half the feature set's TTL old, so that Redis never expires a state that is
    still current. Raises `OnlineStoreUnavailable` when Redis cannot be written. Safe to run twice. An
    outcome applied while a run is in flight may be overwritten by the run's older snapshot; the next
    run includes it again.
    """
    feature_set = feature_set_register_current()
    # Stamped before reading, so freshness never claims more than the snapshot holds.
    computed_at = timezone.now()
    as_of = as_of or computed_at
    # Rows stored after this are caught by the next run (they may also be read by this one: harmless).
    latest_id = deliveries_latest_id(tenant=tenant)
    watermark = MaterializationWatermark.objects.filter(tenant=tenant, feature_set=feature_set).first()
    is_incremental = (
        not full
        and watermark is not None
        and as_of >= watermark.as_of
        and computed_at - watermark.full_run_at < dt.timedelta(seconds=feature_set.ttl_seconds / 2)
    )
    if is_incremental:
        assert watermark is not None
        couriers = courier_ids_changed(
            tenant=tenant,
            delivery_id_above=watermark.delivery_id_at_most,
            completed_from=watermark.as_of,
            completed_before=as_of,
        )
        keys = list(dict.fromkeys(key for courier_id in couriers for key in _order_entity_keys(courier_id)))
        completions = entity_completions_frame(tenant=tenant, entity_keys=keys)
        spans = entity_state_spans(completions, keys, as_of)
        states = {key: span.state for key, span in spans.items() if span.state is not None}
        deliveries_read = len(completions)
    else:
        # Columnar (COPY into Arrow): a full run reads the whole history, and one Python tuple per row
        # cost gigabytes at a million rows. Same rows, order and values as `deliveries_frame`.
        history = deliveries_columnar(tenant=tenant, ordered_before=as_of, plausible_at=computed_at)
        states = entity_states_as_of(history, as_of)
        deliveries_read = len(history)
    skipped = deliveries_implausible(tenant=tenant, ordered_before=as_of, plausible_at=computed_at)
    if skipped.count:
        logger.warning("materialisation: %s", skipped.describe(tenant))
    written = online_store.write_states(
        store_namespace(tenant=tenant), states, computed_at=computed_at, ttl_seconds=feature_set.ttl_seconds
    )
    MaterializationWatermark.objects.update_or_create(
        tenant=tenant,
        feature_set=feature_set,
        defaults={
            "as_of": as_of,
            "delivery_id_at_most": latest_id,
            "full_run_at": watermark.full_run_at if is_incremental and watermark else computed_at,
        },
    )
    kind = "incremental" if is_incremental else "full"
    logger.info(
        "materialised %d entity states of %s for tenant %s as of %s (%s)", written, feature_set, tenant, as_of, kind
    )
    return MaterializationResult(
        tenant_id=tenant.pk,
        feature_set=feature_set,
        as_of=as_of,
        deliveries_read=deliveries_read,
        entities_written=written,
        skipped=skipped,
        is_incremental=is_incremental,
    )


def _states_from_database(
    *, tenant: Tenant, keys: Iterable[EntityKey], as_of: dt.datetime
) -> dict[EntityKey, DatabaseState]:
    """The states of ``keys`` as of ``as_of`` from only those entities' deliveries, in one query.

    Each equals what `features_materialize(as_of=as_of)` would write for it (``span.state`` None where
    it would write nothing).
    """
    keys = list(keys)
    # Stamped before reading, so freshness never claims more than the read holds.
    read_at = timezone.now()
    spans = entity_state_spans(entity_completions_frame(tenant=tenant, entity_keys=keys), keys, as_of)
    return {key: DatabaseState(span=spans[key], read_at=read_at) for key in keys}


def _fallback_states(
    *, tenant: Tenant, keys: Iterable[EntityKey], as_of: dt.datetime
) -> dict[EntityKey, DatabaseState]:
    """`_states_from_database`, taking what this process read recently and still holds as of ``as_of``.

    Under a Redis outage every order needs this; the cache turns a database read per order and entity
    into one per entity every FEATURE_FALLBACK_CACHE_SECONDS, and at most one query per order.
    """
    found: dict[EntityKey, DatabaseState] = {}
    unread: list[EntityKey] = []
    for key in keys:
        cached = fallback_cache.cached_state(tenant_id=tenant.pk, entity_key=key, as_of=as_of)
        if cached is None:
            unread.append(key)
        else:
            found[key] = cached
    if unread:
        read = _states_from_database(tenant=tenant, keys=unread, as_of=as_of)
        for key, value in read.items():
            fallback_cache.cache_state(tenant_id=tenant.pk, entity_key=key, value=value)
        found.update(read)
    return found


def _order_entity_keys(courier_id: str) -> list[EntityKey]:
    return [EntityKey(entity, key) for entity, key in entity_keys(courier_id).items() if key is not None]


@traced("features.online_read")
def online_features_for_order(*, tenant: Tenant, order: Mapping[str, object]) -> OnlineFeatures:
    """The feature vector for a new order, from the request and the online store, for the prediction path.

    ``order`` has the clean delivery fields except the outcome (see `build_order_features`); its
    ``ordered_at`` must be time-zone aware. The order's courier, restaurant and city states are read in
    one round trip. A state is served from the store (flagged stale when older than
    FEATURE_STALE_AFTER_SECONDS) unless it is missing, the store is unreachable, or it already counts a
    delivery completed at or after the order (replaying an old order against a newer store would leak the
    future). Those states are computed from the database instead, from only that entity's deliveries
    completed before the order, and the result says so; a state this process computed in the last
    FEATURE_FALLBACK_CACHE_SECONDS is reused when it holds as of the order. At most one query. Never
    raises because of Redis.
    """
    ordered_at = order["ordered_at"]
    if not isinstance(ordered_at, dt.datetime) or ordered_at.tzinfo is None:
        raise ValueError("order['ordered_at'] must be a time-zone-aware datetime")
    keys = _order_entity_keys(str(order["courier_id"]))
    store_error: str | None = None
    try:
        stored = online_store.read_states(store_namespace(tenant=tenant), keys)
    except OnlineStoreUnavailable as exc:
        logger.warning("feature store unavailable, computing from the database: %s", exc)
        stored, store_error = {}, str(exc)
    usable = {
        key: value
        for key, value in stored.items()
        if value.state.last_completed_at is None or value.state.last_completed_at < ordered_at
    }
    missing = [key for key in keys if key not in usable]
    states: dict[EntityKey, EntityState] = {key: value.state for key, value in usable.items()}
    now = timezone.now()
    from_database = _fallback_states(tenant=tenant, keys=missing, as_of=ordered_at) if missing else {}
    states.update({key: value.span.state for key, value in from_database.items() if value.span.state is not None})
    values = build_order_features(order, states, time_zone=ZoneInfo(tenant.time_zone))

    stale_after = dt.timedelta(seconds=settings.FEATURE_STALE_AFTER_SECONDS)
    by_entity: dict[Entity, FeatureFreshness] = {}
    for key in keys:
        if key in usable:
            computed_at = usable[key].computed_at
            status = Freshness.STALE if now - computed_at > stale_after else Freshness.FRESH
            by_entity[key.entity] = FeatureFreshness(status, FeatureSource.ONLINE_STORE, computed_at)
        else:
            by_entity[key.entity] = FeatureFreshness(
                Freshness.MISSING, FeatureSource.DATABASE, from_database[key].read_at
            )
    # Order features, and history features of an entity the courier id does not name (no restaurant part),
    # follow from the request alone.
    from_request = FeatureFreshness(Freshness.FRESH, FeatureSource.REQUEST, None)
    freshness = {feature.name: by_entity.get(feature.entity, from_request) for feature in FEATURES}
    return OnlineFeatures(
        feature_set=FEATURE_SET_NAME,
        feature_set_version=FEATURE_SET_VERSION,
        values=values,
        freshness=freshness,
        used_fallback=bool(missing),
        fallback_reason=_fallback_reason(missing, stored, store_error),
    )


def _fallback_reason(
    missing: list[EntityKey], stored: Mapping[EntityKey, StoredState], store_error: str | None
) -> str | None:
    if not missing:
        return None
    if store_error is not None:
        return store_error
    return "; ".join(
        f"{key.entity.value} {key.key}: "
        + ("stored state counts deliveries completed after the order" if key in stored else "not in the store")
        for key in missing
    )


def _completed_at(delivery: Delivery) -> dt.datetime:
    # The same arithmetic as the ML core's completion events (nanoseconds, minutes rounded to whole
    # nanoseconds), so an incrementally applied completion equals the recomputed one.
    ordered_ns = int(pd.Timestamp(delivery.ordered_at).as_unit("ns").value)
    completed_ns = ordered_ns + int(np.round(np.float64(delivery.delivery_minutes) * NS_PER_MINUTE))
    return datetime_from_ns(completed_ns)


def features_apply_outcome(*, tenant: Tenant, delivery: Delivery) -> OutcomeApplied:
    """Fold a newly stored delivery's outcome into its courier's, restaurant's and city's online states.

    A state whose last completion is strictly earlier gets `EntityState.with_completion`. Otherwise (the
    outcome arrived out of completion order, ties included, or the state is not in the store) that entity
    is recomputed from the database (never from the fallback cache), because "recent" durations depend on
    completion order. So applying the same outcome twice changes nothing. The read-modify-write is atomic
    per key (Redis WATCH). Raises `OnlineStoreUnavailable` when Redis cannot be reached; the next
    materialisation catches up. This process's fallback cache forgets the three entities either way.
    """
    if delivery.tenant_id != tenant.pk:
        raise ValueError(f"delivery {delivery.pk} belongs to another tenant")
    feature_set = feature_set_register_current()
    completed_at = _completed_at(delivery)
    keys = _order_entity_keys(delivery.courier_id)
    fallback_cache.forget_states(tenant_id=tenant.pk, entity_keys=keys)
    # An outcome always counts, even one that the reporting system's clock puts slightly in our future.
    recompute_as_of = max(timezone.now(), completed_at + dt.timedelta(microseconds=1))
    applied = OutcomeApplied(incremental=[], recomputed=[])

    def fold_in(stored: dict[EntityKey, StoredState]) -> dict[EntityKey, EntityState]:
        # Redis may rerun this after a concurrent write to the same keys: start from scratch each time.
        applied.incremental.clear()
        applied.recomputed.clear()
        new_states: dict[EntityKey, EntityState] = {}
        for key in keys:
            current = stored.get(key)
            last = current.state.last_completed_at if current is not None else None
            if current is not None and last is not None and completed_at > last:
                new_states[key] = current.state.with_completion(delivery.delivery_minutes, completed_at)
                applied.incremental.append(key)
            else:
                applied.recomputed.append(key)
        if applied.recomputed:
            read = _states_from_database(tenant=tenant, keys=applied.recomputed, as_of=recompute_as_of)
            new_states.update({key: value.span.state for key, value in read.items() if value.span.state is not None})
        return new_states

    online_store.update_states(
        store_namespace(tenant=tenant),
        keys,
        fold_in,
        computed_at=timezone.now(),
        ttl_seconds=feature_set.ttl_seconds,
    )
    return applied
