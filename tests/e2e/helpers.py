"""Helpers of the e2e suite: kubectl/helm calls, the release under test, waiting."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from support.tokens import TokenIssuer

NAMESPACE = "deepiri-e2e"
RELEASE = "deepiri"
CHART = Path(__file__).resolve().parents[2] / "charts" / "deepiri"
# What services expect of user-service's tokens (deepiri_kit settings defaults).
ISSUER = "http://user-service:5001/api/users"
SCOPES = "tasks:read tasks:write gamification:read gamification:write"
VOLUMES = 6


def run(
    *args: str, check: bool = True, timeout: float = 900, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, input=stdin, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def kubectl(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return run("kubectl", "-n", NAMESPACE, *args, **kw)


def kube_json(*args: str) -> Any:
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def apply(manifest: dict[str, Any] | list[dict[str, Any]]) -> None:
    items = manifest if isinstance(manifest, list) else [manifest]
    run(
        "kubectl",
        "apply",
        "-f",
        "-",
        stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
    )


def eventually(
    check: Callable[[], Any], timeout: float = 120.0, interval: float = 1.0, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} not met within {timeout:.0f}s (last: {last!r})")


@dataclass
class Release:
    ingress: str
    values: list[str]
    issuer: TokenIssuer
    tokens: dict[str, str] = field(default_factory=dict)

    def helm(
        self, *args: str, check: bool = True, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        return run("helm", "--namespace", NAMESPACE, *args, check=check, timeout=timeout)

    def upgrade(self, *sets: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """helm upgrade with this cluster's values files plus --set overrides, --wait, and
        then until the Ingress controller routes every public prefix."""
        args = ["upgrade", "--install", RELEASE, str(CHART), "--wait", "--timeout", "10m"]
        for v in self.values:
            args += ["-f", v]
        for s in sets:
            args += ["--set", s]
        result = self.helm(*args, check=check)
        if result.returncode == 0:
            self.wait_routed()
        return result

    def wait_routed(self) -> None:
        """`helm --wait` sees pods ready, not Traefik's routes: after a (re-)install the
        controller answers its own 404 until it has read the new Ingress."""
        ingress = json.loads(kubectl("get", "ingress", RELEASE, "-o", "json").stdout)
        prefixes = [p["path"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]
        with httpx.Client(base_url=self.ingress, timeout=10) as client:

            def routed() -> bool:
                return all(
                    client.get(f"{p}/schema/openapi.json").status_code == 200 for p in prefixes
                )

            eventually(routed, timeout=120, what=f"{prefixes} routed through the Ingress")

    def revision(self) -> int:
        return int(json.loads(self.helm("status", RELEASE, "-o", "json").stdout)["version"])

    def token(self, user: str, scopes: str = SCOPES) -> str:
        key = f"{user} {scopes}"
        if key not in self.tokens:
            self.tokens[key] = self.issuer.token(user, scopes, lifetime=7200, iss=ISSUER)
        return self.tokens[key]

    def headers(self, user: str, scopes: str = SCOPES) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user, scopes)}"}
