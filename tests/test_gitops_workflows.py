"""The workflow files: GitHub's workflow schema, zizmor's security audits (offline), and the rules of
issue 6 (thin steps, least privilege, pinned actions, no pull_request_target, one deploy at a time)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
FILES = [WORKFLOWS / "plan.yml", WORKFLOWS / "deploy.yml", WORKFLOWS / "drift.yml"]
BIN = Path(sys.executable).parent
SEVERITIES = ["unknown", "informational", "low", "medium", "high"]


def load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text())


def test_workflows_match_githubs_schema() -> None:
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, FILES)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


@pytest.mark.parametrize("persona", ["regular", "auditor"])
def test_zizmor_finds_nothing_medium_or_higher(persona: str) -> None:
    result = subprocess.run(
        [str(BIN / "zizmor"), "--offline", f"--persona={persona}", "--format=json", str(WORKFLOWS)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 10, 11, 12, 13, 14), result.stderr  # 1x: findings, judged below
    findings = json.loads(result.stdout)
    serious = [f"{f['ident']} ({f['determinations']['severity']}): {f['desc']}" for f in findings
               if SEVERITIES.index(f["determinations"]["severity"].lower()) >= SEVERITIES.index("medium")]
    assert serious == []


def test_plan_workflow_shape() -> None:
    doc = load(WORKFLOWS / "plan.yml")
    assert set(doc["on"]) == {"pull_request"}
    # The lockfile is input (issue 11): a pull request that edits render.lock.json is planned; so is the
    # release file (issue 16).
    assert doc["on"]["pull_request"]["paths"] == ["tenants/**", "blueprints/**", "releases.yaml", "renderer/**",
                                                  "render.lock.json"]
    assert doc["permissions"] == {}
    job = doc["jobs"]["plan"]
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    runs = [s["run"] for s in job["steps"] if "run" in s]
    assert runs == ["make env", ".venv/bin/renderer validate --format github",
                    ".venv/bin/renderer ci plan --out renderer-plan"]


def test_deploy_workflow_shape() -> None:
    doc = load(WORKFLOWS / "deploy.yml")
    assert set(doc["on"]) == {"push", "schedule", "workflow_dispatch"}
    assert doc["on"]["push"]["branches"] == ["main"]
    assert doc["on"]["push"]["paths"] == ["tenants/**", "blueprints/**", "releases.yaml", "renderer/**",
                                          "render.lock.json"]
    assert doc["concurrency"] == {"group": "renderer-deploy", "cancel-in-progress": False}
    assert doc["permissions"] == {}
    job = doc["jobs"]["apply"]
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    runs = [s["run"] for s in job["steps"] if "run" in s]
    # a release's bake longer than the job may wait pauses the rollout (exit 4); the schedule resumes it
    assert runs == ["make env", ".venv/bin/renderer ci apply --out renderer-apply --rollout-timeout 5400"]
    assert job["timeout-minutes"] * 60 > 5400
    assert doc["on"]["workflow_dispatch"]["inputs"]["allow_destroy"]["type"] == "boolean"


def test_drift_workflow_shape() -> None:
    doc = load(WORKFLOWS / "drift.yml")
    assert set(doc["on"]) == {"schedule", "workflow_dispatch"}
    assert doc["permissions"] == {}
    assert doc["concurrency"] == {"group": "renderer-drift", "cancel-in-progress": False}
    job = doc["jobs"]["drift"]
    assert job["permissions"] == {"contents": "read", "issues": "write", "pull-requests": "read"}
    runs = [s["run"] for s in job["steps"] if "run" in s]
    assert runs == ["make env", ".venv/bin/renderer ci drift --out renderer-drift"]


def test_workflow_files_are_all_checked() -> None:
    assert sorted(WORKFLOWS.glob("*.yml")) == sorted(FILES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_actions_pinned_and_credentials_not_persisted(path: Path) -> None:
    doc = load(path)
    assert "pull_request_target" not in doc["on"]
    # No event text (titles, branch names) is expanded into a script: only the PR number, in a group name.
    expressions = re.findall(r"\$\{\{[^}]*\}\}", path.read_text())
    assert {e for e in expressions if "github.event" in e} <= {"${{ github.event.pull_request.number }}"}
    for job in doc["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
