"""The serving model: each worker's in-process cache of its tenants' champion ETA predictors."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from predictions.constants import CHAMPION_RECHECK_SECONDS
from predictions.ml.model import ETAPredictor
from registry.artifacts import ArtifactError
from registry.models import ModelVersion
from registry.selectors import eta_champion
from registry.training import model_version_load
from tenants.models import Tenant


@dataclass(frozen=True)
class ServingModel:
    """A loaded, checksum-verified champion. A request keeps the one it started with to the end."""

    version: ModelVersion
    predictor: ETAPredictor
    loaded_at: float


@dataclass
class _CacheEntry:
    serving: ServingModel | None
    checked_at: float


logger = logging.getLogger(__name__)

_cache: dict[int, _CacheEntry] = {}
_lock = threading.Lock()


def serving_model(*, tenant: Tenant) -> ServingModel | None:
    """The tenant's champion, from this process's cache; None when the tenant has no champion.

    The alias is re-read at most every CHAMPION_RECHECK_SECONDS; a different version is loaded (and its
    artifact's checksum verified) before it replaces the cached one, so a promotion or rollback reaches
    every worker within seconds and a failed load keeps the previous champion serving.
    """
    now = time.monotonic()
    entry = _cache.get(tenant.pk)
    if entry is not None and now - entry.checked_at < CHAMPION_RECHECK_SECONDS:
        return entry.serving
    with _lock:
        entry = _cache.get(tenant.pk)
        if entry is not None and now - entry.checked_at < CHAMPION_RECHECK_SECONDS:
            return entry.serving
        champion = eta_champion(tenant=tenant)
        current = entry.serving if entry else None
        if champion is None:
            serving = None
        elif current is not None and current.version.pk == champion.pk:
            serving = current
        else:
            try:
                serving = ServingModel(champion, model_version_load(version=champion), time.time())
            except ArtifactError:
                if current is None:
                    raise
                # The new champion's artifact is missing or tampered: keep serving the one we have.
                logger.exception("cannot load %s; %s keeps serving", champion, current.version)
                serving = current
        _cache[tenant.pk] = _CacheEntry(serving, now)
        return serving


def serving_cache_clear() -> None:
    """Forget every cached champion (tests; a worker never needs it)."""
    with _lock:
        _cache.clear()
