"""A small fake of GitHub's REST API for the `renderer ci` tests: a real HTTP server (starlette + uvicorn
on a free port, in a thread of the test process) holding issue comments, pull requests and issues
(list with `labels`/`state` filters, create, edit and close with `state_reason`).

It behaves as GitHub documents for the calls renderer makes: `Bearer` token auth (401 "Bad
credentials"), 404 for another repository or an unknown id, list pages with `per_page`/`page` and a
`Link: <...>; rel="next"` header, 422 for a comment body over 65,536 characters and for a second open
pull request from the same head. Tests inspect `state` and `calls` directly, and queue faults (a
status with headers, optionally after the request took effect: a lost answer).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

MAX_BODY = 65_536


@dataclass
class Fault:
    """Answer the next request matching `method` and `path` (a regex) with `status` and `headers`.
    With `after_effect`, the request is carried out first (the answer is lost)."""

    method: str
    path: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    after_effect: bool = False


@dataclass
class Call:
    method: str
    path: str
    status: int
    body: Any = None


@dataclass
class FakeState:
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    commit_pulls: dict[str, list[int]] = field(default_factory=dict)
    next_comment: int = 1000
    next_number: int = 100


class FakeGitHub:
    def __init__(self, repository: str = "acme/crm", token: str = "ghs_fake_token") -> None:
        self.repository = repository
        self.token = token
        self.state = FakeState()
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.url = ""
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # Test-side helpers
    def reset(self) -> None:
        with self._lock:
            self.state = FakeState()
            self.calls = []
            self.faults = []

    def add_pull(self, number: int, *, head: str, base: str = "main", labels: list[str] | None = None,
                 merged_sha: str | None = None, title: str = "A change") -> dict[str, Any]:
        pull = {"number": number, "state": "closed" if merged_sha else "open", "title": title, "body": "",
                "html_url": f"https://github.test/{self.repository}/pull/{number}",
                "head": {"ref": head}, "base": {"ref": base},
                "labels": [{"name": n} for n in labels or []],
                "merged_at": "2026-01-01T00:00:00Z" if merged_sha else None, "merge_commit_sha": merged_sha}
        self.state.pulls[number] = pull
        if merged_sha:
            self.state.commit_pulls.setdefault(merged_sha, []).append(number)
        return pull

    def comments_on(self, number: int) -> list[dict[str, Any]]:
        return sorted((c for c in self.state.comments.values() if c["issue"] == number), key=lambda c: c["id"])

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method != "GET"]

    # HTTP side
    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
        if status == 204:
            return Response(status_code=204, headers=headers)
        return JSONResponse(body, status_code=status, headers=headers)

    def _page(self, request: Request, items: list[dict[str, Any]]) -> Response:
        per_page = min(100, int(request.query_params.get("per_page", "30")))
        page = int(request.query_params.get("page", "1"))
        chunk = items[(page - 1) * per_page: page * per_page]
        headers = {}
        if page * per_page < len(items):
            query = dict(request.query_params)
            query.update(per_page=str(per_page), page=str(page + 1))
            next_url = str(request.url.replace_query_params(**query))
            headers["Link"] = f'<{next_url}>; rel="next"'
        return self._json(200, chunk, headers)

    async def _handle(self, request: Request) -> Response:
        body: Any = None
        if request.method in ("POST", "PATCH", "PUT"):
            body = await request.json()
        path = request.url.path
        with self._lock:
            fault = next((f for f in self.faults
                          if f.method == request.method and re.fullmatch(f.path, path)), None)
            if fault is not None:
                self.faults.remove(fault)
            if fault is not None and not fault.after_effect:
                response = self._json(fault.status, {"message": "injected fault"}, fault.headers)
            else:
                response = self._route(request, path, body)
                if fault is not None:
                    response = self._json(fault.status, {"message": "injected fault"}, fault.headers)
            self.calls.append(Call(request.method, path, response.status_code, body))
        return response

    def _route(self, request: Request, path: str, body: Any) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return self._json(401, {"message": "Bad credentials"})
        prefix = f"/repos/{self.repository}"
        if not path.startswith(prefix + "/"):
            return self._json(404, {"message": "Not Found"})
        rest = path.removeprefix(prefix)
        method = request.method
        s = self.state
        if m := re.fullmatch(r"/issues/(\d+)/comments", rest):
            number = int(m.group(1))
            if method == "GET":
                return self._page(request, self.comments_on(number))
            if method == "POST":
                if problem := self._body_problem(body, "IssueComment"):
                    return problem
                s.next_comment += 1
                comment = {"id": s.next_comment, "issue": number, "body": body["body"],
                           "user": {"login": "github-actions[bot]", "type": "Bot"}}
                s.comments[comment["id"]] = comment
                return self._json(201, comment)
        if m := re.fullmatch(r"/issues/comments/(\d+)", rest):
            comment_id = int(m.group(1))
            if comment_id not in s.comments:
                return self._json(404, {"message": "Not Found"})
            if method == "PATCH":
                if problem := self._body_problem(body, "IssueComment"):
                    return problem
                s.comments[comment_id]["body"] = body["body"]
                return self._json(200, s.comments[comment_id])
            if method == "DELETE":
                del s.comments[comment_id]
                return self._json(204, None)
        if (m := re.fullmatch(r"/commits/([0-9a-f]{40})/pulls", rest)) and method == "GET":
            return self._page(request, [s.pulls[n] for n in s.commit_pulls.get(m.group(1), [])])
        if rest == "/pulls":
            if method == "GET":
                head = request.query_params.get("head", "")
                state = request.query_params.get("state", "open")
                base = request.query_params.get("base")
                found = [p for p in s.pulls.values()
                         if (not head or f"{self.repository.split('/')[0]}:{p['head']['ref']}" == head)
                         and (base is None or p["base"]["ref"] == base) and (state == "all" or p["state"] == state)]
                return self._page(request, found)
            if method == "POST":
                if any(p["head"]["ref"] == body["head"] and p["state"] == "open" for p in s.pulls.values()):
                    return self._json(422, {"message": "Validation Failed", "errors": [
                        {"resource": "PullRequest", "code": "custom",
                         "message": f"A pull request already exists for {body['head']}."}]})
                s.next_number += 1
                pull = self.add_pull(s.next_number, head=body["head"], base=body["base"], title=body["title"])
                pull["body"] = body["body"]
                return self._json(201, pull)
        if (m := re.fullmatch(r"/pulls/(\d+)", rest)) and method == "PATCH":
            pull = s.pulls.get(int(m.group(1)))
            if pull is None:
                return self._json(404, {"message": "Not Found"})
            pull.update({k: v for k, v in body.items() if k in ("title", "body", "state")})
            return self._json(200, pull)
        if rest == "/issues":
            if method == "GET":
                labels = set(filter(None, request.query_params.get("labels", "").split(",")))
                state = request.query_params.get("state", "open")
                found = [i for i in s.issues.values()
                         if labels <= {lbl["name"] for lbl in i["labels"]} and (state == "all" or i["state"] == state)]
                return self._page(request, found)
            if method == "POST":
                if not isinstance(body, dict) or not isinstance(body.get("title"), str) or not body["title"]:
                    return self._json(422, {"message": "Validation Failed", "errors": [
                        {"resource": "Issue", "code": "missing_field", "field": "title"}]})
                if len(body.get("body") or "") > MAX_BODY:
                    return self._json(422, {"message": "Validation Failed", "errors": [
                        {"resource": "Issue", "code": "custom", "field": "body",
                         "message": f"body is too long (maximum is {MAX_BODY} characters)"}]})
                s.next_number += 1
                issue = {"number": s.next_number, "state": "open", "title": body["title"], "body": body.get("body"),
                         "labels": [{"name": n} for n in body.get("labels", [])],
                         "html_url": f"https://github.test/{self.repository}/issues/{s.next_number}"}
                s.issues[issue["number"]] = issue
                return self._json(201, issue)
        if (m := re.fullmatch(r"/issues/(\d+)", rest)) and method == "PATCH":
            issue = s.issues.get(int(m.group(1)))
            if issue is None:
                return self._json(404, {"message": "Not Found"})
            if body.get("state_reason") not in (None, "completed", "not_planned", "reopened"):
                return self._json(422, {"message": "Validation Failed", "errors": [
                    {"resource": "Issue", "code": "invalid", "field": "state_reason"}]})
            issue.update({k: v for k, v in body.items() if k in ("title", "body", "state", "state_reason")})
            return self._json(200, issue)
        return self._json(404, {"message": "Not Found"})

    def _body_problem(self, body: Any, resource: str) -> Response | None:
        if not isinstance(body, dict) or not isinstance(body.get("body"), str):
            return self._json(422, {"message": "Invalid request.", "errors": [
                {"resource": resource, "code": "missing_field", "field": "body"}]})
        if len(body["body"]) > MAX_BODY:
            return self._json(422, {"message": "Validation Failed", "errors": [
                {"resource": resource, "code": "custom", "field": "body",
                 "message": f"body is too long (maximum is {MAX_BODY} characters)"}]})
        return None

    def app(self) -> Starlette:
        methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
        return Starlette(routes=[Route("/{path:path}", self._handle, methods=methods)])

    def start(self) -> None:
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake GitHub server did not start")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
