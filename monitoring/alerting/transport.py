"""Sending one JSON payload over HTTP, the retry schedule, and keeping channel secrets out of messages.

The standard library's `urllib.request` is enough for one JSON POST with a timeout; `requests` is only a
development dependency of IntelliLog, and adding it to the runtime for this would buy nothing.
"""

from __future__ import annotations

import http.client
import json
import random
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

USER_AGENT = "IntelliLog-Alerts/1"
REDACTED = "[redacted]"
# How much of a receiver's error body is kept for the operator (it explains 400s, e.g. PagerDuty's "errors").
ERROR_BODY_MAX = 300
# Client errors that will not succeed on a retry; 408 (timeout) and 429 (rate limited) are worth retrying.
RETRYABLE_CLIENT_ERRORS = {408, 425, 429}


@dataclass(frozen=True)
class SendResult:
    """The outcome of one POST: success, or an error message and whether a retry can help."""

    is_success: bool
    status_code: int | None = None
    error: str = ""
    is_retryable: bool = True


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would re-send a redirected POST as a GET without its body; a redirect is reported instead.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def post_json(url: str, payload: dict[str, Any], *, timeout: float) -> SendResult:
    """POST `payload` as JSON; a 2xx is success. Never raises for network or HTTP errors.

    Error messages never contain the URL (it may hold a token), only the status or the network error.
    """
    body = json.dumps(payload, separators=(",", ":")).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            return SendResult(is_success=True, status_code=response.status)
    except urllib.error.HTTPError as error:
        detail = _read_error_body(error)
        return SendResult(
            is_success=False,
            status_code=error.code,
            error=f"HTTP {error.code}" + (f": {detail}" if detail else ""),
            is_retryable=not (400 <= error.code < 500) or error.code in RETRYABLE_CLIENT_ERRORS,
        )
    except urllib.error.URLError as error:
        return SendResult(is_success=False, error=f"network error: {_reason(error.reason)}")
    except TimeoutError:
        return SendResult(is_success=False, error=f"timed out after {timeout:g} s")
    except (OSError, http.client.HTTPException, ValueError) as error:
        # ValueError: a malformed URL; OSError/HTTPException: the connection broke mid-response.
        return SendResult(is_success=False, error=f"{type(error).__name__}: {error}")


def _reason(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason)


def _read_error_body(error: urllib.error.HTTPError) -> str:
    try:
        text = error.read(ERROR_BODY_MAX + 1).decode("utf-8", "replace").strip()
    except (OSError, http.client.HTTPException):
        return ""
    finally:
        error.close()
    return " ".join(text.split())[:ERROR_BODY_MAX]


def backoff_delay(attempts: int, *, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after the `attempts`-th failed attempt: base * 2^(attempts-1), capped, with jitter.

    "Equal jitter": half the capped delay is fixed and half random, so retries from many alerts spread out
    while every wait stays at least half the nominal delay (a receiver that is down gets real breathing room).
    """
    nominal = min(cap, base * 2 ** max(attempts - 1, 0))
    return nominal / 2 + rand() * nominal / 2


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every non-empty secret replaced, for messages that end up in logs or the database."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def url_secrets(url: str) -> tuple[str, ...]:
    """The parts of a URL that may carry a token, longest first: the URL, its path with query, path, query,
    password. A receiver's error often echoes only the path (Slack's token is there), so all are scrubbed."""
    try:
        parts = urlsplit(url)
        password = parts.password or ""
    except ValueError:
        return (url,)
    path_and_query = parts.path + (f"?{parts.query}" if parts.query else "")
    candidates = {url, path_and_query, parts.path, parts.query, password}
    # A bare "/" or an empty part is no secret, and replacing it would garble every message.
    return tuple(sorted((part for part in candidates if len(part) > 1), key=len, reverse=True))


def url_for_display(url: str) -> str:
    """Scheme and host of a URL, enough to recognise the destination; path and query may carry a token."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return REDACTED
    if not parts.scheme or not parts.hostname:
        return REDACTED
    return f"{parts.scheme}://{parts.hostname}{port}/…"
