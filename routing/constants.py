"""Named numbers of the routing API: size limits, defaults, and where the synchronous path ends.

The limits bound the work one request can cause (solver memory grows with the square of the locations);
`routing.api.serializers` enforces them, so they also appear in the OpenAPI schema.
"""

from __future__ import annotations

MAX_DEPOTS = 20
MAX_VEHICLES = 100
MAX_JOBS = 1000
MAX_TIME_WINDOWS_PER_JOB = 5

MIN_TIME_LIMIT_SECONDS = 1.0
MAX_TIME_LIMIT_SECONDS = 120.0
DEFAULT_TIME_LIMIT_SECONDS = 5.0

# Above either bound a problem is solved by a Celery worker and the API answers 202: a web worker should
# not be held for longer than a few seconds, and PyVRP may re-solve once (up to twice the time limit).
SYNC_MAX_JOBS = 200
SYNC_MAX_TIME_LIMIT_SECONDS = 10.0

# Times are minutes from the planning day's origin; a week covers every multi-day shift we plan.
MAX_MINUTES = 7 * 24 * 60
MAX_QUANTITY = 1_000_000
MAX_LATENESS_COST_PER_MINUTE = 1000.0
DEFAULT_SPEED_KMH = 30.0
MIN_SPEED_KMH = 1.0
MAX_SPEED_KMH = 200.0
MAX_ID_LENGTH = 64

# Labels the travel-time source of a caller-supplied duration matrix in the plan.
USER_MATRIX_SOURCE = "user-matrix"
