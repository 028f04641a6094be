"""A small client for GitHub's REST API (docs.github.com/rest), synchronous httpx with tenacity retries.

Covers what the workflows need: issue comments on pull requests (list, create, update, delete), the
pull requests of a commit, bot pull requests (find, create, update), and issues (list, create, update:
open, edit and close one tracking issue). Every call sends `Authorization: Bearer <token>`,
`Accept: application/vnd.github+json` and `X-GitHub-Api-Version: 2022-11-28`.

Retries (docs.github.com, "Rate limits for the REST API" and "Best practices"):

- a rate limit (429, or 403 with `Retry-After` or `X-RateLimit-Remaining: 0`) is retried for every
  method: GitHub did not act on the request. The wait is `Retry-After` seconds, else until
  `X-RateLimit-Reset` (epoch seconds), else exponential backoff; a wait over `MAX_WAIT` gives up;
- 500/502/503/504 and transport errors are retried only for idempotent methods (GET, PATCH, PUT,
  DELETE); a POST is retried only when the connection was never made, so a create is never sent twice
  blindly (the comment sync recovers a create whose answer was lost by looking for it);
- anything else raises at once.

Errors: `GitHubError` (a `RendererError`, exit 1) carries status, method, path and GitHub's `message`;
`GitHubNotFound` for 404. The token is never logged; request bodies are never logged.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from renderer.errors import RendererError
from renderer.render_api.client import tls_context

log = logging.getLogger(__name__)

API_VERSION = "2022-11-28"
PER_PAGE = 100  # the largest page GitHub serves
ATTEMPTS = 5
MAX_WAIT = 60.0  # seconds; a longer rate-limit wait fails the run with GitHub's reset time instead
BACKOFF_CAP = 20.0
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
RETRY_STATUSES = frozenset({500, 502, 503, 504})

Sleep = Callable[[float], None]


class GitHubError(RendererError):
    """A GitHub API call failed. `status` is None when no answer came."""

    def __init__(self, message: str, *, status: int | None, method: str, path: str,
                 wait: float | None = None, retryable: bool = False) -> None:
        code = f" {status}" if status is not None else ""
        hint = None
        if status in (401, 403) and wait is None:
            hint = ("check the workflow's `permissions:` (contents, pull-requests) and that GITHUB_TOKEN "
                    "is passed to the step")
        super().__init__(f"GitHub API{code} on {method} {path}: {message}", hint=hint)
        self.status = status
        self.method = method
        self.path = path
        self.api_message = message
        self.wait = wait
        self.retryable = retryable


class GitHubNotFound(GitHubError):
    pass


class Comment(BaseModel):
    """An issue comment (GET /repos/{owner}/{repo}/issues/{number}/comments items)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: int
    body: str = ""


class PullRequestInfo(BaseModel):
    """A pull request as the pulls endpoints return it (the fields renderer uses)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    number: int
    state: str = "open"
    title: str = ""
    body: str | None = None
    html_url: str = ""
    merged_at: str | None = None
    merge_commit_sha: str | None = None
    labels: list[dict[str, Any]] = []

    @property
    def label_names(self) -> set[str]:
        return {str(label.get("name")) for label in self.labels}


class Issue(BaseModel):
    """An issue (GET /repos/{owner}/{repo}/issues items; the fields renderer uses)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    number: int
    state: str = "open"
    title: str = ""
    body: str | None = None
    html_url: str = ""


def _rate_limit_wait(response: httpx.Response, now: float) -> float | None:
    """Seconds to wait when `response` is a rate-limit answer, else None."""
    if response.status_code not in (403, 429):
        return None
    retry_after = response.headers.get("retry-after")
    if retry_after is not None:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            return 60.0
    if response.headers.get("x-ratelimit-remaining") == "0":
        reset = response.headers.get("x-ratelimit-reset")
        try:
            return max(0.0, float(reset) - now) if reset else 60.0
        except ValueError:
            return 60.0
    if response.status_code == 429:
        return 60.0
    return None


def _next_link(response: httpx.Response) -> str | None:
    link = response.links.get("next")
    return link.get("url") if link else None


