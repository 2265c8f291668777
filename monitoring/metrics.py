"""The ML metrics IntelliLog exports to Prometheus, and the small functions other code records them with.

Callers never touch a prometheus_client object: serving calls `prediction_observed`,
`feature_age_observed` and `serving_error_observed` per request; the outcome endpoint calls
`prediction_error_observed`; the monitoring checks call the ``*_set`` functions with what they computed.
`/metrics` (see `monitoring.exporter`) exports these next to django-prometheus's request and database
metrics.

Bounded label cardinality. Every label value passes through one rule here, so a bug or a new customer can
never turn a metric into thousands of time series (each series costs memory in every worker's metric file
and in Prometheus):

- ``tenant``: a well-formed slug (letters, digits, ``-``, ``_``; at most 50) keeps its own value for the
  first ``METRICS_MAX_TENANTS`` (default 50) distinct tenants a process records; later tenants and
  malformed values are reported as ``"other"``; an empty tenant (a request refused before its API key
  identified one) is ``"none"``. Busy tenants are seen first in every process, so the
  processes of one deployment agree in practice; the bound is per process.
- ``model_version``: a well-formed version string (letters, digits, ``. _ - / :``; at most 64) is kept
  for the ``MAX_MODEL_VERSIONS_PER_TENANT`` versions of a tenant most recently seen first by the process
  (champion and challenger are the newest); an older version seen again, or a malformed value, is
  ``"other"``; so is every version of a tenant that is itself ``"other"``. An empty version (no model
  answered) is ``"none"``. The series of a version that was replaced stay exported, unchanging, until the
  metric files are wiped (a restart): the number of series grows with the versions served since then
  (at most one a night per tenant with the nightly retraining), not with traffic.
- ``feature``: one of the model's feature names (`core.features.FEATURE_NAMES`) or one of
  `DRIFT_AGGREGATE_FEATURES` (``"multivariate"`` for the joint MMD test, ``"prediction"`` for the drift of
  predicted ETAs); anything else is ``"other"``.
- ``entity``: one of `core.features.Entity` (order, courier, restaurant, city), else ``"other"``.
- ``code``: an API error code (lower-case letters, digits, ``_``; at most 40), at most
  ``MAX_ERROR_CODES`` distinct codes per process, else ``"other"``.
- booleans are the strings ``"true"``/``"false"``.

Several processes (gunicorn workers, Celery pool processes): when ``PROMETHEUS_MULTIPROC_DIR`` is set
before prometheus_client is imported, every process writes its values to files in that directory and
`/metrics` sums counters and histograms over them. Gauges cannot be summed; each declares how the
processes' values combine. All gauges here use ``mostrecent``: a monitoring check runs in whichever
process the scheduler picked, and the value it computed last is the truth, even after that process has
exited (``max`` would keep a stale worse value forever, ``livesum``/``liveall`` would drop the value when
the pool process that computed it is recycled, and ``sum`` would add two checks of the same thing).

A value outside its domain (negative, NaN, a share above 1) is a bug in the caller and raises
``ValueError``, with two exceptions: a drift effect size may be NaN (a constant feature has none) and is
exported as NaN, and a negative feature age (clock skew between hosts) counts as 0.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict

from django.conf import settings
from prometheus_client import Counter, Gauge, Histogram

from core.features import FEATURE_NAMES, Entity

OTHER = "other"
# An empty tenant (a request refused before its API key was known) or model version (no model answered).
NONE = "none"
# Label values of drift results that are not one feature: the joint (MMD) test and the predicted ETAs.
DRIFT_AGGREGATE_FEATURES: tuple[str, ...] = ("multivariate", "prediction")
# Champion, challenger, and a few just replaced: enough for promotions and rollbacks within one process.
MAX_MODEL_VERSIONS_PER_TENANT = 5
# The API's stable error codes are a few dozen at most; more distinct values means something is wrong.
MAX_ERROR_CODES = 40

# Serving targets are p99 <= 15 ms at concurrency 1 and <= 50 ms at 8: resolve 1-100 ms finely.
PREDICTION_LATENCY_BUCKETS_SECONDS = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip
# The materialiser runs every 15 minutes and a value counts as stale after 6 h (FEATURE_STALE_AFTER_SECONDS
# default, 21600): both are bucket bounds so that alerts can count the share beyond them exactly.
FEATURE_AGE_BUCKETS_SECONDS = (
    60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 6 * 3600, 12 * 3600, 24 * 3600, 3 * 24 * 3600,
)  # fmt: skip
# 5 minutes is a bound so that the share of predictions within 5 minutes can be read from the histogram.
PREDICTION_ERROR_BUCKETS_MINUTES = (0.5, 1, 2, 3, 4, 5, 7.5, 10, 15, 20, 30, 45, 60)

_TENANT_PATTERN = re.compile(r"^[-a-zA-Z0-9_]{1,50}$")
_MODEL_VERSION_PATTERN = re.compile(r"^[-a-zA-Z0-9._/:]{1,64}$")
_ERROR_CODE_PATTERN = re.compile(r"^[a-z0-9_]{1,40}$")
_KNOWN_FEATURES = frozenset(FEATURE_NAMES) | frozenset(DRIFT_AGGREGATE_FEATURES)
_KNOWN_ENTITIES = frozenset(entity.value for entity in Entity)

PREDICTION_LATENCY = Histogram(
    "intellilog_prediction_latency_seconds",
    "Time to answer one ETA prediction (features, model, explanation, audit), in seconds.",
    ["tenant", "model_version"],
    buckets=PREDICTION_LATENCY_BUCKETS_SECONDS,
)
PREDICTIONS = Counter(
    "intellilog_predictions",
    "ETA predictions answered, by whether a feature fallback was used and whether the order was out of distribution.",
    ["tenant", "model_version", "used_fallback", "is_ood"],
)
FEATURE_AGE = Histogram(
    "intellilog_feature_age_seconds",
    "Age of the online-store entity state a prediction used, in seconds.",
    ["tenant", "entity"],
    buckets=FEATURE_AGE_BUCKETS_SECONDS,
)
FEATURE_MISSING = Counter(
    "intellilog_feature_missing",
    "Predictions for which the online store had no usable state of an entity.",
    ["tenant", "entity"],
)
PREDICTION_ERROR = Histogram(
    "intellilog_prediction_error_minutes",
    "Absolute error of a prediction once its delivery outcome is reported, in minutes.",
    ["tenant", "model_version"],
    buckets=PREDICTION_ERROR_BUCKETS_MINUTES,
)
REALIZED_MAE = Gauge(
    "intellilog_realized_mae_minutes",
    "Mean absolute error over the latest realized-accuracy window, in minutes.",
    ["tenant", "model_version"],
    multiprocess_mode="mostrecent",
)
REALIZED_WITHIN_5 = Gauge(
    "intellilog_realized_within_5_minutes_ratio",
    "Share of predictions within 5 minutes of the outcome over the latest realized-accuracy window (0-1).",
    ["tenant", "model_version"],
    multiprocess_mode="mostrecent",
)
DRIFT_EFFECT_SIZE = Gauge(
    "intellilog_drift_effect_size",
    "Effect size of the latest drift check of a feature (reference vs. recent traffic).",
    ["tenant", "model_version", "feature"],
    multiprocess_mode="mostrecent",
)
DRIFT_DETECTED = Gauge(
    "intellilog_drift_detected",
    "1 when the latest drift check declared the feature drifted (corrected p-value and effect size), else 0.",
    ["tenant", "model_version", "feature"],
    multiprocess_mode="mostrecent",
)
DATA_QUALITY_SCORE = Gauge(
    "intellilog_data_quality_score",
    "Latest data-quality score of the tenant's deliveries (0-100).",
    ["tenant"],
    multiprocess_mode="mostrecent",
)
MONITORING_CHECK_TIMESTAMP = Gauge(
    "intellilog_monitoring_check_timestamp_seconds",
    "Unix time a monitoring check last reported for the tenant, so that a check that stopped is visible.",
    ["tenant", "check"],
    multiprocess_mode="mostrecent",
)
SERVING_ERRORS = Counter(
    "intellilog_serving_errors",
    "Error responses (4xx and 5xx) of the prediction API, by stable error code.",
    ["tenant", "code"],
)


class _FirstSeen:
    """Admits the first `limit` distinct values; thread-safe (gunicorn threads share a process)."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def admit(self, value: str, limit: int) -> bool:
        if value in self._seen:  # the common case, without the lock: sets are safe to read concurrently
            return True
        with self._lock:
            if value in self._seen or len(self._seen) < limit:
                self._seen.add(value)
                return True
        return False


