"""When a check's window ends."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def check_instant(value: dt.datetime | None) -> dt.datetime:
    """A check's window end: the given instant, or now, truncated to the minute.

    Truncated so that a task that runs twice for the same beat tick finds the report of the first run.
    """
    instant = value if value is not None else timezone.now()
    return instant.replace(second=0, microsecond=0)
