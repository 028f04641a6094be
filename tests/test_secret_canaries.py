"""Issue 11: a distinct canary value in every secret source, then every command renderer has (validate,
plan in each format, apply, status, drift, `ci plan`, `ci apply`), and none of the canaries in any output,
PR comment, job summary, artifact, lockfile, journal or git object renderer writes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.ci_support import Actions, GitProject, ci_apply, pull_request_event
from tests.conftest import Sim, run
from tests.github_fake import FakeGitHub
from tests.helpers import env_of, put_env

LOCK = "render.lock.json"
TEMPLATE = "blueprints/base_crm/render.yaml.j2"
CANARIES = {
    "generateValue": "canary-generated-7c41e9",
    "fromService": "canary-generated-7c41e9",  # the worker reads the web service's generated key
    "env group": "canary-env-group-52ab10",
    "tenant secret": "canary-tenant-secret-d93f02",
    "tenant secret, rotated": "canary-rotated-secret-1e8c77",
    "sync: false": "canary-sync-false-aa6d35",
    "RENDERER_FINGERPRINT_KEY": "canary-fingerprint-key-0b7d4c",
}


@pytest.fixture
def actions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, github: FakeGitHub) -> Actions:
    return Actions(tmp_path, monkeypatch, github)


def _secret_blueprint(project: GitProject) -> None:
    template = project.path / TEMPLATE
    text = template.read_text()
    text = text.replace("services:\n", "envVarGroups:\n  - name: backboneos-shared\n    envVars:\n"
                                       "      - key: GROUP_SECRET\n        generateValue: true\n"
                                       "services:\n", 1)
    text = text.replace("      - key: DJANGO_SECRET_KEY\n        generateValue: true\n",
                        "      - key: DJANGO_SECRET_KEY\n        generateValue: true\n"
                        "      - key: STRIPE_KEY\n        sync: false\n"
                        "      - key: SUPPORT_TOKEN\n        sync: false\n"
                        "      - fromGroup: backboneos-shared\n", 1)
    worker = text.index("name: backboneos-worker")
    at = text.index("    envVars:\n", worker) + len("    envVars:\n")
    text = text[:at] + ("      - key: WEB_SECRET_KEY\n        fromService:\n          type: web\n"
                        "          name: backboneos-backend\n          envVarKey: DJANGO_SECRET_KEY\n") + text[at:]
    template.write_text(text)
    tenant = project.path / "tenants" / "globex.yaml"
    tenant.write_text(tenant.read_text() + "secrets:\n  STRIPE_KEY: {from_env: GLOBEX_STRIPE_KEY}\n")


def _everything_written(tmp_path: Path, project: GitProject, github: FakeGitHub) -> str:
    """Every file under the test's directory (git objects read through git), and every GitHub write."""
    texts: list[str] = []
    for path in tmp_path.rglob("*"):
        if path.is_file() and ".git" not in path.parts and "origin.git" not in path.parts:
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    for repo in (project.path, project.origin_path):
        texts.append(subprocess.run(["git", "log", "--all", "-p", "--format=%H %B"], cwd=repo, capture_output=True,
                                    text=True, check=True).stdout)
    texts += [json.dumps(call.__dict__, default=str) for call in github.writes()]
    return "\n".join(texts)


