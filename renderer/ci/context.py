"""The GitHub Actions environment of a `renderer ci` run, and the event that triggered it.

Variables read (docs.github.com, "Store information in variables", default environment variables):

- `GITHUB_EVENT_PATH`: the JSON payload of the triggering event (required);
- `GITHUB_EVENT_NAME`: `pull_request`, `push`, `schedule`, `workflow_dispatch` (inferred from the
  payload when unset, so a crafted event file is enough off GitHub);
- `GITHUB_REPOSITORY`: `owner/name`; `GITHUB_TOKEN`: the token for GitHub's REST API (the workflow
  passes `${{ github.token }}`);
- `GITHUB_API_URL` (default `https://api.github.com`), `GITHUB_SERVER_URL` (default
  `https://github.com`), `GITHUB_RUN_ID`: used for links;
- `GITHUB_STEP_SUMMARY`: the job summary file (markdown, appended to; GitHub shows at most 1 MiB);
- `GITHUB_SHA`: the commit the run checked out; `GITHUB_ACTIONS`: `true` on a runner.

Nothing is read at import time or by `--help`; each command reads what it needs and a missing variable
is a `RendererError` that names it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from renderer.errors import RendererError

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_SERVER_URL = "https://github.com"
# GitHub refuses a job summary over 1 MiB ("Job summary ... exceeds 1024k").
STEP_SUMMARY_LIMIT = 1024 * 1024 - 4096

M = TypeVar("M", bound=BaseModel)


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Repository(_Event):
    full_name: str


class GitRef(_Event):
    """`pull_request.head` / `pull_request.base`: branch name, commit and repository (None when the
    fork was deleted)."""

    ref: str
    sha: str
    repo: Repository | None = None


class Label(_Event):
    name: str


class PullRequest(_Event):
    number: int
    title: str = ""
    head: GitRef
    base: GitRef
    labels: list[Label] = Field(default_factory=list)
    merged_at: str | None = None
    merge_commit_sha: str | None = None

    @property
    def label_names(self) -> set[str]:
        return {label.name for label in self.labels}

    @property
    def fork_repository(self) -> str | None:
        """The fork's `owner/name` when the PR comes from another repository, else None."""
        base = self.base.repo.full_name if self.base.repo else ""
        head = self.head.repo.full_name if self.head.repo else "(a deleted fork)"
        return None if head.lower() == base.lower() else head


class PullRequestEvent(_Event):
    """The `pull_request` event payload (the fields renderer uses)."""

    action: str | None = None
    pull_request: PullRequest


class PushCommit(_Event):
    id: str
    message: str = ""


class PushEvent(_Event):
    """The `push` event payload. `before` is all zeros when the branch was created by this push."""

    ref: str
    before: str
    after: str
    commits: list[PushCommit] = Field(default_factory=list)


class DispatchEvent(_Event):
    """The `workflow_dispatch` payload: inputs arrive as strings or booleans."""

    inputs: dict[str, Any] = Field(default_factory=dict)

    def flag(self, name: str) -> bool:
        value = self.inputs.get(name)
        return value is True or (isinstance(value, str) and value.strip().lower() == "true")


