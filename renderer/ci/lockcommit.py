"""Committing `render.lock.json` back with gitpython: straight to main, or through a bot pull request.

The commit is built without touching the working tree or HEAD: a temporary index from the parent's
tree, the lockfile blob replaced, `Commit.create_from_tree` with the bot identity
(`github-actions[bot]`), then `git push <sha>:refs/heads/main`.

- main moved since the run checked out (push `[rejected]`, non-fast-forward): fetch main, rebase the
  lockfile change onto it (a three-way merge per tenant: tenants this run did not touch keep main's
  entry; a tenant both changed keeps this run's entry, which is what Render now has) and push again,
  up to `PUSH_ATTEMPTS` times;
- main is protected (push `[remote rejected]`: a branch protection rule or ruleset declined it, GitHub's
  GH006 / GH013): the same commit goes to the branch `renderer/lockfile` (force-pushed with a lease) and
  one bot pull request from it into main is opened or updated. While that PR is open, the next deploy
  starts from the branch's lockfile, so nothing applied is ever forgotten.

On GitHub the remote is `https://github.com/...` without credentials (`persist-credentials: false`); the
push authenticates with `GITHUB_TOKEN` through git's `http.<url>.extraheader`, passed in the
environment of the git process only (`GIT_CONFIG_COUNT`), never written to `.git/config`.
"""

from __future__ import annotations

import base64
import io
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

import git
from git.index import IndexFile
from git.index.typ import BaseIndexEntry
from gitdb.base import IStream  # type: ignore[import-untyped]

from renderer.errors import RendererError
from renderer.lockfile import LockedTenant, Lockfile, loads

log = logging.getLogger(__name__)

BOT = git.Actor("github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com")
BOT_BRANCH = "renderer/lockfile"
PUSH_ATTEMPTS = 5
FILE_MODE = 0o100644


class PushMode(StrEnum):
    """`--lockfile-push`: `auto` pushes to main and falls back to a bot PR when main is protected."""

    AUTO = "auto"
    DIRECT = "direct"
    PULL_REQUEST = "pull-request"


class PushResult(StrEnum):
    OK = "ok"
    REJECTED = "rejected"  # non-fast-forward: the branch moved
    PROTECTED = "protected"  # a server-side rule declined the update


def lockfile_at(commit: git.Commit, path: str) -> Lockfile:
    """The lockfile as committed in `commit` (empty when the file is not there), upgraded to the current
    format version (`renderer.lockfile.loads`), so lockfiles of any version merge."""
    try:
        blob = commit.tree / path
    except KeyError:
        return Lockfile()
    return loads(blob.data_stream.read(), f"{path} in commit {commit.hexsha[:7]}")


