from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

from core.delivery.synthetic import SyntheticConfig, write_synthetic_file
from tenants.tests.factories import TenantFactory


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
