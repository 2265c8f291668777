"""Admin pieces shared by every app."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """Records of what happened (imports, registry events, plans) are shown, never edited, in the admin."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def require_permission(request: HttpRequest, permission: str) -> None:
    """Refuse (403) an admin view or action to a user without the named permission, staff or not."""
    if not request.user.has_perm(permission):
        raise PermissionDenied(f"needs the {permission} permission")
