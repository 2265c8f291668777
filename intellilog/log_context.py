"""Structured logs: every line carries the request id of the HTTP request or Celery task it belongs to.

The id lives in a context variable: `RequestIdMiddleware` sets it per request, the Celery signals below
copy it into the headers of every task published while it is set and restore it in the worker, so a
prediction's log lines, its audit row and the tasks it queued share one id. Secrets are redacted from
every record: an API key or bearer token must never reach a log file.
"""

from __future__ import annotations

import contextvars
import logging
import re
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

REQUEST_ID_TASK_HEADER = "intellilog_request_id"
# "Api-Key il_<prefix>.<secret>", a bare "il_<prefix>.<secret>", and "Bearer <token>".
_SECRET_PATTERNS = (
    (re.compile(r"\bil_([0-9a-f]+)\.[A-Za-z0-9_\-]+"), r"il_\1.[redacted]"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=\-]+"), r"\1 [redacted]"),
)


def redact(text: str) -> str:
    """``text`` with API key secrets and bearer tokens replaced (the key prefix is kept for tracing)."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


# Attributes every LogRecord has; anything else on a record came from ``extra=`` (Django passes the request).
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class RequestContextFilter(logging.Filter):
    """Adds ``request_id`` to every record and redacts secrets from its message, arguments and extra fields.

    The JSON formatter writes every extra field, as its string form for objects: Django's ``request`` extra
    prints the URL with its query string, where a careless caller may have put a key.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        for name, value in list(vars(record).items()):
            if name in _STANDARD_ATTRIBUTES or value is None or isinstance(value, bool | int | float):
                continue
            text = value if isinstance(value, str) else str(value)
            redacted = redact(text)
            if redacted != text:  # objects without a secret stay objects for other handlers
                setattr(record, name, redacted)
        return True


@before_task_publish.connect
def _carry_request_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    request_id = request_id_var.get()
    if headers is not None and request_id:
        headers[REQUEST_ID_TASK_HEADER] = request_id


@task_prerun.connect
def _restore_request_id(task: Any = None, **kwargs: Any) -> None:
    request = getattr(task, "request", None)
    carried = getattr(request, REQUEST_ID_TASK_HEADER, None) or (getattr(request, "headers", None) or {}).get(
        REQUEST_ID_TASK_HEADER
    )
    # An eager task runs inside the caller's context and already has its id.
    if carried:
        task.request.intellilog_request_token = request_id_var.set(carried)


@task_postrun.connect
def _forget_request_id(task: Any = None, **kwargs: Any) -> None:
    token = getattr(getattr(task, "request", None), "intellilog_request_token", None)
    if token is not None:
        request_id_var.reset(token)
