"""A real browser for the system tests: Debian's chromium (installed by tools/bootstrap.sh),
driven by Playwright. Never a browser build that Playwright downloads."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Browser, sync_playwright

from support.loopback import LoopbackServer


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        raise RuntimeError("chromium is not installed: run `make tools` (tools/bootstrap.sh)")
    return path


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless chromium. Its sandbox needs user namespaces that root may not use here
    ("Chromium sandboxing failed!"), so as root it runs without one; it only ever opens our
    own pages on loopback."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), chromium_sandbox=os.geteuid() != 0
        )
        try:
            yield browser
        finally:
            browser.close()


class RedirectTarget:
    """An app's redirect URI on loopback: records where the browser landed and shows a page."""

    def __init__(self) -> None:
        self.landed: list[str] = []

        def respond(request: Any, _: bytes) -> tuple[int, str, bytes]:
            if not request.path.startswith("/callback"):
                return 404, "text/plain", b"not here"  # the browser's /favicon.ico
            self.landed.append(request.path)
            return 200, "text/html", b"<!doctype html><title>Signed in</title><h1>Signed in</h1>"

        self._server = LoopbackServer(respond)
        self.uri = f"{self._server.url}/callback"

    def close(self) -> None:
        self._server.close()
