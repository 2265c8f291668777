"""This process's short-lived copies of entity states computed from the database, for serving without Redis.

When the online store cannot answer (Redis down, a key missing), an order's courier, restaurant and city
states are computed from their deliveries in PostgreSQL. Under load, during an outage, every order of a
busy city would read that city's whole history again; here each process keeps what it read for
FEATURE_FALLBACK_CACHE_SECONDS (0 turns the cache off), at most FEATURE_FALLBACK_CACHE_ENTRIES entities,
least recently used dropped first, so an outage costs about one query per entity per few seconds.

Point in time: an entry is an `EntityStateSpan`, served only to an order whose time lies in the span
the state holds for (after its last completion, up to its next one), so an order gets exactly the state
that reading the database at the entry's ``read_at`` would have given it. What an entry can miss is a
delivery stored after ``read_at``, for at most FEATURE_FALLBACK_CACHE_SECONDS; the online store itself
lags behind the database by up to a materialisation interval when outcomes cannot be applied.

Keys are (tenant id, feature set, feature-set version, entity key): one tenant's entries are never
another's, and a new feature-set version never serves states computed for an older one.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from time import monotonic

from django.conf import settings

from core.features import FEATURE_SET_NAME, FEATURE_SET_VERSION, EntityKey, EntityStateSpan


@dataclass(frozen=True)
class DatabaseState:
    """An entity's state span as computed from the database, and when the database was read for it."""

    span: EntityStateSpan
    read_at: dt.datetime


_CacheKey = tuple[int, str, int, EntityKey]


@dataclass(frozen=True)
class _Entry:
    value: DatabaseState
    stored_at: float  # time.monotonic(): a wall clock that steps would expire entries early or late


_entries: OrderedDict[_CacheKey, _Entry] = OrderedDict()
_lock = threading.Lock()


def _key(tenant_id: int, entity_key: EntityKey) -> _CacheKey:
    return (tenant_id, FEATURE_SET_NAME, FEATURE_SET_VERSION, entity_key)


def cached_state(*, tenant_id: int, entity_key: EntityKey, as_of: dt.datetime) -> DatabaseState | None:
    """The cached state of ``entity_key`` if it is younger than the TTL and holds as of ``as_of``."""
    ttl_seconds = settings.FEATURE_FALLBACK_CACHE_SECONDS
    key = _key(tenant_id, entity_key)
    with _lock:
        entry = _entries.get(key)
        if entry is None:
            return None
        # The TTL is read on every look-up, so a shorter one applies at once to what is already cached.
        if monotonic() - entry.stored_at >= ttl_seconds:
            del _entries[key]
            return None
        if not entry.value.span.holds_as_of(as_of):
            return None
        _entries.move_to_end(key)
        return entry.value


def cache_state(*, tenant_id: int, entity_key: EntityKey, value: DatabaseState) -> None:
    """Keep ``value`` for later orders of this process; nothing when the cache is off."""
    if settings.FEATURE_FALLBACK_CACHE_SECONDS <= 0:
        return
    key = _key(tenant_id, entity_key)
    with _lock:
        _entries[key] = _Entry(value=value, stored_at=monotonic())
        _entries.move_to_end(key)
        while len(_entries) > settings.FEATURE_FALLBACK_CACHE_ENTRIES:
            _entries.popitem(last=False)


def forget_states(*, tenant_id: int, entity_keys: Iterable[EntityKey]) -> None:
    """Drop these entities' entries: their deliveries changed (an outcome this process applied)."""
    with _lock:
        for entity_key in entity_keys:
            _entries.pop(_key(tenant_id, entity_key), None)


def fallback_cache_clear() -> None:
    """Forget every cached state of this process."""
    with _lock:
        _entries.clear()


def fallback_cache_size() -> int:
    """How many entity states this process holds now."""
    with _lock:
        return len(_entries)
