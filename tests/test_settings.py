"""Start-up configuration: malformed environment values fail naming the variable; production passes check --deploy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from intellilog.env import env_bool, env_float, env_int, env_str, env_url, local_env_file_load

ROOT = Path(__file__).resolve().parent.parent


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if key not in {"DEBUG", "SECRET_KEY", "DATABASE_URL"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("reader", "value", "message"),
    [
        (lambda: env_bool("X_FLAG", False), "maybe", "X_FLAG: expected a boolean"),
        (lambda: env_int("X_FLAG", 1), "1.5", "X_FLAG: expected an integer"),
        (lambda: env_float("X_FLAG", 1.0, minimum=0, maximum=100), "101", "X_FLAG: must be between"),
        (lambda: env_url("X_FLAG", None, schemes=("redis",)), "localhost:6379", "X_FLAG: expected a URL"),
    ],
)
def test_malformed_values_name_the_variable(monkeypatch, reader, value: str, message: str) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("X_FLAG", value)
    with pytest.raises(ImproperlyConfigured, match=message):
        reader()


def test_secret_can_come_from_a_file(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "secret").write_text("from-file\n")
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "secret"))
    assert env_str("X_SECRET") == "from-file"


def test_start_up_fails_on_a_malformed_database_url() -> None:
    result = run_manage("check", DEBUG="true", DATABASE_URL="mysql-ish:/nowhere")
    assert result.returncode != 0
    assert "DATABASE_URL: expected a URL" in result.stderr


def test_production_requires_a_secret_key() -> None:
    result = run_manage("check", DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY: must be set" in result.stderr


def test_production_settings_pass_check_deploy_without_warnings() -> None:
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY="x" * 20 + "-a-long-random-production-secret-" + "y" * 20,
        ALLOWED_HOSTS="eta.example.com",
        METRICS_TOKEN="a-scrape-token",
        CELERY_BROKER_URL="amqp://broker.example.internal:5672//",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_a_lost_database_connection_is_a_503_with_a_code() -> None:
    from django.db import OperationalError
    from rest_framework.views import APIView

    from intellilog.api import exception_handler

    response = exception_handler(OperationalError("server closed the connection"), {"view": APIView()})
    assert response is not None
    assert (response.status_code, response.data["code"]) == (503, "database_unavailable")


def write_dev_env(var_dir: Path) -> None:
    (var_dir / "dev.env").write_text("# written by make run\nDEBUG=true\nSECRET_KEY=generated-for-this-checkout\n")


def test_the_local_env_file_fills_only_what_the_environment_leaves_unset(tmp_path: Path) -> None:
    write_dev_env(tmp_path)
    environ = {"SECRET_KEY": "from-the-shell"}

    assert local_env_file_load(tmp_path / "dev.env", environ=environ) is True
    assert environ == {"SECRET_KEY": "from-the-shell", "DEBUG": "true"}


@pytest.mark.parametrize("debug", ["false", "0", "no", " False "])
def test_debug_false_never_reads_the_local_env_file(tmp_path: Path, debug: str) -> None:
    write_dev_env(tmp_path)
    environ = {"DEBUG": debug}

    assert local_env_file_load(tmp_path / "dev.env", environ=environ) is False
    assert environ == {"DEBUG": debug}


def test_a_malformed_local_env_file_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "dev.env").write_text("DEBUG=true\nnot a setting\n")
    with pytest.raises(ImproperlyConfigured, match=r"dev.env:2: expected NAME=value"):
        local_env_file_load(tmp_path / "dev.env", environ={})


def test_a_new_shell_runs_manage_py_with_the_file_make_run_wrote(tmp_path: Path) -> None:
    write_dev_env(tmp_path)

    result = run_manage("check", INTELLILOG_VAR_DIR=str(tmp_path))

    assert result.returncode == 0, result.stderr


def test_production_stays_fail_closed_beside_a_local_env_file(tmp_path: Path) -> None:
    write_dev_env(tmp_path)

    result = run_manage("check", DEBUG="false", INTELLILOG_VAR_DIR=str(tmp_path))

    assert result.returncode != 0
    assert "SECRET_KEY: must be set" in result.stderr