@dataclass(frozen=True)
class GitHubEnv:
    """What the run knows about GitHub. `payload` is the raw event JSON."""

    event_name: str
    event_path: Path
    payload: dict[str, Any]
    repository: str | None
    token: str | None
    api_url: str
    server_url: str
    step_summary: Path | None
    sha: str | None
    run_id: str | None
    on_actions: bool

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None, *, require_event: bool = True) -> GitHubEnv:
        """Read the environment. Raises `RendererError` when the event file is missing (unless
        `require_event` is False: a command that does not depend on the event) or not JSON."""
        env = os.environ if environ is None else environ
        raw_path = env.get("GITHUB_EVENT_PATH")
        if not raw_path and not require_event:
            return cls._build(env, env.get("GITHUB_EVENT_NAME") or "unknown", Path(), {})
        if not raw_path:
            raise RendererError(
                "GITHUB_EVENT_PATH is not set: renderer ci reads the event that triggered the workflow",
                hint="run it in a GitHub Actions workflow, or point GITHUB_EVENT_PATH at an event JSON file "
                     "(README.md, 'Set up in your repository')")
        path = Path(raw_path)
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise RendererError(f"cannot read the event file {path}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise RendererError(f"the event file {path} is not JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise RendererError(f"the event file {path} does not hold a JSON object")
        return cls._build(env, env.get("GITHUB_EVENT_NAME") or _infer_event_name(payload), path, payload)

    @classmethod
    def _build(cls, env: Mapping[str, str], name: str, path: Path, payload: dict[str, Any]) -> GitHubEnv:
        return cls(
            event_name=name, event_path=path, payload=payload,
            repository=env.get("GITHUB_REPOSITORY") or None,
            token=env.get("GITHUB_TOKEN") or None,
            api_url=(env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"),
            server_url=(env.get("GITHUB_SERVER_URL") or DEFAULT_SERVER_URL).rstrip("/"),
            step_summary=Path(env["GITHUB_STEP_SUMMARY"]) if env.get("GITHUB_STEP_SUMMARY") else None,
            sha=env.get("GITHUB_SHA") or None,
            run_id=env.get("GITHUB_RUN_ID") or None,
            on_actions=env.get("GITHUB_ACTIONS") == "true",
        )

    def require_repository(self) -> str:
        if not self.repository or "/" not in self.repository:
            raise RendererError(
                "GITHUB_REPOSITORY is not set (or not owner/name): renderer ci needs the repository to "
                "call GitHub's API", hint="GitHub Actions sets it; off GitHub export GITHUB_REPOSITORY=owner/name")
        return self.repository

    def require_token(self, why: str) -> str:
        if not self.token:
            raise RendererError(
                f"GITHUB_TOKEN is not set: renderer ci needs it to {why}",
                hint="pass it to the step: `env: GITHUB_TOKEN: ${{ github.token }}`")
        return self.token

    @property
    def run_url(self) -> str | None:
        if self.repository and self.run_id:
            return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"
        return None

    def pull_request_event(self) -> PullRequestEvent:
        if self.event_name not in ("pull_request", "pull_request_target") or "pull_request" not in self.payload:
            raise RendererError(
                f"renderer ci plan runs on pull_request events, not {self.event_name}",
                hint="trigger the plan workflow with `on: pull_request`")
        return _parse(PullRequestEvent, self.payload, self.event_path)

    def push_event(self) -> PushEvent:
        return _parse(PushEvent, self.payload, self.event_path)

    def dispatch_event(self) -> DispatchEvent:
        return _parse(DispatchEvent, self.payload, self.event_path)

    def write_summary(self, markdown: str) -> None:
        """Append to the job summary (no-op off GitHub). Cut at GitHub's 1 MiB limit with a note."""
        if self.step_summary is None:
            return
        data = markdown if markdown.endswith("\n") else markdown + "\n"
        if len(data.encode("utf-8")) > STEP_SUMMARY_LIMIT:
            note = "\n\n_The rest is cut: GitHub shows at most 1 MiB here. The artifact holds the whole plan._\n"
            cut = data.encode("utf-8")[: STEP_SUMMARY_LIMIT - len(note)].decode("utf-8", errors="ignore")
            data = cut[: cut.rfind("\n") + 1] + note
        with self.step_summary.open("a", encoding="utf-8") as fh:
            fh.write(data)


def _infer_event_name(payload: Mapping[str, Any]) -> str:
    if "pull_request" in payload:
        return "pull_request"
    if "schedule" in payload:
        return "schedule"
    if "inputs" in payload:
        return "workflow_dispatch"
    if "after" in payload and "ref" in payload:
        return "push"
    return "unknown"


def _parse(model: type[M], payload: dict[str, Any], path: Path) -> M:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RendererError(
            f"the event file {path} is not a {model.__name__.removesuffix('Event')} event: "
            f"{first['msg']} at {where or 'top level'}") from None
