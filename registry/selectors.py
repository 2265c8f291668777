"""Registry reads shared by commands, admin and API."""

from __future__ import annotations

from registry.choices import Alias
from registry.constants import ETA_MODEL_NAME
from registry.models import ModelAlias, ModelVersion
from tenants.models import Tenant


def eta_champion(*, tenant: Tenant) -> ModelVersion | None:
    """The tenant's serving ETA version (the `champion` alias), if any."""
    alias = (
        ModelAlias.objects.filter(tenant=tenant, registered_model__name=ETA_MODEL_NAME, alias=Alias.CHAMPION)
        .select_related("version")
        .first()
    )
    return alias.version if alias else None


def tenants_with_champion() -> list[Tenant]:
    """Active tenants whose ETA model has a champion: the ones a serving worker must be able to load."""
    tenant_ids = ModelAlias.objects.filter(registered_model__name=ETA_MODEL_NAME, alias=Alias.CHAMPION).values(
        "tenant_id"
    )
    return list(Tenant.objects.filter(pk__in=tenant_ids, is_active=True))
