"""Images: each Dockerfile starts exactly what the system tests start, stays in step with the
others, and the image names in values, skaffold.yaml and the Tiltfile agree."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import jsonschema
import pytest
import yaml

from support.charts import (
    ROOT,
    SKAFFOLD_SCHEMAS,
    by_name,
    chart_values,
    dockerfile,
    enabled_services,
    existing_services,
    helm_template,
    instructions,
    load_docs,
    run,
    service_names,
    settings_class,
    tool,
)
from support.processes import module_of, start_command

pytestmark = pytest.mark.chart
TEMPLATE_SERVICE = "task-service"


def test_every_service_with_code_is_packaged() -> None:
    """A service with code has a Dockerfile, its locked requirements and an enabled chart
    entry; every enabled entry has a Dockerfile (its code may land in a parallel change)."""
    values = chart_values()
    for service in existing_services():
        assert service in service_names(), (
            f"{service}: add it to charts/deepiri/Chart.yaml dependencies"
        )
        assert values[service]["enabled"], f"{service}: enable it in charts/deepiri/values.yaml"
        dockerfile(service)
        assert (ROOT / "services" / service / "requirements.txt").exists(), (
            f"services/{service}/requirements.txt missing: run `make requirements`"
        )
    for service in enabled_services():
        dockerfile(service)


@pytest.mark.parametrize("service", existing_services())
def test_dockerfile_cmd_is_the_system_tests_start_command(service: str) -> None:
    steps = instructions(dockerfile(service))
    cmds = [args for word, args in steps if word == "CMD"]
    assert cmds, "no CMD"
    assert json.loads(cmds[-1]) == start_command(service), (
        "CMD must be the exec form of start_command()"
    )
    assert not [args for word, args in steps if word == "ENTRYPOINT"], (
        "an ENTRYPOINT would change the command"
    )


@pytest.mark.parametrize("service", existing_services())
def test_dockerfile_builds_a_small_non_root_image(service: str) -> None:
    text = dockerfile(service)
    steps = instructions(text)
    froms = [args for word, args in steps if word == "FROM"]
    assert len(froms) >= 2, "multi-stage"
    final = text.rsplit("\nFROM ", 1)[1]
    users = [args for word, args in instructions("FROM " + final) if word == "USER"]
    assert users, "final stage sets USER"
    assert re.fullmatch(r"\d+(:\d+)?", users[-1]), "final stage runs as a numeric user"
    assert not users[-1].startswith("0"), "not root"
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in text
    assert f"COPY services/{service}/requirements.txt" in text
    assert "--require-hashes" in text
    assert "--only-binary=:all:" in text, "wheels only: no compiler anywhere"
    assert re.search(r"install --no-deps /build/kit /build/service", text)
    assert "COPY --from=build /opt/deepiri /opt/deepiri" in final
    assert "apt-get" not in final
    assert "gcc" not in final
    assert "build-essential" not in text
    exposed = [args for word, args in steps if word == "EXPOSE"]
    port = {f.name: f.default for f in dataclasses.fields(settings_class(service))}["port"]
    assert exposed == [str(port)], "EXPOSE = the settings' default port"
    assert chart_values()[service]["port"] == port, "the chart's port = the settings' default port"
    # Nothing in the image needs a writable root filesystem: HOME and TMPDIR point at /tmp.
    assert "HOME=/tmp" in text
    assert "TMPDIR=/tmp" in text
    assert "PYTHONDONTWRITEBYTECODE=1" in text


@pytest.mark.parametrize("service", existing_services())
def test_dockerfiles_do_not_drift(service: str) -> None:
    """Every Dockerfile is the template service's with names and port swapped."""

    def canonical(name: str) -> str:
        text = dockerfile(name)
        port = str(chart_values()[name]["port"])
        return (
            text.replace(name, "<service>")
            .replace(module_of(name), "<module>")
            .replace(port, "<port>")
        )

    assert canonical(service) == canonical(TEMPLATE_SERVICE)


