"""Servers a test disturbs: its own (tools/infra.py), so stopping, pausing or wiping them
touches nobody else's, and pausing one for a block."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TypeVar

import pytest

from infra import FerretDBServer, InfluxServer, MissingBinary, RedisServer, Server

S = TypeVar("S", bound=Server)


class OwnServers:
    """Redis, FerretDB and InfluxDB, each started on first use and stopped (after being
    resumed, if paused) by :meth:`close`: the session's servers, or a test's own."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.started: list[Server] = []

    def _start(self, server: S) -> S:
        try:
            server.start()
        except MissingBinary as exc:
            pytest.fail(str(exc), pytrace=False)
        self.started.append(server)
        return server

    @cached_property
    def redis(self) -> RedisServer:
        return self._start(RedisServer(self.root))

    @cached_property
    def mongo(self) -> FerretDBServer:
        return self._start(FerretDBServer(self.root))

    @cached_property
    def influx(self) -> InfluxServer:
        return self._start(InfluxServer(self.root))

    def close(self) -> None:
        for server in reversed(self.started):
            if server.proc is not None:
                server.proc.send_signal(signal.SIGCONT)
            server.stop()


@contextmanager
def paused(server: Server) -> Iterator[None]:
    """SIGSTOP ``server`` for the block (a hung, not a dead, dependency); always resumed."""
    assert server.proc is not None
    server.proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        server.proc.send_signal(signal.SIGCONT)
