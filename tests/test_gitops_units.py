"""The parts of `renderer ci` on their own: affected-tenant rules on a real git history, the tenant-secret
convention, the GitHub environment and events, lockfile merging, and `--help` with no GitHub variables."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from renderer.ci.affected import ChangedPath, Rule, changed_paths, select
from renderer.ci.allow import AllowKind, change_allows, input_allows, record, recorded
from renderer.ci.context import GitHubEnv
from renderer.ci.deploy import pull_number_from_message
from renderer.ci.lockcommit import auth_environment, merge_lockfiles
from renderer.ci.tenant_secrets import ENV_VAR, expand_tenant_secrets
from renderer.errors import RendererError
from renderer.kind import Kind
from renderer.lockfile import LockedResource, LockedTenant, Lockfile
from tests.ci_support import Actions, GitProject, pull_request_event, push_event
from tests.conftest import Sim, run
from tests.github_fake import FakeGitHub

BLUEPRINTS = {"acme-corp": "lite_crm", "globex": "base_crm", "initech": "base_crm"}


def test_rules_on_a_git_history(tmp_path: Path) -> None:
    project = GitProject(tmp_path, ["globex", "initech"])
    base = project.sha()
    project.branch("change")
    shutil.copytree(project.path / "blueprints/base_crm", project.path / "blueprints/lite_crm")
    project.copy_tenant("acme-corp")
    project.commit("Add lite_crm and acme-corp")
    template = project.path / "blueprints/base_crm/render.yaml.j2"
    template.write_text(template.read_text().replace("gunicorn backboneos.wsgi", "gunicorn backboneos.wsgi -w 4"))
    (project.path / "tenants/initech.yaml").rename(project.path / "tenants/initrode.yaml")
    project.write("docs/notes.md", "notes\n")
    project.commit("Tune gunicorn, rename initech, notes")

    changes = changed_paths(project.repo, base)
    assert [(c.path, c.change) for c in changes] == [
        ("blueprints/base_crm/render.yaml.j2", "M"), ("blueprints/lite_crm/render.yaml.j2", "A"),
        ("docs/notes.md", "A"), ("tenants/acme-corp.yaml", "A"), ("tenants/initech.yaml", "D"),
        ("tenants/initrode.yaml", "A")]
    affected = select(changes, tenants_dir="tenants", blueprints_dir="blueprints",
                      tenant_blueprints={"acme-corp": "lite_crm", "globex": "base_crm", "initrode": "base_crm"},
                      locked_blueprints={"globex": "base_crm", "initech": "base_crm"})
    assert {slug: [(s.rule, s.why) for s in sel] for slug, sel in affected.tenants.items()} == {
        "globex": [(Rule.BLUEPRINT, "blueprint `base_crm` changed")],
        "initech": [(Rule.TENANT_FILE, "`tenants/initech.yaml` removed (teardown)"),
                    (Rule.BLUEPRINT, "blueprint `base_crm` changed")],
        "initrode": [(Rule.TENANT_FILE, "`tenants/initrode.yaml` added"),
                     (Rule.BLUEPRINT, "blueprint `base_crm` changed")],
        "acme-corp": [(Rule.TENANT_FILE, "`tenants/acme-corp.yaml` added"),
                      (Rule.BLUEPRINT, "blueprint `lite_crm` changed")],
    }
    assert affected.unmatched == ["docs/notes.md"]
    assert affected.by_reason() == {
        "`tenants/acme-corp.yaml` added": ["acme-corp"], "`tenants/initech.yaml` removed (teardown)": ["initech"],
        "`tenants/initrode.yaml` added": ["initrode"], "blueprint `base_crm` changed": ["globex"]}


def test_renderer_code_change_selects_every_tenant() -> None:
    affected = select([ChangedPath("renderer/apply.py", "M")], tenants_dir="tenants", blueprints_dir="blueprints",
                      tenant_blueprints=BLUEPRINTS, locked_blueprints={"gone": "base_crm"})
    assert affected.slugs == ["acme-corp", "globex", "gone", "initech"]
    assert {affected.primary(s).why for s in affected.slugs} == {"`renderer/` changed"}


def test_release_file_change_selects_every_tenant() -> None:
    """Issue 16: a pull request that changes only releases.yaml changes every tenant's version or ring,
    so its plan (and PR comment with the rollout section) covers every tenant."""
    changes = [ChangedPath("releases.yaml", "M"), ChangedPath("docs/releases.md", "M")]
    affected = select(changes, tenants_dir="tenants", blueprints_dir="blueprints", tenant_blueprints=BLUEPRINTS,
                      locked_blueprints={"gone": "base_crm"}, release_file="releases.yaml")
    assert affected.slugs == ["acme-corp", "globex", "gone", "initech"]
    assert {affected.primary(s).rule for s in affected.slugs} == {Rule.RELEASE_FILE}
    assert {affected.primary(s).why for s in affected.slugs} == {"`releases.yaml` changed"}
    assert affected.unmatched == ["docs/releases.md"]


def test_unknown_base_commit_is_a_clear_error(tmp_path: Path) -> None:
    project = GitProject(tmp_path, ["globex"])
    with pytest.raises(RendererError) as error:
        changed_paths(project.repo, "1" * 40)
    assert "is not in this clone" in error.value.message
    assert error.value.hint == "check out with full history (actions/checkout `fetch-depth: 0`)"


def test_blueprint_change_plans_its_tenants_and_says_why(
        sim: Sim, github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = GitProject(tmp_path, ["globex", "initech"])
    monkeypatch.chdir(project.path)
    actions = Actions(tmp_path, monkeypatch, github)
    actions.event("push", push_event("0" * 40, project.sha()), sha=project.sha())
    assert run("ci", "apply").code == 0
    project.sync_main()
    project.branch("gunicorn")
    template = project.path / "blueprints/base_crm/render.yaml.j2"
    template.write_text(template.read_text().replace("gunicorn backboneos.wsgi", "gunicorn backboneos.wsgi -w 4"))
    project.commit("Four gunicorn workers")
    actions.event("pull_request", pull_request_event(
        3, base_sha=project.sha("main"), head_sha=project.sha(), head_ref="gunicorn"))
    result = run("ci", "plan")
    assert result.code == 0, result.output
    body = github.comments_on(3)[0]["body"]
    assert "**2 tenants: 0 create, 2 update, 0 delete, 0 unchanged**" in body
    assert "- blueprint `base_crm` changed: `globex`, `initech`" in body
    assert ('-     startCommand = "gunicorn backboneos.wsgi"\n'
            '+     startCommand = "gunicorn backboneos.wsgi -w 4"') in body
    assert "On merge" not in body  # nothing destructive


@pytest.fixture
def clean_environ() -> Iterator[dict[str, str]]:
    environ = {"PATH": "/usr/bin"}
    yield environ


def test_tenant_secrets_are_masked_then_set(clean_environ: dict[str, str]) -> None:
    masked: list[str] = []
    clean_environ[ENV_VAR] = json.dumps({"ACME_STRIPE_KEY": "sk_live_abc", "GLOBEX_PEM": "line1\nline2"})
    names = expand_tenant_secrets(clean_environ, masked.append)
    assert names == ["ACME_STRIPE_KEY", "GLOBEX_PEM"]
    assert masked == ["sk_live_abc", "line1\nline2"]
    assert clean_environ["ACME_STRIPE_KEY"] == "sk_live_abc" and clean_environ["GLOBEX_PEM"] == "line1\nline2"
    assert expand_tenant_secrets({}, masked.append) == []


@pytest.mark.parametrize(("value", "message"), [
    ('{"A": "sk_live_secret"',
     "RENDERER_TENANT_SECRETS is not valid JSON (Expecting ',' delimiter at line 1 column 23)"),
    ('["sk_live_secret"]', "RENDERER_TENANT_SECRETS holds a JSON list, not an object"),
    ('{"A": 12345678}', "RENDERER_TENANT_SECRETS cannot be used: the value of 'A' is a JSON int, not a string"),
    ('{"RENDER_API_URL": "https://evil.test"}',
     "RENDERER_TENANT_SECRETS cannot be used: 'RENDER_API_URL' starts with a reserved prefix "
     "(RENDER_, RENDERER_, GITHUB_, RUNNER_, ACTIONS_)"),
    ('{"PATH": "sk_live_secret"}', "RENDERER_TENANT_SECRETS cannot be used: 'PATH' is already set in the environment"),
    ('{"not a name": "sk_live_secret"}',
     "RENDERER_TENANT_SECRETS cannot be used: 'not a name' is not an environment variable name"),
])
def test_bad_tenant_secrets_name_the_problem_never_the_value(
        clean_environ: dict[str, str], value: str, message: str) -> None:
    clean_environ[ENV_VAR] = value
    with pytest.raises(RendererError) as error:
        expand_tenant_secrets(clean_environ, None)
    assert error.value.message == message
    assert "sk_live_secret" not in str(error.value) and "evil.test" not in str(error.value)
    assert set(clean_environ) == {"PATH", ENV_VAR}


def test_ci_apply_masks_tenant_secrets_on_a_runner(
        sim: Sim, github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = GitProject(tmp_path, ["globex"])
    monkeypatch.chdir(project.path)
    actions = Actions(tmp_path, monkeypatch, github)
    actions.event("push", push_event("0" * 40, project.sha()), sha=project.sha())
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv(ENV_VAR, json.dumps({"GLOBEX_SMTP_PASSWORD": "pw-0123456789", "ACME_PEM": "a%b\nc"}))
    try:
        result = run("ci", "apply")
        seen = {k: os.environ.get(k) for k in ("GLOBEX_SMTP_PASSWORD", "ACME_PEM")}
    finally:
        for key in ("GLOBEX_SMTP_PASSWORD", "ACME_PEM"):
            os.environ.pop(key, None)
    assert result.code == 0, result.output
    assert result.out.splitlines()[:3] == ["::add-mask::pw-0123456789", "::add-mask::a%25b", "::add-mask::c"]
    assert seen == {"GLOBEX_SMTP_PASSWORD": "pw-0123456789", "ACME_PEM": "a%b\nc"}
    assert "pw-0123456789" not in result.out.split("\n", 3)[3] + result.err + actions.summary
    assert "pw-0123456789" not in str(project.origin.commit("main").message)


def test_help_needs_no_github_environment() -> None:
    for name in ("GITHUB_EVENT_PATH", "GITHUB_REPOSITORY", "GITHUB_TOKEN", "GITHUB_API_URL", "GITHUB_STEP_SUMMARY"):
        assert name not in os.environ or pytest.fail(f"{name} leaked into the test environment")
    for args in (("ci", "--help"), ("ci", "plan", "--help"), ("ci", "apply", "--help"), ("ci", "drift", "--help")):
        result = run(*args)
        assert result.code == 0, result.output
        assert "Usage: renderer ci" in result.out
    assert "--lockfile-push [auto|direct|pull-request]" in run("ci", "apply", "--help").out


def test_missing_event_is_a_clear_error() -> None:
    result = run("ci", "plan")
    assert result.code == 1
    assert result.err.startswith(
        "Error: GITHUB_EVENT_PATH is not set: renderer ci reads the event that triggered the workflow\n")
    assert "Traceback" not in result.output


def test_wrong_event_for_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps(push_event("0" * 40, "1" * 40)))
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    result = run("ci", "plan")
    assert result.code == 1
    assert "Error: renderer ci plan runs on pull_request events, not push" in result.err


def test_event_parsing_and_fork_detection(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    payload = pull_request_event(4, base_sha="a" * 40, head_sha="b" * 40, head_ref="x", head_repo="Mallory/CRM",
                                 labels=["allow-destroy"])
    event.write_text(json.dumps(payload))
    gh = GitHubEnv.from_environ({"GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": "acme/crm",
                                 "GITHUB_RUN_ID": "77"})
    assert gh.event_name == "pull_request" and gh.api_url == "https://api.github.com"
    assert gh.run_url == "https://github.com/acme/crm/actions/runs/77"
    pr = gh.pull_request_event().pull_request
    assert pr.fork_repository == "Mallory/CRM" and pr.label_names == {"allow-destroy"}
    payload["pull_request"]["head"]["repo"] = {"full_name": "ACME/crm"}
    event.write_text(json.dumps(payload))
    assert GitHubEnv.from_environ({"GITHUB_EVENT_PATH": str(event)}).pull_request_event().pull_request.fork_repository \
        is None
    event.write_text("{not json")
    with pytest.raises(RendererError, match="is not JSON"):
        GitHubEnv.from_environ({"GITHUB_EVENT_PATH": str(event)})


def test_job_summary_is_cut_at_githubs_limit(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text("{}")
    summary = tmp_path / "summary.md"
    gh = GitHubEnv.from_environ({"GITHUB_EVENT_PATH": str(event), "GITHUB_STEP_SUMMARY": str(summary)})
    gh.write_summary("line\n" * 300_000)
    text = summary.read_text()
    assert len(text.encode()) < 1024 * 1024
    assert text.endswith("_The rest is cut: GitHub shows at most 1 MiB here. The artifact holds the whole plan._\n")


def _tenant(rid: str) -> LockedTenant:
    return LockedTenant(blueprint="base_crm", resources={
        "web_service.backboneos-backend": LockedResource(kind=Kind.WEB_SERVICE, name="b", id=rid)})


def test_lockfile_merge_keeps_both_sides_and_prefers_this_run_on_conflict() -> None:
    base = Lockfile(tenants={"a": _tenant("srv-a"), "b": _tenant("srv-b"), "gone": _tenant("srv-g")})
    ours = Lockfile(tenants={"a": _tenant("srv-a2"), "b": _tenant("srv-b"), "new": _tenant("srv-n"),
                             "c": _tenant("srv-c-ours")})
    theirs = Lockfile(tenants={"a": _tenant("srv-a"), "b": _tenant("srv-b3"), "gone": _tenant("srv-g"),
                               "c": _tenant("srv-c-theirs")})
    merged, conflicts = merge_lockfiles(base, ours, theirs)
    ids = {slug: t.resources["web_service.backboneos-backend"].id for slug, t in merged.tenants.items()}
    assert ids == {"a": "srv-a2", "b": "srv-b3", "c": "srv-c-ours", "new": "srv-n"}
    assert conflicts == ["c"]


def test_pull_request_number_from_merge_messages() -> None:
    assert pull_number_from_message("Merge pull request #12 from acme/add-acme\n\nAdd acme") == 12
    assert pull_number_from_message("Add tenant acme-corp (#34)\n\n* wip") == 34
    assert pull_number_from_message("Direct push") is None


def test_push_authenticates_only_to_the_github_server() -> None:
    env = auth_environment("https://github.com/acme/crm", "https://github.com", "ghs_token")
    assert env["GIT_CONFIG_KEY_0"] == "http.https://github.com/.extraheader"
    assert env["GIT_CONFIG_VALUE_0"] == "AUTHORIZATION: basic eC1hY2Nlc3MtdG9rZW46Z2hzX3Rva2Vu"
    assert auth_environment("https://evil.test/acme/crm", "https://github.com", "ghs_token") == {}
    assert auth_environment("/tmp/origin.git", "https://github.com", "ghs_token") == {}


def test_pr_affecting_no_tenant_says_so_without_calling_render(
        sim: Sim, github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = GitProject(tmp_path, ["globex"])
    monkeypatch.chdir(project.path)
    actions = Actions(tmp_path, monkeypatch, github)
    project.branch("draft-blueprint")
    shutil.copytree(project.path / "blueprints/base_crm", project.path / "blueprints/draft")
    project.commit("Draft a blueprint nobody uses yet")
    actions.event("pull_request", pull_request_event(
        6, base_sha=project.sha("main"), head_sha=project.sha(), head_ref="draft-blueprint"))
    before = sim.exchanges()
    result = run("ci", "plan")
    assert result.code == 0, result.output
    assert sim.exchanges() == before
    body = github.comments_on(6)[0]["body"]
    assert "**No tenant is affected by this pull request.** Nothing to plan." in body
    assert "- changed, but no tenant depends on it: `blueprints/draft/render.yaml.j2`" in body


def test_failed_plan_is_posted_then_fails_the_job(
        sim: Sim, github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = GitProject(tmp_path, [])
    monkeypatch.chdir(project.path)
    actions = Actions(tmp_path, monkeypatch, github)
    body = {"type": "background_worker", "name": "backboneos-worker-globex", "ownerId": sim.owner_id,
            "serviceDetails": {"runtime": "python", "envSpecificDetails": {
                "buildCommand": "true", "startCommand": "true"}}}
    with sim.http() as http:
        assert http.post("/services", json=body).status_code == 201
    project.branch("add-globex")
    project.copy_tenant("globex")
    project.commit("Add globex")
    actions.event("pull_request", pull_request_event(
        8, base_sha=project.sha("main"), head_sha=project.sha(), head_ref="add-globex"))
    result = run("ci", "plan")
    assert result.code == 1
    assert "already exists in the workspace" in result.err
    comment = github.comments_on(8)[0]["body"]
    assert "**The plan failed.**" in comment and "backboneos-worker-globex" in comment
    assert "**The plan failed.**" in actions.summary


def test_allow_conventions_labels_trailers_inputs_and_the_record_for_a_resume(tmp_path: Path) -> None:
    assert [(k.label, k.trailer, k.input) for k in AllowKind] == [
        ("allow-destroy", "Allow-Destroy", "allow_destroy"),
        ("allow-data-loss", "Allow-Data-Loss", "allow_data_loss"),
        ("allow-mass-destroy", "Allow-Mass-Destroy", "allow_mass_destroy")]
    project = GitProject(tmp_path, [])
    project.commit_empty("Move the database\n\nAllow-Data-Loss: restored from backup\nAllow-Mass-Destroy: no")
    commits = [project.repo.head.commit]
    allows = change_allows(["allow-destroy", "unrelated"], 12, commits)
    assert allows.kinds == [AllowKind.DESTROY, AllowKind.DATA_LOSS]
    assert allows[AllowKind.DESTROY].by == "label `allow-destroy` on #12"
    assert allows[AllowKind.DATA_LOSS].by == (f"trailer `Allow-Data-Loss: restored from backup` in "
                                              f"{commits[0].hexsha[:7]}")
    assert not allows.allowed(AllowKind.MASS_DESTROY)  # `no` is no allow
    assert input_allows({"allow_mass_destroy": True, "allow_destroy": False}).kinds == [AllowKind.MASS_DESTROY]
    line = record(allows)
    assert line == "Renderer-Allow: destroy, data-loss"
    project.commit_empty(f"render.lock.json: partial apply [skip ci]\n\n{line}\nRenderer-Apply: incomplete")
    assert recorded(project.repo.head.commit).kinds == [AllowKind.DESTROY, AllowKind.DATA_LOSS]
    assert record(input_allows({})) is None and recorded(None).kinds == []
