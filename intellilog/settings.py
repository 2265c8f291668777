"""IntelliLog settings, read from the environment (every variable is listed in .env.example).

Defaults run out of the box: without DATABASE_URL an embedded SQLite file under var/ is used, and
without CELERY_BROKER_URL Celery tasks run inline. Tests, CI, docker-compose and production use
PostgreSQL and Redis.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from intellilog.env import env_bool, env_float, env_int, env_list, env_str, env_url, local_env_file_load

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("INTELLILOG_VAR_DIR", str(BASE_DIR / "var")))
# Written by `make run`; read only where DEBUG is not set to false (see local_env_file_load).
LOCAL_ENV_FILE = VAR_DIR / "dev.env"
local_env_file_load(LOCAL_ENV_FILE)

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY: must be set when DEBUG is false (or set DEBUG=true for local work)")
    SECRET_KEY = "django-insecure-local-development-only"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "axes",
    "intellilog.apps.IntellilogConfig",
    "tenants",
    "deliveries",
    "registry",
    "features",
    "predictions",
    "routing",
    "monitoring",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "intellilog.request_id.RequestIdMiddleware",
    # Before anything that reads the body: a too large one is refused from its Content-Length.
    "intellilog.api_bounds.ApiJsonErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes requires: turns a locked-out admin login into its lockout page.
    "axes.middleware.AxesMiddleware",
]

# Admin logins are throttled per user name and address (django-axes): after AXES_FAILURE_LIMIT wrong passwords
# that pair is locked out for AXES_COOLOFF_MINUTES, even with the right password; a success resets the count.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# The peer address only: a client chooses its X-Forwarded-For, and a new address per guess would reset the count.
# Behind a load balancer every login then shares its address, so the lockout is per user name there.
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

ROOT_URLCONF = "intellilog.urls"
WSGI_APPLICATION = "intellilog.wsgi.application"
ASGI_APPLICATION = "intellilog.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env_url(
    "DATABASE_URL", f"sqlite:///{VAR_DIR / 'intellilog.sqlite3'}", schemes=("postgres", "postgresql", "sqlite")
)
if DATABASE_URL.startswith("sqlite"):
    VAR_DIR.mkdir(parents=True, exist_ok=True)  # the quickstart's embedded database lives here
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60))}
# django-prometheus's wrappers of the same backends count queries, errors and connections per database.
_PROMETHEUS_DB_ENGINES = {
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
}
_engine = DATABASES["default"]["ENGINE"]
DATABASES["default"]["ENGINE"] = _PROMETHEUS_DB_ENGINES.get(_engine, _engine)

REDIS_URL = env_url("REDIS_URL", "redis://127.0.0.1:6379/0", schemes=("redis", "rediss", "unix"))

# Feature store: entity states live in Redis (REDIS_URL) under this key prefix. A state older than
# FEATURE_STALE_AFTER_SECONDS is still served but flagged "stale"; Redis drops it FEATURE_TTL_SECONDS after
# it was last written, so the TTL must be longer or stale values would vanish instead of being flagged.
FEATURE_STORE_KEY_PREFIX = env_str("FEATURE_STORE_KEY_PREFIX", "intellilog:features")
FEATURE_STALE_AFTER_SECONDS = env_int("FEATURE_STALE_AFTER_SECONDS", 6 * 3600, minimum=1)
FEATURE_TTL_SECONDS = env_int("FEATURE_TTL_SECONDS", 3 * 24 * 3600, minimum=1)
if FEATURE_TTL_SECONDS <= FEATURE_STALE_AFTER_SECONDS:
    raise ImproperlyConfigured("FEATURE_TTL_SECONDS: must be longer than FEATURE_STALE_AFTER_SECONDS")
# When the store cannot answer, states are computed from the database; each process keeps those for
# FEATURE_FALLBACK_CACHE_SECONDS (0: off), at most FEATURE_FALLBACK_CACHE_ENTRIES entities, so a Redis outage
# under load costs one query per entity every few seconds instead of one per order (deliveries stored
# meanwhile count once the entry expires).
FEATURE_FALLBACK_CACHE_SECONDS = env_int("FEATURE_FALLBACK_CACHE_SECONDS", 5, minimum=0)
FEATURE_FALLBACK_CACHE_ENTRIES = env_int("FEATURE_FALLBACK_CACHE_ENTRIES", 10_000, minimum=1)

# The code's commit for lineage when there is no git checkout: the Docker image sets it from its build argument
# ("unknown" there when built without one, which is then recorded as such).
GIT_COMMIT = env_str("INTELLILOG_GIT_COMMIT")

CELERY_BROKER_URL = env_url("CELERY_BROKER_URL", None, schemes=("amqp", "redis", "rediss", "memory"))
# Without a broker the quickstart has no worker to talk to: run tasks inline (Saleor's convention).
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND")
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The beat schedule lives in code; django-celery-beat's database scheduler stores and runs it.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "train-eta-nightly": {"task": "registry.tasks.train_eta_all_tenants_task", "schedule": crontab(hour=2, minute=0)},
    "materialize-features": {
        "task": "features.tasks.materialize_features_all_tenants_task",
        "schedule": crontab(minute="*/15"),
    },
    "deliver-alert-notifications": {
        "task": "monitoring.tasks.deliver_alert_notifications_task",
        "schedule": crontab(minute="*"),
    },
}

# Training (registry.tasks.train_eta_task) is told to stop after TRAINING_TIME_LIMIT_MINUTES (Celery's soft limit:
# the run marks its version FAILED itself) and killed a minute later (the hard limit); the bundled history of 35k
# deliveries trains in about a minute here. It must end within the Redis broker's visibility timeout (1 h), or the
# unacknowledged (acks_late) task would be delivered to a second worker while the first still trains. A version still
# PENDING TRAINING_STALE_AFTER_MINUTES after it was reserved has lost its process (SIGKILL, out of memory, a lost
# host): the sweeper, every 5 minutes, marks it FAILED.
TRAINING_TIME_LIMIT_MINUTES = env_int("TRAINING_TIME_LIMIT_MINUTES", 30, minimum=1)
if TRAINING_TIME_LIMIT_MINUTES > 58:
    raise ImproperlyConfigured("TRAINING_TIME_LIMIT_MINUTES: at most 58, under the broker's 1 h visibility timeout")
TRAINING_STALE_AFTER_MINUTES = env_int("TRAINING_STALE_AFTER_MINUTES", 60, minimum=1)
if TRAINING_STALE_AFTER_MINUTES <= TRAINING_TIME_LIMIT_MINUTES + 1:
    raise ImproperlyConfigured(
        "TRAINING_STALE_AFTER_MINUTES: must be longer than TRAINING_TIME_LIMIT_MINUTES + 1 (the hard limit), "
        "or a training still running would be marked failed"
    )
# Where training runs: "local" (this process) or "dask" (xgboost.dask on the
# cluster whose scheduler is DASK_SCHEDULER_ADDRESS, e.g. tcp://dask-scheduler:8786; its workers must see
# ARTIFACT_ROOT, where the training snapshot is written). DASK_TRAINING_PARTITIONS fixes how the snapshot is cut:
# a version is byte-identical on reproduction for the same partition and worker counts (docs/scale.md).
TRAINING_ENGINE = env_str("TRAINING_ENGINE", "local")
if TRAINING_ENGINE not in {"local", "dask"}:
    raise ImproperlyConfigured(f"TRAINING_ENGINE: expected local or dask, got {TRAINING_ENGINE!r}")
DASK_SCHEDULER_ADDRESS = env_str("DASK_SCHEDULER_ADDRESS", "")
if TRAINING_ENGINE == "dask" and not DASK_SCHEDULER_ADDRESS:
    raise ImproperlyConfigured("DASK_SCHEDULER_ADDRESS: required when TRAINING_ENGINE=dask")
DASK_TRAINING_PARTITIONS = env_int("DASK_TRAINING_PARTITIONS", 16, minimum=1)
CELERY_BEAT_SCHEDULE["fail-stale-training"] = {
    "task": "registry.tasks.model_versions_fail_stale_task",
    "schedule": timedelta(minutes=5),
}

# Alert delivery (monitoring outbox): per-request timeout; retries back off exponentially from the base delay,
# with jitter, capped at the maximum delay; after the last attempt a notification is marked failed (and kept).
ALERT_DELIVERY_TIMEOUT_SECONDS = env_float("ALERT_DELIVERY_TIMEOUT_SECONDS", 10.0, minimum=0.1, maximum=120)
ALERT_DELIVERY_MAX_ATTEMPTS = env_int("ALERT_DELIVERY_MAX_ATTEMPTS", 8, minimum=1)
ALERT_RETRY_BASE_SECONDS = env_int("ALERT_RETRY_BASE_SECONDS", 30, minimum=1)
ALERT_RETRY_MAX_SECONDS = env_int("ALERT_RETRY_MAX_SECONDS", 3600, minimum=1)
if ALERT_RETRY_MAX_SECONDS < ALERT_RETRY_BASE_SECONDS:
    raise ImproperlyConfigured("ALERT_RETRY_MAX_SECONDS: must be at least ALERT_RETRY_BASE_SECONDS")

# Operational alerts (monitoring outbox): a Celery task that failed this many times in a row, without a success
# in between, raises a warning (earlier failures are an info alert). A worker also checks every
# MONITORING_CHECK_MINUTES that beat still queues the monitoring checks (critical when not, for twice that).
TASK_FAILURE_ALERT_AFTER = env_int("TASK_FAILURE_ALERT_AFTER", 3, minimum=1)
BEAT_WATCHDOG_ENABLED = env_bool("BEAT_WATCHDOG_ENABLED", True)

# Monitoring of live traffic (monitoring/live/): every MONITORING_CHECK_MINUTES, per tenant and serving version
# (champion and challenger), drift of the last DRIFT_WINDOW_MINUTES of audited predictions against the
# version's training data, realized accuracy of reported outcomes, and live data quality.
MONITORING_CHECK_MINUTES = env_int("MONITORING_CHECK_MINUTES", 5, minimum=1)
CELERY_BEAT_SCHEDULE["monitoring-checks"] = {
    "task": "monitoring.tasks.monitoring_checks_all_tenants_task",
    "schedule": timedelta(minutes=MONITORING_CHECK_MINUTES),
}
DRIFT_WINDOW_MINUTES = env_int("DRIFT_WINDOW_MINUTES", 60, minimum=1)
# The reference is the last DRIFT_REFERENCE_DAYS of the version's training snapshot (history features such as
# a courier's mean are still warming up in its first days; two weeks hold every weekday twice and enough rows per
# quarter hour of the day), at most DRIFT_REFERENCE_MAX_ROWS rows sampled once.
DRIFT_REFERENCE_DAYS = env_int("DRIFT_REFERENCE_DAYS", 14, minimum=1)
DRIFT_REFERENCE_MAX_ROWS = env_int("DRIFT_REFERENCE_MAX_ROWS", 10000, minimum=100)
# A test declares drift only when its Benjamini-Hochberg corrected p-value is below DRIFT_ALPHA and its effect
# reaches the minimum for its kind (numeric: Wasserstein in reference sds; categorical and missing share:
# Jensen-Shannon distance; MMD^2 for the joint test); critical at DRIFT_CRITICAL_MULTIPLIER times the minimum.
# Checks every few minutes on overlapping windows make the per-check rate what operators see: at 0.01 the
# no-change replays of bench/drift.py flag about 1% of checks (0.05: 3-4%), and real shifts still show at once.
# DRIFT_ALPHA, DRIFT_IMPACT_TOLERANCE_MINUTES, ACCURACY_ALPHA and the ACCURACY_CUSUM_* budgets, floor and minimums
# below: chosen by `bench/drift.py --walk-forward` (strictest over its folds; docs/benchmarks.md, monitor).
DRIFT_ALPHA = env_float("DRIFT_ALPHA", 0.0001, minimum=1e-6, maximum=0.5)
DRIFT_NUMERIC_MIN_EFFECT = env_float("DRIFT_NUMERIC_MIN_EFFECT", 0.1, minimum=0.0)
DRIFT_CATEGORICAL_MIN_EFFECT = env_float("DRIFT_CATEGORICAL_MIN_EFFECT", 0.1, minimum=0.0, maximum=1.0)
DRIFT_MMD_MIN_EFFECT = env_float("DRIFT_MMD_MIN_EFFECT", 0.005, minimum=0.0)
DRIFT_CRITICAL_MULTIPLIER = env_float("DRIFT_CRITICAL_MULTIPLIER", 2.0, minimum=1.0)
# A drifted window pages (critical) only when its predicted ETAs moved at least this many minutes from the
# reference's (1-Wasserstein); smaller drift is a recorded warning. Replaces DRIFT_CRITICAL_MULTIPLIER for the
# check's severity; chosen by `bench/drift.py --walk-forward` (docs/monitoring.md).
DRIFT_IMPACT_TOLERANCE_MINUTES = env_float("DRIFT_IMPACT_TOLERANCE_MINUTES", 4.0, minimum=0.0)
# Fewer values than this on either side: the test reports insufficient data instead of a verdict.
DRIFT_MIN_SAMPLES = env_int("DRIFT_MIN_SAMPLES", 50, minimum=2)
# MMD's cost bound: rows per side after subsampling, and permutations for its p-value.
DRIFT_MMD_MAX_ROWS = env_int("DRIFT_MMD_MAX_ROWS", 500, minimum=2)
DRIFT_MMD_PERMUTATIONS = env_int("DRIFT_MMD_PERMUTATIONS", 200, minimum=1)
if DRIFT_MMD_MAX_ROWS < DRIFT_MIN_SAMPLES:
    raise ImproperlyConfigured("DRIFT_MMD_MAX_ROWS: must be at least DRIFT_MIN_SAMPLES")
# Realized accuracy: outcomes reported in the last ACCURACY_WINDOW_HOURS, and the most recent
# ACCURACY_RECENT_WINDOW_MINUTES of them on their own (so a sudden change shows within the hour). Either MAE above
# the version's validation MAE by more than ACCURACY_TOLERANCE (a share), on at least ACCURACY_MIN_OUTCOMES
# outcomes, raises the accuracy alert.
ACCURACY_WINDOW_HOURS = env_int("ACCURACY_WINDOW_HOURS", 24, minimum=1)
ACCURACY_RECENT_WINDOW_MINUTES = env_int("ACCURACY_RECENT_WINDOW_MINUTES", 30, minimum=1)
ACCURACY_TOLERANCE = env_float("ACCURACY_TOLERANCE", 0.15, minimum=0.0)
# The same windows also alert when their bias (mean of predicted minus actual) moves by more than this many minutes
# from the validation bias at the same hours: a general slowdown shows in the bias well before the MAE.
ACCURACY_MAX_BIAS_MINUTES = env_float("ACCURACY_MAX_BIAS_MINUTES", 1.5, minimum=0.0)
# ... and only when the change is significant at this level (one-sided z-test of the window's MAE, two-sided of its
# bias, against the validation figures at the same hours), so a small window does not alert on chance.
ACCURACY_ALPHA = env_float("ACCURACY_ALPHA", 0.0001, minimum=1e-6, maximum=0.5)
ACCURACY_MIN_OUTCOMES = env_int("ACCURACY_MIN_OUTCOMES", 100, minimum=1)
# Sequential change detection (core/stats/cusum.py): a two-sided CUSUM of each outcome's error, standardised by
# the version's validation bias and sd at its order's hour, over the outcomes reported in the last
# ACCURACY_CUSUM_HOURS (at least ACCURACY_MIN_OUTCOMES), in the order they were reported, recomputed at every check
# (no state between checks); over all outcomes and per area, vehicle, weather and traffic. ACCURACY_CUSUM_K (in sds)
# is half the smallest shift to find fast (a 20% slowdown of deliveries is about 1 sd of the errors);
# ACCURACY_CUSUM_H is the floor of every stream's decision interval (the budgets below raise it per stream;
# fitted walk-forward by bench/drift.py, docs/monitoring.md). Each segment is standardised by its own validation
# errors where it has enough of them (DriftReference.segment_error_profile).
ACCURACY_CUSUM_K = env_float("ACCURACY_CUSUM_K", 0.5, minimum=0.01)
ACCURACY_CUSUM_H = env_float("ACCURACY_CUSUM_H", 8.0, minimum=0.1)
ACCURACY_CUSUM_HOURS = env_int("ACCURACY_CUSUM_HOURS", 3, minimum=1)
# The CUSUMs' family-wise budget: expected false alarms a day over every stream and side together (each stream's
# threshold spends its share given its outcomes a day; ACCURACY_CUSUM_H is the floor), and the smallest mean
# deviation from validation, in minutes, that a stream may alarm on (docs/monitoring.md).
ACCURACY_CUSUM_DAILY_ALPHA = env_float("ACCURACY_CUSUM_DAILY_ALPHA", 0.05, minimum=1e-6)
ACCURACY_CUSUM_MIN_EFFECT_MINUTES = env_float("ACCURACY_CUSUM_MIN_EFFECT_MINUTES", 2.0, minimum=0.0)
# And a per-check family-wise budget: the share of checks at which any stream stands above its threshold when
# nothing changed (each of the m one-sided statistics gets CHECK_ALPHA / m of it; docs/monitoring.md).
ACCURACY_CUSUM_CHECK_ALPHA = env_float("ACCURACY_CUSUM_CHECK_ALPHA", 0.005, minimum=1e-6)
# A segment's CUSUM alarms only on as many outcomes as finding a shift of this many validation sds takes (80% power at
# its share of the per-check budget; 0: no minimum): thin segments move by minutes with one day's cluster of orders.
ACCURACY_CUSUM_SEGMENT_EFFECT_SD = env_float("ACCURACY_CUSUM_SEGMENT_EFFECT_SD", 0.25, minimum=0.0)
if ACCURACY_CUSUM_HOURS > ACCURACY_WINDOW_HOURS:
    raise ImproperlyConfigured("ACCURACY_CUSUM_HOURS: must be at most ACCURACY_WINDOW_HOURS")
# Live data quality over the last LIVE_QUALITY_WINDOW_MINUTES of predictions (at least LIVE_QUALITY_MIN_PREDICTIONS):
# shares of out-of-distribution orders and of feature-store fallbacks (data_quality alert), and of predictions
# with a stale feature state (stale_features alert), each alerting above its maximum (critical at twice it).
LIVE_QUALITY_WINDOW_MINUTES = env_int("LIVE_QUALITY_WINDOW_MINUTES", 60, minimum=1)
LIVE_QUALITY_MIN_PREDICTIONS = env_int("LIVE_QUALITY_MIN_PREDICTIONS", 50, minimum=1)
LIVE_MAX_OOD_SHARE = env_float("LIVE_MAX_OOD_SHARE", 0.10, minimum=0.0, maximum=1.0)
LIVE_MAX_FALLBACK_SHARE = env_float("LIVE_MAX_FALLBACK_SHARE", 0.20, minimum=0.0, maximum=1.0)
LIVE_MAX_STALE_SHARE = env_float("LIVE_MAX_STALE_SHARE", 0.20, minimum=0.0, maximum=1.0)
# A drift or accuracy alert that newly fires on a champion queues a retraining whose version becomes the
# challenger, unless a version was trained (or a retraining queued) in the last RETRAIN_COOLDOWN_HOURS.
RETRAIN_ON_ALERT = env_bool("RETRAIN_ON_ALERT", True)
RETRAIN_COOLDOWN_HOURS = env_int("RETRAIN_COOLDOWN_HOURS", 6, minimum=0)

# Continuous learning (predictions/shadow.py, predictions/champion_watch.py). While a tenant has a challenger, this
# share of its live predictions (chosen by a hash of the audit id, so the sample is reproducible) is also scored by
# the challenger in a worker, queued after the audit commits; the caller's response never changes.
SHADOW_SHARE = env_float("SHADOW_SHARE", 0.25, minimum=0.0, maximum=1.0)
# The shadow A/B test, looked at every AB_EVALUATION_MINUTES: a one-sided paired Wilcoxon on absolute errors finds
# the challenger better only with at least AB_MIN_PAIRS orders, an improvement of at least AB_MIN_EFFECT_MINUTES per
# order (Hodges-Lehmann) and p below the alpha-spending boundary of the look (overall false-promotion rate AB_ALPHA
# over any number of looks up to AB_PLANNED_MAX_PAIRS, where the test ends). A test keeps the settings of its first
# look, so changing them mid-test cannot move its boundaries.
AB_ALPHA = env_float("AB_ALPHA", 0.05, minimum=1e-6, maximum=0.5)
AB_MIN_PAIRS = env_int("AB_MIN_PAIRS", 100, minimum=1)
# The improvement is the Hodges-Lehmann estimate of the per-order difference, smaller than the MAE difference since
# most orders are predicted alike: on the bundled history a 13% lower MAE (-0.47 min) is +0.22 (bench/ab.py).
AB_MIN_EFFECT_MINUTES = env_float("AB_MIN_EFFECT_MINUTES", 0.1, minimum=0.0)
AB_PLANNED_MAX_PAIRS = env_int("AB_PLANNED_MAX_PAIRS", 2000, minimum=1)
if AB_PLANNED_MAX_PAIRS < AB_MIN_PAIRS:
    raise ImproperlyConfigured("AB_PLANNED_MAX_PAIRS: must be at least AB_MIN_PAIRS")
AB_EVALUATION_MINUTES = env_int("AB_EVALUATION_MINUTES", 60, minimum=1)
CELERY_BEAT_SCHEDULE["shadow-ab-evaluation"] = {
    "task": "predictions.tasks.shadow_evaluate_all_tenants_task",
    "schedule": timedelta(minutes=AB_EVALUATION_MINUTES),
}
# Automatic rollback, checked every ROLLBACK_CHECK_MINUTES for ROLLBACK_WATCH_HOURS after a promotion: the new
# champion's absolute errors (outcomes of predictions it served) against the previous champion's over the
# ROLLBACK_BASELINE_HOURS before the promotion, one-sided Mann-Whitney U. Worse means at least ROLLBACK_MIN_OUTCOMES
# on each side, realized MAE higher by at least ROLLBACK_MIN_EFFECT_MINUTES, and p below the alpha-spending
# boundary (overall false-rollback rate ROLLBACK_ALPHA over the looks up to ROLLBACK_PLANNED_OUTCOMES new outcomes).
ROLLBACK_CHECK_MINUTES = env_int("ROLLBACK_CHECK_MINUTES", 60, minimum=1)
ROLLBACK_WATCH_HOURS = env_int("ROLLBACK_WATCH_HOURS", 7 * 24, minimum=1)
ROLLBACK_BASELINE_HOURS = env_int("ROLLBACK_BASELINE_HOURS", 7 * 24, minimum=1)
ROLLBACK_ALPHA = env_float("ROLLBACK_ALPHA", 0.05, minimum=1e-6, maximum=0.5)
ROLLBACK_MIN_OUTCOMES = env_int("ROLLBACK_MIN_OUTCOMES", 100, minimum=1)
ROLLBACK_MIN_EFFECT_MINUTES = env_float("ROLLBACK_MIN_EFFECT_MINUTES", 0.25, minimum=0.0)
ROLLBACK_PLANNED_OUTCOMES = env_int("ROLLBACK_PLANNED_OUTCOMES", 500, minimum=1)
if ROLLBACK_PLANNED_OUTCOMES < ROLLBACK_MIN_OUTCOMES:
    raise ImproperlyConfigured("ROLLBACK_PLANNED_OUTCOMES: must be at least ROLLBACK_MIN_OUTCOMES")
CELERY_BEAT_SCHEDULE["champion-watch"] = {
    "task": "predictions.tasks.champion_watch_all_tenants_task",
    "schedule": timedelta(minutes=ROLLBACK_CHECK_MINUTES),
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "intellilog" / "static"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.permissions.HasTenantApiKey"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "intellilog.api_bounds.CappedLimitOffsetPagination",
    "DEFAULT_PARSER_CLASSES": ["intellilog.api_bounds.BoundedJSONParser"],
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "intellilog.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["tenants.throttling.ApiKeyRateThrottle"],
}
# Requests per minute per API key unless the key sets its own limit; counted in Redis under this prefix.
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", 6000, minimum=1)
RATE_LIMIT_KEY_PREFIX = env_str("RATE_LIMIT_KEY_PREFIX", "intellilog:ratelimit")
# Request bounds (intellilog/api_bounds.py): the largest body (Django's own limit, answered 413 under /api/), the
# deepest JSON nesting, and the most rows one list page returns whatever ``limit`` asks.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("API_MAX_BODY_BYTES", 2_621_440, minimum=1024)
API_MAX_JSON_DEPTH = env_int("API_MAX_JSON_DEPTH", 32, minimum=4)
API_MAX_PAGE_SIZE = env_int("API_MAX_PAGE_SIZE", 1000, minimum=1)
# Most orders one batch prediction request may carry: bounds one request's memory and latency.
PREDICTION_BATCH_MAX_ORDERS = env_int("PREDICTION_BATCH_MAX_ORDERS", 1000, minimum=1)
SPECTACULAR_SETTINGS = {
    "TITLE": "IntelliLog API",
    "DESCRIPTION": "Audited, explained delivery ETAs, model registry and routing for delivery tenants.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from drf-spectacular-sidecar's static files, not a CDN: /api/docs works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "status": give each its own enum name in the schema.
    "ENUM_NAME_OVERRIDES": {
        "ModelVersionStatusEnum": "registry.choices.VersionStatus",
        "RoutePlanStatusEnum": "routing.choices.RoutePlanStatus",
        "AlertStatusEnum": "monitoring.choices.AlertStatus",
        "CheckStatusEnum": "monitoring.choices.CheckStatus",
        "AlertSeverityEnum": "monitoring.choices.AlertSeverity",
        "DriftSeverityEnum": "monitoring.choices.DriftSeverity",
        "EvidenceSourceEnum": "registry.choices.EvidenceSource",
    },
}

# Data quality: the score (0-100) an import batch must reach before training may use the tenant's data.
DATA_QUALITY_GATE = env_float("DATA_QUALITY_GATE", 95.0, minimum=0, maximum=100)
# Where the bundled public history lives; absent, the demo generates a synthetic one.
DELIVERY_HISTORY_PATH = Path(
    env_str("DELIVERY_HISTORY_PATH", str(BASE_DIR.parent / "shared" / "data" / "eta" / "deliveries.csv.gz"))
)

# Model artifacts (checksummed files) and the MLflow tracking store; both default to local folders.
ARTIFACT_ROOT = Path(env_str("ARTIFACT_ROOT", str(VAR_DIR / "artifacts")))
# The prediction audit's retention (predictions/audit_lifecycle.py, docs/scale.md): on PostgreSQL the audit is
# partitioned by month, partitions are created ahead daily, and a month older than AUDIT_RETENTION_MONTHS (0: never)
# is exported to a Parquet file under AUDIT_ARCHIVE_ROOT, recorded with its sha256, and detached from the table.
AUDIT_ARCHIVE_ROOT = Path(env_str("AUDIT_ARCHIVE_ROOT", str(VAR_DIR / "audit-archive")))
AUDIT_RETENTION_MONTHS = env_int("AUDIT_RETENTION_MONTHS", 13, minimum=0)
CELERY_BEAT_SCHEDULE["audit-partitions"] = {
    "task": "predictions.tasks.audit_partitions_maintain_task",
    "schedule": crontab(hour=0, minute=20),
}
CELERY_BEAT_SCHEDULE["audit-retention"] = {
    "task": "predictions.tasks.audit_retention_task",
    "schedule": crontab(hour=3, minute=40),
}
# Creating and detaching partitions is DDL only the tables' owner may run, and the application role owns nothing
# (docs/security.md). So these two tasks go to their own queue, consumed by one worker that connects as the owner
# (compose: worker-audit; k8s: intellilog-audit-worker); every other task stays with the application role.
AUDIT_OWNER_QUEUE = "audit-owner"
CELERY_TASK_ROUTES = {
    "predictions.tasks.audit_partitions_maintain_task": {"queue": AUDIT_OWNER_QUEUE},
    "predictions.tasks.audit_retention_task": {"queue": AUDIT_OWNER_QUEUE},
}
# MLflow 3 keeps its file store in maintenance mode, so the local default is its SQLite backend.
MLFLOW_TRACKING_URI = env_str("MLFLOW_TRACKING_URI", f"sqlite:///{VAR_DIR / 'mlflow.db'}")
MLFLOW_ARTIFACT_LOCATION = env_str("MLFLOW_ARTIFACT_LOCATION", (VAR_DIR / "mlartifacts").as_uri())

# Metrics (GET /metrics, monitoring/metrics.py). With a token set, a scrape must send it as a bearer token.
METRICS_TOKEN = env_str("METRICS_TOKEN")
# Distinct tenants with their own label value in the ML metrics, per process; the rest are "other".
METRICS_MAX_TENANTS = env_int("METRICS_MAX_TENANTS", 50, minimum=1)
# A Celery worker serves its pool's metrics on this port (0: not at all). Multiprocess mode itself is
# switched on by PROMETHEUS_MULTIPROC_DIR, which prometheus_client reads (see monitoring/exporter.py).
WORKER_METRICS_PORT = env_int("WORKER_METRICS_PORT", 0, minimum=0)

# One JSON object per line (LOG_FORMAT=json, the default unless DEBUG) with the request id of the request
# or task it belongs to; text for local work. Secrets are redacted by the filter.
LOG_FORMAT = env_str("LOG_FORMAT", "text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT: expected json or text, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_context": {"()": "intellilog.log_context.RequestContextFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_context"]}
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# Production hardening: on unless DEBUG, so `manage.py check --deploy` passes with DEBUG=false.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Prometheus and the health probes reach the web service directly on the private network, over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^metrics$", r"^health/"]
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
