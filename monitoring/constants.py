from __future__ import annotations

# --- Alerts -------------------------------------------------------------------------------------------------

# Where PagerDuty channels send when no URL is given (the EU service uses events.eu.pagerduty.com).
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
# Dedup keys fit in 255 characters (PagerDuty's limit too); a longer subject is shortened with a hash.
DEDUP_KEY_MAX_LENGTH = 255
# At most this many notifications are sent by one run of the delivery task; the rest wait for the next minute.
DELIVERY_BATCH_LIMIT = 200
# A run of the delivery task stops picking up notifications after this long, so the minutely runs do not pile up
# behind a slow receiver (a notification being sent is finished; the rest wait for the next run).
DELIVERY_RUN_SECONDS = 50

# --- Operational alerts ---------------------------------------------------------------------------------------

# The beat entry whose runs show that the schedule is alive (monitoring.tasks.monitoring_checks_all_tenants_task).
MONITORING_CHECKS_TASK = "monitoring.tasks.monitoring_checks_all_tenants_task"
# django-celery-beat's database scheduler writes a run's time to its table every 3 minutes (`sync_every`).
BEAT_SYNC_SECONDS = 180

# --- Live-traffic checks ------------------------------------------------------------------------------------

# A check reads at most this many of the window's most recent predictions (or outcomes): the statistics need
# hundreds, and a tenant with 100,000 orders an hour must not make a check load them all every few minutes.
CHECK_MAX_ROWS = 20_000
# Parsed reference samples kept per process (one per serving version checked; champion and challenger of a
# few tenants), so a check every few minutes does not parse the same JSON each time.
REFERENCE_CACHE_SIZE = 16
# The reference sample is drawn with this seed: a version's reference is the same wherever it is rebuilt.
REFERENCE_SEED = 0
