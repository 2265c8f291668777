from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from deliveries.schema import load_clean_frame
from deliveries.synthetic import SyntheticConfig, write_synthetic_file
from predictions.ml.features import build_training_features
from predictions.ml.model import ETAPredictor, TrainingConfig
from predictions.selectors import serving_cache_clear
from tenants.constants import DEFAULT_TIME_ZONE

if TYPE_CHECKING:
    from conftest import TenantClient


@pytest.fixture(autouse=True)
def fresh_serving_cache() -> None:
    """Each test starts with no champion cached in this process."""
    serving_cache_clear()


@dataclass(frozen=True)
class TrainedModel:
    """A model trained once per test session on a synthetic history, and that history's file."""

    artifact: bytes
    history_path: Path


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    # Trained without the database, once: serving tests need a real model, not a fresh one each.
    path = write_synthetic_file(
        tmp_path_factory.mktemp("history") / "history.csv.gz", SyntheticConfig(rows=2500, seed=8, days=21)
    )
    time_zone = ZoneInfo(DEFAULT_TIME_ZONE)
    frame, _ = load_clean_frame(path, time_zone=time_zone)
    predictor = ETAPredictor.train(
        build_training_features(frame, time_zone=time_zone),
        frame["delivery_minutes"],
        ordered_at=frame["ordered_at"],
        config=TrainingConfig(max_rounds=200),
    )
    return TrainedModel(artifact=predictor.to_bytes(), history_path=path)


@dataclass
class ServingTenant:
    """A tenant with an API client, its imported history and a champion serving."""

    client: TenantClient
    version: object


@pytest.fixture
def serving_tenant(make_tenant_client, model_storage, trained_model: TrainedModel) -> ServingTenant:  # type: ignore[no-untyped-def]
    from registry.artifacts import artifact_write
    from registry.services import promotion_request_approve, promotion_request_create
    from registry.tests.factories import ModelVersionFactory, UserFactory, approver

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
