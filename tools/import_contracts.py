#!/usr/bin/env python3
"""The import contracts ``make lint`` checks (import-linter), generated for the kit and for
every service in the standard module set (tools/known_services.py lists the ones not reshaped yet):

* layers — inside a service, imports flow one way, top to bottom:
  cli → app → workers → api → schemas → service → store → domain → events → settings
  (``__main__`` is the entry point and stands outside). A module may import any layer below
  its own, never one above.
* a pure domain — ``domain/`` imports no framework and no I/O, not even indirectly:
  none of DOMAIN_FORBIDDEN, and so nothing of the kit that reaches them. msgspec (structs,
  conversion) and pure libraries are fine.
* no cycles — between the sibling modules of any package in the kit or a service.
* the kit's public API — a service imports only PUBLIC_KIT modules (each declares
  ``__all__``); every other kit module may only be imported by the kit itself.
* services are independent — no service imports another.

Run: python tools/import_contracts.py [--show] [--root DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from known_services import ROOT, reshaped

LAYERS = (
    "cli",
    "app",
    "workers",
    "api",
    "schemas",
    "service",
    "store",
    "domain",
    "events",
    "settings",
)
DOMAIN_FORBIDDEN = (
    "litestar",
    "pymongo",
    "bson",
    "redis",
    "httpx",
    "influxdb_client",
    "uvicorn",
    "socketio",
    "opentelemetry",
    "prometheus_client",
)
# What services may import from the kit. Add a kit module here (with its ``__all__``) to
# make it public; everything else stays the kit's own business.
PUBLIC_KIT = (
    "deepiri_kit",
    "deepiri_kit.chain",
    "deepiri_kit.clock",  # pure (datetime only): a service's domain may use it
    "deepiri_kit.contracts",
    "deepiri_kit.errors",
    "deepiri_kit.events",
    "deepiri_kit.metrics",
    "deepiri_kit.data.mongo",
    "deepiri_kit.data.redis",
    "deepiri_kit.data.influx",
)
# Packages whose every module is public: the event contracts, one module per stream (a new
# stream's module is public without being listed).
PUBLIC_KIT_PACKAGES = ("deepiri_kit.contracts",)
KIT = "deepiri_kit"


def kit_modules(kit_src: Path) -> list[str]:
    """Every module and package of the kit, by dotted name."""
    names = []
    for path in sorted((kit_src / KIT).rglob("*.py")):
        parts = list(path.relative_to(kit_src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def public_kit_modules(kit_src: Path) -> list[str]:
    return [
        m
        for m in kit_modules(kit_src)
        if m in PUBLIC_KIT or any(m.startswith(f"{p}.") for p in PUBLIC_KIT_PACKAGES)
    ]


def internal_kit_modules(kit_src: Path) -> list[str]:
    public = set(public_kit_modules(kit_src))
    return [m for m in kit_modules(kit_src) if m not in public]


def _section(contract_id: str, **fields: str | list[str]) -> str:
    lines = [f"[importlinter:contract:{contract_id}]"]
    for key, value in fields.items():
        if isinstance(value, list):
            lines.append(f"{key} =")
            lines += [f"    {v}" for v in value]
        else:
            lines.append(f"{key} = {value}")
    return "\n".join(lines)


def config(kit_src: Path, modules: list[str]) -> str:
    """import-linter's INI for the kit plus the service packages ``modules``."""
    out = [
        "[importlinter]\n"
        + "root_packages =\n"
        + "\n".join(f"    {m}" for m in [KIT, *modules])
        + "\ninclude_external_packages = True"
    ]
    out.append(
        _section(
            "kit-public-api",
            name="services import only the kit's public API (tools/import_contracts.py PUBLIC_KIT)",
            type="protected",
            protected_modules=internal_kit_modules(kit_src),
            allowed_importers=[KIT, f"{KIT}.**"],
            as_packages="False",
        )
    )
    out.append(
        _section(
            "no-cycles",
            name="no import cycles between sibling modules (kit and services)",
            type="acyclic_siblings",
            ancestors=[KIT, *modules],
        )
    )
    if modules:
        out.append(
            _section(
                "layers",
                name="inside a service imports flow down: " + " → ".join(LAYERS),
                type="layers",
                containers=modules,
                layers=list(LAYERS),
            )
        )
        out.append(
            _section(
                "pure-domain",
                name="domain/ imports no framework and no I/O, not even indirectly",
                type="forbidden",
                source_modules=[f"{m}.domain" for m in modules],
                forbidden_modules=list(DOMAIN_FORBIDDEN),
            )
        )
        out.append(
            _section(
                "kit-imports-no-service",
                name="the kit imports no service",
                type="forbidden",
                source_modules=[KIT],
                forbidden_modules=modules,
            )
        )
    if len(modules) > 1:
        out.append(
            _section(
                "independent-services",
                name="no service imports another",
                type="independence",
                modules=modules,
            )
        )
    return "\n\n".join(out) + "\n"


def check(
    root: Path, modules: list[str], *, verbose: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run lint-imports over ``root``'s kit and ``modules`` (packages under root/services)."""
    kit_src = root / "services" / "kit" / "src"
    sources = [kit_src] + [root / "services" / m.replace("_", "-") / "src" for m in modules]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([*map(str, sources), os.environ.get("PYTHONPATH", "")]),
    }
    # lint-imports, run by this interpreter (the one with the packages' dependencies).
    lint = [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()"]
    with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as handle:
        handle.write(config(kit_src, modules))
    try:
        cmd = [
            *lint,
            "--config",
            handle.name,
            "--no-cache",
            "--no-logo",
            *(["--verbose"] if verbose else []),
        ]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    finally:
        os.unlink(handle.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--show", action="store_true", help="print the generated configuration")
    args = parser.parse_args(argv)
    modules = [s.module for s in reshaped()]
    if args.show:
        print(config(ROOT / "services" / "kit" / "src", modules))
        return 0
    result = check(ROOT, modules)
    print(result.stdout, end="")
    print(result.stderr, end="", file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
