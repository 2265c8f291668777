"""The one place where API access is scoped to the caller's tenant.

Every tenant-owned API view derives from `TenantScopedViewSetMixin`: its queryset is filtered by the
authenticated tenant before anything else sees it, and objects it creates are stamped with that tenant.
Another tenant's object is therefore indistinguishable from a missing one (404), by construction.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import viewsets

from tenants.models import Tenant


class TenantScopedViewSetMixin:
    """Filters `queryset` to the request's tenant and saves new objects under it."""

    queryset: QuerySet[Any]
    request: Any

    @property
    def tenant(self) -> Tenant:
        return self.request.user.tenant

    def get_queryset(self) -> QuerySet[Any]:
        return self.queryset.filter(tenant=self.tenant)

    def perform_create(self, serializer: Any) -> None:
        serializer.save(tenant=self.tenant)


class TenantScopedReadOnlyViewSet(TenantScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Read-only list/retrieve of one tenant's rows."""