def _same(a: LockedTenant | None, b: LockedTenant | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.model_dump(mode="json") == b.model_dump(mode="json")


def merge_lockfiles(base: Lockfile, ours: Lockfile, theirs: Lockfile) -> tuple[Lockfile, list[str]]:
    """Three-way merge by tenant. Returns the merged lockfile and the tenants both sides changed (this
    run's entry wins for those: it records what Render has now)."""
    merged = theirs.model_copy(deep=True)
    conflicts: list[str] = []
    for slug in sorted(set(base.tenants) | set(ours.tenants) | set(theirs.tenants)):
        b, o, t = base.tenants.get(slug), ours.tenants.get(slug), theirs.tenants.get(slug)
        if _same(o, b):
            continue
        if not (_same(t, b) or _same(t, o)):
            conflicts.append(slug)
        if o is None:
            merged.tenants.pop(slug, None)
        else:
            merged.tenants[slug] = o.model_copy(deep=True)
    merged.tenants = dict(sorted(merged.tenants.items()))
    # The fleet release's progress is this run's when it moved it; failed releases are kept from both.
    if ours.rollout != base.rollout:
        merged.rollout = ours.rollout.model_copy(deep=True) if ours.rollout is not None else None
    merged.failed_releases = [*merged.failed_releases,
                              *(f for f in ours.failed_releases if f not in merged.failed_releases)]
    return merged, conflicts


def commit_file(repo: git.Repo, parent: git.Commit, path: str, content: str, message: str) -> git.Commit:
    """A new commit on `parent` whose tree is `parent`'s with `path` set to `content`. HEAD, the index
    and the working tree are left alone."""
    data = content.encode("utf-8")
    stream = repo.odb.store(IStream("blob", len(data), io.BytesIO(data)))
    index = IndexFile.from_tree(repo, parent)
    index.add([BaseIndexEntry((FILE_MODE, stream.binsha, 0, path))], write=False)
    tree = index.write_tree()
    return git.Commit.create_from_tree(repo, tree, message, parent_commits=[parent], head=False,
                                       author=BOT, committer=BOT)


@dataclass(frozen=True)
class Remote:
    """Where to push: the remote's name, the target branch, and the git environment that authenticates."""

    repo: git.Repo
    name: str = "origin"
    branch: str = "main"
    auth_env: tuple[tuple[str, str], ...] = ()

    @classmethod
    def for_repo(cls, repo: git.Repo, *, name: str, branch: str, server_url: str, token: str | None) -> Remote:
        try:
            url = repo.remote(name).url
        except ValueError:
            raise RendererError(f"the clone has no remote {name!r} to push render.lock.json to") from None
        return cls(repo, name, branch, tuple(auth_environment(url, server_url, token).items()))

    @contextmanager
    def _env(self) -> Iterator[None]:
        with self.repo.git.custom_environment(**dict(self.auth_env)):
            yield

    def _git(self, *args: str) -> tuple[int, str, str]:
        with self._env():
            status, out, err = self.repo.git.execute(
                ["git", *args], with_extended_output=True, with_exceptions=False)
        return int(status), str(out), str(err)

    def fetch_branch(self, branch: str) -> git.Commit | None:
        """Fetch `branch` from the remote; its tip, or None when the remote has no such branch."""
        tracking = f"refs/remotes/{self.name}/{branch}"
        status, _, err = self._git("fetch", "--no-tags", self.name, f"+refs/heads/{branch}:{tracking}")
        if status != 0:
            if "couldn't find remote ref" in err.lower():
                return None
            raise RendererError(f"git fetch {self.name} {branch} failed: {err.strip()}")
        return self.repo.commit(tracking)

    def push(self, sha: str, branch: str, *, lease: str | None = None) -> PushResult:
        """Push commit `sha` to `branch`. `lease` (an expected tip, "" for "must not exist") force-pushes
        with `--force-with-lease`. Raises `RendererError` for failures other than a rejection."""
        ref = f"refs/heads/{branch}"
        args = ["push", "--porcelain"]
        if lease is not None:
            args.append(f"--force-with-lease={ref}:{lease}")
        status, out, err = self._git(*args, self.name, f"{sha}:{ref}")
        lines = [line for line in out.splitlines() if "\t" in line and line.split("\t")[1].endswith(ref)]
        if status == 0:
            return PushResult.OK
        summary = lines[0].split("\t", 2)[2] if lines and len(lines[0].split("\t")) > 2 else ""
        if "[remote rejected]" in summary:
            log.warning("push to %s declined by the server: %s %s", branch, summary, err.strip())
            return PushResult.PROTECTED
        if "[rejected]" in summary:
            return PushResult.REJECTED
        raise RendererError(f"git push to {self.name} {branch} failed: {(err or out).strip()}",
                            hint="the workflow needs `permissions: contents: write`")

    def delete_branch(self, branch: str, *, lease: str) -> PushResult:
        """Delete `branch` on the remote if its tip is still `lease`. Raises `RendererError` for failures
        other than a rejection."""
        ref = f"refs/heads/{branch}"
        status, out, err = self._git("push", "--porcelain", f"--force-with-lease={ref}:{lease}", self.name, f":{ref}")
        if status == 0:
            return PushResult.OK
        if "[remote rejected]" in out:
            return PushResult.PROTECTED
        if "[rejected]" in out or "stale info" in out:
            return PushResult.REJECTED
        raise RendererError(f"git push --delete {self.name} {branch} failed: {(err or out).strip()}",
                            hint="the workflow needs `permissions: contents: write`")


def auth_environment(url: str, server_url: str, token: str | None) -> dict[str, str]:
    """git configuration, as environment variables, that sends `token` to `server_url` (as actions/checkout
    does). Empty for other remotes (a local path in tests, an SSH remote)."""
    if not token or not url.startswith(server_url.rstrip("/") + "/"):
        return {}
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"http.{server_url.rstrip('/')}/.extraheader",
            "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}"}


