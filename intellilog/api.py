"""API-wide conventions: every error is JSON with a stable `code` and a human `detail`.

The bounds every request meets before a view runs are in `intellilog.api_bounds`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from intellilog.errors import DomainError
from monitoring import metrics


def _first_field_error(detail: Any, prefix: str = "") -> tuple[str, str] | None:
    """Walk DRF's nested error structure to the first (field path, message)."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == "non_field_errors" and prefix:
                path = prefix  # an error about the nested object as a whole names the object
            elif prefix:
                path = f"{prefix}.{key}"
            else:
                path = str(key)
            found = _first_field_error(value, path)
            if found:
                return found
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            is_nested = isinstance(value, dict | list)
            found = _first_field_error(value, f"{prefix}[{index}]" if is_nested else prefix)
            if found:
                return found
    elif detail is not None:
        return prefix, str(detail)
    return None


def _api_exception(error: DomainError) -> exceptions.APIException:
    """The DRF exception that reports a service's domain error: a field error is a validation error."""
    if error.field is not None:
        return exceptions.ValidationError({error.field: error.detail})
    api_error = exceptions.APIException(error.detail, code=error.code)
    api_error.status_code = error.status
    return api_error


class DatabaseUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "the database is unavailable; retry shortly"
    default_code = "database_unavailable"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Shape every DRF error and every domain error (`intellilog.errors`) as {"code", "detail"[, "field", "errors"]}.

    A lost database connection is a 503 the caller can retry, not a 500: nothing was stored (every write
    is transactional), so a retry is safe.
    """
    if isinstance(exc, DomainError):
        exc = _api_exception(exc)
    elif isinstance(exc, OperationalError | InterfaceError):
        exc = DatabaseUnavailable()
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        found = _first_field_error(exc.detail)
        field, message = found if found else ("", "invalid input")
        body: dict[str, Any] = {
            "code": "invalid",
            "detail": f"{field}: {message}" if field and field != "non_field_errors" else message,
            "field": field or None,
            "errors": response.data,
        }
    else:
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        code = codes if isinstance(codes, str) else "error"
        detail = response.data.get("detail", str(exc)) if isinstance(response.data, dict) else str(exc)
        body = {"code": code, "detail": str(detail)}
        if response.status_code == status.HTTP_401_UNAUTHORIZED:
            response["WWW-Authenticate"] = 'Api-Key realm="api"'
    response.data = body
    _count_error(context, body["code"])
    return response


def _count_error(context: dict[str, Any], code: str) -> None:
    """Count the error per tenant for the serving-error alert (unauthenticated requests as tenant "none")."""
    request = context.get("request")
    # request.user would run authentication again for a request that failed it; read what DRF stored.
    principal = getattr(request, "_user", None)
    tenant = getattr(getattr(principal, "tenant", None), "slug", "")
    metrics.serving_error_observed(tenant=tenant, code=code)
