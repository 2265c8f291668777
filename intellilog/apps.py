"""The project package as an app, so that its deployment checks are registered at start-up."""

from __future__ import annotations

from django.apps import AppConfig


class IntellilogConfig(AppConfig):
    name = "intellilog"

    def ready(self) -> None:
        from intellilog import checks  # noqa: F401  (registers the checks)
