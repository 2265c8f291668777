"""Training, tracking, reproducing and evaluating ETA versions end to end on PostgreSQL (synthetic history)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pyarrow.parquet as pq
import pytest
from distributed import LocalCluster
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db.models import F

from core.delivery.columnar import snapshot_read
from core.delivery.synthetic import SyntheticConfig, write_synthetic_file
from core.model import TrainingConfig
from deliveries.models import Delivery
from registry.artifacts import ArtifactError
from registry.choices import VersionStatus
from registry.loader import model_version_load
from registry.models import ModelVersion
from registry.tasks import train_eta_task
from registry.tests.factories import ModelVersionFactory
from registry.training import _data_hash, eta_model_train, model_version_reproduce
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def run_json(*args: str, capsys) -> dict:  # type: ignore[no-untyped-def]
    call_command(*args)
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_train_track_reproduce_evaluate_and_refuse_tampering(tenant_with_history, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    tenant = tenant_with_history

    trained = run_json("train_eta", "--tenant", tenant.slug, "--json", capsys=capsys)

    version = ModelVersion.objects.get(tenant=tenant, version=trained["version"])
    assert version.status == VersionStatus.READY and trained["status"] == "ready"
    assert set(trained["metrics"]) == {"count", "mae", "rmse", "r2", "within_5_min", "interval_coverage"}
    assert trained["metrics"]["mae"] < 6  # the synthetic history is learnable (training mean: ~6.5)
    lineage = version.lineage
    assert lineage["data"]["rows"] > 2900 and len(lineage["data"]["content_sha256"]) == 64
    assert lineage["feature_set"] == {"name": "eta_order_features", "version": 1}
    assert lineage["seed"] == lineage["params"]["seed"]
    assert {"python", "xgboost", "numpy", "pandas"} <= set(lineage["libraries"])
    assert (Path(settings.ARTIFACT_ROOT) / version.artifact_path).is_file()
    run = mlflow.get_run(version.mlflow_run_id)
    assert run.data.tags["artifact_sha256"] == version.artifact_sha256
    assert run.data.metrics["mae"] == pytest.approx(version.metrics["mae"])
    assert "lineage.json" in {item.path for item in mlflow.MlflowClient().list_artifacts(run.info.run_id)}

    # New deliveries arriving later do not change what the version was trained on.
    later = write_synthetic_file(tmp_path / "later.csv.gz", SyntheticConfig(rows=200, seed=99, days=21))
    call_command("import_deliveries", str(later), tenant=tenant.slug)
    capsys.readouterr()
    call_command("reproduce_model_version", f"{tenant.slug}/{version.version}")
    assert f"reproduced: {version}" in capsys.readouterr().out

    evaluation = run_json(
        "evaluate_model_version",
        str(version.version),
        "--tenant",
        tenant.slug,
        "--data",
        str(later),
        "--json",
        capsys=capsys,
    )
    assert evaluation["overall"]["count"] > 150
    assert {segment["dimension"] for segment in evaluation["segments"]} >= {"traffic", "courier_age_band"}

    artifact = Path(settings.ARTIFACT_ROOT) / version.artifact_path
    artifact.write_bytes(artifact.read_bytes().replace(b'"max_depth"', b'"max_dept_"'))
    with pytest.raises(ArtifactError, match="fails its checksum"):
        model_version_load(version=version)
    with pytest.raises(CommandError, match="fails its checksum"):
        call_command("evaluate_model_version", f"{tenant.slug}/{version.version}", "--data", str(later))


def test_bytes_that_match_their_checksum_but_hold_no_predictor_are_refused_as_an_artifact_error() -> None:
    version = ModelVersionFactory()  # a real file with its real checksum, but not a model

    with pytest.raises(ArtifactError, match="does not load"):
        model_version_load(version=version)


def test_reproduce_reports_what_differs_when_the_data_changed(tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    version = eta_model_train(tenant=tenant_with_history, created_by="test")
    version.lineage["data"]["content_sha256"] = "0" * 64  # as if the snapshot had been different
    version.lineage["params"]["max_depth"] += 1
    ModelVersion.objects.filter(pk=version.pk).update(lineage=version.lineage)

    with pytest.raises(CommandError, match=r"NOT reproduced: training data differs.*artifact sha256"):
        call_command("reproduce_model_version", str(version.version), "--tenant", tenant_with_history.slug)


def test_training_refuses_data_below_the_quality_gate_and_writes_nothing(tenant_with_history, settings) -> None:  # type: ignore[no-untyped-def]
    tenant = TenantFactory()
    settings.DATA_QUALITY_GATE = 100.0
    path = write_synthetic_file(Path(settings.ARTIFACT_ROOT).parent / "g.csv.gz", SyntheticConfig(rows=800, seed=3))
    call_command("import_deliveries", str(path), tenant=tenant.slug)

    with pytest.raises(CommandError, match=r"refusing to train.*data quality below the gate"):
        call_command("train_eta", "--tenant", tenant.slug)
    assert not ModelVersion.objects.filter(tenant=tenant).exists()


def test_training_refuses_too_little_history(tmp_path) -> None:  # type: ignore[no-untyped-def]
    tenant = TenantFactory()
    path = write_synthetic_file(tmp_path / "small.csv.gz", SyntheticConfig(rows=300, seed=4))
    call_command("import_deliveries", str(path), tenant=tenant.slug)
    with pytest.raises(CommandError, match="at least 500 needed"):
        call_command("train_eta", "--tenant", tenant.slug)
    with pytest.raises(CommandError, match="--until: expected YYYY-MM-DD"):
        call_command("train_eta", "--tenant", tenant.slug, "--until", "March")
    assert not ModelVersion.objects.filter(tenant=tenant).exists()


def test_a_failure_during_training_leaves_a_failed_version_not_a_ready_one(tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    # A validation window longer than the history: the core refuses in the middle of training.
    impossible = TrainingConfig(validation_days=60)
    with pytest.raises(ValueError, match="validation window"):
        eta_model_train(tenant=tenant_with_history, created_by="test", config=impossible)
    version = ModelVersion.objects.get(tenant=tenant_with_history)
    assert version.status == VersionStatus.FAILED
    assert "validation window" in version.status_detail and version.artifact_sha256 == ""


def test_nightly_task_trains_a_version(tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    version_id = train_eta_task.delay(tenant_with_history.pk).get()
    assert ModelVersion.objects.get(pk=version_id).status == VersionStatus.READY
    assert "train-eta-nightly" in settings.CELERY_BEAT_SCHEDULE


def test_reproduction_reads_the_frozen_snapshot_after_history_is_corrected_or_deleted(tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    version = eta_model_train(tenant=tenant_with_history, created_by="test")
    snapshot = version.lineage["data"]["snapshot"]
    snapshot_file = Path(settings.ARTIFACT_ROOT) / snapshot["path"]
    assert snapshot_file.is_file() and snapshot["path"].startswith(version.artifact_path.rsplit("/", 1)[0])
    frozen = snapshot_read(snapshot_file)
    assert len(frozen) == version.lineage["data"]["rows"]

    # History changes after training: a third of the rows deleted, durations of others corrected.
    deliveries = Delivery.objects.filter(tenant=tenant_with_history)
    deliveries.filter(id__in=list(deliveries.order_by("id").values_list("id", flat=True)[::3])).delete()
    deliveries.filter(courier_age__gt=30).update(delivery_minutes=F("delivery_minutes") + 1)

    result = model_version_reproduce(version=version)
    assert result.reproduced, result.differences
    assert result.new_sha256 == version.artifact_sha256

    # A snapshot that no longer matches its recorded hash is refused, not trained on.
    table = pq.read_table(snapshot_file)
    pq.write_table(table.slice(1), snapshot_file)
    with pytest.raises(CommandError, match=r"cannot be reproduced: training snapshot .* fails its checksum"):
        call_command("reproduce_model_version", f"{tenant_with_history.slug}/{version.version}")


def test_a_new_version_with_a_sampled_quantile_booster_reproduces_byte_identically(tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    sampled = TrainingConfig(max_rounds=60, early_stopping_rounds=10, nthread=2, quantile_fit_rows=500)
    version = eta_model_train(tenant=tenant_with_history, created_by="test", config=sampled)

    params = version.lineage["params"]
    assert (params["nthread"], params["quantile_fit_rows"]) == (2, 500)
    assert model_version_load(version=version).summary.fit_rows > 500  # so the sample was drawn
    result = model_version_reproduce(version=version)
    assert result.reproduced, result.differences
    assert result.new_sha256 == version.artifact_sha256


def test_a_version_recorded_before_the_sampled_quantile_booster_still_reproduces(tenant_with_history) -> None:  # type: ignore[no-untyped-def]
    # Parameters recorded without `quantile_fit_rows` (and with one thread), as every older version has them.
    legacy = TrainingConfig(max_rounds=60, early_stopping_rounds=10)
    version = eta_model_train(tenant=tenant_with_history, created_by="test", config=legacy)

    assert "quantile_fit_rows" not in version.lineage["params"] and version.lineage["params"]["nthread"] == 1
    assert model_version_reproduce(version=version).reproduced


def test_the_content_hash_fed_in_chunks_equals_the_hash_of_the_whole_csv(tenant_with_history, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    version = eta_model_train(tenant=tenant_with_history, created_by="test", config=TrainingConfig(max_rounds=20))
    history = snapshot_read(Path(settings.ARTIFACT_ROOT) / version.lineage["data"]["snapshot"]["path"])
    whole = history.drop(columns=["fixes"], errors="ignore").to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S%z")

    monkeypatch.setattr("registry.training._HASH_CHUNK_ROWS", 701)  # several chunks, the last one short
    assert (
        _data_hash(history) == hashlib.sha256(whole.encode()).hexdigest() == version.lineage["data"]["content_sha256"]
    )


@pytest.fixture
def dask_cluster(settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Two single-threaded workers in this process; training is pointed at them through the settings."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        settings.TRAINING_ENGINE = "dask"
        settings.DASK_SCHEDULER_ADDRESS = cluster.scheduler_address
        settings.DASK_TRAINING_PARTITIONS = 3
        yield cluster.scheduler_address


def test_dask_engine_trains_a_servable_version_that_reproduces_byte_identically(
    tenant_with_history, dask_cluster, settings
) -> None:  # type: ignore[no-untyped-def]
    quick = TrainingConfig(max_rounds=60, early_stopping_rounds=10)
    version = eta_model_train(tenant=tenant_with_history, created_by="test", config=quick)

    assert version.status == VersionStatus.READY
    assert version.lineage["engine"] == {"name": "dask", "partitions": 3, "workers": 2}
    assert version.metrics["count"] == version.lineage["data"]["evaluation_rows"] > 100
    predictor = model_version_load(version=version)  # the one artifact format serving and replay load
    assert (
        predictor.summary.fit_rows + predictor.summary.validation_rows + version.lineage["data"]["evaluation_rows"]
        == version.lineage["data"]["rows"]
    )

    assert model_version_reproduce(version=version).reproduced

    settings.TRAINING_ENGINE = "local"
    with pytest.raises(ArtifactError, match="set TRAINING_ENGINE=dask"):
        model_version_reproduce(version=version)
