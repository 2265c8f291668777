"""Artifacts are addressed by checksum; a tampered or missing file is refused with a clear error."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from registry.artifacts import ArtifactError, artifact_read, artifact_write


@pytest.fixture(autouse=True)
def artifact_root(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    settings.ARTIFACT_ROOT = tmp_path
    return tmp_path


def test_written_artifact_reads_back_with_its_sha256(artifact_root: Path) -> None:
    path, sha256 = artifact_write(relative_dir="demo/eta/v1", data=b'{"model": 1}')
    assert sha256 == hashlib.sha256(b'{"model": 1}').hexdigest()
    assert path == f"demo/eta/v1/{sha256}.json"
    assert artifact_read(relative_path=path, expected_sha256=sha256) == b'{"model": 1}'


def test_tampered_artifact_is_refused(artifact_root: Path) -> None:
    path, sha256 = artifact_write(relative_dir="demo/eta/v1", data=b'{"model": 1}')
    (artifact_root / path).write_bytes(b'{"model": 2}')
    with pytest.raises(ArtifactError, match=r"fails its checksum.*refusing to load"):
        artifact_read(relative_path=path, expected_sha256=sha256)


def test_missing_artifact_is_refused(artifact_root: Path) -> None:
    with pytest.raises(ArtifactError, match="is missing"):
        artifact_read(relative_path="demo/eta/v9/none.json", expected_sha256="0" * 64)
