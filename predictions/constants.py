# How often a worker re-reads which version is the champion: a promotion or rollback is served by every
# worker within this many seconds, without a restart, at the cost of one small query per interval.
CHAMPION_RECHECK_SECONDS = 2.0
# A champion whose artifact was refused (missing, or fails its checksum) is read again only after this long,
# not at every re-check: hashing a bad file every few seconds in every worker costs I/O and floods the log
# and the alert, while a restored file is still picked up within a minute. A moved alias is seen at once.
CHAMPION_REFUSAL_RETRY_SECONDS = 60.0
# A worker that cannot load the champion tries at most this many previous champions, most recent first.
CHAMPION_FALLBACK_MAX_VERSIONS = 5
# Longest pickup-to-drop distance the API accepts: far beyond any food delivery, it only refuses typos.
MAX_DISTANCE_KM = 500.0
# Idempotency keys are stored in an indexed column of this width.
IDEMPOTENCY_KEY_MAX_LENGTH = 255
# A refused batch file names this many invalid rows in its error (the count says how many there are).
BATCH_ERRORS_SHOWN = 5
# Longest order id (the audit's column); `predictions.orders.order_id_normalise` says what else an id may be.
ORDER_ID_MAX_LENGTH = 64
# An idempotency key answers retries for this many days, then may be used again. Retries come within minutes;
# a bounded window lets the lookup read the latest partitions only (the audit is partitioned by month). The
# PostgreSQL trigger that keeps keys unique reads this value when its migration runs: change it with a migration
# that reinstalls the trigger (`predictions.partitions.audit_keys_install`).
IDEMPOTENCY_WINDOW_DAYS = 7
# The audit's monthly partitions are created this many months ahead of the current one (beat, daily).
AUDIT_PARTITION_MONTHS_AHEAD = 3

# Bulk outcomes (predictions/outcomes.py): rows judged per chunk (two queries and one COPY each), and how many
# rejected rows a report lists (all are counted).
OUTCOME_CHUNK_ROWS = 20_000
OUTCOME_REJECTIONS_KEPT = 1000
# Backfilled scores per COPY into the staging table: bounded memory for the CSV text of one chunk.
BACKFILL_COPY_ROWS = 200_000

# predict_batch scores and audits a file this many rows at a time: memory holds one chunk's output rows and
# audit payload (about 3 kB a row), and each chunk is one COPY.
BATCH_SCORE_CHUNK_ROWS = 20_000
