"""infra/prefect.yaml as data: the day's deployments, schedules, concurrency limits and automations.

Pure parsing here (cheap: PyYAML only) so `opsctl list` stays fast; applying to a server lives in
flows/orchestration/apply.py, which imports Prefect.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
PREFECT_YAML = ROOT / "infra" / "prefect.yaml"
TIMEZONE = "America/New_York"


@dataclass(frozen=True)
class Schedule:
    cron: str
    timezone: str = TIMEZONE


@dataclass(frozen=True)
class Deployment:
    name: str
    entrypoint: str  # path/to/file.py:function, relative to the repo root
    description: str = ""
    tags: tuple[str, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    work_pool: str = "ops"
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def module(self) -> str:
        path, _ = self.entrypoint.split(":")
        return path.removesuffix(".py").replace("/", ".")

    @property
    def function(self) -> str:
        return self.entrypoint.split(":")[1]

    @property
    def full_name(self) -> str:
        """Prefect's `<flow name>/<deployment name>`; flows are named like their deployment."""
        return f"{self.name}/{self.name}"

    def load_flow(self) -> Any:
        return getattr(importlib.import_module(self.module), self.function)


@dataclass(frozen=True)
class Automation:
    name: str
    kind: str
    states: tuple[str, ...] = ()
    deployment: str | None = None
    within_seconds: int | None = None


@dataclass(frozen=True)
class Plan:
    deployments: tuple[Deployment, ...]
    concurrency_limits: dict[str, int]
    automations: tuple[Automation, ...]

    def get(self, name: str) -> Deployment:
        for d in self.deployments:
            if d.name == name:
                return d
        raise KeyError(f"no deployment named {name!r}; known: {', '.join(d.name for d in self.deployments)}")


def load_plan(path: Path = PREFECT_YAML) -> Plan:
    raw = yaml.safe_load(path.read_text())
    deps = []
    for d in raw["deployments"]:
        deps.append(
            Deployment(
                name=d["name"],
                entrypoint=d["entrypoint"],
                description=d.get("description", ""),
                tags=tuple(d.get("tags", ())),
                schedules=tuple(Schedule(s["cron"], s.get("timezone", TIMEZONE)) for s in d.get("schedules", ())),
                work_pool=(d.get("work_pool") or {}).get("name", "ops"),
                parameters=dict(d.get("parameters") or {}),
            )
        )
    autos = tuple(
        Automation(
            name=a["name"],
            kind=a["kind"],
            states=tuple(a.get("states", ())),
            deployment=a.get("deployment"),
            within_seconds=a.get("within_seconds"),
        )
        for a in raw.get("automations", ())
    )
    return Plan(tuple(deps), dict(raw.get("concurrency_limits", {})), autos)
