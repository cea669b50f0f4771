"""Fail points: a test names a step in ``DEEPIRI_FAILPOINTS`` (comma-separated) and a real
service process kills itself (SIGKILL, no clean-up) when it reaches that step, to prove what
a crash exactly there loses. Off unless set; settings refuse it in production."""

from __future__ import annotations

import os
import signal

ENV = "DEEPIRI_FAILPOINTS"


def active() -> frozenset[str]:
    return frozenset(p.strip() for p in os.environ.get(ENV, "").split(",") if p.strip())


_ACTIVE = active()


def crash_point(name: str) -> None:
    if name in _ACTIVE:
        os.kill(os.getpid(), signal.SIGKILL)
