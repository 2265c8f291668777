"""The Redis online store: per tenant, feature-set version and entity, one serialised `EntityState`.

Key layout: ``{FEATURE_STORE_KEY_PREFIX}:{tenant id}:{feature set}:v{version}:{entity}:{entity key}``, e.g.
``intellilog:features:7:eta_order_features:v1:courier:INDORES13DEL02``. The tenant id comes first after the
prefix so that one tenant's keys can never be read under another's namespace, and the feature-set version is
part of the key so that a new definition never reads states materialised for an older one. The value is
JSON: the state's fields plus ``computed_at``, and every write sets the feature set's TTL.

This module knows Redis and the ML core's state type, nothing of Django models: services decide what to
write and how to fall back when the store cannot answer (`OnlineStoreUnavailable`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import redis

from core.features import EntityKey, EntityState
from features.constants import STORE_WRITE_BATCH_SIZE
from intellilog.redis_client import get_client


class OnlineStoreUnavailable(Exception):
    """Redis refused, timed out or failed; the caller decides whether to fall back or give up."""


@dataclass(frozen=True)
class StoreNamespace:
    """The part of every key shared by one tenant's states of one feature-set version."""

    prefix: str
    tenant_id: int
    feature_set: str
    version: int

    def key(self, entity_key: EntityKey) -> str:
        entity = entity_key.entity.value
        return f"{self.prefix}:{self.tenant_id}:{self.feature_set}:v{self.version}:{entity}:{entity_key.key}"


@dataclass(frozen=True)
class StoredState:
    """An entity state as read back from the store, with when it was computed."""

    state: EntityState
    computed_at: dt.datetime


def _encode(state: EntityState, computed_at: dt.datetime) -> str:
    # Floats go through json's repr, which round-trips float64 exactly: the online vector must equal the
    # offline one bit for bit.
    return json.dumps(
        {
            "count": state.count,
            "total": state.total,
            "total_sq": state.total_sq,
            "recent": list(state.recent),
            "last_completed_at": state.last_completed_at.isoformat() if state.last_completed_at else None,
            "computed_at": computed_at.isoformat(),
        },
        separators=(",", ":"),
    )


def _decode(raw: bytes) -> StoredState:
    payload = json.loads(raw)
    last = payload["last_completed_at"]
    return StoredState(
        state=EntityState(
            count=payload["count"],
            total=payload["total"],
            total_sq=payload["total_sq"],
            recent=tuple(payload["recent"]),
            last_completed_at=dt.datetime.fromisoformat(last) if last is not None else None,
        ),
        computed_at=dt.datetime.fromisoformat(payload["computed_at"]),
    )


def read_states(
    namespace: StoreNamespace, entity_keys: Sequence[EntityKey], *, client: redis.Redis | None = None
) -> dict[EntityKey, StoredState]:
    """The stored states of ``entity_keys`` in ONE round trip (MGET); absent keys are left out."""
    if not entity_keys:
        return {}
    try:
        values = (client or get_client()).mget([namespace.key(entity_key) for entity_key in entity_keys])
    except redis.RedisError as exc:
        raise OnlineStoreUnavailable(f"online store read failed: {exc}") from exc
    return {entity_key: _decode(raw) for entity_key, raw in zip(entity_keys, values, strict=True) if raw is not None}


def write_states(
    namespace: StoreNamespace,
    states: Mapping[EntityKey, EntityState],
    *,
    computed_at: dt.datetime,
    ttl_seconds: int,
    client: redis.Redis | None = None,
) -> int:
    """Write ``states`` with a TTL in pipelined batches of `STORE_WRITE_BATCH_SIZE`; returns how many."""
    items = list(states.items())
    try:
        pipeline = (client or get_client()).pipeline(transaction=False)
        for start in range(0, len(items), STORE_WRITE_BATCH_SIZE):
            for entity_key, state in items[start : start + STORE_WRITE_BATCH_SIZE]:
                pipeline.set(namespace.key(entity_key), _encode(state, computed_at), ex=ttl_seconds)
            pipeline.execute()
    except redis.RedisError as exc:
        raise OnlineStoreUnavailable(f"online store write failed: {exc}") from exc
    return len(items)


StateUpdate = Callable[[dict[EntityKey, StoredState]], Mapping[EntityKey, EntityState]]


def update_states(
    namespace: StoreNamespace,
    entity_keys: Sequence[EntityKey],
    update: StateUpdate,
    *,
    computed_at: dt.datetime,
    ttl_seconds: int,
    client: redis.Redis | None = None,
) -> Mapping[EntityKey, EntityState]:
    """Read-modify-write ``entity_keys`` atomically: ``update`` gets the stored states, returns new ones.

    The keys are WATCHed, so two outcomes for the same courier arriving together cannot both build on
    the same old state and lose one completion; on a conflict redis-py reruns ``update`` on fresh reads.
    """
    keys = [namespace.key(entity_key) for entity_key in entity_keys]

    def read_modify_write(pipeline: redis.client.Pipeline) -> Mapping[EntityKey, EntityState]:
        stored = {
            entity_key: _decode(raw)
            for entity_key, raw in zip(entity_keys, pipeline.mget(keys), strict=True)
            if raw is not None
        }
        new_states = update(stored)
        pipeline.multi()
        for entity_key, state in new_states.items():
            pipeline.set(namespace.key(entity_key), _encode(state, computed_at), ex=ttl_seconds)
        return new_states

    try:
        return (client or get_client()).transaction(read_modify_write, *keys, value_from_callable=True)
    except redis.RedisError as exc:
        raise OnlineStoreUnavailable(f"online store update failed: {exc}") from exc
