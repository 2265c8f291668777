from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from core.delivery.synthetic import SyntheticConfig, write_synthetic_file
from core.model import TrainingConfig
from deliveries.selectors import deliveries_frame
from registry.artifacts import artifact_write
from registry.choices import Alias
from registry.models import ModelAlias, ModelVersion
from registry.tests.factories import ModelVersionFactory
from tenants.models import Tenant
from tenants.tests.factories import TenantFactory
from tests.training import history_model_bytes


@pytest.fixture(autouse=True)
def isolated_model_storage(model_storage: None) -> None:
    """Every registry test writes artifacts and MLflow runs to temporary places."""


@pytest.fixture
def tenant_with_history(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A tenant with 3,000 imported synthetic deliveries over three weeks: enough to train in seconds."""
    tenant = TenantFactory()
    path = write_synthetic_file(tmp_path / "history.csv.gz", SyntheticConfig(rows=3000, seed=11, days=21))
    call_command("import_deliveries", str(path), tenant=tenant.slug)
    return tenant


@pytest.fixture(scope="session")
def smaller_model(trained_model) -> bytes:  # type: ignore[no-untyped-def]
    """A second, weaker model on the same history: a champion whose backtest differs from the candidate's."""
    return history_model_bytes(trained_model.history_path, TrainingConfig(max_rounds=20))


@dataclass
class TwoVersions:
    """A tenant with imported history, a weaker champion v1 and a stronger candidate v2 (both real models)."""

    tenant: Tenant
    candidate: ModelVersion
    champion: ModelVersion
    first_day: dt.date
    last_day: dt.date


def version_of(tenant: Tenant, artifact: bytes, number: int, **fields: object) -> ModelVersion:
    relative_path, sha256 = artifact_write(relative_dir=f"{tenant.slug}/eta", data=artifact)
    return ModelVersionFactory(
        tenant=tenant, version=number, artifact_path=relative_path, artifact_sha256=sha256, lineage={}, **fields
    )


@pytest.fixture
def two_versions(model_storage, trained_model, smaller_model) -> TwoVersions:  # type: ignore[no-untyped-def]
    tenant = TenantFactory()
    call_command("import_deliveries", str(trained_model.history_path), tenant=tenant.slug, stdout=io.StringIO())
    champion = version_of(tenant, smaller_model, 1, registered_model__tenant=tenant)
    candidate = version_of(tenant, trained_model.artifact, 2, registered_model=champion.registered_model)
    ModelAlias.objects.create(
        tenant=tenant, registered_model=champion.registered_model, alias=Alias.CHAMPION, version=champion
    )
    history = deliveries_frame(tenant=tenant)
    time_zone = ZoneInfo(tenant.time_zone)
    return TwoVersions(
        tenant,
        candidate,
        champion,
        history["ordered_at"].min().astimezone(time_zone).date(),
        history["ordered_at"].max().astimezone(time_zone).date(),
    )
