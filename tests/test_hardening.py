"""The lower items of issue 11: login lockout, redacted logs, deployment checks, one order-id rule."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from predictions.models import PredictionOutcome
from predictions.tests.test_api import ETA, order_body
from registry.tests.factories import UserFactory
from tests.test_settings import run_manage

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 20 + "-a-long-random-production-secret-" + "y" * 20,
    "ALLOWED_HOSTS": "eta.example.com",
}


@pytest.mark.django_db
def test_admin_login_locks_out_after_repeated_wrong_passwords_even_for_the_right_one() -> None:
    user = UserFactory(username="approver-1")
    user.set_password("the-right-password")
    user.save()
    login = reverse("admin:login")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(login, {"username": "approver-1", "password": "wrong"})

    locked = client.post(login, {"username": "approver-1", "password": "the-right-password"})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_right_password_before_the_limit_logs_in_and_resets_the_count() -> None:
    user = UserFactory(username="approver-2")
    user.set_password("the-right-password")
    user.save()
    login = reverse("admin:login")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post(login, {"username": "approver-2", "password": "wrong"})
    assert client.post(login, {"username": "approver-2", "password": "the-right-password"}).status_code == 302


class _Request:
    """Stands for the request object Django passes as a log record's ``extra``."""

    def __str__(self) -> str:
        return "<WSGIRequest: GET '/api/v1/models/info?api_key=il_0123456789ab.SeCrEtSeCrEt'>"


def test_a_key_in_any_extra_field_of_a_log_record_is_redacted() -> None:
    stream = io.StringIO()
    config = {**settings.LOGGING, "handlers": {**settings.LOGGING["handlers"]}}
    config["handlers"]["capture"] = {**config["handlers"]["console"], "formatter": "json", "stream": stream}
    config["loggers"] = {"test.redaction": {"handlers": ["capture"], "level": "INFO", "propagate": False}}
    logging.config.dictConfig(config)
    try:
        logging.getLogger("test.redaction").warning(
            "Unauthorized: %s",
            "/api/v1/models/info",
            extra={"request": _Request(), "query": "key=il_0123456789ab.SeCrEtSeCrEt", "params": {"k": "il_ab.SeCrEt"}},
        )
    finally:
        logging.config.dictConfig(settings.LOGGING)
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert "SeCrEt" not in stream.getvalue()
    assert line["query"] == "key=il_0123456789ab.[redacted]"
    assert "il_0123456789ab.[redacted]" in line["request"]


def test_production_without_a_metrics_token_or_a_broker_fails_check_deploy() -> None:
    result = run_manage("check", "--deploy", **PRODUCTION)
    assert result.returncode != 0
    assert "intellilog.E001" in result.stderr and "intellilog.E002" in result.stderr
    given = run_manage("check", "--deploy", **PRODUCTION, METRICS_TOKEN="t0ken", CELERY_BROKER_URL="amqp://b//")
    assert "intellilog.E001" not in given.stderr + given.stdout and "intellilog.E002" not in given.stderr + given.stdout


@pytest.mark.django_db(transaction=True)
def test_every_order_id_a_prediction_accepts_can_receive_its_outcome(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    client = serving_tenant.client
    for refused in ("a/b", "   ", "tab\there", "x" * 65):
        response = client.post(ETA, json=order_body(order_id=refused))
        assert (response.status_code, response.json()["field"]) == (400, "order_id"), refused

    assert client.post(ETA, json=order_body(order_id="  spaced-1 ")).status_code == 200
    for spelled in ("%20%20spaced-1%20", "spaced-1"):
        answer = client.post(f"/api/v1/deliveries/{spelled}/outcome", json={"delivery_minutes": 30})
        assert answer.status_code in (200, 201), answer.text
    assert PredictionOutcome.objects.filter(tenant=client.tenant, audit__order_id="spaced-1").count() == 1


def test_only_the_migrate_job_connects_as_the_owner_in_compose_and_k8s() -> None:
    import yaml

    root = Path(settings.BASE_DIR)
    services = yaml.safe_load((root / "docker-compose.yml").read_text())["services"]
    for name in ("web", "worker", "beat", "train"):
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgres://intellilog_app:"), name
    assert services["migrate"]["environment"]["DATABASE_URL"].startswith("postgres://intellilog:")
    assert "./deploy/postgres/initdb:/docker-entrypoint-initdb.d:ro" in services["postgres"]["volumes"]

    app_secret = yaml.safe_load((root / "k8s" / "secret.example.yaml").read_text())
    owner_secret = yaml.safe_load((root / "k8s" / "secret-migrate.example.yaml").read_text())
    assert app_secret["stringData"]["DATABASE_URL"].startswith("postgres://intellilog_app:")
    assert owner_secret["stringData"]["DATABASE_URL"].startswith("postgres://intellilog:")
    job = yaml.safe_load((root / "k8s" / "jobs" / "migrate-job.yaml").read_text())
    (volume,) = [v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == "secrets"]
    sources = {source["secret"]["name"]: source["secret"]["items"] for source in volume["projected"]["sources"]}
    assert sources[owner_secret["metadata"]["name"]] == [{"key": "DATABASE_URL", "path": "DATABASE_URL"}]
    assert "DATABASE_URL" not in {item["key"] for item in sources[app_secret["metadata"]["name"]]}

    role_sql = (root / "deploy" / "postgres" / "app-role.sql").read_text()
    grants = [line for line in role_sql.splitlines() if line.startswith(("GRANT", "ALTER DEFAULT"))]
    assert "NOSUPERUSER" in role_sql and grants and not [line for line in grants if "TRUNCATE" in line]
