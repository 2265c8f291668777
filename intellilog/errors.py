"""The domain error type: what a service raises when a request cannot be served, with its API code and status.

Services raise a `DomainError` subclass (`NoChampionServing`, `OutcomeConflict`, `ArtifactError`, ...); the
API's exception handler (`intellilog.api.exception_handler`) maps every one to the JSON error format once,
so views call services without a try/except per error. Commands and tasks catch them like any exception.
"""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    """A refusal with a stable `code` and HTTP `status`; `field` names the request field at fault (a 400).

    The message (``str(error)``) is the API's ``detail`` unless the class sets ``api_detail``: a message
    written for operators (naming a tenant, a path) that callers of the API get in a general form.
    """

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    api_detail: ClassVar[str | None] = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    @property
    def detail(self) -> str:
        return self.api_detail if self.api_detail is not None else str(self)
