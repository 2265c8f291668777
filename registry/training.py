"""Training, reproducing and evaluating ETA model versions: the registry's ML workflows.

Django glue around the plain-Python core in `core/`: it selects the tenant's data, enforces
the quality gate, records lineage, tracks the run in MLflow and registers the version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import logging
import platform
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import mlflow
import numpy as np
import pandas as pd
from django.conf import settings
from django.utils import timezone

from core.delivery.columnar import snapshot_read
from core.delivery.schema import load_clean_frame
from core.evaluation import EvaluationReport, delivery_segments, evaluate
from core.features import FEATURE_SET_NAME, FEATURE_SET_VERSION, build_features, build_training_features
from core.model import (
    CandidateResult,
    ETAPredictor,
    TrainingConfig,
    default_candidates,
    train_best_of,
)
from deliveries.columnar import deliveries_columnar
from deliveries.selectors import (
    deliveries_implausible,
    deliveries_latest_id,
    tenant_quality_gate,
)
from intellilog.tracing import traced
from registry.artifacts import (
    ArtifactError,
    artifact_write,
    snapshot_file_path,
    snapshot_file_write,
    version_artifact_dir,
)
from registry.constants import ETA_MODEL_NAME, EVALUATION_DAYS, MIN_TRAINING_ROWS
from registry.loader import model_version_load
from registry.models import ModelVersion
from registry.services import (
    model_version_allocate,
    model_version_mark_failed,
    model_version_mark_ready,
    registered_model_get_or_create,
)
from tenants.models import Tenant

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]
LIBRARIES = ("xgboost", "numpy", "pandas", "scipy", "django", "mlflow")


class TrainingRefused(Exception):
    """Training was not started: the data fails the quality gate or is too small."""


@dataclass(frozen=True)
class TrainingData:
    """A tenant's history split into the part a model learns from and the evaluation window after it."""

    history: pd.DataFrame
    features: pd.DataFrame
    is_evaluation: np.ndarray
    evaluation_start: pd.Timestamp


# Rows turned into text at a time by `_data_hash`: the CSV of a million rows at once was ~150 MB.
_HASH_CHUNK_ROWS = 100_000


def _data_hash(history: pd.DataFrame) -> str:
    """A content hash of the training snapshot: equal iff every row and value is equal, in order.

    The digest of the frame's CSV (header once), fed in chunks of rows: the same bytes as one CSV of the
    whole frame, so versions hashed before chunking still match.
    """
    columns = [name for name in history.columns if name != "fixes"]
    digest = hashlib.sha256()
    for start in range(0, max(len(history), 1), _HASH_CHUNK_ROWS):
        chunk = history.iloc[start : start + _HASH_CHUNK_ROWS][columns]
        text = chunk.to_csv(index=False, header=start == 0, date_format="%Y-%m-%dT%H:%M:%S%z")
        digest.update(text.encode())
    return digest.hexdigest()


def code_version() -> str:
    """The commit of the running code: the image's INTELLILOG_GIT_COMMIT, else the checkout's HEAD, else "unknown".

    The image's commit comes first: it is what was built and shipped, and the image has no .git to ask.
    """
    if settings.GIT_COMMIT:
        return settings.GIT_COMMIT
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=5
        )
    except OSError:
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def _library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        versions[name] = str(getattr(importlib.import_module(name), "__version__", "unknown"))
    return versions


def training_data(*, history: pd.DataFrame, time_zone: ZoneInfo) -> TrainingData:
    """Features for the whole history and the mask of the last EVALUATION_DAYS (the held-out window)."""
    features = build_training_features(history, time_zone=time_zone)
    evaluation_start = _evaluation_start(history)
    is_evaluation = (history["ordered_at"] > evaluation_start).to_numpy()
    return TrainingData(history, features, is_evaluation, evaluation_start)


def _evaluation_start(history: pd.DataFrame) -> pd.Timestamp:
    return history["ordered_at"].max() - pd.Timedelta(days=EVALUATION_DAYS)


@dataclass(frozen=True)
class TrainingEngine:
    """Where boosters are trained: this process ("local"), or a Dask cluster cut into ``partitions``."""

    name: str
    scheduler_address: str = ""
    partitions: int = 0

    def lineage(self, *, workers: int = 0) -> dict[str, object]:
        if self.name == "local":
            return {"name": "local"}
        return {"name": self.name, "partitions": self.partitions, "workers": workers}


def _engine_of_settings(partitions: int | None = None) -> TrainingEngine:
    if settings.TRAINING_ENGINE == "dask":
        return TrainingEngine("dask", settings.DASK_SCHEDULER_ADDRESS, partitions or settings.DASK_TRAINING_PARTITIONS)
    return TrainingEngine("local")


