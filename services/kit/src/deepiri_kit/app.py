"""The app factory every service is built with.

``create_app`` wires, in the same way for all nine services: problem-details errors, the
edge layer (request id, RED metrics, access log), OpenTelemetry, bearer-token auth with
scope guards, Idempotency-Key handling (services with MongoDB), ``/health``, ``/livez`` and
``/metrics`` at the root, the API and its OpenAPI document under the public prefix, and a
lifespan that opens the clients, runs the service's own set-up and supervises its workers.

Two hooks serve long-lived connections (websocket-service's Socket.IO): ``mounts`` hands
exact paths to another ASGI app before routing (HTTP and WebSocket), and ``Wiring.drain``
runs on SIGTERM *before* the server closes its connections, bounded by
``Wiring.drain_seconds``, while readiness answers 503 ``draining``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, Request, Response, Router, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from litestar.types import ASGIApp, ControllerRouterHandler

from deepiri_kit.auth import BearerAuthMiddleware
from deepiri_kit.context import current_request_id
from deepiri_kit.edge import Edge
from deepiri_kit.health import Check, readiness, worker_checks
from deepiri_kit.inbound import Inbound
from deepiri_kit.logs import configure_logging
from deepiri_kit.metrics import render_latest
from deepiri_kit.openapi import ModelSchemaPlugin, document_responses
from deepiri_kit.platform import Platform, retry_startup
from deepiri_kit.problems import EXCEPTION_HANDLERS
from deepiri_kit.retry import RetryBusyMiddleware
from deepiri_kit.settings import MongoSettings, RedisSettings, ServiceSettings, redacted
from deepiri_kit.tracing import configure_tracing
from deepiri_kit.workers import Periodic, Worker, supervise

log = logging.getLogger("deepiri.app")
OPS_PATHS = ("/health", "/livez", "/metrics")
CONVENTIONS = (
    "Conventions of every Deepiri API: errors are RFC 9457 problem documents "
    '(application/problem+json); integers are JSON integers (2, never 2.0 or "2"); unknown '
    "query parameters and body fields are refused with a 400 naming them; ObjectId-style ids "
    "are accepted in any case and answered in lower case."
)


@dataclass
class Wiring:
    """What a service's set-up hands back: objects for ``app.state`` (and so for dependency
    injection via :func:`from_state`), workers to supervise, and extra readiness checks."""

    state: dict[str, Any] = field(default_factory=dict)
    workers: list[Worker] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    # Collections whose documents carry idempotency.stamp() (see idempotency.py): a retry
    # after a crash looks there before it would run a keyed request again.
    stamped: list[Any] = field(default_factory=list)
    # Runs on SIGTERM before the server stops (long-lived connections told to go elsewhere);
    # the server's own shutdown follows when it returns or after ``drain_seconds``.
    drain: Callable[[], Awaitable[None]] | None = None
    drain_seconds: float = 10.0


Setup = Callable[[Platform], AbstractAsyncContextManager[Wiring]]


@asynccontextmanager
async def no_setup(_: Platform) -> AsyncIterator[Wiring]:
    yield Wiring()


def from_state(name: str) -> Provide:
    """Dependency that injects ``app.state[name]`` (placed there by the service's set-up)."""

    def provide(state: State) -> Any:
        return state[name]

    provide.__name__ = f"provide_{name}"
    return Provide(provide, sync_to_thread=False)


class ServiceApp(Litestar):
    """Litestar with the edge layer outside routing, so 404s are counted and carry ids too,
    and ``mounts``: exact paths served by another ASGI app (HTTP and WebSocket)."""

    def __init__(
        self, *args: Any, mounts: Mapping[str, ASGIApp] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._edge = Edge(functools.partial(Litestar.__call__, self), quiet_paths=OPS_PATHS)
        self._mounts = dict(mounts or {})

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        mounted = self._mounts.get(scope.get("path", "")) if self._mounts else None
        if mounted is not None and scope["type"] in ("http", "websocket"):
            await mounted(scope, receive, send)
        elif scope["type"] == "http":
            await self._edge(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


@get("/health", opt={"public": True}, include_in_schema=False)
async def health(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    platform: Platform = request.app.state.platform
    if request.app.state.get("draining"):
        return Response({"status": "draining"}, status_code=503)
    checks = [*platform.checks, *request.app.state.get("extra_checks", [])]
    ok, body = await readiness(checks, platform.settings.health_timeout_seconds)
    return Response(body, status_code=200 if ok else 503)


@get("/livez", opt={"public": True}, include_in_schema=False)
async def livez() -> dict[str, str]:
    return {"status": "alive"}


@get("/metrics", opt={"public": True}, include_in_schema=False)
async def prometheus_metrics() -> Response[bytes]:
    body, content_type = render_latest()
    return Response(body, media_type=content_type)


def create_app(
    settings: ServiceSettings,
    *,
    prefix: str,
    title: str,
    route_handlers: Sequence[ControllerRouterHandler],
    description: str = "",
    version: str = "0.1.0",
    setup: Setup = no_setup,
    dependencies: Mapping[str, Provide] | None = None,
    extra_routes: Sequence[ControllerRouterHandler] = (),
    mounts: Mapping[str, ASGIApp] | None = None,
) -> Litestar:
    configure_logging(settings.service_name, settings.log_level)
    # Before any client exists: pymongo's instrumentation only sees clients created later.
    configure_tracing(settings.service_name, version)

    middleware = [
        DefineMiddleware(
            BearerAuthMiddleware, exclude=[f"^{prefix}/schema"], exclude_from_auth_key="public"
        )
    ]
    if isinstance(settings, RedisSettings) and settings.rate_limit_per_minute > 0:
        from deepiri_kit.ratelimit import RateLimitMiddleware

        middleware.append(
            DefineMiddleware(RateLimitMiddleware, exempt=OPS_PATHS)  # type: ignore[arg-type]
        )
    if isinstance(settings, MongoSettings):
        from deepiri_kit.idempotency import IdempotencyMiddleware

        middleware.append(
            DefineMiddleware(
                IdempotencyMiddleware,  # type: ignore[arg-type]
                max_body_bytes=settings.max_body_bytes,
                abandoned_after=settings.idempotency_abandoned_after_seconds,
            )
        )
    middleware.append(DefineMiddleware(RetryBusyMiddleware))  # type: ignore[arg-type]

    otel = OpenTelemetryConfig(
        exclude=[f"^{p}$" for p in OPS_PATHS],
        server_request_hook_handler=_tag_request_id,
        exclude_spans=["receive", "send"],  # one span per request, not three
    )
    openapi = OpenAPIConfig(
        title=title,
        version=version,
        description=f"{description}\n\n{CONVENTIONS}".strip(),
        path=f"{prefix}/schema",
        components=Components(
            security_schemes={
                "BearerAuth": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="JWT",
                    description="RFC 9068 access token issued by user-service",
                )
            }
        ),
        security=[{"BearerAuth": []}],
        use_handler_docstrings=True,
    )
    api = Router(
        path=prefix, route_handlers=list(route_handlers), dependencies=dict(dependencies or {})
    )
    inbound = Inbound()
    app = ServiceApp(
        route_handlers=[health, livez, prometheus_metrics, api, *extra_routes],
        middleware=middleware,
        plugins=[OpenTelemetryPlugin(otel), ModelSchemaPlugin()],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=openapi,
        lifespan=[functools.partial(_lifespan, settings=settings, setup=setup)],
        request_max_body_size=settings.max_body_bytes,
        logging_config=None,  # ours (JSON, with ids) is configured above; keep Litestar's off
        before_request=inbound,
        mounts=mounts,
    )
    inbound.learn(app)
    document_responses(app)
    return app


def _tag_request_id(span: Any, _scope: Any) -> None:
    request_id = current_request_id()
    if request_id and span.is_recording():
        span.set_attribute("deepiri.request_id", request_id)


@asynccontextmanager
async def _lifespan(
    app: Litestar, *, settings: ServiceSettings, setup: Setup
) -> AsyncIterator[None]:
    log.info("starting", extra={"settings": redacted(settings)})
    platform = await Platform.open(settings)
    app.state.platform = platform
    app.state.token_verifier = platform.tokens
    try:
        if platform.mongo is not None:
            from deepiri_kit.data.mongo import ensure_indexes
            from deepiri_kit.idempotency import INDEXES

            records = platform.mongo["idempotency_keys"]
            app.state.idempotency_records = records
            await retry_startup(
                lambda: ensure_indexes(records, INDEXES), what="idempotency indexes"
            )
        async with setup(platform) as wiring:
            for key, value in wiring.state.items():
                app.state[key] = value
            app.state.idempotency_stamped = wiring.stamped
            if wiring.stamped:
                from deepiri_kit.data.mongo import ensure_indexes
                from deepiri_kit.idempotency import STAMP_INDEX

                for collection in wiring.stamped:
                    await retry_startup(
                        functools.partial(ensure_indexes, collection, [STAMP_INDEX]),
                        what="idempotency stamp index",
                    )
            workers = [*wiring.workers, *_housekeeping(app)]
            app.state.extra_checks = [*wiring.checks, *worker_checks(workers)]
            stop = asyncio.Event()
            tasks = [asyncio.create_task(supervise(w, stop), name=w.name) for w in workers]
            restore = _drain_on_sigterm(app, wiring) if wiring.drain is not None else None
            try:
                yield
            finally:
                if restore is not None:
                    restore()
                stop.set()
                if tasks:
                    _, still_running = await asyncio.wait(tasks, timeout=10)
                    for task in still_running:
                        task.cancel()
    finally:
        await platform.close()
        log.info("stopped")


def _drain_on_sigterm(app: Litestar, wiring: Wiring) -> Callable[[], None] | None:
    """Put ``wiring.drain`` in front of the server's own SIGTERM handling (uvicorn's, which
    closes every connection at once): the first SIGTERM starts the drain and hands the signal
    on when it ends or after ``drain_seconds``; a second one is handed on at once. Returns
    what restores the previous handler (None where signals cannot be caught: not the main
    thread)."""
    drain = wiring.drain
    assert drain is not None
    if threading.current_thread() is not threading.main_thread():
        return None
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGTERM)
    running: set[asyncio.Task[None]] = set()

    def hand_on(signum: int) -> None:
        if callable(previous):
            previous(signum, None)
        else:  # nobody else handles it: the default is to exit
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.raise_signal(signum)

    async def drain_then_hand_on(signum: int) -> None:
        log.info("SIGTERM: draining for up to %.0fs", wiring.drain_seconds)
        try:
            async with asyncio.timeout(wiring.drain_seconds):
                await drain()
        except TimeoutError:
            log.warning("drain not finished after %.0fs; stopping", wiring.drain_seconds)
        except Exception:
            log.exception("drain failed; stopping")
        hand_on(signum)

    def on_sigterm(signum: int, _frame: Any) -> None:
        if app.state.get("draining"):
            hand_on(signum)
            return
        app.state.draining = True
        # Signal handlers run between bytecodes of the loop's thread: schedule, do not await.
        loop.call_soon_threadsafe(
            lambda: running.add(loop.create_task(drain_then_hand_on(signum), name="drain"))
        )

    signal.signal(signal.SIGTERM, on_sigterm)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def _housekeeping(app: Litestar) -> list[Worker]:
    records = app.state.get("idempotency_records")
    if records is None:
        return []
    from deepiri_kit.idempotency import prune

    return [Periodic("idempotency-pruner", 3600.0, functools.partial(prune, records))]
