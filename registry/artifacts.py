"""The artifact store: model bytes on the filesystem under ARTIFACT_ROOT, addressed by their sha256."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

import pandas as pd
from django.conf import settings

from core.delivery.columnar import file_sha256, snapshot_write
from intellilog.errors import DomainError

SNAPSHOT_PREFIX = "training-rows-"


class ArtifactError(DomainError, RuntimeError):
    """An artifact is missing or its bytes do not match the recorded checksum (HTTP 503 model_unavailable)."""

    code = "model_unavailable"
    status = 503


def version_artifact_dir(*, tenant_slug: str, model_name: str, version: int) -> str:
    """Where training writes one version's artifact: a directory of its own, so a failed run's files are found."""
    return f"{tenant_slug}/{model_name}/v{version}"


def artifact_write(*, relative_dir: str, data: bytes) -> tuple[str, str]:
    """Store bytes atomically (write to a temporary file, then rename); returns (relative path, sha256)."""
    sha256 = hashlib.sha256(data).hexdigest()
    directory = Path(settings.ARTIFACT_ROOT) / relative_dir
    directory.mkdir(parents=True, exist_ok=True)
    relative_path = f"{relative_dir}/{sha256}.json"
    with tempfile.NamedTemporaryFile(dir=directory, delete=False) as handle:
        handle.write(data)
        temporary = handle.name
    os.replace(temporary, Path(settings.ARTIFACT_ROOT) / relative_path)
    return relative_path, sha256


def artifact_read(*, relative_path: str, expected_sha256: str) -> bytes:
    """Read an artifact and verify it; a missing or tampered file raises `ArtifactError`."""
    path = Path(settings.ARTIFACT_ROOT) / relative_path
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"artifact {relative_path} is missing from {settings.ARTIFACT_ROOT}") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise ArtifactError(
            f"artifact {relative_path} fails its checksum: recorded {expected_sha256[:12]}…, found {actual[:12]}…; "
            "refusing to load a tampered or corrupted model"
        )
    return data


def artifact_dir_discard(*, relative_dir: str) -> list[str]:
    """Delete the files of a directory no registered version points into; returns the names removed.

    A run killed in `artifact_write` leaves a partial temporary file, and one killed after it (while
    tracking) a complete, checksum-named file that no version records: neither may look like a model.
    Only plain files directly inside are removed (then the directory, if empty); nothing outside
    ARTIFACT_ROOT is touched.
    """
    root = Path(settings.ARTIFACT_ROOT).resolve()
    directory = (root / relative_dir).resolve()
    if directory == root or not directory.is_relative_to(root) or not directory.is_dir():
        return []
    removed = []
    for path in sorted(directory.iterdir()):
        if path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            removed.append(path.name)
    with contextlib.suppress(OSError):  # not empty: something else lives there, leave it
        directory.rmdir()
    return removed


def snapshot_file_write(*, relative_dir: str, history: pd.DataFrame) -> tuple[str, str]:
    """Freeze a version's training rows as Parquet beside its artifact; returns (relative path, sha256).

    Written once to a temporary name, then renamed to its content hash, as `artifact_write` does.
    """
    directory = Path(settings.ARTIFACT_ROOT) / relative_dir
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=directory, suffix=".parquet", delete=False) as handle:
        temporary = Path(handle.name)
    sha256 = snapshot_write(history, temporary)
    relative_path = f"{relative_dir}/{SNAPSHOT_PREFIX}{sha256}.parquet"
    os.replace(temporary, Path(settings.ARTIFACT_ROOT) / relative_path)
    return relative_path, sha256


def snapshot_file_path(*, relative_path: str, expected_sha256: str) -> Path:
    """The path of a training snapshot whose bytes match the recorded hash; otherwise `ArtifactError`."""
    path = Path(settings.ARTIFACT_ROOT) / relative_path
    if not path.is_file():
        raise ArtifactError(f"training snapshot {relative_path} is missing from {settings.ARTIFACT_ROOT}")
    actual = file_sha256(path)
    if actual != expected_sha256:
        raise ArtifactError(
            f"training snapshot {relative_path} fails its checksum: recorded {expected_sha256[:12]}…, "
            f"found {actual[:12]}…"
        )
    return path
