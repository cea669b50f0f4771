"""Prometheus metrics: RED per route template plus a registry for business metrics.

Works with several uvicorn workers: when PROMETHEUS_MULTIPROC_DIR is set (``serve`` sets it
for ``WEB_CONCURRENCY`` > 1), every worker writes its samples there and ``/metrics`` merges
them, so any worker answering a scrape reports the whole pod.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

_created: dict[str, Any] = {}

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


M = TypeVar("M", Counter, Histogram, Gauge)


def _once(name: str, make: Callable[[], M]) -> M:
    """The metric called ``name``, made on first use: several apps in one process (tests)
    share it, since Prometheus refuses a name registered twice."""
    if name not in _created:
        _created[name] = make()
    metric: M = _created[name]
    return metric


def counter(name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
    return _once(name, lambda: Counter(name, documentation, list(labels)))


def histogram(
    name: str,
    documentation: str,
    labels: Sequence[str] = (),
    buckets: Sequence[float] = LATENCY_BUCKETS,
) -> Histogram:
    return _once(name, lambda: Histogram(name, documentation, list(labels), buckets=list(buckets)))


def gauge(
    name: str,
    documentation: str,
    labels: Sequence[str] = (),
    multiprocess_mode: Literal[
        "all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum", "mostrecent"
    ] = "livesum",
) -> Gauge:
    return _once(
        name,
        lambda: Gauge(name, documentation, list(labels), multiprocess_mode=multiprocess_mode),
    )


HTTP_REQUESTS = counter(
    "http_server_requests_total",
    "HTTP requests handled, by route template and status code.",
    ("method", "route", "status"),
)
HTTP_DURATION = histogram(
    "http_server_request_duration_seconds",
    "Time from request start to the last response byte, by route template.",
    ("method", "route"),
)
HTTP_IN_FLIGHT = gauge(
    "http_server_requests_in_flight", "Requests being handled right now.", ("method",)
)


def render_latest() -> tuple[bytes, str]:
    registry: CollectorRegistry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


__all__ = ["LATENCY_BUCKETS", "counter", "gauge", "histogram", "render_latest"]