@dataclass(frozen=True)
class _Trained:
    predictor: ETAPredictor
    candidates: list[dict[str, object]]
    evaluation_start: pd.Timestamp
    is_evaluation: np.ndarray
    evaluation_features: pd.DataFrame
    engine: dict[str, object]


def _train(
    *,
    history: pd.DataFrame,
    snapshot: Path | None,
    time_zone: ZoneInfo,
    configs: tuple[TrainingConfig, ...],
    engine: TrainingEngine,
    say: Progress,
) -> _Trained:
    """Train the candidates on the rows before the evaluation window, here or on the Dask cluster.

    Both engines read the same frozen rows (the distributed one from ``snapshot``, by partitions) and
    return the same artifact format.
    """
    if engine.name == "local":
        say(f"building point-in-time features for {len(history)} deliveries")
        data = training_data(history=history, time_zone=time_zone)
        say(f"training on {int((~data.is_evaluation).sum())} deliveries")
        predictor, candidates = _fit(data, configs)
        return _Trained(
            predictor,
            candidates,
            data.evaluation_start,
            data.is_evaluation,
            data.features[data.is_evaluation],
            engine.lineage(),
        )
    # Imported here: only a process configured for Dask needs the distributed stack loaded.
    from distributed import Client

    from core.distributed import train_distributed

    if snapshot is None:
        raise ValueError("distributed training reads a frozen snapshot; none was given")
    evaluation_start = _evaluation_start(history)
    with Client(engine.scheduler_address, timeout="30s") as client:
        workers = len(client.scheduler_info()["workers"])
        say(f"training on Dask at {engine.scheduler_address}: {workers} workers, {engine.partitions} partitions")
        result = train_distributed(
            client=client,
            snapshot=snapshot,
            time_zone=time_zone,
            evaluation_start=evaluation_start,
            candidates=configs,
            partitions=engine.partitions,
        )
    is_evaluation = np.zeros(len(history), dtype=bool)
    is_evaluation[result.evaluation_rows] = True
    features = result.evaluation_features.set_axis(history.index[result.evaluation_rows])
    return _Trained(
        result.predictor,
        _candidates_lineage(result.candidates),
        evaluation_start,
        is_evaluation,
        features,
        engine.lineage(workers=workers),
    )


def _candidates_lineage(results: tuple[CandidateResult, ...]) -> list[dict[str, object]]:
    return [
        {"features": len(result.feature_names), "validation_mae": result.validation_mae, "sha256": result.sha256}
        for result in results
    ]


def _fit(data: TrainingData, configs: tuple[TrainingConfig, ...]) -> tuple[ETAPredictor, list[dict[str, object]]]:
    """Train each candidate on the part before the evaluation window; keep the best on validation."""
    # History is oldest first, so the rows before the evaluation window are its first rows: taken as
    # slices (views), where a mask would copy the whole feature frame.
    train = slice(0, int((~data.is_evaluation).sum()))
    if data.is_evaluation[train].any():
        raise ValueError("training history must be ordered oldest first")
    best, tried = train_best_of(
        data.features.iloc[train],
        data.history["delivery_minutes"].iloc[train],
        ordered_at=data.history["ordered_at"].iloc[train],
        candidates=configs,
    )
    return best, _candidates_lineage(tried)


def evaluate_on(predictor: ETAPredictor, *, deliveries: pd.DataFrame, features: pd.DataFrame) -> EvaluationReport:
    """Metrics and the per-segment fairness report of `predictor` on these deliveries."""
    batch = predictor.predict_frame(features)
    return evaluate(
        deliveries["delivery_minutes"].to_numpy(dtype=np.float64),
        batch.eta_minutes,
        lower=batch.quantile("p05"),
        upper=batch.quantile("p95"),
        segments=delivery_segments(deliveries),
    )


def _snapshot(tenant: Tenant, until: dt.date | None, say: Progress) -> tuple[pd.DataFrame, dict[str, object]]:
    time_zone = ZoneInfo(tenant.time_zone)
    ordered_before = (
        dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), tzinfo=time_zone) if until is not None else None
    )
    id_at_most = deliveries_latest_id(tenant=tenant)
    # Stored rows with implausible instants are skipped, and reported, rather than crashing the training.
    plausible_at = timezone.now()
    history = deliveries_columnar(
        tenant=tenant, ordered_before=ordered_before, id_at_most=id_at_most, plausible_at=plausible_at
    )
    skipped = deliveries_implausible(
        tenant=tenant, ordered_before=ordered_before, id_at_most=id_at_most, plausible_at=plausible_at
    )
    if skipped.count:
        logger.warning("training: %s", skipped.describe(tenant))
        say(skipped.describe(tenant))
    selection = {
        "tenant": tenant.slug,
        "ordered_before": ordered_before.isoformat() if ordered_before else None,
        "delivery_id_at_most": id_at_most,
        "plausible_at": plausible_at.isoformat(),
        "rows_skipped_implausible": skipped.count,
    }
    return history, selection


