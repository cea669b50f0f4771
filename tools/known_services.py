"""Which services exist: the one list every other list is derived from.

A service exists when ``services/<name>-service/pyproject.toml`` does. Everything that must
name the services reads them from here or from the same directories: ``make dev``
(tools/dev.py), the requirements (tools/compile-requirements.sh), ``make tools``
(tools/bootstrap.sh), mypy (Makefile), the import contracts (tools/import_contracts.py) and
the checks in tests/tooling/test_service_places.py, which fail when a place that cannot be
derived (the chart, skaffold.yaml, the tests, the docs) is missing a service. The chart's
``Chart.yaml`` additionally lists the platform's *planned* services (switched off in
values.yaml until their code exists); charts/values_schema.py reads it from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Services not yet in the standard module set (README "Where code goes"): the import
# contracts and the module-set check skip them. Whoever reshapes one removes it from here.
NOT_YET_RESHAPED: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Service:
    name: str  # "task-service"

    @property
    def base(self) -> str:
        """task-service → task"""
        return self.name.removesuffix("-service")

    @property
    def module(self) -> str:
        """task-service → task_service"""
        return self.name.replace("-", "_")

    @property
    def path(self) -> Path:
        return ROOT / "services" / self.name

    @property
    def package(self) -> Path:
        return self.path / "src" / self.module

    @property
    def reshaped(self) -> bool:
        return self.name not in NOT_YET_RESHAPED


def services(root: Path = ROOT) -> list[Service]:
    """Every service with code, by name."""
    return [
        Service(p.parent.name) for p in sorted((root / "services").glob("*-service/pyproject.toml"))
    ]


def reshaped(root: Path = ROOT) -> list[Service]:
    """The services in the standard module set (held to the import contracts)."""
    return [s for s in services(root) if s.reshaped]


if __name__ == "__main__":
    for service in services():
        print(service.name)
