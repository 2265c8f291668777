"""The README's commands work as printed in a new shell after `make run`.

A new shell has neither DEBUG nor SECRET_KEY; `make run` has written var/dev.env. Each
`.venv/bin/python manage.py ...` line of the README is parsed by that command's own argument parser in
such a process, so a renamed command, a dropped option or settings that refuse to load fail here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MANAGE_PREFIX = ".venv/bin/python manage.py "

# Runs in a fresh interpreter, as a shell would start one: settings load from the environment and the
# local file alone, then each line's arguments go through its command's parser, which refuses an unknown option.
PARSE_EACH = """
import json, sys
import django
django.setup()
from django.core.management import CommandError, get_commands, load_command_class
failures = []
for line in json.loads(sys.argv[1]):
    name, *args = line
    app = get_commands().get(name)
    if app is None:
        failures.append(f"{name}: no such command")
        continue
    try:
        load_command_class(app, name).create_parser("manage.py", name).parse_args(args)
    except (CommandError, SystemExit):
        failures.append(" ".join(line))
print(json.dumps(failures))
"""


def readme_manage_lines() -> list[list[str]]:
    lines = []
    for line in README.read_text().splitlines():
        line = line.strip()
        if line.startswith(MANAGE_PREFIX):
            command = re.split(r"\s+#", line, maxsplit=1)[0]
            lines.append(shlex.split(command.removeprefix(MANAGE_PREFIX)))
    return lines


def test_the_readme_prints_manage_py_commands() -> None:
    assert len(readme_manage_lines()) >= 5


def test_every_readme_manage_py_line_parses_in_a_new_shell(tmp_path: Path) -> None:
    (tmp_path / "dev.env").write_text("DEBUG=true\nSECRET_KEY=written-by-make-run\n")
    shell = {key: value for key, value in os.environ.items() if key not in {"DEBUG", "SECRET_KEY", "DATABASE_URL"}}
    shell |= {"INTELLILOG_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "intellilog.settings"}

    result = subprocess.run(
        [sys.executable, "-c", PARSE_EACH, json.dumps(readme_manage_lines())],
        cwd=ROOT,
        env=shell,
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
