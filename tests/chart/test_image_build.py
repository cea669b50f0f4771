"""No container engine here, so the image build is replayed on the host instead: the
Dockerfile's build-stage RUN steps run as written (paths mapped into a temp dir, COPY sources
mapped back to the repository), then the image's ENV, WORKDIR and CMD start the service
against the harness's Redis and FerretDB. This proves the locked requirements install from
wheels with hashes, the non-editable install of kit + service is complete, the CMD serves
/health, and running writes nothing into the app's virtualenv (read-only root filesystem)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from infra import FerretDBServer, RedisServer, forget_group, free_port, reap_group_with_us
from support.charts import ROOT, chart_values, dockerfile, existing_services, instructions
from support.processes import harness_env
from support.tokens import TokenIssuer

pytestmark = [pytest.mark.chart, pytest.mark.system, pytest.mark.slow]


def stages(service: str) -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for word, args in instructions(dockerfile(service)):
        if word == "FROM":
            out.append([])
        elif out:
            out[-1].append((word, args))
    return out


def replay_build(service: str, root: Path) -> Path:
    """Run the build stage; returns the host path standing for the image's /opt/deepiri."""
    build = stages(service)[0]
    copies: dict[str, str] = {}
    for word, args in build:
        if word == "COPY":
            src, dst = args.split()
            copies[dst] = str(ROOT / src)
    for word, args in build:
        if word != "RUN":
            continue
        command = args
        for dst, src in sorted(copies.items(), key=lambda kv: -len(kv[0])):
            command = command.replace(dst, src)
        command = command.replace("/opt/deepiri", str(root / "opt" / "deepiri"))
        argv = shlex.split(command)
        if argv[0] == "python":
            argv[0] = sys.executable if sys.version_info[:2] == (3, 11) else "python3.11"
        elif argv[0] == "pip":
            argv = [sys.executable, "-m", "pip", "--disable-pip-version-check", *argv[1:]]
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env={**os.environ, "PIP_NO_CACHE_DIR": "0"},
        )
        assert proc.returncode == 0, f"RUN {args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return root / "opt" / "deepiri"


def snapshot(path: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in path.rglob("*") if not p.is_symlink()}


@pytest.fixture
def image_env(
    redis_server: RedisServer, mongo_server: FerretDBServer, issuer: TokenIssuer, db_name: str
) -> dict[str, str]:
    return {
        **harness_env(redis_server, mongo_server, issuer, db_name),
        "DEEPIRI_ENV": "test",
        "WEB_CONCURRENCY": "2",
    }


@pytest.mark.parametrize("service", existing_services())
def test_image_command_serves_from_a_replayed_build(
    service: str, image_env: dict[str, str], tmp_path: Path
) -> None:
    start = time.perf_counter()
    app = replay_build(service, tmp_path)
    print(f"\nreplayed the build stage of {service} in {time.perf_counter() - start:.1f}s")
    prefix = chart_values()[service]["prefix"]
    final = stages(service)[-1]
    env = {"PATH": f"{app / 'bin'}:/usr/bin:/bin"}
    for word, args in final:
        if word == "ENV":
            for key, value in re.findall(r"(\w+)=(\S+)", args):
                env[key] = value.replace("$PATH", env["PATH"]).replace("/opt/deepiri", str(app))
    tmp = tmp_path / "container-tmp"
    tmp.mkdir()
    env.update(HOME=str(tmp), TMPDIR=str(tmp))
    port = free_port()
    env.update(image_env, PORT=str(port))
    cmd = json.loads([args for word, args in final if word == "CMD"][-1])
    cmd[0] = str(app / "bin" / cmd[0])
    before = snapshot(app)
    log = (tmp_path / "service.log").open("wb")
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=tmp,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # killed with its workers if the test run dies
    )
    reap_group_with_us(proc.pid)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "service.log").read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "service.log").read_text()[-3000:]
            time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{port}{prefix}/schema/openapi.json").status_code == 200
        assert "http_server_requests_total" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        forget_group(proc.pid)
    assert snapshot(app) == before, "the service wrote into its virtualenv"
    site = next((app / "lib").glob("python3.*/site-packages"))
    installed = {p.name.split("-")[0].lower() for p in site.glob("*.dist-info")}
    assert {"deepiri_kit", service.replace("-", "_")} <= installed
    assert not {"pytest", "ruff", "mypy", "hatchling", "pip"} & installed, (
        "dev tools leaked into the image"
    )
