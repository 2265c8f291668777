from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_every_core_module_imports_without_django_or_an_app() -> None:
    # pytest-django has already imported Django in this process, so the check runs in a fresh interpreter:
    # the core must stay usable (and testable) on numpy/scipy/pandas alone, below every app.
    probe = (
        "import importlib, pkgutil, sys, core\n"
        "for module in pkgutil.walk_packages(core.__path__, 'core.'):\n"
        "    if '.tests' not in module.name:\n"
        "        importlib.import_module(module.name)\n"
        "apps = {'django', 'rest_framework', 'intellilog', 'tenants', 'deliveries', 'registry', 'features',\n"
        "        'predictions', 'monitoring', 'routing'}\n"
        "print(sorted({name.split('.')[0] for name in sys.modules} & apps))"
    )

    completed = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=120
    )

    assert completed.stdout.strip() == "[]"
