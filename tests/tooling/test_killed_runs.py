"""A test run killed outright (SIGKILL: a CI timeout, the OOM killer) leaves nothing running.
Fixture teardown never runs then, so the harness's servers and service processes die with
the pytest process that started them (``infra.die_with_parent``: Linux's parent-death
signal), uvicorn's worker processes included."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from known_services import ROOT
from support.waiting import wait_for

pytestmark = [pytest.mark.system, pytest.mark.slow]

# The session that gets killed: the shared fixtures start Redis, FerretDB and a service with
# two uvicorn workers, then it says so and waits to be killed.
HOLD = """
import json, os, time

def test_hold(session_servers, service_process):
    servers = [session_servers.redis, session_servers.mongo]
    service_process("task-service", workers=2)
    path = os.environ["DEEPIRI_HOLD_READY"]
    with open(path + ".tmp", "w") as handle:
        json.dump([server.proc.pid for server in servers], handle)
    os.rename(path + ".tmp", path)
    time.sleep(600)
"""


def children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> set[int]:
    tree, found, todo = children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan waiting for init to reap it is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_a_killed_run_leaves_no_server_or_service_running(tmp_path: Path) -> None:
    test = tmp_path / "test_hold.py"
    test.write_text(HOLD)
    ready = tmp_path / "ready.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT / "tools")]),
        "DEEPIRI_HOLD_READY": str(ready),
    }
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        env.pop(name, None)
    # tests/conftest.py as a plugin: the same fixtures, in a session of its own.
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest"]
    log = (tmp_path / "inner.log").open("wb")
    inner = subprocess.Popen(
        [*command, "--basetemp", str(tmp_path / "inner"), "--rootdir", str(tmp_path), str(test)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def started() -> bool:
            assert inner.poll() is None, (tmp_path / "inner.log").read_text()[-3000:]
            return ready.exists()

        wait_for(started, timeout=240, what="the inner session's servers and service")
        servers = json.loads(ready.read_text())
        everything = descendants(inner.pid)
        # Redis, FerretDB, the service and its two workers (and their helpers).
        assert set(servers) <= everything
        assert len(everything) >= 5, everything
    finally:
        inner.send_signal(signal.SIGKILL)
        inner.wait()

    wait_for(
        lambda: not any(running(pid) for pid in everything),
        what=f"every process of the killed run gone ({sorted(everything)})",
    )
