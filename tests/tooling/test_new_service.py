"""`make new-service` in a scratch copy of the repository: the generated services pass lint,
types and the import contracts unchanged, and so do their own tests, the checks that every
place lists them, the docs checks, and the packaging checks that concern them (images,
skaffold, Tilt, helm lint/render/schemas/golden files, NetworkPolicies and datastores, and the
image build replayed and serving /health).

That is the part of `make test` that covers everything the generator writes; the rest of
`make test` (the other services', the kit's and the system tests, checkov over the renders,
sizing) does not read a new service's files, and running all of it again in a copy would
double CI's time. Two services are generated: one whose chart entry already exists
(switched off) and one the chart has never heard of.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra import die_with_parent
from known_services import ROOT, services

pytestmark = pytest.mark.slow
TOOLS = Path(os.environ.get("DEEPIRI_TOOLS", Path.home() / ".cache" / "deepiri-tools" / "bin"))


def planned_service() -> tuple[str, str, str]:
    """The first service the chart plans (entry switched off) that has no code yet."""
    values = yaml.safe_load((ROOT / "charts" / "deepiri" / "values.yaml").read_text())
    aliases = [
        d["alias"]
        for d in yaml.safe_load((ROOT / "charts" / "deepiri" / "Chart.yaml").read_text())[
            "dependencies"
        ]
    ]
    existing = {s.name for s in services()}
    for alias in aliases:
        entry = values.get(alias) or {}
        if (
            not entry.get("enabled")
            and alias not in existing
            and entry.get("datastores") == ["mongo", "redis"]
        ):
            return alias.removesuffix("-service"), str(entry["port"]), entry["prefix"]
    pytest.fail("no planned service left to generate: pick another name here")


NEW = [
    planned_service(),  # its chart entry exists, switched off
    ("sample", "5090", "/api/sample"),  # a service the chart does not list yet
]


def scratch_copy(target: Path) -> Path:
    """The working tree as git sees it (tracked and new files, not ignored ones), committed
    in a fresh repository: what a developer's checkout would hold."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    target.mkdir()
    pack = subprocess.Popen(
        ["tar", "--null", "-T", "-", "-cf", "-"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    unpack = subprocess.Popen(["tar", "-xf", "-"], cwd=target, stdin=pack.stdout)
    assert pack.stdin is not None
    pack.stdin.write(files)
    pack.stdin.close()
    assert unpack.wait(timeout=120) == 0
    assert pack.wait(timeout=120) == 0
    git(target, "init", "-q")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "scratch")
    return target


def git(root: Path, *args: str) -> None:
    identity = ["-c", "user.email=scratch@deepiri.test", "-c", "user.name=scratch"]
    subprocess.run(["git", *identity, "-c", "commit.gpgsign=false", *args], cwd=root, check=True)


def step(root: Path, env: dict[str, str], *cmd: str, timeout: float = 1200) -> str:
    proc = subprocess.run(
        list(cmd),
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        preexec_fn=die_with_parent(),  # the inner pytest (and so its servers) dies with us
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{output[-6000:]}"
    return output


def test_generated_services_pass_lint_types_contracts_and_their_tests(tmp_path: Path) -> None:
    root = scratch_copy(tmp_path / "repo")
    python = sys.executable
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(TOOLS), str(Path(python).parent), os.environ["PATH"]]),
        "DEEPIRI_TOOLS": str(TOOLS),
    }
    env.pop("PYTHONPATH", None)
    for name, port, prefix in NEW:
        step(
            root,
            env,
            python,
            "tools/new_service.py",
            "--name",
            name,
            "--port",
            port,
            "--prefix",
            prefix,
        )
    git(root, "add", "-A")
    sources = sorted((root / "services").glob("*/src"))
    # The scratch copy's packages, not the editable installs of this checkout's.
    env["PYTHONPATH"] = os.pathsep.join(map(str, sources))
    new_sources = [f"services/{name}-service/src" for name, _, _ in NEW]

    step(root, env, python, "-m", "ruff", "check", ".")
    step(root, env, python, "-m", "ruff", "format", "--check", ".")
    step(
        root,
        env,
        python,
        "-m",
        "mypy",
        "--cache-dir",
        str(tmp_path / "mypy"),
        "services/kit/src",
        *new_sources,
    )
    contracts = step(root, env, python, "tools/import_contracts.py")
    assert "0 broken" in contracts
    shown = step(root, env, python, "tools/import_contracts.py", "--show")
    assert all(f"{name.replace('-', '_')}_service" in shown for name, _, _ in NEW)

    report = step(
        root,
        env,
        python,
        "-m",
        "pytest",
        "-q",
        "-rA",
        "-p",
        "no:cacheprovider",
        *[f"tests/{name}" for name, _, _ in NEW],
        "tests/tooling/test_service_places.py",
        "tests/tooling/test_docs.py",
        "tests/chart/test_images.py",
        "tests/chart/test_helm.py",
        "tests/chart/test_objects.py",
        "tests/chart/test_image_build.py",
        "-k",
        f"not test_image_command_serves_from_a_replayed_build or {NEW[0][0]}",
    )
    print(report[-4000:])
    expected = [
        "tests/chart/test_helm.py::test_golden_render[default]",
        "tests/chart/test_images.py::test_tiltfile_builds_every_service_with_live_update",
        "tests/chart/test_images.py::test_skaffold_profile_renders_the_built_images[kind]",
        "tests/chart/test_objects.py::test_services_reach_exactly_their_datastores",
        "tests/chart/test_image_build.py::test_image_command_serves_from_a_replayed_build"
        f"[{NEW[0][0]}-service]",
    ]
    for name, _, _ in NEW:
        service = f"[{name}-service]"
        expected += [
            f"tests/{name}/test_api.py::test_create_read_list_publish_and_consume",
            f"tests/{name}/test_domain.py::test_names_collapse_whitespace",
            f"tests/{name}/test_process.py::test_the_service_runs_as_a_process",
            "tests/tooling/test_service_places.py::"
            f"test_reshaped_service_has_the_module_set_and_its_tests{service}",
            f"tests/tooling/test_service_places.py::test_chart_lists_and_enables_the_service{service}",
            f"tests/chart/test_images.py::test_dockerfiles_do_not_drift{service}",
            f"tests/chart/test_images.py::test_dockerfile_builds_a_small_non_root_image{service}",
        ]
    missing = [test for test in expected if f"PASSED {test}" not in report]
    assert not missing, f"did not pass: {missing}"