class GitHubClient:
    """GitHub REST calls for one repository (`owner/name`). Use as a context manager.

    `transport` is the httpx seam; `sleep` (default `time.sleep`) is where retries wait.
    """

    def __init__(self, api_url: str, repository: str, token: str, *,
                 transport: httpx.BaseTransport | None = None, sleep: Sleep = time.sleep,
                 timeout: float = 30.0) -> None:
        self.repository = repository
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=api_url.rstrip("/"), transport=transport, timeout=timeout, verify=tls_context(),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                     "X-GitHub-Api-Version": API_VERSION, "User-Agent": "renderer-ci"})

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    # The one place requests are sent.
    def _send(self, method: str, url: str, json: Any = None, params: dict[str, Any] | None = None) -> httpx.Response:
        started = time.monotonic()
        try:
            response = self._http.request(method, url, json=json, params=params)
        except httpx.TransportError as exc:
            never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
            raise GitHubError(f"no answer: {type(exc).__name__}", status=None, method=method, path=url,
                              retryable=method in IDEMPOTENT or never_sent) from None
        log.debug("GitHub %s %s -> %s (%.0f ms)", method, response.request.url.path, response.status_code,
                  (time.monotonic() - started) * 1000)
        if response.status_code < 400:
            return response
        try:
            body = response.json()
        except ValueError:
            body = None
        message = str(body.get("message")) if isinstance(body, dict) and body.get("message") else response.reason_phrase
        if isinstance(body, dict) and isinstance(body.get("errors"), list):
            details = "; ".join(str(e.get("message") or e.get("code")) for e in body["errors"] if isinstance(e, dict))
            if details:
                message = f"{message} ({details})"
        wait = _rate_limit_wait(response, time.time())
        retryable = wait is not None or (response.status_code in RETRY_STATUSES and method in IDEMPOTENT)
        error = GitHubNotFound if response.status_code == 404 else GitHubError
        raise error(message, status=response.status_code, method=method, path=response.request.url.path,
                    wait=wait, retryable=retryable)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, GitHubError) and exc.wait is not None:
            return exc.wait
        backoff = min(BACKOFF_CAP, 2.0 ** (state.attempt_number - 1))
        return float(backoff * (0.5 + random.random() / 2))

    def request(self, method: str, url: str, *, json: Any = None,
                params: dict[str, Any] | None = None) -> httpx.Response:
        """Send with retries (module docstring). Raises `GitHubError` (or `GitHubNotFound`)."""

        def should_retry(exc: BaseException) -> bool:
            if not isinstance(exc, GitHubError) or not exc.retryable:
                return False
            if exc.wait is not None and exc.wait > MAX_WAIT:
                exc.hint = f"GitHub's rate limit resets in {exc.wait:.0f} s; re-run the job after that"
                return False
            return True

        retrying = Retrying(stop=stop_after_attempt(ATTEMPTS), wait=self._wait, retry=retry_if_exception(should_retry),
                            sleep=self._sleep, reraise=True)
        response: httpx.Response = retrying(self._send, method, url, json, params)
        return response

    def paginate(self, path: str, params: dict[str, Any] | None = None) -> Iterator[Any]:
        """Yield every item of a list endpoint, `PER_PAGE` per request, following `Link: rel="next"`."""
        url: str | None = path
        query: dict[str, Any] | None = {**(params or {}), "per_page": PER_PAGE}
        while url is not None:
            response = self.request("GET", url, params=query)
            items = response.json()
            if not isinstance(items, list):
                raise GitHubError("expected a list", status=response.status_code, method="GET", path=path)
            yield from items
            url, query = _next_link(response), None  # the next link carries the query

    @property
    def _repo(self) -> str:
        return f"/repos/{self.repository}"

    # Issue comments (a pull request is an issue): /repos/{owner}/{repo}/issues/...
    def list_issue_comments(self, number: int) -> list[Comment]:
        return [Comment.model_validate(c) for c in self.paginate(f"{self._repo}/issues/{number}/comments")]

    def create_issue_comment(self, number: int, body: str) -> Comment:
        response = self.request("POST", f"{self._repo}/issues/{number}/comments", json={"body": body})
        return Comment.model_validate(response.json())

    def update_issue_comment(self, comment_id: int, body: str) -> Comment:
        response = self.request("PATCH", f"{self._repo}/issues/comments/{comment_id}", json={"body": body})
        return Comment.model_validate(response.json())

    def delete_issue_comment(self, comment_id: int) -> None:
        self.request("DELETE", f"{self._repo}/issues/comments/{comment_id}")

    # Pull requests
    def pulls_for_commit(self, sha: str) -> list[PullRequestInfo]:
        """GET /repos/{owner}/{repo}/commits/{sha}/pulls: the PRs a commit belongs to (merged ones too)."""
        return [PullRequestInfo.model_validate(p) for p in self.paginate(f"{self._repo}/commits/{sha}/pulls")]

    def find_open_pull(self, head_branch: str, base: str) -> PullRequestInfo | None:
        """The open PR from `head_branch` (in this repository) into `base`, if any."""
        owner = self.repository.split("/", 1)[0]
        params = {"head": f"{owner}:{head_branch}", "base": base, "state": "open"}
        for pull in self.paginate(f"{self._repo}/pulls", params):
            return PullRequestInfo.model_validate(pull)
        return None

    def create_pull(self, *, head: str, base: str, title: str, body: str) -> PullRequestInfo:
        response = self.request("POST", f"{self._repo}/pulls",
                                json={"head": head, "base": base, "title": title, "body": body})
        return PullRequestInfo.model_validate(response.json())

    def update_pull(self, number: int, *, title: str, body: str) -> PullRequestInfo:
        response = self.request("PATCH", f"{self._repo}/pulls/{number}", json={"title": title, "body": body})
        return PullRequestInfo.model_validate(response.json())

    # Issues (one tracking issue, e.g. for drift): list, open, edit, close.
    def list_issues(self, *, labels: str | None = None, state: str = "open") -> list[Issue]:
        """GET /repos/{owner}/{repo}/issues (oldest first, optionally only those with `labels`); pull
        requests, which the endpoint includes, are left out."""
        params: dict[str, Any] = {"state": state, "sort": "created", "direction": "asc"}
        if labels:
            params["labels"] = labels
        return [Issue.model_validate(i) for i in self.paginate(f"{self._repo}/issues", params)
                if "pull_request" not in i]

    def create_issue(self, *, title: str, body: str, labels: list[str] | None = None) -> Issue:
        """POST /repos/{owner}/{repo}/issues (labels only when given: GitHub drops them silently for a
        token without push access)."""
        payload: dict[str, Any] = {"title": title, "body": body}
        if labels:
            payload["labels"] = labels
        response = self.request("POST", f"{self._repo}/issues", json=payload)
        return Issue.model_validate(response.json())

    def update_issue(self, number: int, *, title: str | None = None, body: str | None = None,
                     state: str | None = None, state_reason: str | None = None) -> Issue:
        """PATCH /repos/{owner}/{repo}/issues/{number}; `state` `open`/`closed`, `state_reason`
        `completed`/`not_planned` (GitHub's values)."""
        fields = {k: v for k, v in (("title", title), ("body", body), ("state", state),
                                    ("state_reason", state_reason)) if v is not None}
        response = self.request("PATCH", f"{self._repo}/issues/{number}", json=fields)
        return Issue.model_validate(response.json())