def _dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; '!' re-includes."""

    def regex(pattern: str) -> str:
        out = ""
        for part in re.split(r"(\*\*/?|\*|\?)", pattern):
            out += {"**": ".*", "**/": "(.*/)?", "*": "[^/]*", "?": "[^/]"}.get(
                part, re.escape(part)
            )
        return out + "(/.*)?"

    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        if re.fullmatch(regex(pattern.lstrip("!")), path):
            excluded = not negate
    return excluded


def test_dockerignore_keeps_the_context_small() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "**", "exclude everything, then allow what images copy"
    for service in existing_services():
        module = module_of(service)
        for needed in (
            "services/kit/pyproject.toml",
            "services/kit/src/deepiri_kit/__init__.py",
            f"services/{service}/pyproject.toml",
            f"services/{service}/requirements.txt",
            f"services/{service}/src/{module}/__init__.py",
        ):
            assert not _dockerignore_excludes(needed, patterns), f"{needed} is excluded"
        for unwanted in (
            ".venv/bin/python",
            "tests/conftest.py",
            f"services/{service}/src/{module}/__pycache__/x.pyc",
            ".git/HEAD",
            "charts/deepiri/values.yaml",
            "README.md",
        ):
            assert _dockerignore_excludes(unwanted, patterns), (
                f"{unwanted} would be sent to the daemon"
            )


# --- image names: values, skaffold, Tilt --------------------------------------------------


def chart_images() -> dict[str, str]:
    docs = load_docs(helm_template(["values-kind.yaml"]).stdout)
    deployments = by_name(docs, "Deployment")
    return {
        s: deployments[s]["spec"]["template"]["spec"]["containers"][0]["image"].rsplit(":", 1)[0]
        for s in enabled_services()
    }


def skaffold_config() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "skaffold.yaml").read_text())


def test_skaffold_has_one_artifact_per_service_named_like_the_chart() -> None:
    config = skaffold_config()
    artifacts = {a["image"]: a for a in config["build"]["artifacts"]}
    images = chart_images()
    assert set(artifacts) == set(images.values())
    for service, image in images.items():
        assert artifacts[image]["context"] == "."
        assert artifacts[image]["docker"]["dockerfile"] == f"services/{service}/Dockerfile"
    releases = [config["deploy"]["helm"]["releases"][0]] + [
        p["deploy"]["helm"]["releases"][0] for p in config["profiles"] if "deploy" in p
    ]
    for release in releases:
        templates = release["setValueTemplates"]
        for service, image in images.items():
            key = image.replace("/", "_").replace("-", "_")
            assert templates[f"{service}.image.repository"] == f"{{{{.IMAGE_REPO_{key}}}}}"
            assert templates[f"{service}.image.tag"] == f"{{{{.IMAGE_TAG_{key}}}}}"
        assert release["chartPath"] == "charts/deepiri"
        for values_file in release["valuesFiles"]:
            assert "{{" in values_file or (ROOT / values_file).exists(), values_file


def test_skaffold_profiles_choose_values_files_never_patch_by_position() -> None:
    for profile in skaffold_config()["profiles"]:
        assert "patches" not in profile, f"profile {profile['name']} patches by list position"


# skaffold itself is a developers' tool (`make dev-tools`), not built for the tests: its
# config is checked against the JSON schema skaffold's own parser enforces (fetched from its
# module by tools/bootstrap.sh), and rendered the way its helm deployer renders.


def skaffold_schema(config: dict[str, Any]) -> dict[str, Any]:
    api = config["apiVersion"].removeprefix("skaffold/")
    path = SKAFFOLD_SCHEMAS / f"{api}.json"
    if not path.exists():
        pytest.fail(f"skaffold's schema {path} is missing: run `make tools`", pytrace=False)
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


def skaffold_problems(config: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(skaffold_schema(config))
    # The top level is an anyOf of (config, list of configs): report the deepest cause.
    return [
        f"{error.json_path}: {error.message}"
        for error in (jsonschema.exceptions.best_match([e]) for e in validator.iter_errors(config))
    ]


def test_skaffold_config_matches_skaffolds_own_schema() -> None:
    config = skaffold_config()
    assert skaffold_problems(config) == []
    # The schema is strict: a misspelt field or a wrong type is refused, as skaffold refuses it.
    release = config["deploy"]["helm"]["releases"][0]
    release["valueFiles"] = release.pop("valuesFiles")
    assert skaffold_problems(config)
    config = skaffold_config()
    config["profiles"][1]["deploy"]["helm"]["releases"][0]["wait"] = "yes"
    assert skaffold_problems(config)


def skaffold_profile(config: dict[str, Any], name: str) -> dict[str, Any]:
    """The config with profile `name` applied as skaffold applies it: a field the profile sets
    replaces the config's (objects merge field by field, lists are replaced whole)."""

    def overlay(base: Any, over: Any) -> Any:
        if isinstance(base, dict) and isinstance(over, dict):
            return {
                k: overlay(base.get(k), over[k]) if k in over else base[k] for k in {**base, **over}
            }
        return over

    (profile,) = [p for p in config["profiles"] if p["name"] == name]
    body = {k: v for k, v in profile.items() if k not in ("name", "activation")}
    return overlay({k: v for k, v in config.items() if k != "profiles"}, body)