def test_no_secret_reaches_any_output_or_file(
        sim: Sim, github: FakeGitHub, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = GitProject(tmp_path, ["globex"])
    monkeypatch.chdir(project.path)
    _secret_blueprint(project)
    monkeypatch.setenv("GLOBEX_STRIPE_KEY", CANARIES["tenant secret"])
    monkeypatch.setenv("RENDERER_FINGERPRINT_KEY", CANARIES["RENDERER_FINGERPRINT_KEY"])
    outputs: list[str] = []
    first = project.commit("Secrets from every source")
    project.push("main")

    code, out = ci_apply(actions, "0" * 40, first, "--out", str(tmp_path / "apply-1"))
    outputs += [out, actions.summary]
    assert code == 0, out
    project.sync_main()
    lockfile = json.loads((project.path / LOCK).read_text())["tenants"]["globex"]["resources"]
    web = lockfile["web_service.backboneos-backend"]["id"]
    group = lockfile["env_group.backboneos-shared"]["id"]
    db = lockfile["postgres.backboneos-db"]["id"]
    generated = {env_of(sim, web)["DJANGO_SECRET_KEY"],
                 sim.get(f"/env-groups/{group}/env-vars/GROUP_SECRET").json()["value"]}
    connection = sim.get(f"/postgres/{db}/connection-info").json()
    database = {connection["password"], connection["internalConnectionString"],
                connection["externalConnectionString"]}
    # Values set by hand in the dashboard.
    put_env(sim, web, "DJANGO_SECRET_KEY", CANARIES["generateValue"])
    put_env(sim, web, "SUPPORT_TOKEN", CANARIES["sync: false"])
    with sim.http() as http:
        assert http.put(f"/env-groups/{group}/env-vars/GROUP_SECRET",
                        json={"value": CANARIES["env group"]}).status_code == 200

    outputs.append(run("validate").output)
    for extra in ((), ("--format", "json"), ("--format", "markdown"), ("--out", "saved-plan.json")):
        outputs.append(run("plan", *extra).output)
    applied = run("apply", "--auto-approve")
    assert applied.code == 0, applied.output
    outputs.append(applied.output)
    outputs.append(run("apply", "saved-plan.json").output)
    for command in (("status",), ("drift",), ("drift", "--format", "json")):
        outputs.append(run(*command).output)

    # Every source really holds its canary.
    worker = lockfile["background_worker.backboneos-worker"]["id"]
    assert env_of(sim, worker)["WEB_SECRET_KEY"] == CANARIES["fromService"]
    assert env_of(sim, web)["SUPPORT_TOKEN"] == CANARIES["sync: false"]
    assert sim.get(f"/env-groups/{group}/env-vars/GROUP_SECRET").json()["value"] == CANARIES["env group"]
    assert env_of(sim, worker)["DATABASE_URL"] in database

    # A pull request that rotates the tenant secret, edits a setting and turns every other secret key into a
    # plain value (issue 11, item 3: the old values must not print as before-values): `ci plan`, merge,
    # `ci apply`.
    monkeypatch.setenv("GLOBEX_STRIPE_KEY", CANARIES["tenant secret, rotated"])
    project.repo.git.checkout("--", ".")
    project.branch("change")
    tenant = project.path / "tenants" / "globex.yaml"
    tenant.write_text(tenant.read_text().replace('CRM_DEFAULT_CURRENCY: "USD"', 'CRM_DEFAULT_CURRENCY: "EUR"'))
    template = project.path / TEMPLATE
    text = template.read_text()
    for key, block in (("DATABASE_URL", "        fromDatabase:\n          name: backboneos-db\n"
                                        "          property: connectionString\n"),
                       ("DJANGO_SECRET_KEY", "        generateValue: true\n"),
                       ("SUPPORT_TOKEN", "        sync: false\n"), ("GROUP_SECRET", "        generateValue: true\n"),
                       ("WEB_SECRET_KEY", "        fromService:\n          type: web\n          name: "
                                          "backboneos-backend\n          envVarKey: DJANGO_SECRET_KEY\n")):
        text = text.replace(f"      - key: {key}\n{block}", f"      - key: {key}\n        value: plain-{key}\n")
    template.write_text(text)
    project.commit("Globex pays in euros; secrets become plain settings")
    project.push("change")
    github.add_pull(8, head="change")
    actions.event("pull_request", pull_request_event(8, base_sha=project.sha("origin/main"), head_sha=project.sha(),
                                                     head_ref="change"), sha=project.sha())
    planned = run("ci", "plan", "--out", str(tmp_path / "plan-artifacts"))
    assert planned.code == 0, planned.output
    outputs += [planned.output, actions.summary, *(c["body"] for c in github.comments_on(8))]
    before, after = project.merge("change", 8)
    code, out = ci_apply(actions, before, after, "--out", str(tmp_path / "apply-2"))
    outputs += [out, actions.summary]
    assert code == 0, out
    assert env_of(sim, web)["STRIPE_KEY"] == CANARIES["tenant secret, rotated"]
    assert env_of(sim, worker)["DATABASE_URL"] == "plain-DATABASE_URL"
    assert env_of(sim, web)["SUPPORT_TOKEN"] == "plain-SUPPORT_TOKEN"
    body = github.comments_on(8)[0]["body"]
    for key in ("DATABASE_URL", "DJANGO_SECRET_KEY", "SUPPORT_TOKEN", "GROUP_SECRET", "WEB_SECRET_KEY"):
        assert f"! envVars.{key} = (sensitive value changed)" in " ".join(body.split()), key  # markdown diff: `!`
    assert (tmp_path / "plan-artifacts" / "plan.json").exists() and (tmp_path / "apply-2" / "plan.json").exists()

    everything = "\n".join(outputs) + _everything_written(tmp_path, project, github)
    secrets = {**CANARIES, "RENDER_API_KEY": os.environ["RENDER_API_KEY"], "GITHUB_TOKEN": github.token,
               **{f"generated {i}": value for i, value in enumerate(sorted(generated))},
               **{f"fromDatabase {i}": value for i, value in enumerate(sorted(database))}}
    leaked = sorted(source for source, value in secrets.items() if value in everything)
    assert leaked == []
