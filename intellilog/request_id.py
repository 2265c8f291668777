"""A request id for every HTTP request: the caller's ``X-Request-ID`` when it is sane, else a new one.

It is returned in the response header, recorded in prediction audit rows, and put on every log line and
every Celery task queued while the request runs (`intellilog.log_context`), so one id ties a caller's
log line to our logs, tasks and audit row.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from intellilog.log_context import request_id_var

REQUEST_ID_HEADER = "X-Request-ID"
# Accept only short printable ids: the value goes into logs and the audit table unescaped.
_ACCEPTABLE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def request_id_of(request: HttpRequest) -> str:
    """The id of ``request`` (set by `RequestIdMiddleware`)."""
    return getattr(request, "request_id", "") or uuid.uuid4().hex


class RequestIdMiddleware:
    """Sets ``request.request_id`` and echoes it in the ``X-Request-ID`` response header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        request.request_id = offered if _ACCEPTABLE_ID.match(offered) else uuid.uuid4().hex  # type: ignore[attr-defined]
        # Set, not reset after the response: Django logs a 4xx/5xx ("Unauthorized: /api/...") after the
        # middleware chain has returned, and that line must carry the id too. The next request on this
        # thread (or task, under ASGI) sets its own.
        request_id_var.set(request.request_id)  # type: ignore[attr-defined]
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request.request_id  # type: ignore[attr-defined]
        return response
