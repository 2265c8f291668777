"""OpenTelemetry tracing of the request path, off unless ``OTEL_ENABLED=true``.

One place configures it: `tracing_configure` is called when a process starts (``wsgi.py``/``asgi.py`` for
the web, the Celery signals in ``celery.py`` for the worker pool and beat, ``manage.py`` for commands such as
the training Job). When tracing is on it installs an SDK tracer provider exporting OTLP, and instruments
Django (one server span per request), psycopg (a span per SQL statement), Redis (a span per command) and
Celery (publish and run spans, the trace context carried in the task headers). Our own steps get spans
named after the services they time, through `span` and `traced`:

    predictions.serve      prediction_serve               features.online_read   online_features_for_order
    model.predict          the champion's predict call    audit.write            the audit row's insert
    registry.train         eta_model_train

When tracing is off nothing is installed, no OpenTelemetry module is even imported, and `span` hands back
one shared do-nothing context manager: the prediction path pays one global read per call.

The exporter follows the standard variables: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (and the ``..._TRACES_...``
forms), ``OTEL_EXPORTER_OTLP_PROTOCOL`` (``http/protobuf``, the default, or ``grpc``),
``OTEL_SERVICE_NAME`` (default ``intellilog-<role>``), ``OTEL_RESOURCE_ATTRIBUTES``, and the sampler in
``OTEL_TRACES_SAMPLER``/``OTEL_TRACES_SAMPLER_ARG``. Every one is listed in ``.env.example``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from intellilog.env import env_bool

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.sampling import Sampler
    from opentelemetry.trace import Tracer

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# What the Django instrumentation leaves untraced unless OTEL_PYTHON_DJANGO_EXCLUDED_URLS (or
# OTEL_PYTHON_EXCLUDED_URLS) says otherwise: probes and scrapes arrive every few seconds from every
# load balancer and Prometheus, and would drown the requests worth reading.
DEFAULT_EXCLUDED_URLS = "health/live,health/ready,metrics"
OTLP_PROTOCOLS = ("http/protobuf", "grpc")

# Shared and stateless, so reusable and re-entrant: the whole cost of `span` while tracing is off.
_NO_SPAN: AbstractContextManager[None] = contextlib.nullcontext()
_tracer: Tracer | None = None
_provider: TracerProvider | None = None
_instrumentors: list[Any] = []
_lock = threading.Lock()


def is_tracing_enabled() -> bool:
    """Whether this process has tracing configured (`tracing_configure` ran with OTEL_ENABLED=true)."""
    return _tracer is not None


def span(name: str, attributes: Mapping[str, str | int | float | bool] | None = None) -> AbstractContextManager[Any]:
    """A span called ``name`` around the ``with`` block, a child of the current one; nothing when off.

    An exception leaving the block is recorded on the span and marks it as an error, then propagates.
    """
    if _tracer is None:
        return _NO_SPAN
    return _tracer.start_as_current_span(name, attributes=attributes)


def traced(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator form of `span`: one line above a service function, so its body needs no re-indenting.

    Whether tracing is on is looked up at each call, not at import: modules are imported before or after
    `tracing_configure` depending on the entry point.
    """

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if _tracer is None:
                return function(*args, **kwargs)
            with _tracer.start_as_current_span(name):
                return function(*args, **kwargs)

        return wrapper

    return decorate


def _service_name(role: str) -> str:
    return os.environ.get("OTEL_SERVICE_NAME", "").strip() or f"intellilog-{role}"


def _otlp_exporter() -> SpanExporter:
    # Imported only here: the grpc exporter pulls in grpcio, needed only by those who ask for it.
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or ""
    ).strip() or "http/protobuf"
    if protocol not in OTLP_PROTOCOLS:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"OTEL_EXPORTER_OTLP_PROTOCOL: expected {' or '.join(OTLP_PROTOCOLS)}, got {protocol!r}"
        )
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter()  # endpoint, headers, timeout: from the OTEL_EXPORTER_OTLP_* variables
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter()


