#!/usr/bin/env python3
"""Real datastores on loopback, for tests and local development.

    python tools/infra.py            # start Redis, FerretDB and InfluxDB; Ctrl-C stops them
    python tools/infra.py --print    # also print the environment services need

The pytest harness (tests/conftest.py) uses the same classes. Binaries come from
tools/bootstrap.sh (cached in $DEEPIRI_TOOLS, default ~/.cache/deepiri-tools/bin); a missing
binary is an error that says how to build it, never a skipped test.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

TOOLS_DIR = Path(os.environ.get("DEEPIRI_TOOLS", Path.home() / ".cache" / "deepiri-tools" / "bin"))
INFLUX_TOKEN = "deepiri-dev-token"  # noqa: S105 - a throwaway local server's token
INFLUX_ORG = "deepiri"
INFLUX_BUCKET = "activity"


class MissingBinary(RuntimeError):
    pass


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``preexec_fn`` for Popen: the child gets ``sig`` when the process that started it dies
    (Linux's parent-death signal), so a test run killed outright — SIGKILL, a CI timeout —
    leaves no server or service behind. Start children from the main thread: the signal
    fires when the *thread* that started the child ends. None where there is no prctl."""
    if _LIBC is None:
        return None
    libc, parent = _LIBC, os.getpid()

    def arm() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os.kill(os.getpid(), sig)

    return arm


# Kills the process groups it is told about once its stdin closes: when the process that
# started it exits or is killed outright (the pipe's other end goes with it).
_REAPER = """
import os, signal, sys
groups = set()
for line in sys.stdin:
    pgid = int(line)
    groups.discard(-pgid) if pgid < 0 else groups.add(pgid)
for pgid in groups:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
"""
_reaper: subprocess.Popen[str] | None = None


def _tell_reaper(line: str) -> None:
    global _reaper
    if _reaper is None or _reaper.poll() is not None:
        _reaper = subprocess.Popen(
            [sys.executable, "-c", _REAPER], stdin=subprocess.PIPE, text=True, bufsize=1
        )
    assert _reaper.stdin is not None
    _reaper.stdin.write(line + "\n")
    _reaper.stdin.flush()


def reap_group_with_us(pid: int) -> None:
    """Kill process group ``pid`` (a child started with ``start_new_session=True``, and every
    process it starts — uvicorn's workers) when this process ends, however it ends: a
    process with children of its own outlives a parent-death signal sent to it alone."""
    _tell_reaper(str(pid))


def forget_group(pid: int) -> None:
    """Group ``pid`` has been stopped: the reaper leaves it (and a reused id) alone."""
    if _reaper is not None and _reaper.poll() is None:
        _tell_reaper(str(-pid))


def find_binary(name: str) -> str:
    candidate = TOOLS_DIR / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise MissingBinary(
        f"{name} not found in {TOOLS_DIR} or on PATH. Build the test servers with "
        f"`bash tools/bootstrap.sh` (or `make tools`)."
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


class Server:
    """One server process on a fixed loopback port with its own data directory. ``stop`` and
    ``start`` keep port and data, so tests can take a dependency away and bring it back."""

    name = "server"
    binary = ""
    start_timeout = 20.0

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root / self.name
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.root / "server.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def after_start(self) -> None:
        """Hook for one-time set-up once the port answers."""

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        command = self.command()
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            preexec_fn=die_with_parent(),
        )
        try:
            wait_for_port(self.port, self.start_timeout, self.proc)
            self.after_start()
        except Exception as exc:
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(
                f"{self.name} failed to start: {exc}\n--- log tail ---\n{tail}"
            ) from exc

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: the process dies without a chance to flush or clean up."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def env(self) -> dict[str, str]:
        return {}


