"""The serving model loader: a version's predictor from its checksummed artifact.

Serving, replay, shadow scoring, monitoring and routing load versions here rather than through
`registry.training`, so a process that only serves never imports the training stack (MLflow, Dask); the
`serving-without-training` contract in pyproject.toml keeps it so.
"""

from __future__ import annotations

from core.model import ArtifactIntegrityError, ETAPredictor
from registry.artifacts import ArtifactError, artifact_read
from registry.models import ModelVersion


def model_version_load(*, version: ModelVersion) -> ETAPredictor:
    """Load a version's predictor, verifying the artifact's checksum (refuses tampered or missing files).

    Every way a stored artifact can fail to load is an `ArtifactError`, so callers (serving, replay,
    evaluation) handle one error: bytes that match the checksum but are not a predictor included.
    """
    data = artifact_read(relative_path=version.artifact_path, expected_sha256=version.artifact_sha256)
    try:
        return ETAPredictor.from_bytes(data, expected_sha256=version.artifact_sha256)
    except ArtifactIntegrityError as error:
        raise ArtifactError(f"artifact {version.artifact_path} of {version} does not load: {error}") from error
