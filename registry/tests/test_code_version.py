"""Lineage's code version: the image's commit where there is no git checkout, the checkout's HEAD otherwise."""

from __future__ import annotations

import subprocess
from pathlib import Path

from registry.training import code_version

ROOT = Path(__file__).resolve().parents[2]


def test_the_image_commit_is_recorded_where_git_cannot_answer(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings.BASE_DIR = tmp_path  # no .git here, as in the image
    settings.GIT_COMMIT = None
    assert code_version() == "unknown"

    settings.GIT_COMMIT = "4f1c2a9d0b7e"
    assert code_version() == "4f1c2a9d0b7e"


def test_without_the_variable_a_checkout_records_its_head(settings) -> None:  # type: ignore[no-untyped-def]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    settings.BASE_DIR = ROOT
    settings.GIT_COMMIT = None
    assert code_version() == (head.stdout.strip() if head.returncode == 0 else "unknown")
