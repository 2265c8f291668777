"""The VERSION and day arguments shared by the commands that name a model version (registry, backfills)."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import CommandError

from registry.constants import ETA_MODEL_NAME
from registry.models import ModelVersion


def eta_version_for_command(*, reference: str, tenant_slug: str | None) -> ModelVersion:
    """Resolve 'VERSION' (number, with --tenant) or 'TENANT/VERSION' to an ETA model version."""
    if "/" in reference:
        tenant_slug, _, number = reference.partition("/")
    else:
        number = reference
    if not number.isdigit():
        raise CommandError(f"VERSION: expected a version number or TENANT/NUMBER, got {reference!r}")
    queryset = ModelVersion.objects.filter(registered_model__name=ETA_MODEL_NAME, version=int(number))
    if tenant_slug:
        queryset = queryset.filter(tenant__slug=tenant_slug)
    matches = list(queryset.select_related("tenant", "registered_model")[:2])
    if not matches:
        raise CommandError(
            f"VERSION: no ETA model version {reference!r}" + (f" for {tenant_slug}" if tenant_slug else "")
        )
    if len(matches) > 1:
        raise CommandError(f"VERSION: v{number} exists for several tenants; pass --tenant or TENANT/{number}")
    return matches[0]


def day_for_command(value: str) -> dt.date:
    """A --from/--to day as YYYY-MM-DD, or the command's error."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"expected a date YYYY-MM-DD, got {value!r}") from exc
