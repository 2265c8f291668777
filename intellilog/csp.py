"""Content-Security-Policy for the pages the app renders itself outside the admin (API docs, landing).

Only this origin may supply scripts, styles, fonts and data, so the pages work without internet and a
script injected into them cannot load or send anything elsewhere. Images may also be ``data:`` URIs:
Swagger UI's stylesheet draws its icons as inline SVG data, which is still nothing from another origin.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse

SELF_ONLY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def self_only_csp(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Send SELF_ONLY_POLICY with every response of ``view``."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = SELF_ONLY_POLICY
        return response

    return wrapped
