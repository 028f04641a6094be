"""Issue 11, the apply half: the apply lock and a symlinked lockfile path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from renderer.apply import apply_lock
from tests.conftest import ROOT, Sim
from tests.helpers import LOCK, apply, lock, only_tenant, writes_since


def test_a_symlinked_lockfile_shares_the_apply_lock_of_its_target(sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    (project / "link.json").symlink_to(LOCK)
    start = sim.exchanges()
    with apply_lock(project / LOCK, timeout=0):
        result = apply("--lockfile", "link.json", "--lock-timeout", "0.3")
    assert result.code == 1
    assert "another renderer apply or import is running on link.json" in result.err
    with apply_lock(project / "link.json", timeout=0):
        assert apply("--lock-timeout", "0.3").code == 1
    assert sim.exchanges() == start  # refused before any request


def test_two_applies_through_a_link_and_its_target_do_not_write_concurrently(sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    (project / LOCK).write_text('{"tenants": {}, "version": 1}\n')
    link = project / "link.json"
    link.symlink_to(LOCK)
    start = sim.exchanges()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "renderer.cli.main", "apply", "--auto-approve"]
    processes = [subprocess.Popen([*command, *extra], cwd=project, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for extra in ((), ("--lockfile", "link.json"))]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    creates = [w for w in writes_since(sim, start) if w[0] == "POST" and w[1] in ("/v1/services", "/v1/postgres")]
    assert len(creates) == 3  # one apply created globex's stack; the other found nothing to do
    assert link.is_symlink() and os.readlink(link) == LOCK
    resources = lock(project)["tenants"]["globex"]["resources"]
    assert len(resources) == 3
    assert sorted(p.name for p in project.iterdir()) == ["blueprints", "link.json", LOCK, LOCK + ".apply-lock",
                                                         "tenants"]


def test_a_write_through_a_symlinked_lockfile_keeps_the_link(sim: Sim, project: Path, tmp_path: Path) -> None:
    only_tenant(project, "globex")
    state = tmp_path / "state"
    state.mkdir()
    (project / LOCK).symlink_to(state / "lock.json")  # dangling until the first write
    assert apply().code == 0
    assert (project / LOCK).is_symlink()
    assert lock(project)["tenants"]["globex"]["status"] == "active"
    assert sorted(p.name for p in state.iterdir()) == ["lock.json", "lock.json.apply-lock"]
