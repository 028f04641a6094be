"""PR comments: a 400-tenant plan split at tenant boundaries into comments under GitHub's limit, edited in
place and trimmed on a later run; the splitter and the sync on their own; the GitHub client's retries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from renderer.ci.comments import MAX_COMMENT, marker, split_comments, sync_comments
from renderer.ci.github import GitHubClient, GitHubError
from tests.ci_support import Actions, GitProject, pull_request_event
from tests.conftest import Sim, run
from tests.github_fake import FakeGitHub, Fault

TENANT = """name: Tenant {n}
slug: {slug}
blueprint: base_crm
custom_plugin_repo: https://github.com/tenants/{slug}-plugins.git
env:
  CRM_FEATURE_FLAGS: "pipelines,forecasting,reports,quotes,territories"
  CRM_DEFAULT_CURRENCY: "EUR"
  CRM_SUPPORT_EMAIL: "support-{slug}@example.test"
"""
SECTION = re.compile(r"<details><summary><b>([a-z0-9-]+)</b>: ")


def slug(n: int) -> str:
    return f"tenant-{n:03d}"


def test_four_hundred_tenants_split_at_tenant_boundaries_then_trimmed(
        sim: Sim, github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = GitProject(tmp_path, [])
    monkeypatch.chdir(project.path)
    actions = Actions(tmp_path, monkeypatch, github)
    project.branch("onboard")
    for n in range(400):
        project.write(f"tenants/{slug(n)}.yaml", TENANT.format(n=n, slug=slug(n)))
    project.commit("Onboard 400 tenants")
    actions.event("pull_request", pull_request_event(
        21, base_sha=project.sha("main"), head_sha=project.sha(), head_ref="onboard"))

    result = run("ci", "plan")

    assert result.code == 0, result.output
    comments = github.comments_on(21)
    assert len(comments) >= 10
    bodies = [c["body"] for c in comments]
    assert all(len(b) < MAX_COMMENT for b in bodies)
    for part, body in enumerate(bodies, start=1):
        assert body.startswith(marker(part) + "\n### renderer plan (part " + f"{part} of {len(bodies)})")
        assert body.count("<details>") == body.count("</details>")  # no section cut in two
        assert body.count("```") % 2 == 0
    assert "**400 tenants: 400 create, 0 update, 0 delete, 0 unchanged**" in bodies[0]
    assert "Plan: 2000 to create, 0 to update, 0 to replace, 0 to delete." in bodies[0]
    assert all("tenants: 400 create" not in b for b in bodies[1:])
    sections = [s for b in bodies for s in SECTION.findall(b)]
    assert sections == [slug(n) for n in range(400)]  # each tenant once, in plan order
    first_id = comments[0]["id"]

    for n in range(50, 400):
        (project.path / "tenants" / f"{slug(n)}.yaml").unlink()
    project.commit("Only 50 for now")
    actions.event("pull_request", pull_request_event(
        21, base_sha=project.sha("main"), head_sha=project.sha(), head_ref="onboard"))
    assert run("ci", "plan").code == 0
    after = github.comments_on(21)
    assert 1 <= len(after) < len(comments)
    assert [c["id"] for c in after] == [c["id"] for c in comments[: len(after)]]
    assert after[0]["id"] == first_id
    assert "**50 tenants: 50 create, 0 update, 0 delete, 0 unchanged**" in after[0]["body"]
    assert [s for c in after for s in SECTION.findall(c["body"])] == [slug(n) for n in range(50)]
    deletes = [c.path for c in github.writes() if c.method == "DELETE"]
    assert deletes == [f"/repos/acme/crm/issues/comments/{c['id']}" for c in comments[len(after):]]


def test_split_keeps_head_first_and_replaces_a_section_too_long_for_any_comment() -> None:
    head = "**3 tenants: 3 create**"
    sections = [("a", "A" * 40_000), ("b", "B" * 30_000), ("huge", "H" * 70_000)]
    bodies = split_comments("renderer plan", head, sections, budget=65_000)
    assert len(bodies) == 2
    assert bodies[0].startswith(marker(1) + "\n### renderer plan (part 1 of 2)\n\n**3 tenants: 3 create**\n\n" + "A")
    assert bodies[0].endswith("A" * 40_000 + "\n\n<sub>Continued in the next comment (part 2 of 2).</sub>")
    assert bodies[1] == (marker(2) + "\n### renderer plan (part 2 of 2)\n\n" + "B" * 30_000 + "\n\n**huge**: this "
                         "tenant's plan is 70,000 characters, more than one comment can hold; read it in the job "
                         "summary or the `plan.json` artifact.")
    assert all(len(b) <= 65_000 for b in bodies)
    assert split_comments("renderer plan", head, []) == [marker(1) + "\n### renderer plan\n\n" + head]


def test_sync_edits_in_place_creates_missing_and_deletes_extra(github: FakeGitHub) -> None:
    with GitHubClient(github.url, "acme/crm", github.token) as client:
        client.create_issue_comment(5, "a human's review comment")
        first = sync_comments(client, 5, [marker(1) + "one", marker(2) + "two"])
        assert len(first.created) == 2
        same = sync_comments(client, 5, [marker(1) + "one", marker(2) + "two"])
        assert same.unchanged == first.ids and same.updated == []
        grown = sync_comments(client, 5, [marker(1) + "ONE", marker(2) + "two", marker(3) + "three"])
        assert grown.updated == [first.ids[0]] and len(grown.created) == 1
        shrunk = sync_comments(client, 5, [marker(1) + "only"])
        assert shrunk.ids == [first.ids[0]] and shrunk.deleted == grown.ids[1:]
    assert [c["body"] for c in github.comments_on(5)] == ["a human's review comment", marker(1) + "only"]


def test_a_create_whose_answer_was_lost_is_not_posted_twice(github: FakeGitHub) -> None:
    github.faults.append(Fault("POST", r"/repos/acme/crm/issues/5/comments", 502, after_effect=True))
    with GitHubClient(github.url, "acme/crm", github.token, sleep=lambda s: None) as client:
        result = sync_comments(client, 5, [marker(1) + "plan"])
    assert [c["body"] for c in github.comments_on(5)] == [marker(1) + "plan"]
    assert result.ids == [github.comments_on(5)[0]["id"]]
    assert [(c.method, c.status) for c in github.calls] == [("GET", 200), ("POST", 502), ("GET", 200)]


def test_client_waits_out_rate_limits_and_retries_idempotent_server_errors(github: FakeGitHub) -> None:
    waits: list[float] = []
    github.faults += [Fault("POST", r".*/comments", 403, {"retry-after": "7", "x-ratelimit-remaining": "0"}),
                      Fault("GET", r".*/comments", 503), Fault("GET", r".*/comments", 502)]
    with GitHubClient(github.url, "acme/crm", github.token, sleep=waits.append) as client:
        created = client.create_issue_comment(3, "hello")
        listed = client.list_issue_comments(3)
    assert [c.id for c in listed] == [created.id]
    assert waits[0] == 7.0 and len(waits) == 3 and all(0 < w <= 2 for w in waits[1:])
    assert [(c.method, c.status) for c in github.calls] == [
        ("POST", 403), ("POST", 201), ("GET", 503), ("GET", 502), ("GET", 200)]


def test_client_does_not_retry_a_failed_create_or_a_client_error(github: FakeGitHub) -> None:
    github.faults.append(Fault("POST", r".*/comments", 500))
    with GitHubClient(github.url, "acme/crm", github.token, sleep=lambda s: None) as client:
        with pytest.raises(GitHubError) as server_error:
            client.create_issue_comment(3, "hello")
        with pytest.raises(GitHubError) as too_long:
            client.create_issue_comment(3, "x" * 65_537)
    assert server_error.value.status == 500
    assert str(too_long.value) == ("GitHub API 422 on POST /repos/acme/crm/issues/3/comments: Validation Failed "
                                   "(body is too long (maximum is 65536 characters))")
    assert [c.status for c in github.calls] == [500, 422]


def test_client_gives_up_on_a_long_rate_limit_and_says_when_it_resets(github: FakeGitHub) -> None:
    github.faults.append(Fault("GET", r".*/comments", 429, {"retry-after": "1800"}))
    with GitHubClient(github.url, "acme/crm", github.token, sleep=lambda s: None) as client, \
            pytest.raises(GitHubError) as error:
        client.list_issue_comments(3)
    assert error.value.status == 429
    assert error.value.hint == "GitHub's rate limit resets in 1800 s; re-run the job after that"


def test_client_follows_link_pages_and_handles_issues(github: FakeGitHub) -> None:
    with GitHubClient(github.url, "acme/crm", github.token) as client:
        ids = [client.create_issue_comment(8, f"c{i}").id for i in range(230)]
        assert [c.id for c in client.list_issue_comments(8)] == ids
        issue = client.create_issue(title="Drift", body="2 tenants drifted", labels=["renderer-drift"])
        assert [i.number for i in client.list_issues(labels="renderer-drift")] == [issue.number]
        client.update_issue(issue.number, body="gone", state="closed")
        assert client.list_issues(labels="renderer-drift") == []
    pages = [c for c in github.calls if c.method == "GET" and c.path.endswith("/issues/8/comments")]
    assert len(pages) == 3


def test_bad_token_is_a_clear_error(github: FakeGitHub) -> None:
    with GitHubClient(github.url, "acme/crm", "wrong") as client, pytest.raises(GitHubError) as error:
        client.list_issue_comments(1)
    assert str(error.value).startswith("GitHub API 401 on GET /repos/acme/crm/issues/1/comments: Bad credentials")
    assert error.value.hint is not None and "permissions" in error.value.hint
