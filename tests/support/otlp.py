"""A local OTLP/HTTP trace receiver: services export to it exactly as they would to a
collector, and tests read back the spans (decoded with the official protobuf types)."""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from support.loopback import LoopbackServer
from support.waiting import PATIENCE


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, Any] = field(default_factory=dict)


class OTLPReceiver:
    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        self._server = LoopbackServer(self._respond)

    @property
    def endpoint(self) -> str:
        return self._server.url

    def env(self) -> dict[str, str]:
        """What a service needs to export here, flushing quickly."""
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.endpoint,
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }

    def wait_for(self, predicate: Any, timeout: float = PATIENCE) -> list[ReceivedSpan]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = [s for s in self.spans if predicate(s)]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(
            f"no matching span within {timeout}s; have "
            f"{[(s.name, s.trace_id, s.parent_span_id, s.kind) for s in self.spans]}"
        )

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        with self._lock:
            return [s for s in self.spans if s.trace_id == trace_id]

    def close(self) -> None:
        self._server.close()

    def _record(self, request: ExportTraceServiceRequest) -> None:
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            service=str(resource.get("service.name", "")),
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            kind=span.kind,
                            attributes={a.key: _value(a.value) for a in span.attributes},
                        )
                    )
        with self._lock:
            self.spans.extend(received)

    def _respond(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, str, bytes]:
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if request.path == "/v1/traces":
            export = ExportTraceServiceRequest()
            export.ParseFromString(body)
            self._record(export)
        return 200, "application/x-protobuf", ExportTraceServiceResponse().SerializeToString()


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None