class _RecentVersions:
    """Per tenant, the last `limit` versions seen for the first time; an evicted version stays evicted."""

    def __init__(self) -> None:
        self._versions: dict[str, OrderedDict[str, None]] = {}
        self._evicted: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def admit(self, tenant: str, version: str, limit: int) -> bool:
        with self._lock:
            versions = self._versions.setdefault(tenant, OrderedDict())
            if version in versions:
                return True
            evicted = self._evicted.setdefault(tenant, set())
            if version in evicted:
                return False
            versions[version] = None
            if len(versions) > limit:
                oldest, _ = versions.popitem(last=False)
                evicted.add(oldest)
                # The evicted list is bounded too: a process that outlives this many versions is recycled
                # long before it matters, and forgetting only re-admits an old version as a new one.
                if len(evicted) > 10 * limit:
                    evicted.clear()
            return True


_tenants = _FirstSeen()
_model_versions = _RecentVersions()
_error_codes = _FirstSeen()


def label_bounds_clear() -> None:
    """Forget which tenants, versions and codes this process admitted (tests; the series already exported stay)."""
    global _tenants, _model_versions, _error_codes
    _tenants, _model_versions, _error_codes = _FirstSeen(), _RecentVersions(), _FirstSeen()


def tenant_label(tenant: str) -> str:
    """The ``tenant`` label value for a tenant slug (see the module docstring for the rule)."""
    if tenant == "":
        return NONE
    if not _TENANT_PATTERN.fullmatch(tenant):
        return OTHER
    return tenant if _tenants.admit(tenant, settings.METRICS_MAX_TENANTS) else OTHER


