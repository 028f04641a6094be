"""Issue 10: one `Kind`, one module per kind, a registry that covers every kind, and no branching on a
kind outside its module.

Static checks over `renderer/` with `ast` plus the registry's own data; the kinds' behaviour is
exercised over HTTP by test_kinds.py, test_reconciler.py and the others.
"""

from __future__ import annotations

import ast
from pathlib import Path

from renderer.kind import (
    BLUEPRINT_SERVICE_TYPES,
    NATIVE_RUNTIMES,
    REFERENCE_KINDS,
    SCALABLE_KINDS,
    SERVICE_KINDS,
    Kind,
    blueprint_kind,
)
from renderer.kinds.base import KindOps
from renderer.kinds.registry import CREATE_ORDER, MODULES, REGISTRY, ops_for
from renderer.plan.model import Change, Reason
from renderer.render_api.client import RenderClient
from tests.conftest import ROOT

PACKAGE = ROOT / "renderer"
# Where the Key Value kind may be named: its module, the registry, the `Kind` enum, the simulator
# (which shares nothing with the client but the contract) and the API client's endpoints.
KEY_VALUE_HOMES = {"renderer/kinds/key_value.py", "renderer/kinds/registry.py", "renderer/kind.py",
                   "renderer/render_api/client.py"}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "sim" not in p.relative_to(PACKAGE).parts[:1])


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def test_every_kind_has_exactly_one_module_in_the_registry() -> None:
    assert set(REGISTRY) == set(Kind)
    for kind in Kind:
        owners = [ops for ops in MODULES if kind in ops.kinds]
        assert len(owners) == 1, kind
        assert ops_for(kind) is owners[0] and ops_for(kind.value) is owners[0]
        assert isinstance(owners[0], KindOps)


def test_create_order_is_issue_5s() -> None:
    """Projects, then their environments (issue 14), env groups, then Postgres and Key Value, then private
    services, other services, then disks and custom domains."""
    assert CREATE_ORDER == {
        Kind.PROJECT: -2, Kind.ENVIRONMENT: -1,
        Kind.ENV_GROUP: 0, Kind.POSTGRES: 1, Kind.KEY_VALUE: 1, Kind.PRIVATE_SERVICE: 2,
        Kind.WEB_SERVICE: 3, Kind.BACKGROUND_WORKER: 3, Kind.CRON_JOB: 3, Kind.STATIC_SITE: 3,
        Kind.DISK: 4, Kind.CUSTOM_DOMAIN: 4,
    }


def test_what_each_kind_says_about_replace_and_data_loss() -> None:
    """The former `IMMUTABLE` and `DATASTORES` tables of plan/diff.py, now each kind's own."""
    assert {k for k in Kind if ops_for(k).loses_data} == {Kind.POSTGRES, Kind.KEY_VALUE, Kind.DISK}
    assert ops_for(Kind.POSTGRES).immutable == {"region", "version", "databaseName", "databaseUser"}
    assert ops_for(Kind.KEY_VALUE).immutable == {"region"}
    assert all(ops_for(k).immutable == {"region"} for k in SERVICE_KINDS)
    web = ops_for(Kind.WEB_SERVICE)
    # Render switches runtimes in place (issue 12: recorded webservice_resource__runtime_update).
    assert not web.forces_replace(Kind.WEB_SERVICE, "runtime", "node", "docker")
    assert not web.forces_replace(Kind.WEB_SERVICE, "runtime", "node", "python")
    assert ops_for(Kind.DISK).forces_replace(Kind.DISK, "sizeGB", 20, 10)
    assert not ops_for(Kind.DISK).forces_replace(Kind.DISK, "sizeGB", 10, 20)
    assert [k for k in Kind if ops_for(k).backup_before_delete] == [Kind.POSTGRES]