def skaffold_render(config: dict[str, Any], images: dict[str, str]) -> list[dict[str, Any]]:
    """`skaffold render --offline --images …`: for each helm release, `helm template` with its
    values files and every setValueTemplates entry given as `--set`, the templates' only
    variables being the images' IMAGE_REPO_<name>/IMAGE_TAG_<name>."""
    variables: dict[str, str] = {}
    for image, tag in images.items():
        key = re.sub(r"[^A-Za-z0-9_]", "_", image)
        variables[f"IMAGE_REPO_{key}"], variables[f"IMAGE_TAG_{key}"] = image, tag

    def expand(template: str) -> str:
        return re.sub(r"\{\{\s*\.(\w+)\s*\}\}", lambda m: variables[m[1]], template)

    docs = []
    for release in config["deploy"]["helm"]["releases"]:
        cmd = [tool("helm"), "template", release["name"], str(ROOT / release["chartPath"])]
        cmd += ["--namespace", release["namespace"]]
        for values_file in release.get("valuesFiles", []):
            cmd += ["-f", str(ROOT / expand(values_file))]
        for key, template in release.get("setValueTemplates", {}).items():
            cmd += ["--set", f"{key}={expand(template)}"]
        docs += load_docs(run(cmd).stdout)
    return docs


@pytest.mark.parametrize("profile", ["kind", "gateway"])
def test_skaffold_profile_renders_the_built_images(profile: str) -> None:
    images = chart_images()
    config = skaffold_profile(skaffold_config(), profile)
    assert skaffold_problems(config) == []
    docs = skaffold_render(config, dict.fromkeys(images.values(), "skaffold-test"))
    deployments = by_name(docs, "Deployment")
    for service, image in images.items():
        assert (
            deployments[service]["spec"]["template"]["spec"]["containers"][0]["image"]
            == f"{image}:skaffold-test"
        )
    kinds = {d["kind"] for d in docs}
    assert ("HTTPRoute" in kinds) == (profile == "gateway")
    assert ("Ingress" in kinds) == (profile == "kind")


# --- Tiltfile, evaluated with a Starlark interpreter and Tilt's API stubbed ---------------


class TiltRecorder:
    def __init__(self) -> None:
        self.builds: list[dict[str, Any]] = []
        self.resources: list[dict[str, Any]] = []
        self.yaml: list[dict[str, Any]] = []
        self.local: list[str] = []
        self.contexts: list[str] = []


