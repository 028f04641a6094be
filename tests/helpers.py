"""Helpers shared by the reconciler tests: CLI shortcuts, lockfile and simulator reads."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.conftest import Result, Sim, run

LOCK = "render.lock.json"


def plan(*extra: str) -> Result:
    return run("plan", "--detailed-exitcode", *extra)


def apply(*extra: str) -> Result:
    return run("apply", "--auto-approve", *extra)


def change_lines(output: str) -> list[str]:
    """The resource header lines of a text plan (`+ kind.name "render-name" ...`)."""
    return [line.strip() for line in output.splitlines() if re.match(r"^  (\+|~|-/\+|-) \S+\.\S+ ", line)]


def lock(project: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((project / LOCK).read_text())
    return data


def lock_id(project: Path, slug: str, address: str) -> str:
    return str(lock(project)["tenants"][slug]["resources"][address]["id"])


def env_of(sim: Sim, service_id: str) -> dict[str, str]:
    """Every env var of a service, following cursors at Render's default page size (20)."""
    result: dict[str, str] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"cursor": cursor} if cursor else {}
        page = sim.get(f"/services/{service_id}/env-vars", **params).json()
        for item in page:
            result[item["envVar"]["key"]] = item["envVar"]["value"]
        if len(page) < 20:
            return result
        cursor = page[-1]["cursor"]


def put_env(sim: Sim, service_id: str, key: str, value: str) -> None:
    """A dashboard edit: set one env var directly on the simulator."""
    with sim.http() as http:
        assert http.put(f"/services/{service_id}/env-vars/{key}", json={"value": value}).status_code == 200


def exchanges_since(sim: Sim, start: int) -> list[dict[str, Any]]:
    return [json.loads(line) for line in sim.record.read_text().splitlines()[start:]]


def writes_since(sim: Sim, start: int) -> list[tuple[str, str]]:
    return [(e["method"], e["path"]) for e in exchanges_since(sim, start) if e["method"] != "GET"]


def only_tenant(project: Path, slug: str) -> None:
    """Keep one tenant file (fewer API calls per test)."""
    for path in (project / "tenants").glob("*.yaml"):
        if path.stem != slug:
            path.unlink()


def add_blueprint_line(project: Path, after: str, text: str, blueprint: str = "base_crm") -> None:
    """Insert `text` after the first line equal to `after` (stripped) in a blueprint template."""
    path = project / "blueprints" / blueprint / "render.yaml.j2"
    lines = path.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.strip() == after)
    lines.insert(index + 1, text)
    path.write_text("".join(lines))


def squeeze(text: str) -> str:
    """`text` with runs of spaces inside lines collapsed to one (plan field lines are column-aligned)."""
    return "\n".join(" ".join(line.split()) for line in text.splitlines()) + "\n"