def _tenant_and_version_labels(tenant: str, model_version: str) -> tuple[str, str]:
    tenant_value = tenant_label(tenant)
    if model_version == "":
        return tenant_value, NONE
    if tenant_value in (OTHER, NONE) or not _MODEL_VERSION_PATTERN.fullmatch(model_version):
        # Versions of tenants already folded into "other" would multiply that one series again.
        return tenant_value, OTHER
    is_admitted = _model_versions.admit(tenant_value, model_version, MAX_MODEL_VERSIONS_PER_TENANT)
    return tenant_value, model_version if is_admitted else OTHER


def _feature_label(feature: str) -> str:
    return feature if feature in _KNOWN_FEATURES else OTHER


def _entity_label(entity: str) -> str:
    return entity if entity in _KNOWN_ENTITIES else OTHER


def _error_code_label(code: str) -> str:
    if not _ERROR_CODE_PATTERN.fullmatch(code):
        return OTHER
    return code if _error_codes.admit(code, MAX_ERROR_CODES) else OTHER


def _bool_label(value: bool) -> str:
    return "true" if value else "false"


def _non_negative(name: str, value: float) -> float:
    if math.isnan(value) or value < 0:
        raise ValueError(f"{name}: expected a non-negative number, got {value!r}")
    return value


def _between(name: str, value: float, low: float, high: float) -> float:
    if math.isnan(value) or not low <= value <= high:
        raise ValueError(f"{name}: expected a number between {low} and {high}, got {value!r}")
    return value


def _check_reported(tenant: str, check: str) -> None:
    MONITORING_CHECK_TIMESTAMP.labels(tenant=tenant, check=check).set(time.time())


