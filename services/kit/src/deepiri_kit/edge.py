"""The outermost ASGI layer of every service: request id, RED metrics and the access log.

It sits outside Litestar's routing so that unknown routes (404) and errors raised before a
handler runs are counted and carry a request id too. Probe and scrape paths are left out of
metrics and logs so they do not drown the signal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from opentelemetry import trace

from deepiri_kit import metrics
from deepiri_kit.context import REQUEST_ID_HEADER, accept_or_new_request_id, request_id_var

ASGIApp = Any
access_log = logging.getLogger("deepiri.access")
UNMATCHED_ROUTE = "<unmatched>"


class Edge:
    def __init__(
        self, app: ASGIApp, *, quiet_paths: Iterable[str], access_log_enabled: bool = True
    ):
        self.app = app
        self.quiet_paths = frozenset(quiet_paths)
        self.access_log_enabled = access_log_enabled

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = accept_or_new_request_id(incoming)
        token = request_id_var.set(request_id)
        quiet = scope["path"] in self.quiet_paths
        status = 500
        trace_ids: dict[str, str] = {}
        header = (REQUEST_ID_HEADER.encode(), request_id.encode())

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
                # The server span is current here (we are inside the tracing middleware).
                ctx = trace.get_current_span().get_span_context()
                if ctx.is_valid:
                    trace_ids["trace_id"] = format(ctx.trace_id, "032x")
                    trace_ids["span_id"] = format(ctx.span_id, "016x")
            await send(message)

        method = scope["method"]
        start = time.perf_counter()
        if not quiet:
            metrics.HTTP_IN_FLIGHT.labels(method).inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if not quiet:
                elapsed = time.perf_counter() - start
                route = scope.get("path_template") or UNMATCHED_ROUTE
                metrics.HTTP_IN_FLIGHT.labels(method).dec()
                metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
                metrics.HTTP_DURATION.labels(method, route).observe(elapsed)
                if self.access_log_enabled:
                    access_log.info(
                        "%s %s %s",
                        method,
                        route,
                        status,
                        extra={
                            "http_method": method,
                            "route": route,
                            "status": status,
                            "duration_ms": round(elapsed * 1000, 2),
                            **trace_ids,
                        },
                    )
            request_id_var.reset(token)
