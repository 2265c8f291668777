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
