"""A service's domain error reaches the API client in the one JSON error format, mapped once by the handler."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intellilog.api import exception_handler
from intellilog.errors import DomainError
from predictions.services import InvalidOutcome, NoChampionServing, OutcomeConflict
from registry.artifacts import ArtifactError


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (
            NoChampionServing("no ETA model is serving for tenant acme yet"),
            503,
            {"code": "no_champion", "detail": "no ETA model is serving for this tenant yet"},
        ),
        (ArtifactError("v1 is missing"), 503, {"code": "model_unavailable", "detail": "v1 is missing"}),
        (OutcomeConflict("o1 has an outcome"), 409, {"code": "outcome_conflict", "detail": "o1 has an outcome"}),
        (
            InvalidOutcome("age", "required"),
            400,
            {"code": "invalid", "detail": "age: required", "field": "age", "errors": {"age": "required"}},
        ),
    ],
)
def test_each_domain_error_has_its_status_and_code(error: DomainError, status: int, body: dict[str, Any]) -> None:
    response = exception_handler(error, {})
    assert response is not None
    assert (response.status_code, response.data) == (status, body)


@given(
    code=st.from_regex(r"[a-z_]{1,20}", fullmatch=True),
    status=st.sampled_from([400, 403, 404, 409, 422, 503]),
    message=st.text(min_size=1, max_size=50).filter(str.strip),
)
def test_any_domain_error_is_its_code_status_and_message(code: str, status: int, message: str) -> None:
    error_class = type("SomeError", (DomainError,), {"code": code, "status": status})
    response = exception_handler(error_class(message), {})
    assert response is not None
    assert (response.status_code, response.data) == (status, {"code": code, "detail": message})


def test_an_exception_that_is_not_a_domain_error_is_left_to_django() -> None:
    assert exception_handler(ValueError("a bug"), {}) is None
