"""Issue 10: the lockfile format grows by versions. A version-1 lockfile (tests/data/render.lock.v1.json,
written by `renderer apply` of renderer 0.1 before format version 2: three tenants, each with a web
service, a worker, Postgres, a custom domain and a disk) reads as the current version (3 since issues 14 and 16),
is written as it, merges with current lockfiles, and a lockfile of a newer format is refused with the
release to use. A version-2 lockfile (tests/data/render.lock.v2.json) reads as version 3 unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import git

from renderer.ci.lockcommit import lockfile_at, merge_lockfiles
from renderer.errors import RendererError
from renderer.lockfile import FORMAT_VERSION, MIGRATIONS, RENDERER_VERSION, load, loads, write
from tests.conftest import ROOT, Sim
from tests.helpers import apply, lock, plan

V1 = ROOT / "tests" / "data" / "render.lock.v1.json"
V2 = ROOT / "tests" / "data" / "render.lock.v2.json"
LOCK = "render.lock.json"


def _without_versions(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("version", "renderer_version")}


def test_a_version_1_lockfile_reads_and_is_written_as_the_current_version(tmp_path: Path) -> None:
    text = V1.read_text()
    old = json.loads(text)
    assert old["version"] == 1 and "renderer_version" not in old
    lockfile = loads(text, str(V1))
    assert (lockfile.version, lockfile.renderer_version) == (FORMAT_VERSION, None)  # through version 2 to 3
    assert sorted(lockfile.tenants) == ["acme-corp", "globex", "initech"]
    globex = lockfile.tenants["globex"]
    assert globex.resources["disk.backboneos-backend"].parent == "web_service.backboneos-backend"
    assert globex.resources["custom_domain.backboneos-backend/app.globex.example.com"].id.startswith("cdm-")
    assert globex.resources["web_service.backboneos-backend"].applied  # fingerprints come through

    path = tmp_path / LOCK
    path.write_text(text)
    write(path, load(path))
    new = json.loads(path.read_text())
    assert (new["version"], new["renderer_version"]) == (FORMAT_VERSION, RENDERER_VERSION) == (3, RENDERER_VERSION)
    assert _without_versions(new) == _without_versions(old)  # nothing else changes
    assert load(path) == lockfile.model_copy(update={"renderer_version": RENDERER_VERSION})


def test_one_migration_per_version_step() -> None:
    assert sorted(MIGRATIONS) == list(range(1, FORMAT_VERSION))
    upgraded = MIGRATIONS[1](json.loads(V1.read_text()))
    assert (upgraded["version"], upgraded["renderer_version"]) == (2, None)
    assert MIGRATIONS[2](upgraded) == {**upgraded, "version": 3}  # the release fields are optional


def test_a_version_2_lockfile_reads_as_version_3_without_deploy_records(tmp_path: Path) -> None:
    text = V2.read_text()
    old = json.loads(text)
    assert old["version"] == 2
    lockfile = loads(text, str(V2))
    assert (lockfile.version, lockfile.renderer_version) == (3, "0.1.0")
    web = lockfile.tenants["globex"].resources["web_service.backboneos-backend"]
    assert web.deploy is None  # no record of a deploy: nothing is pending because of one
    assert MIGRATIONS[2](old) == {**old, "version": 3}
    path = tmp_path / LOCK
    path.write_text(text)
    write(path, load(path))
    new = json.loads(path.read_text())
    assert new["version"] == 3 and _without_versions(new) == _without_versions(old)


def test_a_lockfile_of_a_newer_format_names_the_release_that_wrote_it(tmp_path: Path) -> None:
    path = tmp_path / LOCK
    path.write_text(json.dumps({"version": 4, "renderer_version": "9.1.0", "tenants": {}, "projects": {}}))
    try:
        load(path)
    except RendererError as exc:
        assert exc.message == (f"lockfile {path} is format version 4, written by renderer 9.1.0; this renderer "
                               f"({RENDERER_VERSION}) reads format versions up to 3")
        assert exc.hint is not None and exc.hint.startswith("upgrade renderer to 9.1.0 or later")
    else:
        raise AssertionError("a version-4 lockfile was read")
    path.write_text(json.dumps({"tenants": {}}))
    try:
        load(path)
    except RendererError as exc:
        assert "no format version" in exc.message
    else:
        raise AssertionError("a lockfile without a version was read")


def test_plan_and_apply_upgrade_a_version_1_lockfile_in_place(sim: Sim, project: Path) -> None:
    assert apply().code == 0
    path = project / LOCK
    current = json.loads(path.read_text())
    v1 = {**_without_versions(current), "version": 1}  # the same state as renderer 0.1 wrote it
    assert set(v1) == set(json.loads(V1.read_text()))  # the fixture's top-level shape
    path.write_text(json.dumps(v1, sort_keys=True, indent=2) + "\n")

    again = plan("--detailed-exitcode")
    assert again.code == 0, again.output
    assert again.out.startswith("No changes.")
    assert json.loads(path.read_text())["version"] == 1  # plan never writes
    tenant = project / "tenants" / "globex.yaml"
    tenant.write_text(tenant.read_text().replace('"USD"', '"EUR"'))
    changed = apply()
    assert changed.code == 0, changed.output
    assert "Apply complete! Resources: 0 created, 1 updated" in changed.out
    assert (lock(project)["version"], lock(project)["renderer_version"]) == (FORMAT_VERSION, RENDERER_VERSION)
    assert lock(project)["tenants"]["acme-corp"] == current["tenants"]["acme-corp"]


def test_newer_lockfile_stops_plan_before_any_api_call(sim: Sim, project: Path) -> None:
    (project / LOCK).write_text(json.dumps({"version": 4, "renderer_version": "9.1.0", "tenants": {}}))
    before = len(sim.record.read_text().splitlines()) if sim.record.exists() else 0
    result = plan()
    assert result.code == 1
    assert "is format version 4, written by renderer 9.1.0" in result.err
    assert "hint: upgrade renderer to 9.1.0 or later" in result.err
    assert (len(sim.record.read_text().splitlines()) if sim.record.exists() else 0) == before


def test_lockfile_merge_across_versions(tmp_path: Path) -> None:
    """`renderer ci apply` rebases its lockfile onto the deploy branch (`lockcommit.merge_lockfiles`): the
    run checked out a version-1 lockfile, main moved on with another version-1 commit (an older
    renderer), and this run's lockfile is the current version. The merge keeps both sides' tenants."""
    repo = git.Repo.init(tmp_path / "repo", initial_branch="main")
    lock_path = Path(str(repo.working_tree_dir)) / LOCK

    def commit(text: str, message: str) -> git.Commit:
        lock_path.write_text(text)
        repo.index.add([LOCK])
        return repo.index.commit(message, author=git.Actor("a", "a@example.test"),
                                 committer=git.Actor("a", "a@example.test"))

    v1 = json.loads(V1.read_text())
    start = commit(V1.read_text(), "version-1 lockfile")
    moved = json.loads(V1.read_text())
    del moved["tenants"]["initech"]  # torn down by a run of the older renderer
    tip = commit(json.dumps(moved, sort_keys=True, indent=2) + "\n", "initech torn down")

    base = lockfile_at(start, LOCK)
    theirs = lockfile_at(tip, LOCK)
    assert base.version == theirs.version == FORMAT_VERSION
    ours = base.model_copy(deep=True)  # this run changed acme-corp
    ours.tenants["acme-corp"].status = "failed"
    ours.tenants["acme-corp"].commit = "c" * 40

    merged, conflicts = merge_lockfiles(base, ours, theirs)
    assert conflicts == []
    assert sorted(merged.tenants) == ["acme-corp", "globex"]
    assert merged.tenants["acme-corp"].commit == "c" * 40
    assert merged.tenants["globex"] == base.tenants["globex"]
    written = json.loads(merged.dumps())
    assert (written["version"], written["renderer_version"]) == (FORMAT_VERSION, RENDERER_VERSION)
    assert written["tenants"]["globex"] == v1["tenants"]["globex"]


def test_a_version_2_lockfile_reads_as_version_3_with_no_projects_and_is_written_as_version_3(tmp_path: Path) -> None:
    """Issue 14: format 3 adds the kinds `project` and `environment` and a resource's `environment`; a
    version-2 file (tests/data/render.lock.v2.json: its tenants' resources at the workspace root) has
    neither, and nothing else changes when it is written again."""
    text = V2.read_text()
    old = json.loads(text)
    assert old["version"] == 2
    lockfile = loads(text, str(V2))
    assert lockfile.version == 3 and lockfile.renderer_version == "0.1.0"
    for tenant in lockfile.tenants.values():
        assert {r.kind.value for r in tenant.resources.values()}.isdisjoint({"project", "environment"})
        assert all(r.environment is None for r in tenant.resources.values())
    assert MIGRATIONS[2](old)["version"] == 3
    path = tmp_path / LOCK
    path.write_text(text)
    write(path, load(path))
    new = json.loads(path.read_text())
    assert new["version"] == 3


def test_a_version_2_lockfile_reads_as_version_3_without_release_fields(tmp_path: Path) -> None:
    """Issue 16: format version 3 adds the fleet release fields, all optional; a version-2 file reads
    with none of them and is written as version 3 without them."""
    old = json.loads(V2.read_text())
    assert old["version"] == 2
    lockfile = loads(V2.read_text(), str(V2))
    assert lockfile.version == 3
    assert lockfile.rollout is None and lockfile.failed_releases == []
    assert all(t.release is None for t in lockfile.tenants.values())
    path = tmp_path / LOCK
    path.write_text(V2.read_text())
    write(path, load(path))
    new = json.loads(path.read_text())
    assert new["version"] == 3 and "rollout" not in new and "failed_releases" not in new
    assert _without_versions(new) == _without_versions(old)