class RedisServer(Server):
    """Redis as the chart runs it: the bus is durable through the append-only file.

    ``appendfsync everysec``: each write is in the AOF at once and fsynced within a second, so
    a crashed *process* loses nothing (the kernel still has the writes) and a crashed *host*
    loses at most the last second. ``always`` would fsync before every reply and cost a disk
    flush per publish; the second it could save is covered by producers replaying their
    unconfirmed events after any Redis restart (deepiri_kit.events.replay).
    """

    name = "redis"

    def command(self) -> list[str]:
        return [
            find_binary("redis-server"),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.root),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--protected-mode",
            "yes",
        ]

    def wipe(self) -> None:
        """Delete the data (call while stopped): the next start is an empty Redis."""
        shutil.rmtree(self.root / "appendonlydir", ignore_errors=True)
        (self.root / "dump.rdb").unlink(missing_ok=True)

    def env(self) -> dict[str, str]:
        return {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(self.port)}


class FerretDBServer(Server):
    """MongoDB wire protocol (FerretDB 1.24 on SQLite); see tools/ferretdb/main.go."""

    name = "ferretdb"

    def command(self) -> list[str]:
        return [
            find_binary("ferretdb"),
            "-listen",
            f"127.0.0.1:{self.port}",
            "-dir",
            str(self.root / "data"),
            "-log-level",
            "error",
        ]

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def env(self) -> dict[str, str]:
        return {"MONGO_URI": self.uri}


class InfluxServer(Server):
    """InfluxDB OSS 2.9 (v2 API), set up once with an org, a bucket and a token."""

    name = "influxdb"
    start_timeout = 60.0

    def command(self) -> list[str]:
        return [
            find_binary("influxd"),
            "--reporting-disabled",
            "--http-bind-address",
            f"127.0.0.1:{self.port}",
            "--bolt-path",
            str(self.root / "influxd.bolt"),
            "--engine-path",
            str(self.root / "engine"),
            "--sqlite-path",
            str(self.root / "influxd.sqlite"),
            "--log-level",
            "error",
        ]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def after_start(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/setup", timeout=2) as response:  # noqa: S310
                    allowed = json.load(response).get("allowed", False)
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        if not allowed:
            return  # already set up (a restart keeps its data)
        body = json.dumps(
            {
                "username": "deepiri",
                "password": "deepiri-local-only",
                "org": INFLUX_ORG,
                "bucket": INFLUX_BUCKET,
                "token": INFLUX_TOKEN,
            }
        ).encode()
        request = urllib.request.Request(  # noqa: S310
            f"{self.url}/api/v2/setup", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass

    def env(self) -> dict[str, str]:
        return {
            "INFLUXDB_URL": self.url,
            "INFLUXDB_TOKEN": INFLUX_TOKEN,
            "INFLUXDB_ORG": INFLUX_ORG,
            "INFLUXDB_BUCKET": INFLUX_BUCKET,
        }


SERVERS: dict[str, type[Server]] = {
    "redis": RedisServer,
    "ferretdb": FerretDBServer,
    "influxdb": InfluxServer,
}
DEV_PORTS = {"redis": 6379, "ferretdb": 27017, "influxdb": 8086}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, default=None, help="data directory (default: a temp dir)"
    )
    parser.add_argument("--print", action="store_true", help="print the services' environment")
    parser.add_argument(
        "--free-ports", action="store_true", help="use free ports, not the defaults"
    )
    args = parser.parse_args(argv)
    root = args.data or Path(tempfile.mkdtemp(prefix="deepiri-infra-"))
    servers: list[Server] = [
        cls(root, None if args.free_ports else DEV_PORTS[name]) for name, cls in SERVERS.items()
    ]
    env: dict[str, Any] = {}
    try:
        for server in servers:
            server.start()
            env.update(server.env())
            print(
                f"{server.name:9} listening on 127.0.0.1:{server.port}  (data: {server.root})",
                flush=True,
            )
        if args.print:
            print("\n".join(f"export {k}={v}" for k, v in env.items()), flush=True)
        print("infra is up; Ctrl-C stops it", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    except (MissingBinary, RuntimeError) as exc:
        print(f"infra: {exc}", file=sys.stderr)
        return 1
    finally:
        for server in reversed(servers):
            server.stop()
    return 0


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    sys.exit(main())
