"""Issue 5 (phase A): after a kill at any point, re-running apply converges.

`renderer apply` runs as a subprocess that exits hard right after journal step N
(RENDERER_CRASH_AFTER_JOURNAL_STEP), for 50 seeds spread over every step of two scenarios, plus real
SIGKILLs at seeded random times. In every fifth seed the simulator also loses the answers to some
creates (`/_sim/faults` rules with action `lose_response` on `POST /services` and `POST /postgres`: Render
creates the resource, the client never hears back). After each kill: the lockfile is valid JSON; a
second apply exits 0; then there is no duplicate resource, every live resource is in the lockfile (and
only those), the journal is gone and the next plan is empty.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from renderer.journal import CRASH_ENV, CRASH_EXIT_CODE
from tests.conftest import ROOT, Sim
from tests.helpers import LOCK, apply, lock, plan

FLAGS = ("--allow-destroy", "--allow-replace", "--allow-data-loss")
# Journal lines of each scenario's apply (intent + result per write; an update also opens and closes).
CREATE_STEPS = 16  # two tenants, a project (with its environment) and three creates each
# a teardown (3 deletes, the Postgres one after its backup, then its environment and project), a Postgres
# replace (backup, delete, create), 2 service updates, the rename of a project (its tenant's blueprint
# changed), a project (with its environment) and 3 creates
CHANGE_STEPS = 42


def _subprocess_env(extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


class _ClockRunning:
    """While an apply subprocess (on the real clock) runs, simulated time runs fast: 5 s every 50 ms, so
    the Postgres export apply waits for before a delete (10 simulated seconds) is ready at once."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            self.sim.admin("/_sim/clock/advance", {"seconds": 5})

    def __enter__(self) -> None:
        self.thread.start()

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def _apply_process(project: Path, extra: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "renderer.cli.main", "apply", "--auto-approve", *FLAGS],
                            cwd=project, env=_subprocess_env(extra), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _scenario_create(project: Path) -> None:
    """Two new tenants: six creates, and each tenant's project with its environment."""
    (project / "tenants" / "acme-corp.yaml").unlink()


def _scenario_change(project: Path) -> None:
    """Applied globex and initech; then globex is removed, initech's Postgres is replaced (a new major
    version) so both its services get a new DATABASE_URL, and acme-corp is added."""
    acme = project / "tenants" / "acme-corp.yaml"
    acme_text = acme.read_text()
    acme.unlink()
    assert apply().code == 0
    (project / "tenants" / "globex.yaml").unlink()
    acme.write_text(acme_text)
    v17 = project / "blueprints" / "base_crm_v17"
    shutil.copytree(project / "blueprints" / "base_crm", v17)
    template = v17 / "render.yaml.j2"
    template.write_text(template.read_text().replace('postgresMajorVersion: "16"', 'postgresMajorVersion: "17"'))
    initech = project / "tenants" / "initech.yaml"
    initech.write_text(initech.read_text().replace("blueprint: base_crm", "blueprint: base_crm_v17"))
    result = plan()
    assert result.code == 3, result.output


def _lose_create_responses(sim: Sim, seed: int) -> list[dict[str, object]]:
    """Rules that make the simulator carry out, then drop the answer to, one service create and one
    Postgres create (which ones depends on the seed), in the apply that crashes and in the re-run."""
    rng = random.Random(seed)
    rules: list[dict[str, object]] = [
        {"action": "lose_response", "method": "POST", "path": "/services", "nth": rng.randint(1, 2), "times": 1},
        {"action": "lose_response", "method": "POST", "path": "/postgres", "nth": rng.randint(1, 2), "times": 1},
    ]
    assert sim.admin("/_sim/faults", {"rules": rules}).status_code == 200
    return rules


def _lost_answers(sim: Sim) -> int:
    stats = sim.admin_get("/_sim/stats")["endpoints"]
    return sum(stats.get(endpoint, {}).get("lost", 0) for endpoint in ("POST /v1/services", "POST /v1/postgres"))


def _live(sim: Sim) -> list[tuple[str, str]]:
    services = sim.get("/services", limit=100).json()
    databases = sim.get("/postgres", limit=100).json()
    projects = sim.get("/projects", limit=100).json()
    # Environments are named per project (each tenant's is `production`): named here with their project.
    environments = sim.get("/environments", projectId=",".join(p["project"]["id"] for p in projects),
                           limit=100).json() if projects else []
    project_names = {p["project"]["id"]: p["project"]["name"] for p in projects}
    return ([(s["service"]["id"], s["service"]["name"]) for s in services]
            + [(p["postgres"]["id"], p["postgres"]["name"]) for p in databases]
            + [(p["project"]["id"], p["project"]["name"]) for p in projects]
            + [(e["environment"]["id"], f"{project_names[e['environment']['projectId']]}/{e['environment']['name']}")
               for e in environments])


def _assert_converged(sim: Sim, project: Path) -> None:
    rerun = apply(*FLAGS)
    assert rerun.code == 0, rerun.output
    live = _live(sim)
    names = [name for _, name in live]
    assert len(names) == len(set(names)), f"duplicate resources: {sorted(names)}"
    locked = {r["id"] for t in lock(project)["tenants"].values() for r in t["resources"].values()}
    assert {rid for rid, _ in live} == locked
    slugs = {p.stem for p in (project / "tenants").glob("*.yaml")}
    assert set(lock(project)["tenants"]) == slugs
    assert all(t["status"] == "active" for t in lock(project)["tenants"].values())
    assert not (project / (LOCK + ".journal")).exists()
    assert not list(project.glob(f".{LOCK}.*.tmp")), "a temporary lockfile was left behind"
    after = plan()
    assert after.code == 0, after.output


