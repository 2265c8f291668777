"""Tracing: off by default and free when off; when on, one prediction is one trace with our named spans."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.test import Client
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from intellilog import tracing
from predictions.tests.test_api import ETA, order_body

ROOT = Path(__file__).resolve().parent.parent
OUR_SPANS = {"predictions.serve", "features.online_read", "model.predict", "audit.write"}


@pytest.fixture
def span_exporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing on for one test, every finished span kept in memory; everything undone afterwards."""
    monkeypatch.setenv("OTEL_ENABLED", "true")
    exporter = InMemorySpanExporter()
    assert tracing.tracing_configure(role="test", exporter=exporter)
    # Connections opened before psycopg was instrumented are not traced: the next query opens a new one.
    connections.close_all()
    yield exporter
    tracing.tracing_shutdown()
    connections.close_all()


def _by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {span.name: span for span in spans}


@pytest.mark.django_db(transaction=True)
def test_one_prediction_is_one_trace_from_the_server_span_down(serving_tenant, span_exporter) -> None:  # type: ignore[no-untyped-def]
    # Django's test client builds its handler now, so it loads the middleware the instrumentation added
    # (the live server's handler was built before tracing was on).
    client = Client(headers={"Authorization": f"Api-Key {serving_tenant.client.raw_key}"})
    response = client.post(ETA, data=order_body(), content_type="application/json")
    assert response.status_code == 200, response.content

    spans = span_exporter.get_finished_spans()
    server = [span for span in spans if span.kind is SpanKind.SERVER]
    assert len(server) == 1
    assert server[0].attributes["http.route"] == "api/v1/predictions/eta"  # type: ignore[index]
    trace_id = server[0].context.trace_id
    in_trace = [span for span in spans if span.context.trace_id == trace_id]
    named = _by_name(tuple(in_trace))
    assert set(named) >= OUR_SPANS
    # Nesting: the service span is under the server span, and the steps are under the service span.
    serve = named["predictions.serve"]
    assert serve.parent is not None
    assert serve.parent.span_id in {span.context.span_id for span in in_trace}
    for step in ("features.online_read", "model.predict", "audit.write"):
        assert named[step].parent.span_id == serve.context.span_id  # type: ignore[union-attr]
    # The libraries under them: the audit INSERT through psycopg, the feature read through Redis.
    database = [span for span in in_trace if span.attributes.get("db.system") == "postgresql"]  # type: ignore[union-attr]
    audit_inserts = [
        span
        for span in database
        if span.parent is not None
        and span.parent.span_id == named["audit.write"].context.span_id
        and "INSERT" in span.name.upper()
    ]
    assert len(audit_inserts) == 1
    assert any(span.attributes.get("db.system") == "redis" for span in in_trace)  # type: ignore[union-attr]
    assert all(span.resource.attributes["service.name"] == "intellilog-test" for span in in_trace)


@pytest.mark.django_db(transaction=True)
def test_a_failed_step_marks_its_span_as_an_error(serving_tenant, span_exporter) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuntimeError), tracing.span("registry.train"):
        raise RuntimeError("artifact store full")
    (failed,) = span_exporter.get_finished_spans()
    assert failed.name == "registry.train"
    assert not failed.status.is_ok
    assert failed.events[0].name == "exception"


@pytest.mark.django_db(transaction=True)
def test_probes_and_stray_queries_make_no_traces(serving_tenant, span_exporter) -> None:  # type: ignore[no-untyped-def]
    # The readiness probe runs SQL and a Redis PING every few seconds per replica: excluded as a request,
    # and its client calls, having no parent, start no trace of their own. Nor does a query outside any
    # request, task or named step (beat's scheduler polls the database all day).
    assert Client().get("/health/ready").status_code == 200
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
    assert span_exporter.get_finished_spans() == ()
    # Inside one of our spans the same query is traced, as its child.
    with tracing.span("registry.train"), connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
    query, train = span_exporter.get_finished_spans()
    assert train.name == "registry.train" and query.parent.span_id == train.context.span_id  # type: ignore[union-attr]


def test_probes_and_scrapes_are_not_traced_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_PYTHON_DJANGO_EXCLUDED_URLS", raising=False)
    monkeypatch.delenv("OTEL_PYTHON_EXCLUDED_URLS", raising=False)
    assert tracing._excluded_urls() == "health/live,health/ready,metrics"
    monkeypatch.setenv("OTEL_PYTHON_DJANGO_EXCLUDED_URLS", "admin/.*")
    assert tracing._excluded_urls() is None  # the instrumentation reads the operator's list itself


def test_an_unknown_otlp_protocol_is_refused_before_anything_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_ENABLED", "true")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    with pytest.raises(ImproperlyConfigured, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        tracing.tracing_configure(role="web")
    assert not tracing.is_tracing_enabled()


# The real entry point, in a fresh interpreter: this process may already have a global provider.
_PROBE = """
import json, sys
import intellilog.wsgi
import psycopg
from django.conf import settings
from opentelemetry import trace
from intellilog import tracing
provider = trace.get_tracer_provider()
print(json.dumps({
    "enabled": tracing.is_tracing_enabled(),
    "provider": type(provider).__name__,
    "service": dict(getattr(provider, "resource", None).attributes) if hasattr(provider, "resource") else None,
    "django_middleware": any("opentelemetry" in name for name in settings.MIDDLEWARE),
    "psycopg_wrapped": hasattr(psycopg.connect, "__wrapped__"),
    "span_is_shared_noop": tracing.span("a") is tracing.span("b"),
}))
"""


def _probe(**environment: str) -> dict[str, object]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env.update(environment)
    env.setdefault("DEBUG", "true")
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_off_by_default_nothing_is_installed_and_span_is_one_shared_noop() -> None:
    probe = _probe()
    assert probe == {
        "enabled": False,
        "provider": "ProxyTracerProvider",
        "service": None,
        "django_middleware": False,
        "psycopg_wrapped": False,
        "span_is_shared_noop": True,
    }


def test_on_through_the_wsgi_entry_point_with_the_standard_variables() -> None:
    probe = _probe(
        OTEL_ENABLED="true",
        OTEL_SERVICE_NAME="intellilog-web-canary",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment=staging",
        # Nothing listens there; no span is made, so nothing is sent.
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9/",
    )
    assert probe["enabled"] is True
    assert probe["provider"] == "TracerProvider"
    assert probe["service"]["service.name"] == "intellilog-web-canary"  # type: ignore[index]
    assert probe["service"]["deployment.environment"] == "staging"  # type: ignore[index]
    assert probe["django_middleware"] is True
    assert probe["psycopg_wrapped"] is True
    assert probe["span_is_shared_noop"] is False