def evaluate_tiltfile() -> TiltRecorder:
    import starlark as sl

    rec = TiltRecorder()
    mod = sl.Module()

    def record(kind: str) -> Any:
        def fn(*args: Any, **kwargs: Any) -> dict[str, Any]:
            return {"kind": kind, "args": list(args), **kwargs}

        return fn

    def docker_build(ref: str, context: str, **kw: Any) -> None:
        rec.builds.append({"ref": ref, "context": context, **kw})

    def helm(chart: str, **kw: Any) -> str:
        cmd = [
            tool("helm"),
            "template",
            kw.get("name", "chart"),
            str(ROOT / chart),
            "--namespace",
            kw["namespace"],
        ]
        for v in kw.get("values", []):
            cmd += ["-f", str(ROOT / v)]
        for s in kw.get("set", []):
            cmd += ["--set", s]
        return run(cmd).stdout

    def k8s_resource(workload: str, **kw: Any) -> None:
        rec.resources.append({"workload": workload, **kw})

    callables = {
        "allow_k8s_contexts": lambda ctx: rec.contexts.append(ctx),
        "read_yaml": lambda path: yaml.safe_load((ROOT / path).read_text()),
        "local": lambda cmd, **kw: rec.local.append(cmd) or "",
        "docker_build": docker_build,
        "helm": helm,
        "k8s_yaml": lambda text: rec.yaml.extend(load_docs(text)),
        "k8s_resource": k8s_resource,
        "port_forward": lambda local, remote, name="": {
            "local": local,
            "remote": remote,
            "name": name,
        },
        "link": lambda url, name="": {"url": url, "name": name},
        "sync": record("sync"),
        "run": record("run"),
        "fall_back_on": record("fall_back_on"),
        "_os_path_exists": lambda path: (ROOT / path).exists(),
    }
    for name, fn in callables.items():
        mod.add_callable(name, fn)
    prelude = "os = struct(path = struct(exists = _os_path_exists))\n"
    source = prelude + (ROOT / "Tiltfile").read_text()
    ast = sl.parse("Tiltfile", source, sl.Dialect.extended())
    globals_ = sl.Globals.extended_by([sl.LibraryExtension.StructType, sl.LibraryExtension.Print])
    sl.eval(mod, ast, globals_)
    return rec


def test_tiltfile_builds_every_service_with_live_update() -> None:
    rec = evaluate_tiltfile()
    assert rec.contexts == ["kind-deepiri"]
    images = chart_images()
    assert {b["ref"] for b in rec.builds} == set(images.values()), (
        "Tilt image names = chart image names"
    )
    for build in rec.builds:
        service = build["ref"].split("/", 1)[1]
        assert build["dockerfile"] == f"services/{service}/Dockerfile"
        assert build["context"] == "."
        steps = build["live_update"]
        assert steps[0]["kind"] == "fall_back_on"
        syncs = [s for s in steps if s["kind"] == "sync"]
        assert [s["args"][0] for s in syncs] == [
            "services/kit/src/deepiri_kit",
            f"services/{service}/src/{module_of(service)}",
        ]
        for s in syncs:
            assert (ROOT / s["args"][0]).is_dir()
            assert s["args"][1].startswith("/opt/deepiri/lib/python3.11/site-packages/")
        assert steps[-1]["kind"] == "run"
        assert "SIGHUP" in steps[-1]["args"][0]


def test_tiltfile_resources_exist_and_are_ordered_by_dependencies() -> None:
    rec = evaluate_tiltfile()
    workloads = {
        d["metadata"]["name"] for d in rec.yaml if d["kind"] in ("Deployment", "StatefulSet")
    }
    names = [r["workload"] for r in rec.resources]
    assert set(names) <= workloads, f"unknown resources: {set(names) - workloads}"
    assert workloads <= set(names), f"resources without labels: {workloads - set(names)}"
    for r in rec.resources:
        assert r.get("labels"), r["workload"]
        for dep in r.get("resource_deps", []):
            assert dep in names, f"{r['workload']} depends on unknown {dep}"
    values = chart_values()
    for service in enabled_services():
        r = next(r for r in rec.resources if r["workload"] == service)
        stores = {
            "mongo": "deepiri-mongodb",
            "redis": "deepiri-redis",
            "influx": "deepiri-influxdb",
        }
        assert {stores[s] for s in values[service]["datastores"]} <= set(r["resource_deps"])
        assert r["port_forwards"][0]["local"] == values[service]["port"]
        assert any(values[service]["prefix"] in link["url"] for link in r["links"])
    # The chart Tilt applies has live update on, tests off, and reuses the release's Secrets.
    deployments = {d["metadata"]["name"]: d for d in rec.yaml if d["kind"] == "Deployment"}
    for service in enabled_services():
        spec = deployments[service]["spec"]["template"]["spec"]
        assert spec["initContainers"][0]["name"] == "live-update-copy"
        assert spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert not [d for d in rec.yaml if d["kind"] in ("Secret", "Pod")]
