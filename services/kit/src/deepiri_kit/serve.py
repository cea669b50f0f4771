"""Start a service: ``python -m <service>`` calls :func:`run` (the image's CMD and the
command the system tests use are the same)."""

from __future__ import annotations

import os
import sys
import tempfile

import uvicorn

from deepiri_kit.settings import ServiceSettings, SettingsError, load_settings


def run(factory: str, settings_type: type[ServiceSettings], *, ws: str = "none") -> None:
    """Serve ``factory``'s app with uvicorn. ``ws`` names uvicorn's WebSocket protocol
    ("websockets-sansio" for a service that accepts WebSockets; "none" refuses them)."""
    try:
        # Validate the environment once, before forking workers, and fail with every reason.
        settings = load_settings(settings_type)
    except SettingsError as exc:
        print(f"{settings_type.__module__}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if settings.web_concurrency > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Workers share metrics through files; set before any worker imports prometheus_client.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="prometheus-")
    uvicorn.run(
        factory,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.web_concurrency,
        loop="uvloop",
        http="deepiri_kit.http_protocol:ProblemHttpToolsProtocol",  # 400s as problems
        ws=ws,
        lifespan="on",
        access_log=False,
        log_config=None,
        proxy_headers=True,
        # Only these peers may say who the client is (X-Forwarded-For); never "*".
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=20,
        server_header=False,
    )