@traced("registry.train")
def eta_model_train(
    *,
    tenant: Tenant,
    until: dt.date | None = None,
    created_by: str,
    config: TrainingConfig | None = None,
    progress: Progress | None = None,
) -> ModelVersion:
    """Train, evaluate, track and register a new ETA model version for a tenant (status READY).

    Refuses with `TrainingRefused` before allocating anything when the quality gate fails or there is
    too little data. Once a version number is allocated, any failure marks that version FAILED (and removes
    what was written to its artifact directory). A process killed outright runs no handler: its version
    stays PENDING until `registry.services.model_versions_fail_stale` marks it FAILED.
    """
    say = progress or (lambda message: None)
    verdict = tenant_quality_gate(tenant=tenant)
    if not verdict.passes:
        raise TrainingRefused(f"refusing to train for {tenant.slug}: {verdict.reason}")
    history, selection = _snapshot(tenant, until, say)
    if len(history) < MIN_TRAINING_ROWS:
        raise TrainingRefused(
            f"refusing to train for {tenant.slug}: {len(history)} deliveries selected, "
            f"at least {MIN_TRAINING_ROWS} needed"
        )

    registered_model = registered_model_get_or_create(tenant=tenant, name=ETA_MODEL_NAME)
    version = model_version_allocate(registered_model=registered_model, created_by=created_by)
    relative_dir = version_artifact_dir(tenant_slug=tenant.slug, model_name=ETA_MODEL_NAME, version=version.version)
    try:
        # The first line after the version is reserved: the stale-training test and bench/load_faults.py
        # kill the process on it.
        say(f"training v{version.version} on {len(history)} deliveries")
        say(f"freezing the {len(history)} training rows as a Parquet snapshot")
        snapshot_path, snapshot_sha256 = snapshot_file_write(relative_dir=relative_dir, history=history)
        engine = _engine_of_settings()
        trained = _train(
            history=history,
            snapshot=settings.ARTIFACT_ROOT / Path(snapshot_path),
            time_zone=ZoneInfo(tenant.time_zone),
            configs=(config,) if config else default_candidates(sample_quantile_fit=engine.name == "local"),
            engine=engine,
            say=say,
        )
        predictor, is_evaluation = trained.predictor, trained.is_evaluation
        say(f"evaluating on the last {EVALUATION_DAYS} days ({int(is_evaluation.sum())} deliveries)")
        report = evaluate_on(predictor, deliveries=history[is_evaluation], features=trained.evaluation_features)
        artifact = predictor.to_bytes()
        artifact_path, sha256 = artifact_write(relative_dir=relative_dir, data=artifact)
        lineage = {
            "data": {
                **selection,
                "rows": len(history),
                "ordered_at_min": history["ordered_at"].min().isoformat(),
                "ordered_at_max": history["ordered_at"].max().isoformat(),
                "content_sha256": _data_hash(history),
                "evaluation_start": trained.evaluation_start.isoformat(),
                "evaluation_rows": int(is_evaluation.sum()),
                "snapshot": {"path": snapshot_path, "sha256": snapshot_sha256, "format": "parquet"},
            },
            "feature_set": {"name": FEATURE_SET_NAME, "version": FEATURE_SET_VERSION},
            "params": predictor.config.as_dict(),
            "candidates": trained.candidates,
            "engine": trained.engine,
            "seed": predictor.config.seed,
            "code_version": code_version(),
            "libraries": _library_versions(),
        }
        say("logging the run to MLflow")
        run_id = _track(tenant, version, report, lineage, settings.ARTIFACT_ROOT / Path(artifact_path), sha256)
        return model_version_mark_ready(
            version=version,
            artifact_path=artifact_path,
            artifact_sha256=sha256,
            metrics=report.overall.as_dict(),
            evaluation=report.as_dict(),
            lineage=lineage,
            mlflow_run_id=run_id,
        )
    except BaseException as exc:
        model_version_mark_failed(version=version, detail=f"{type(exc).__name__}: {exc}")
        raise


def _track(
    tenant: Tenant,
    version: ModelVersion,
    report: EvaluationReport,
    lineage: dict[str, object],
    artifact_file: Path,
    sha256: str,
) -> str:
    mlflow.set_tracking_uri(settings.MLFLOW_TRACKING_URI)
    experiment_name = f"{tenant.slug}/{ETA_MODEL_NAME}"
    experiment = mlflow.get_experiment_by_name(experiment_name)
    experiment_id = (
        experiment.experiment_id
        if experiment
        else mlflow.create_experiment(experiment_name, artifact_location=settings.MLFLOW_ARTIFACT_LOCATION)
    )
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"v{version.version}") as run:
        mlflow.log_params({key: str(value) for key, value in lineage["params"].items()})  # type: ignore[union-attr]
        mlflow.log_metrics({key: float(value) for key, value in report.overall.as_dict().items() if value is not None})
        mlflow.log_dict(lineage, "lineage.json")
        mlflow.log_dict(report.as_dict(), "evaluation.json")
        mlflow.log_artifact(str(artifact_file), artifact_path="model")
        mlflow.set_tags(
            {"tenant": tenant.slug, "model": ETA_MODEL_NAME, "version": str(version.version), "artifact_sha256": sha256}
        )
    return run.info.run_id