@dataclass(frozen=True)
class Published:
    """Where the lockfile went: `how` is `main`, `pull-request` or `unchanged`; `commit` the new commit."""

    how: str
    commit: str | None = None
    content: str | None = None
    pull_request: int | None = None
    url: str | None = None
    conflicts: tuple[str, ...] = ()


OpenPull = Callable[[str, str, str], tuple[int, str]]  # (commit sha, title, body) -> (number, url)


def publish(
    remote: Remote, *, path: str, start: Lockfile, ours: Lockfile, parent: git.Commit, message: str,
    mode: PushMode, open_pull: OpenPull | None, sleep: Callable[[float], None] = time.sleep,
    allow_empty: bool = False,
) -> Published:
    """Commit `ours` as `path` and get it onto the branch (module docstring).

    `start` is the lockfile the run began from (the merge base for rebasing), `parent` the commit it
    checked out. `open_pull` opens or updates the bot PR (None: no GitHub API, so no bot PR).
    `allow_empty` commits to the branch even when the lockfile is unchanged (a status marker).
    Raises `RendererError` when every attempt failed.
    """
    if mode is PushMode.PULL_REQUEST:
        return _publish_pull(remote, path, ours, message, open_pull)
    theirs_commit = parent
    for attempt in range(1, PUSH_ATTEMPTS + 1):
        theirs = lockfile_at(theirs_commit, path)
        merged, conflicts = merge_lockfiles(start, ours, theirs)
        content = merged.dumps()
        if content == theirs.dumps() and not allow_empty:
            return Published("unchanged", content=content)
        commit = commit_file(remote.repo, theirs_commit, path, content, message)
        result = remote.push(commit.hexsha, remote.branch)
        if result is PushResult.OK:
            return Published("main", commit=commit.hexsha, content=content, conflicts=tuple(conflicts))
        if result is PushResult.PROTECTED:
            if mode is PushMode.DIRECT:
                raise RendererError(
                    f"{remote.branch} is protected and declined the render.lock.json commit",
                    hint="use `--lockfile-push auto` (a bot pull request) or let the workflow push to the branch")
            return _publish_pull(remote, path, ours, message, open_pull)
        log.info("%s moved; rebasing the lockfile commit (attempt %d of %d)", remote.branch, attempt, PUSH_ATTEMPTS)
        tip = remote.fetch_branch(remote.branch)
        if tip is None:
            raise RendererError(f"the remote has no branch {remote.branch}")
        theirs_commit = tip
        sleep(min(8.0, 0.5 * 2 ** (attempt - 1)))
    raise RendererError(
        f"{remote.branch} kept moving: the render.lock.json commit was rejected {PUSH_ATTEMPTS} times",
        hint="re-run the deploy workflow; the lockfile is also in the run's artifact")


def _publish_pull(remote: Remote, path: str, ours: Lockfile, message: str, open_pull: OpenPull | None) -> Published:
    if open_pull is None:
        raise RendererError(
            f"{remote.branch} declined the render.lock.json commit and no GitHub token is available to open "
            "a pull request instead", hint="pass `GITHUB_TOKEN` to the step (permissions: pull-requests: write)")
    tip = remote.fetch_branch(remote.branch)
    if tip is None:
        raise RendererError(f"the remote has no branch {remote.branch}")
    content = ours.dumps()
    if lockfile_at(tip, path).dumps() == content:
        return Published("unchanged", content=content)
    previous = remote.fetch_branch(BOT_BRANCH)
    commit = commit_file(remote.repo, tip, path, content, message)
    result = remote.push(commit.hexsha, BOT_BRANCH, lease=previous.hexsha if previous else "")
    if result is not PushResult.OK:
        raise RendererError(f"pushing the branch {BOT_BRANCH} was {result.value}",
                            hint=f"allow the workflow to push {BOT_BRANCH} (exclude it from branch rules)")
    title = message.splitlines()[0].replace(" [skip ci]", "")
    body = (f"renderer applied changes to Render, but `{remote.branch}` is protected, so the updated "
            f"`{path}` comes through this pull request. Merge it so that {remote.branch} records the "
            "Render IDs; until then every deploy starts from this branch's lockfile.\n\n"
            f"Latest commit:\n\n```\n{message}\n```")
    number, url = open_pull(commit.hexsha, title, body)
    return Published("pull-request", commit=commit.hexsha, content=content, pull_request=number, url=url)
