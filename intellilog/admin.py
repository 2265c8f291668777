"""Admin pieces shared by every app."""

from __future__ import annotations

from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """Records of what happened (imports, registry events, plans) are shown, never edited, in the admin."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
