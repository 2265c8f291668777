from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis
from django.conf import settings as django_settings

from core.delivery.synthetic import SyntheticConfig, write_synthetic_file
from deliveries.models import Delivery
from deliveries.services import deliveries_import
from deliveries.tests.factories import DeliveryFactory
from features.fallback_cache import fallback_cache_clear
from tenants.models import Tenant
from tenants.tests.factories import TenantFactory


@pytest.fixture(autouse=True)
def empty_fallback_cache() -> Iterator[None]:
    """Each test starts and ends with nothing in this process's cache of states read from the database."""
    fallback_cache_clear()
    yield
    fallback_cache_clear()


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


@pytest.fixture
def tenant_with_fractional_minutes() -> Tenant:
    """A tenant with 400 deliveries whose durations have many decimals, so the order and the rounding of
    sums show in the last bits, at couriers of restaurants RES1 and RES12 (one is a prefix of the other)
    in two cities; every 25th delivery has a twin of the same courier that completes at the same instant."""
    tenant = TenantFactory()
    rng = np.random.default_rng(5)
    couriers = [
        f"{city}RES{restaurant}DEL0{courier}"
        for city in ("INDO", "BANG")
        for restaurant in (1, 12)
        for courier in (1, 2)
    ]
    start = dt.datetime(2022, 3, 1, 8, 0, tzinfo=dt.UTC)
    deliveries = []
    for index in range(400):
        ordered_at = start + dt.timedelta(
            minutes=int(rng.integers(0, 10 * 24 * 60)), microseconds=int(rng.integers(10**6))
        )
        minutes = float(rng.uniform(10, 55))
        fields = {"tenant": tenant, "import_batch": None, "courier_id": couriers[int(rng.integers(len(couriers)))]}
        deliveries.append(DeliveryFactory.build(ordered_at=ordered_at, delivery_minutes=minutes, **fields))
        if index % 25 == 0:
            twin_at = ordered_at + dt.timedelta(seconds=30)
            deliveries.append(DeliveryFactory.build(ordered_at=twin_at, delivery_minutes=minutes - 0.5, **fields))
    Delivery.objects.bulk_create(deliveries)
    return tenant
