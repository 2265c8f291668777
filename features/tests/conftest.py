from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings

from deliveries.services import deliveries_import
from deliveries.synthetic import SyntheticConfig, write_synthetic_file
from tenants.models import Tenant
from tenants.tests.factories import TenantFactory


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def tenant_with_history(tmp_path: Path) -> Tenant:
    """A tenant with 800 imported synthetic deliveries over ten days at few couriers, so history repeats."""
    tenant = TenantFactory()
    config = SyntheticConfig(rows=800, seed=3, days=10, restaurants_per_city=2, couriers_per_restaurant=2)
    deliveries_import(tenant=tenant, path=write_synthetic_file(tmp_path / "history.csv.gz", config))
    return tenant
