"""Named numbers of the feature store."""

from __future__ import annotations

# The prediction path must answer even when Redis hangs: a read that takes longer than this falls back
# to the database, which is slower but bounded, instead of holding the request for seconds.
STORE_SOCKET_TIMEOUT_SECONDS = 0.2
# One quick retry without backoff covers a pooled connection that Redis closed (a restart); more would
# only delay the database fallback.
STORE_RETRIES = 1
# Entity states written per pipeline round trip by the materialiser: large enough to amortise the round
# trip, small enough that one batch does not block Redis noticeably.
STORE_WRITE_BATCH_SIZE = 500
# Completion times are computed in whole nanoseconds, as the ML core's completion events are.
NS_PER_MINUTE = 60_000_000_000
