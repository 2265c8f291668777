from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_the_statistics_package_imports_without_django() -> None:
    # pytest-django has already imported Django in this process, so the check runs in a fresh interpreter:
    # the statistics core must stay usable (and testable) on numpy/scipy/pandas alone.
    probe = "import sys, monitoring.stats; print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"

    completed = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=60
    )

    assert completed.stdout.strip() == "[]"