def training_history_of(*, version: ModelVersion) -> pd.DataFrame:
    """The rows a version was trained on: its snapshot, or for older versions the lineage's table selection.

    Raises `ArtifactError` when the recorded snapshot is missing or fails its checksum.
    """
    recorded = version.lineage["data"]
    snapshot = _snapshot_file(version)
    if snapshot is not None:
        return snapshot_read(snapshot)
    ordered_before = dt.datetime.fromisoformat(recorded["ordered_before"]) if recorded["ordered_before"] else None
    plausible_at = dt.datetime.fromisoformat(recorded["plausible_at"]) if recorded.get("plausible_at") else None
    return deliveries_columnar(
        tenant=version.tenant,
        ordered_before=ordered_before,
        id_at_most=recorded["delivery_id_at_most"],
        plausible_at=plausible_at,
    )


def _snapshot_file(version: ModelVersion) -> Path | None:
    """The version's snapshot file, verified against its recorded hash; None for versions trained before snapshots."""
    snapshot = version.lineage["data"].get("snapshot")
    if not snapshot:
        return None
    return snapshot_file_path(relative_path=snapshot["path"], expected_sha256=snapshot["sha256"])


@dataclass(frozen=True)
class ReproductionResult:
    reproduced: bool
    differences: list[str]
    new_sha256: str


def model_version_reproduce(*, version: ModelVersion, progress: Progress | None = None) -> ReproductionResult:
    """Retrain from the recorded lineage and compare the new artifact's checksum with the stored one.

    The training rows come from the version's frozen Parquet snapshot (checked against its recorded
    hash), so history corrected or deleted since does not matter and the table is not scanned. Versions
    trained before snapshots existed are re-selected from the table as their lineage describes.
    """
    say = progress or (lambda message: None)
    lineage = version.lineage
    recorded = lineage["data"]
    history = training_history_of(version=version)
    differences = []
    if _data_hash(history) != recorded["content_sha256"]:
        differences.append(f"training data differs from the recorded snapshot ({len(history)} rows now)")
    libraries = _library_versions()
    for name, recorded_version in lineage["libraries"].items():
        if libraries.get(name) != recorded_version:
            differences.append(f"{name} {libraries.get(name)} here, {recorded_version} when trained")
    recorded_engine = lineage.get("engine", {"name": "local"})
    engine = TrainingEngine("local")
    if recorded_engine["name"] == "dask":
        if settings.TRAINING_ENGINE != "dask":
            raise ArtifactError(f"{version} was trained on Dask: set TRAINING_ENGINE=dask to reproduce it")
        engine = _engine_of_settings(partitions=recorded_engine["partitions"])
    say(f"retraining v{version.version} from its lineage on {len(history)} deliveries")
    trained = _train(
        history=history,
        snapshot=_snapshot_file(version) if engine.name == "dask" else None,
        time_zone=ZoneInfo(version.tenant.time_zone),
        configs=(TrainingConfig.from_dict(lineage["params"]),),
        engine=engine,
        say=say,
    )
    predictor = trained.predictor
    if trained.engine != recorded_engine:
        differences.append(f"trained on {recorded_engine}, reproduced on {trained.engine}")
    new_sha256 = hashlib.sha256(predictor.to_bytes()).hexdigest()
    if new_sha256 != version.artifact_sha256:
        differences.append(f"artifact sha256 {new_sha256} differs from the stored {version.artifact_sha256}")
    return ReproductionResult(new_sha256 == version.artifact_sha256, differences, new_sha256)


def model_version_evaluate_file(*, version: ModelVersion, path: Path) -> EvaluationReport:
    """Evaluate a version on a deliveries file (bundled schema) without importing it.

    Rows are normalised by the importer's own normaliser; history features come from the tenant's stored
    deliveries completed before each order, exactly as serving computes them.
    """
    tenant = version.tenant
    time_zone = ZoneInfo(tenant.time_zone)
    orders, _rejected = load_clean_frame(path, time_zone=time_zone)
    if orders.empty:
        raise ValueError(f"{path}: no valid delivery rows to evaluate on")
    features = build_features(orders, history=deliveries_columnar(tenant=tenant), time_zone=time_zone)
    return evaluate_on(model_version_load(version=version), deliveries=orders, features=features)
