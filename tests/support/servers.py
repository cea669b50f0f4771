"""Helpers for tests that disturb the harness's servers (tools/infra.py)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

from infra import Server


@contextmanager
def paused(server: Server) -> Iterator[None]:
    """SIGSTOP ``server`` for the block (a hung, not a dead, dependency); always resumed."""
    assert server.proc is not None
    server.proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        server.proc.send_signal(signal.SIGCONT)
