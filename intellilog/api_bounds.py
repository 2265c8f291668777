"""Bounds on what reaches an /api/ view, so that no body ends in a 500 or an unbounded audit row.

Every answer under /api/ is JSON with a `code` (`intellilog.api.exception_handler` shapes DRF's errors).
In the order a request meets them:

- `ApiJsonErrorsMiddleware`: a body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 before anything reads it, and
  any non-JSON error under /api/ (Django's 404 for an unknown URL, its HTML 400/500) becomes JSON;
- `BoundedJSONParser`: JSON nested deeper than API_MAX_JSON_DEPTH is a 400, never a RecursionError;
- `RejectUnknownFieldsMixin`: a field the serializer does not declare is a 400 naming it, so nothing
  undeclared is stored in the append-only audit; `FiniteFloatField` refuses booleans, NaN and infinities;
- `CappedLimitOffsetPagination`: ``limit`` on list endpoints is capped at API_MAX_PAGE_SIZE.

Kept apart from `intellilog.api` because DRF imports the parser named in its settings while its own views
module loads, and that module imports `rest_framework.views`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions, pagination, parsers, serializers

API_PREFIX = "/api/"
# Codes for errors Django answers itself, before or outside DRF.
_CODE_BY_STATUS = {
    HTTPStatus.BAD_REQUEST: "bad_request",
    HTTPStatus.FORBIDDEN: "forbidden",
    HTTPStatus.NOT_FOUND: "not_found",
    HTTPStatus.METHOD_NOT_ALLOWED: "method_not_allowed",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "payload_too_large",
    HTTPStatus.INTERNAL_SERVER_ERROR: "server_error",
}


def api_error_response(status_code: int, *, code: str | None = None, detail: str | None = None) -> JsonResponse:
    """The JSON error body every /api/ answer uses, for errors answered outside DRF's exception handler."""
    phrase = HTTPStatus(status_code).phrase
    return JsonResponse(
        {"code": code or _CODE_BY_STATUS.get(HTTPStatus(status_code), "error"), "detail": detail or phrase.lower()},
        status=status_code,
    )


def _too_large() -> JsonResponse:
    return api_error_response(
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        detail=f"the request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes",
    )


class ApiJsonErrorsMiddleware:
    """Under /api/: refuse too large bodies with a 413 up front, and answer every error as JSON with a code.

    Placed before any middleware that reads the body (the Prometheus one reads it to count bytes), so a
    huge body is refused from its Content-Length without being read. An exception that escapes a view is
    still logged by Django; only the page the caller gets changes (no HTML, no traceback).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return api_error_response(HTTPStatus.BAD_REQUEST, detail="malformed Content-Length")
        if declared > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return _too_large()
        response = self.get_response(request)
        if response.status_code >= HTTPStatus.BAD_REQUEST and not _is_json(response):
            return api_error_response(response.status_code)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # Django answers RequestDataTooBig (a body without Content-Length that grew too large) with a 400.
        if request.path.startswith(API_PREFIX) and isinstance(exception, RequestDataTooBig):
            return _too_large()
        return None


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip() == "application/json"


class BoundedJSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing documents nested deeper than API_MAX_JSON_DEPTH with a 400.

    Python's decoder raises RecursionError near 1,000 levels, and every recursive walk after it (the
    serializers, the audit's hashing) could too; no request body of this API is deeper than a few levels.
    """

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as error:
            raise exceptions.ParseError(_too_deep(), code="too_deep") from error
        if _depth_exceeds(data, settings.API_MAX_JSON_DEPTH):
            raise exceptions.ParseError(_too_deep(), code="too_deep")
        return data


def _too_deep() -> str:
    return f"JSON nested deeper than {settings.API_MAX_JSON_DEPTH} levels"


def _depth_exceeds(data: Any, limit: int) -> bool:
    # Iterative, so the check itself cannot hit the recursion limit.
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            pending.extend((child, depth + 1) for child in children)
    return False


class FiniteFloatField(serializers.FloatField):
    """A float that must be a real number given as a number or numeric string.

    NaN would pass every min/max comparison unnoticed, and DRF's FloatField reads ``true`` as 1.0.
    """

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("invalid")
        return value


class RejectUnknownFieldsMixin:
    """For input serializers: a key the serializer does not declare is a 400 naming it, not silently kept.

    The prediction API audits the body as sent, append-only: an undeclared field would be stored forever.
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(str(key) for key in data if key not in self.fields)  # type: ignore[attr-defined]
            if unknown:
                raise serializers.ValidationError({key[:64]: "unknown field" for key in unknown[:10]})
        return super().to_internal_value(data)  # type: ignore[misc]


class CappedLimitOffsetPagination(pagination.LimitOffsetPagination):
    """Limit/offset pages of PAGE_SIZE rows; ``limit`` above API_MAX_PAGE_SIZE is lowered to it."""

    @property
    def max_limit(self) -> int:  # type: ignore[override]
        return settings.API_MAX_PAGE_SIZE
