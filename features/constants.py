"""Named numbers of the feature store."""

from __future__ import annotations

# Entity states written per pipeline round trip by the materialiser: large enough to amortise the round
# trip, small enough that one batch does not block Redis noticeably.
STORE_WRITE_BATCH_SIZE = 500
# Completion times are computed in whole nanoseconds, as the ML core's completion events are.
NS_PER_MINUTE = 60_000_000_000
