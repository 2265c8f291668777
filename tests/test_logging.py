"""Structured logs: JSON lines carrying the request id, propagated to Celery tasks, with secrets redacted."""

from __future__ import annotations

import contextvars
import io
import json
import logging
from types import SimpleNamespace

import pytest
from django.conf import settings

from intellilog.log_context import (
    REQUEST_ID_TASK_HEADER,
    RequestContextFilter,
    _carry_request_id,
    _forget_request_id,
    _restore_request_id,
    request_id_var,
)
from predictions.tests.test_api import ETA, order_body

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def json_log() -> io.StringIO:
    """The root logger's output as production writes it: JSON lines through the request-context filter."""
    from pythonjsonlogger.json import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    json_settings = settings.LOGGING["formatters"]["json"]
    handler.setFormatter(JsonFormatter(json_settings["format"], rename_fields=json_settings["rename_fields"]))
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.DEBUG)
    yield stream
    root.setLevel(previous)
    root.removeHandler(handler)


def test_api_traffic_logs_json_with_request_ids_and_never_a_key(serving_tenant, json_log) -> None:  # type: ignore[no-untyped-def]
    client = serving_tenant.client
    client.post(ETA, json=order_body())
    # Django logs a refused request after the middleware chain returns; the line must still carry its id.
    client.post(
        ETA, json=order_body(), headers={"Authorization": f"Api-Key {client.raw_key}x", "X-Request-ID": "trace-1"}
    )
    logging.getLogger("intellilog.test").warning("caller sent Authorization: Api-Key %s", client.raw_key)

    output = json_log.getvalue()
    secret = client.raw_key.split(".", 1)[1]
    assert secret not in output
    lines = [json.loads(line) for line in output.splitlines()]
    assert {"time", "level", "logger", "message", "request_id"} <= set(lines[-1])
    refused = [line for line in lines if line["logger"] == "django.request"]
    assert [line["request_id"] for line in refused] == ["trace-1"]
    assert lines[-1]["message"].endswith(".[redacted]")


def test_the_request_id_travels_with_a_queued_task() -> None:
    # A fresh context, as a worker process has: in-process test-client requests leave their id set.
    contextvars.Context().run(_publish_and_run_a_task)


def _publish_and_run_a_task() -> None:
    token = request_id_var.set("req-7")
    headers: dict[str, str] = {}
    _carry_request_id(headers=headers)
    request_id_var.reset(token)
    assert headers == {REQUEST_ID_TASK_HEADER: "req-7"}

    # In the worker: the header is on the task request; the id is set for the task and cleared after it.
    task = SimpleNamespace(request=SimpleNamespace(**headers))
    _restore_request_id(task=task)
    assert request_id_var.get() == "req-7"
    _forget_request_id(task=task)
    assert request_id_var.get() == ""
