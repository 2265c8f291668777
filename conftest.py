"""Fixtures shared by every app's tests: tenants with keys, and an HTTP client that speaks to a live server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests
from hypothesis import settings as hypothesis_settings

if TYPE_CHECKING:
    from tenants.models import Tenant

SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "data"
BUNDLED_DELIVERIES = SHARED_DATA / "eta" / "deliveries.csv.gz"


# CI (.ci/run sets HYPOTHESIS_PROFILE=ci) replays the same examples on every run, so a submission's result
# does not depend on the draw; local runs keep exploring new examples, which is where new bugs are found.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@dataclass
class TenantClient:
    """A tenant, its raw API key, and `requests` calls against the live test server with that key."""

    tenant: Tenant
    raw_key: str
    base_url: str

    def request(self, method: str, path: str, **kwargs: object) -> requests.Response:
        headers = {"Authorization": f"Api-Key {self.raw_key}", **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        return requests.request(method, self.base_url + path, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: object) -> requests.Response:
        return self.request("POST", path, **kwargs)


@pytest.fixture
def make_tenant_client(live_server) -> Callable[..., TenantClient]:  # type: ignore[no-untyped-def]
    # Imported here so that the pure-Python test modules can run without Django configured.
    from tenants.services import api_key_create
    from tenants.tests.factories import TenantFactory

    def make(**tenant_fields: object) -> TenantClient:
        tenant = TenantFactory(**tenant_fields)
        issued = api_key_create(tenant=tenant, name="test")
        return TenantClient(tenant=tenant, raw_key=issued.raw_key, base_url=live_server.url)

    return make


@pytest.fixture(autouse=True)
def fresh_metric_label_bounds() -> Iterator[None]:
    """Each test starts with no tenant admitted to the metrics' labels.

    The bound (METRICS_MAX_TENANTS per process) is what production wants, but in a test process every earlier
    test's tenants count against it, and a test that creates many would fold later tests' tenants into "other".
    """
    from monitoring import metrics

    metrics.label_bounds_clear()
    yield
    metrics.label_bounds_clear()


@pytest.fixture(autouse=True)
def store_prefix(settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Each test keeps its Redis keys (feature store, rate limits) under its own prefix, removed afterwards.

    The Redis is real and shared with other suites and earlier runs, whose tenants and keys may have
    the same ids: nothing here may read or touch keys outside the test's prefix.
    """
    import redis

    prefix = f"test:{uuid.uuid4().hex}"
    settings.FEATURE_STORE_KEY_PREFIX = f"{prefix}:features"
    settings.RATE_LIMIT_KEY_PREFIX = f"{prefix}:ratelimit"
    # Read now: a test may point REDIS_URL at a closed port, and that override is still active at teardown.
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield settings.FEATURE_STORE_KEY_PREFIX
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(autouse=True)
def _append_only_tables_flushable(request) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Lets a committing test's closing flush TRUNCATE the append-only tables of the test database.

    pytest-django empties the database after a ``transaction=True`` test with TRUNCATE, which the
    append-only triggers refuse. Requesting the database fixture here makes this teardown run just before
    that flush: it turns triggers off for this connection only (a superuser setting the test database's
    role has; Django closes the connection after the flush, so nothing else runs without them).
    """
    marker = request.node.get_closest_marker("django_db")
    is_committing = (marker is not None and marker.kwargs.get("transaction", False)) or bool(
        {"transactional_db", "live_server"} & set(request.fixturenames)
    )
    if not is_committing:
        yield
        return
    request.getfixturevalue("transactional_db")
    yield
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")


@pytest.fixture
def bundled_deliveries() -> Path:
    if not BUNDLED_DELIVERIES.exists():
        pytest.skip(f"the public delivery file is not at {BUNDLED_DELIVERIES}")
    return BUNDLED_DELIVERIES


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One store per test session: creating MLflow's SQLite schema takes seconds.
    return tmp_path_factory.mktemp("mlflow")


@pytest.fixture(autouse=True)
def model_storage(settings, tmp_path: Path, mlflow_store: Path) -> None:  # type: ignore[no-untyped-def]
    """Every test's model artifacts and MLflow runs go to temporary places, never var/ (factories write files too)."""
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.MLFLOW_TRACKING_URI = f"sqlite:///{mlflow_store / 'mlflow.db'}"
    settings.MLFLOW_ARTIFACT_LOCATION = (mlflow_store / "artifacts").as_uri()


@dataclass(frozen=True)
class TrainedModel:
    """A model trained once per test session on a synthetic history, and that history's file."""

    artifact: bytes
    history_path: Path


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    # Trained without the database, once: serving tests need a real model, not a fresh one each.
    from core.delivery.synthetic import SyntheticConfig, write_synthetic_file
    from core.model import TrainingConfig
    from tests.training import history_model_bytes

    path = write_synthetic_file(
        tmp_path_factory.mktemp("history") / "history.csv.gz", SyntheticConfig(rows=2500, seed=8, days=21)
    )
    return TrainedModel(artifact=history_model_bytes(path, TrainingConfig(max_rounds=200)), history_path=path)


@dataclass
class ServingTenant:
    """A tenant with an API client, its imported history and a champion serving."""

    client: TenantClient
    version: object


@pytest.fixture
def serving_tenant(make_tenant_client, model_storage, trained_model: TrainedModel) -> ServingTenant:  # type: ignore[no-untyped-def]
    from django.core.management import call_command

    from predictions.selectors import serving_cache_clear
    from registry.artifacts import artifact_write
    from registry.services import promotion_request_approve, promotion_request_create
    from registry.tests.factories import ModelVersionFactory, UserFactory, approver

    serving_cache_clear()
    client = make_tenant_client()
    call_command("import_deliveries", str(trained_model.history_path), tenant=client.tenant.slug)
    relative_path, sha256 = artifact_write(relative_dir=f"{client.tenant.slug}/eta", data=trained_model.artifact)
    version = ModelVersionFactory(
        registered_model__tenant=client.tenant,
        artifact_path=relative_path,
        artifact_sha256=sha256,
        lineage={"feature_set": {"name": "eta_order_features", "version": 1}},
    )
    request = promotion_request_create(version=version, user=UserFactory(), reason="serve it")
    promotion_request_approve(request=request, user=approver(), comment="ok")
    return ServingTenant(client=client, version=version)
