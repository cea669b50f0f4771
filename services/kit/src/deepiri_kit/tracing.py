"""OpenTelemetry set-up from the standard ``OTEL_*`` environment.

Spans export over OTLP/HTTP when an endpoint is configured (``OTEL_EXPORTER_OTLP_ENDPOINT``
or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) or ``OTEL_TRACES_EXPORTER`` says so; otherwise
the provider still exists so logs carry trace ids. Instrumentation of httpx, pymongo and
redis is installed here, before any client is created (pymongo registers a global listener
that only sees clients created after it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

_provider: TracerProvider | None = None


def configure_tracing(service_name: str, service_version: str = "0.1.0") -> TracerProvider:
    """Install the process-wide tracer provider once; later calls return the same one."""
    global _provider
    if _provider is not None:
        return _provider
    # Resource.create merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME over these.
    resource = Resource.create({"service.name": service_name, "service.version": service_version})
    provider = TracerProvider(resource=resource)
    exporter = _exporter_from_env()
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _instrument_libraries()
    _provider = provider
    return provider


def _exporter_from_env() -> Any:
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    choice = os.environ.get("OTEL_TRACES_EXPORTER", "").lower()
    endpoint_set = any(
        os.environ.get(v)
        for v in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    if choice == "console":
        return ConsoleSpanExporter()
    if choice == "otlp" or (choice == "" and endpoint_set):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    return None


def _instrument_libraries() -> None:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument()
    try:  # optional extras: only services that talk to MongoDB/Redis install them
        from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
    except ImportError:
        pass
    else:
        PymongoInstrumentor().instrument()
    try:
        from opentelemetry.instrumentation.redis import RedisInstrumentor
    except ImportError:
        pass
    else:
        RedisInstrumentor().instrument()


def inject_traceparent() -> dict[str, str]:
    """The current trace context as W3C headers, to carry by hand (events, socket payloads)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from(carrier: Mapping[str, str | None]) -> Any:
    return propagate.extract({k: v for k, v in carrier.items() if v})


def origin_fields() -> dict[str, str]:
    """The current trace context, to store with a record whose consequences are decided or
    published later, by whichever process gets to them (``{}`` outside any trace)."""
    carrier = inject_traceparent()
    return {k: carrier[k] for k in ("traceparent", "tracestate") if carrier.get(k)}


@contextmanager
def resumed(carrier: Mapping[str, Any] | None) -> Iterator[None]:
    """Make the trace context stored in ``carrier`` (``traceparent``/``tracestate``, e.g.
    :func:`origin_fields` kept on a record) the current one: whatever is done and announced
    inside belongs to the action that caused the record, not to whoever finishes it (another
    writer's consumer, a sweep, a replay). Without a stored context, nothing changes."""
    if not carrier or not carrier.get("traceparent"):
        yield
        return
    token = otel_context.attach(
        context_from(
            {"traceparent": carrier.get("traceparent"), "tracestate": carrier.get("tracestate")}
        )
    )
    try:
        yield
    finally:
        otel_context.detach(token)


def untraced() -> AbstractContextManager[None]:
    """For background polling (probes, stream reads, outbox sweeps): a span per poll would
    bury real traces in empty root spans. What a poll *finds* is traced as usual."""
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    return suppress_instrumentation()


def tracer(name: str = "deepiri") -> trace.Tracer:
    return trace.get_tracer(name)