def _lockfile_is_valid(project: Path) -> None:
    path = project / LOCK
    if path.exists():
        json.loads(path.read_text())


SEEDS = list(range(50))


@pytest.mark.parametrize("seed", SEEDS)
def test_crash_after_journal_step_converges(seed: int, sim: Sim, project: Path) -> None:
    if seed % 2 == 0:
        _scenario_create(project)
        step = 1 + (seed // 2) % CREATE_STEPS
    else:
        _scenario_change(project)
        step = 1 + round((seed // 2) * (CHANGE_STEPS - 1) / 24)
    lossy = seed % 5 == 0
    if lossy:
        _lose_create_responses(sim, seed)
    with _ClockRunning(sim):
        process = _apply_process(project, {CRASH_ENV: str(step)})
        _, err = process.communicate(timeout=120)
    assert process.returncode == CRASH_EXIT_CODE, err
    _lockfile_is_valid(project)
    journal = project / (LOCK + ".journal")
    assert journal.exists() and len(journal.read_text().splitlines()) == step
    _assert_converged(sim, project)
    if lossy:
        assert _lost_answers(sim) >= 1  # at least one create happened without its answer


@pytest.mark.parametrize("seed", range(5))
def test_sigkill_at_a_random_time_converges(seed: int, sim: Sim, project: Path) -> None:
    _scenario_create(project)
    _lose_create_responses(sim, 100 + seed)
    journal = project / (LOCK + ".journal")
    process = _apply_process(project, {})
    deadline = time.monotonic() + 60
    while not journal.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(random.Random(seed).uniform(0.0, 0.2))  # somewhere in the middle of the writes
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    _lockfile_is_valid(project)
    _assert_converged(sim, project)
    assert _lost_answers(sim) >= 1


@pytest.mark.parametrize("scenario", ["create", "change"])
def test_crash_steps_cover_each_scenario(scenario: str, sim: Sim, project: Path) -> None:
    """The step counts above are exact (the largest step the seeds use is the last one): one more
    step than that and the apply completes."""
    if scenario == "create":
        _scenario_create(project)
    else:
        _scenario_change(project)
    steps = CREATE_STEPS if scenario == "create" else CHANGE_STEPS
    with _ClockRunning(sim):
        process = _apply_process(project, {CRASH_ENV: str(steps + 1)})
        _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert not (project / (LOCK + ".journal")).exists()



def test_update_interrupted_before_its_deploy_is_deployed_by_the_next_apply(sim: Sim, project: Path) -> None:
    only = project / "tenants"
    for name in ("acme-corp", "initech"):
        (only / f"{name}.yaml").unlink()
    assert apply().code == 0
    globex = only / "globex.yaml"
    globex.write_text(globex.read_text().replace('"USD"', '"EUR"'))
    web = lock(project)["tenants"]["globex"]["resources"]["web_service.backboneos-backend"]["id"]
    # Journal lines: update intent, env_put intent, env_put done (crash here), deploy intent, ...
    process = _apply_process(project, {CRASH_ENV: "3"})
    process.communicate(timeout=120)
    assert process.returncode == CRASH_EXIT_CODE
    assert sim.get(f"/services/{web}/env-vars/CRM_DEFAULT_CURRENCY").json()["value"] == "EUR"
    assert len(sim.get(f"/services/{web}/deploys").json()) == 1  # only the create's deploy
    assert "- an interrupted apply left render.lock.json.journal; the next apply first" in plan().out
    rerun = apply()
    assert rerun.code == 0, rerun.output
    assert (f"globex: web_service.backboneos-backend: deployed {web} again (an interrupted apply changed it "
            "without deploying)") in rerun.out
    assert len(sim.get(f"/services/{web}/deploys").json()) == 2
    assert plan().code == 0


def test_create_with_a_lost_answer_is_found_by_owner_type_and_name(sim: Sim, project: Path) -> None:
    """A create sent but never answered (the journal has its intent only) is adopted, not duplicated."""
    for name in ("acme-corp", "initech"):
        (project / "tenants" / f"{name}.yaml").unlink()
    body = {"type": "background_worker", "name": "backboneos-worker-globex", "ownerId": sim.owner_id,
            "repo": "https://github.com/backboneos/backboneos", "branch": "main",
            "serviceDetails": {"runtime": "python", "plan": "starter", "envSpecificDetails": {
                "buildCommand": "pip install -r requirements.txt",
                "startCommand": "celery -A backboneos worker --loglevel=info"}}}
    with sim.http() as http:
        worker = http.post("/services", json=body).json()["service"]["id"]
    intent = {"seq": 1, "phase": "intent", "op": "create", "tenant": "globex", "blueprint": "base_crm",
              "address": "background_worker.backboneos-worker", "kind": "background_worker",
              "name": "backboneos-worker-globex", "env_vars": ["DATABASE_URL", "TENANT_NAME", "TENANT_SLUG"]}
    (project / (LOCK + ".journal")).write_text(json.dumps(intent) + "\n")
    planned = plan()
    assert planned.code == 1  # plan never writes: it cannot adopt, but it says how
    assert "hint: an interrupted apply left render.lock.json.journal: run `renderer apply`" in planned.err
    result = apply()
    assert result.code == 0, result.output
    assert (f"globex: background_worker.backboneos-worker: recorded {worker} (backboneos-worker-globex) from an "
            "interrupted apply") in result.out
    resources = lock(project)["tenants"]["globex"]["resources"]
    assert resources["background_worker.backboneos-worker"]["id"] == worker
    assert sorted(name for _, name in _live(sim)) == [
        "backboneos-backend-globex", "backboneos-db-globex", "backboneos-worker-globex", "base_crm-globex",
        "base_crm-globex/production"]
    assert plan().code == 0
