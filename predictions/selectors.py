"""The serving model: each worker's in-process cache of its tenants' champion ETA predictors."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass

from django.db import DatabaseError

from core.model import ETAPredictor
from monitoring.choices import AlertRule, AlertSeverity
from monitoring.services import alert_raise, alert_resolve
from predictions.constants import (
    CHAMPION_FALLBACK_MAX_VERSIONS,
    CHAMPION_RECHECK_SECONDS,
    CHAMPION_REFUSAL_RETRY_SECONDS,
)
from registry.artifacts import ArtifactError
from registry.loader import model_version_load
from registry.models import ModelVersion
from registry.selectors import eta_champion, eta_previous_champions
from tenants.models import Tenant


@dataclass(frozen=True)
class ServingModel:
    """A loaded, checksum-verified model serving a tenant. A request keeps the one it started with to the end.

    Normally the champion. When the champion's artifact cannot be loaded, a previous champion stands in for
    it: ``replaces`` is then that champion and ``replaced_because`` why. ``version`` is always the version
    that predicts, so responses and audit rows name the model actually used.
    """

    version: ModelVersion
    predictor: ETAPredictor
    loaded_at: float
    replaces: ModelVersion | None = None
    replaced_because: str = ""

    @property
    def is_fallback(self) -> bool:
        return self.replaces is not None


@dataclass(frozen=True)
class _Refusal:
    """A champion whose artifact was refused, the error to answer while nothing serves, and when to retry."""

    champion_pk: int
    detail: str
    retry_at: float


@dataclass
class _CacheEntry:
    serving: ServingModel | None
    checked_at: float
    refusal: _Refusal | None = None


logger = logging.getLogger(__name__)

_cache: dict[int, _CacheEntry] = {}
_lock = threading.Lock()


def serving_model(*, tenant: Tenant) -> ServingModel | None:
    """The model serving the tenant, from this process's cache; None when the tenant has no champion.

    The alias is re-read at most every CHAMPION_RECHECK_SECONDS; a different version is loaded (and its
    artifact's checksum verified) before it replaces the cached one, so a promotion or rollback reaches
    every worker within seconds.

    A champion whose artifact is missing or fails its checksum is refused: an error is logged naming the
    version and the reason, a serving-errors alert is raised, and the most recent previous champion that
    loads serves in its place, flagged (`ServingModel.replaces`). The refusal stands for
    CHAMPION_REFUSAL_RETRY_SECONDS, so the bad file is not hashed again at every re-check. When no previous
    champion loads either: `ArtifactError` (the API answers 503 ``model_unavailable``).
    """
    now = time.monotonic()
    entry = _cache.get(tenant.pk)
    if entry is None or now - entry.checked_at >= CHAMPION_RECHECK_SECONDS:
        with _lock:
            entry = _cache.get(tenant.pk)
            if entry is None or now - entry.checked_at >= CHAMPION_RECHECK_SECONDS:
                entry = _refreshed(tenant, entry, now)
                _cache[tenant.pk] = entry
    if entry.serving is None and entry.refusal is not None:
        raise ArtifactError(entry.refusal.detail)
    return entry.serving


def serving_cache_clear() -> None:
    """Forget every cached champion (tests; a worker never needs it)."""
    with _lock:
        _cache.clear()


def _refreshed(tenant: Tenant, entry: _CacheEntry | None, now: float) -> _CacheEntry:
    """The tenant's cache entry after reading the alias again; the caller holds the lock."""
    champion = eta_champion(tenant=tenant)
    current = entry.serving if entry else None
    refusal = entry.refusal if entry else None
    if champion is None:
        return _CacheEntry(None, now)
    if current is not None and current.version.pk == champion.pk:
        if current.is_fallback:  # a rollback made the stand-in the champion
            _refusal_clear(tenant, champion)
            current = dataclasses.replace(current, replaces=None, replaced_because="")
        return _CacheEntry(current, now)
    if refusal is not None and refusal.champion_pk == champion.pk and now < refusal.retry_at:
        return _CacheEntry(current, now, refusal)
    try:
        loaded = ServingModel(champion, model_version_load(version=champion), time.time())
    except ArtifactError as error:  # missing, tampered, or no predictor: the next version is tried
        return _refused(tenant, champion, str(error), current, now)
    _refusal_clear(tenant, champion)
    return _CacheEntry(loaded, now)


def _refused(
    tenant: Tenant, champion: ModelVersion, reason: str, current: ServingModel | None, now: float
) -> _CacheEntry:
    """Serve the most recent previous champion that loads in place of `champion`; log and alert either way."""
    fallback = _fallback(champion, reason, current)
    if fallback is None:
        detail = f"champion {champion} cannot be loaded: {reason}; no previous champion can be loaded either"
        logger.error("%s; nothing serves tenant %s", detail, tenant.slug)
    else:
        detail = f"champion {champion} cannot be loaded: {reason}; {fallback.version} serves in its place"
        logger.error("%s", detail)
    try:
        alert_raise(
            rule=AlertRule.SERVING_ERRORS,
            tenant=tenant,
            subject=_refusal_subject(champion),
            severity=AlertSeverity.WARNING if fallback else AlertSeverity.CRITICAL,
            summary=detail,
            details={
                "champion_version": champion.version,
                "reason": reason,
                "serving_version": fallback.version.version if fallback else None,
            },
        )
    except DatabaseError:
        logger.exception("could not record the alert for %s", champion)  # serving goes on without it
    return _CacheEntry(fallback, now, _Refusal(champion.pk, detail, now + CHAMPION_REFUSAL_RETRY_SECONDS))


def _fallback(champion: ModelVersion, reason: str, current: ServingModel | None) -> ServingModel | None:
    """The previous champion to serve in place of `champion`: the most recent one that loads.

    The one this process already holds is used without loading it again. When none of the previous
    champions loads, a model already in memory (verified when it was loaded) still beats refusing every
    request, as it did before the champion moved.
    """
    for candidate in eta_previous_champions(champion=champion)[:CHAMPION_FALLBACK_MAX_VERSIONS]:
        if current is not None and current.version.pk == candidate.pk:
            return dataclasses.replace(current, replaces=champion, replaced_because=reason)
        try:
            predictor = model_version_load(version=candidate)
        except ArtifactError as error:  # missing, tampered, or no predictor: the next version is tried
            logger.error("cannot load previous champion %s either: %s", candidate, error)
            continue
        return ServingModel(candidate, predictor, time.time(), replaces=champion, replaced_because=reason)
    if current is not None:
        return dataclasses.replace(current, replaces=champion, replaced_because=reason)
    return None


def _refusal_subject(champion: ModelVersion) -> str:
    # Per registered model, not per version: resolved by whichever version next loads as champion. The
    # tenant is in the alert's dedup key already.
    return f"{champion.registered_model.name} champion artifact cannot be loaded"


def _refusal_clear(tenant: Tenant, champion: ModelVersion) -> None:
    """Resolve the refusal alert, if one fires: the tenant's champion loads (again)."""
    try:
        alert_resolve(rule=AlertRule.SERVING_ERRORS, tenant=tenant, subject=_refusal_subject(champion))
    except DatabaseError:
        logger.exception("could not resolve the alert for %s", champion)
