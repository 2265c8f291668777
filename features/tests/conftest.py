from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings

from deliveries.services import deliveries_import
from deliveries.synthetic import SyntheticConfig, write_synthetic_file
from tenants.models import Tenant
from tenants.tests.factories import TenantFactory


@pytest.fixture(autouse=True)
def store_prefix(settings: Any) -> Iterator[str]:
    """Each test writes under its own random key prefix in the real Redis and removes its keys afterwards.

    Other engineers' suites share this Redis, so nothing here may touch keys outside the prefix.
    """
    prefix = f"test-features:{uuid.uuid4().hex}"
    settings.FEATURE_STORE_KEY_PREFIX = prefix
    # Read now: a test may point REDIS_URL at a closed port, and that override is still active at teardown.
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield prefix
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


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