def prediction_observed(
    *, tenant: str, model_version: str, latency_seconds: float, used_fallback: bool, is_ood: bool
) -> None:
    """Record one answered ETA prediction: its latency and whether it used a fallback or was out of distribution."""
    _non_negative("latency_seconds", latency_seconds)
    tenant_value, version_value = _tenant_and_version_labels(tenant, model_version)
    PREDICTION_LATENCY.labels(tenant=tenant_value, model_version=version_value).observe(latency_seconds)
    PREDICTIONS.labels(
        tenant=tenant_value,
        model_version=version_value,
        used_fallback=_bool_label(used_fallback),
        is_ood=_bool_label(is_ood),
    ).inc()


def feature_age_observed(*, tenant: str, entity: str, age_seconds: float | None) -> None:
    """Record the age of the online-store state of one entity a prediction used; None counts it as missing."""
    tenant_value, entity_value = tenant_label(tenant), _entity_label(entity)
    if age_seconds is None:
        FEATURE_MISSING.labels(tenant=tenant_value, entity=entity_value).inc()
        return
    if math.isnan(age_seconds):
        raise ValueError("age_seconds: expected a number or None, got nan")
    # The state was written on another host (the materialiser's): a clock a little ahead of ours makes a
    # fresh state look younger than zero, which is fresh, not an error in the prediction path.
    FEATURE_AGE.labels(tenant=tenant_value, entity=entity_value).observe(max(age_seconds, 0.0))


def prediction_error_observed(*, tenant: str, model_version: str, error_minutes: float) -> None:
    """Record the error of one prediction whose outcome was reported; the sign is dropped (absolute error)."""
    error = abs(error_minutes)
    _non_negative("error_minutes", error)  # still rejects NaN
    tenant_value, version_value = _tenant_and_version_labels(tenant, model_version)
    PREDICTION_ERROR.labels(tenant=tenant_value, model_version=version_value).observe(error)


def realized_accuracy_set(*, tenant: str, model_version: str, mae_minutes: float, within_5_share: float) -> None:
    """Publish the latest realized accuracy of a serving version: MAE and the share within 5 minutes (0-1)."""
    _non_negative("mae_minutes", mae_minutes)
    _between("within_5_share", within_5_share, 0.0, 1.0)
    tenant_value, version_value = _tenant_and_version_labels(tenant, model_version)
    REALIZED_MAE.labels(tenant=tenant_value, model_version=version_value).set(mae_minutes)
    REALIZED_WITHIN_5.labels(tenant=tenant_value, model_version=version_value).set(within_5_share)
    _check_reported(tenant_value, "realized_accuracy")


def drift_score_set(*, tenant: str, model_version: str, feature: str, effect_size: float, is_drifted: bool) -> None:
    """Publish the latest drift result of one feature (or of "multivariate"/"prediction") for a serving version."""
    if effect_size < 0:  # NaN passes: a constant feature has no effect size
        raise ValueError(f"effect_size: expected a non-negative number or NaN, got {effect_size!r}")
    tenant_value, version_value = _tenant_and_version_labels(tenant, model_version)
    labels = {"tenant": tenant_value, "model_version": version_value, "feature": _feature_label(feature)}
    DRIFT_EFFECT_SIZE.labels(**labels).set(effect_size)
    DRIFT_DETECTED.labels(**labels).set(1.0 if is_drifted else 0.0)
    _check_reported(tenant_value, "drift")


def data_quality_score_set(*, tenant: str, score: float) -> None:
    """Publish the tenant's latest data-quality score (0-100)."""
    _between("score", score, 0.0, 100.0)
    tenant_value = tenant_label(tenant)
    DATA_QUALITY_SCORE.labels(tenant=tenant_value).set(score)
    _check_reported(tenant_value, "data_quality")


def serving_error_observed(*, tenant: str, code: str) -> None:
    """Record one error response of the prediction API with its stable error code (e.g. "invalid", "no_champion")."""
    SERVING_ERRORS.labels(tenant=tenant_label(tenant), code=_error_code_label(code)).inc()