def _without_orphan_client_spans(delegate: Sampler) -> Sampler:
    """``delegate`` (the sampler OTEL_TRACES_SAMPLER names), except that a trace never starts at a client call.

    A SQL statement or Redis command outside any request, task or named step is plumbing: beat's database
    scheduler polling, the readiness probe's ``SELECT 1`` and ``PING`` (its request span is excluded), a
    connection check. Each would otherwise be a one-span trace, several a second, burying the traces worth
    reading. Such calls inside a traced request or task are kept as usual.
    """
    # Defined here so that the module imports no OpenTelemetry code while tracing is off.
    from opentelemetry import trace
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

    class WithoutOrphanClientSpans(Sampler):
        def should_sample(
            self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None
        ) -> SamplingResult:
            has_parent = trace.get_current_span(parent_context).get_span_context().is_valid
            if kind is trace.SpanKind.CLIENT and not has_parent:
                return SamplingResult(Decision.DROP)
            return delegate.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

        def get_description(self) -> str:
            return f"WithoutOrphanClientSpans{{{delegate.get_description()}}}"

    return WithoutOrphanClientSpans()


def _excluded_urls() -> str | None:
    # None lets the instrumentation read its own variables, which win when set.
    if os.environ.get("OTEL_PYTHON_DJANGO_EXCLUDED_URLS") or os.environ.get("OTEL_PYTHON_EXCLUDED_URLS"):
        return None
    return DEFAULT_EXCLUDED_URLS


def tracing_configure(*, role: str, exporter: SpanExporter | None = None) -> bool:
    """Install tracing for this process when OTEL_ENABLED is true; returns whether tracing is on.

    ``role`` (web, worker, beat, manage) names the service when OTEL_SERVICE_NAME is unset. Spans go
    through a batching processor to the OTLP exporter; a given ``exporter`` (tests: an in-memory one) is
    called synchronously instead, so a test sees every span as soon as it ends. Call it before Django
    loads its middleware (the Django instrumentation adds one) and, in a forking server, in each child:
    the exporter's thread does not survive a fork. A second call changes nothing.
    """
    global _tracer, _provider
    if not env_bool("OTEL_ENABLED", False):
        return False
    with _lock:
        if _tracer is not None:
            return True
        from opentelemetry import trace
        from opentelemetry.instrumentation.celery import CeleryInstrumentor
        from opentelemetry.instrumentation.django import DjangoInstrumentor
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
        from opentelemetry.instrumentation.redis import RedisInstrumentor
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        processor = SimpleSpanProcessor(exporter) if exporter else BatchSpanProcessor(_otlp_exporter())
        # A provider built without a sampler resolves OTEL_TRACES_SAMPLER/_ARG (default: parent-based,
        # always on); that one is wrapped. Resource.create also merges OTEL_RESOURCE_ATTRIBUTES.
        configured_sampler = TracerProvider(shutdown_on_exit=False).sampler
        provider = TracerProvider(
            sampler=_without_orphan_client_spans(configured_sampler),
            resource=Resource.create({SERVICE_NAME: _service_name(role)}),
        )
        provider.add_span_processor(processor)
        # The global provider serves libraries that trace through the API on their own; it can be set once
        # per process, so the instrumentations below are handed this provider explicitly either way.
        if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            trace.set_tracer_provider(provider)
        django_instrumentor = DjangoInstrumentor()
        django_instrumentor.instrument(tracer_provider=provider, excluded_urls=_excluded_urls())
        others = [PsycopgInstrumentor(), RedisInstrumentor(), CeleryInstrumentor()]
        for instrumentor in others:
            instrumentor.instrument(tracer_provider=provider)
        _instrumentors[:] = [django_instrumentor, *others]
        _provider = provider
        _tracer = provider.get_tracer("intellilog")
    logger.info("tracing on: service %s, role %s", _service_name(role), role)
    return True


def tracing_shutdown() -> None:
    """Undo `tracing_configure`: remove the instrumentations and flush and stop the exporter (tests use it).

    The global provider, once set, stays for the life of the process (OpenTelemetry allows no reset), but
    with the instrumentations gone and `span` back to doing nothing, nothing reaches it from our code.
    """
    global _tracer, _provider
    with _lock:
        for instrumentor in reversed(_instrumentors):
            instrumentor.uninstrument()
        _instrumentors.clear()
        if _provider is not None:
            _provider.shutdown()
        _provider = None
        _tracer = None