def test_one_definition_of_each_kind_set() -> None:
    assert SCALABLE_KINDS < SERVICE_KINDS and all(k.is_service for k in SERVICE_KINDS)
    assert {"elixir", "go", "node", "python", "ruby", "rust"} == NATIVE_RUNTIMES
    assert blueprint_kind("services", {"type": "web", "runtime": "static"}) is Kind.STATIC_SITE
    assert blueprint_kind("services", {"type": "redis"}) is Kind.KEY_VALUE
    assert blueprint_kind("databases", {}) is Kind.POSTGRES
    assert blueprint_kind("envVarGroups", {}) is Kind.ENV_GROUP
    assert set(BLUEPRINT_SERVICE_TYPES.values()) | {Kind.STATIC_SITE} == set(REFERENCE_KINDS.values())
    assert Kind.KEY_VALUE.blueprint_type == "keyvalue" and Kind.KEY_VALUE.namespace == "key_value"
    assert Kind.STATIC_SITE.namespace == "service"
    for name in ("NATIVE_RUNTIMES", "SERVICE_KINDS", "SCALABLE_KINDS"):
        defined = [p.relative_to(ROOT).as_posix() for p in _modules()
                   if any(isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in n.targets)
                          for n in ast.parse(p.read_text(encoding="utf-8")).body)]
        assert defined == ["renderer/kind.py"], (name, defined)


def test_kind_enum_is_the_bottom_module() -> None:
    assert not {i for i in _imports(PACKAGE / "kind.py") if i.startswith("renderer")}
    for path in _modules():
        assert not any(i.endswith(".Kind") and not i.startswith("renderer.kind.") for i in _imports(path)
                       if i.startswith("renderer")), path


def test_kind_modules_do_not_import_their_callers() -> None:
    """The kinds get an `ApplyContext`/`TranslateContext`, never the applier, refresh or translation."""
    callers = ("renderer.apply", "renderer.refresh", "renderer.translate", "renderer.plan.diff", "renderer.operations")
    for path in sorted((PACKAGE / "kinds").glob("*.py")):
        bad = {i for i in _imports(path) if i.startswith(callers)}
        assert not bad, (path.name, bad)


def test_no_module_outside_the_kind_modules_branches_on_key_value() -> None:
    """`Kind.KEY_VALUE` and the client's Key Value calls appear only in the Key Value module (and the
    registry, the enum, the client itself)."""
    calls = {name for name in dir(RenderClient) if "key_value" in name}
    assert calls
    mentions = []
    for path in _modules():
        rel = path.relative_to(ROOT).as_posix()
        if rel in KEY_VALUE_HOMES:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "KEY_VALUE":
                mentions.append(f"{rel}:{node.lineno}")
            if isinstance(node, ast.Attribute) and node.attr in calls:
                mentions.append(f"{rel}:{node.lineno} .{node.attr}")
    assert mentions == []


def test_reason_is_an_enum_and_detail_completes_it() -> None:
    """`Change.reason` is a `Reason`; the printed text is unchanged (`cannot update in place: region`)."""
    common = {"tenant": "acme", "address": "postgres.db", "kind": Kind.POSTGRES, "name": "db-acme"}
    replace = Change(**common, action="-/+", reason=Reason.CANNOT_UPDATE, detail="region")
    assert replace.reason is Reason.CANNOT_UPDATE and replace.why == "cannot update in place: region"
    gone = Change(**common, action="-", reason=Reason.REMOVED_FROM_BLUEPRINT,
                  detail="already gone from Render (dpg-1 answers 404), only the lockfile entry is removed")
    assert gone.why == ("removed from blueprint; already gone from Render (dpg-1 answers 404), only the lockfile "
                        "entry is removed")
    missing = Change(**common, action="+", reason=Reason.MISSING_LIVE, detail="(Render answers 404 for dpg-1)")
    assert missing.why == "missing live: deleted outside renderer (Render answers 404 for dpg-1)"
    assert Change(**common, action="=", reason=Reason.UNCHANGED).why == "unchanged"


def test_no_code_parses_reason_text() -> None:
    """No `.reason.startswith(...)` or comparison of a reason with a string."""
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("startswith", "endswith", "split", "partition")
                    and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "reason"):
                raise AssertionError(f"{path}:{node.lineno} parses a reason")
