"""The plan as pull request comments: split at tenant boundaries, found by a hidden marker, edited in place.

GitHub refuses a comment body over 65,536 characters ("body is too long (maximum is 65536
characters)", docs.github.com REST "Create an issue comment" answers 422). A plan is split into parts
of at most `BUDGET` characters, only between tenant sections; the first part always holds the header
block (fleet summary, destructive call-out, why each tenant was selected). A single tenant section
that alone exceeds a part is replaced by a line pointing at the job summary and artifact, never cut.

Each body starts with `<!-- renderer:plan part=N -->`. On every run the PR's comments are listed,
ours are those starting with the marker (ordered by part, then age), and they are edited in place,
created when there are more parts than before, and deleted when there are fewer.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from renderer.ci.github import Comment, GitHubClient, GitHubError, GitHubNotFound

log = logging.getLogger(__name__)

MAX_COMMENT = 65_536  # GitHub's limit, characters
BUDGET = 65_000  # what a part may use, leaving slack for GitHub counting some characters twice
MARKER_RE = re.compile(r"\A<!-- renderer:plan part=(\d+) -->")


def marker(part: int) -> str:
    return f"<!-- renderer:plan part={part} -->"


def cap_lines(text: str, limit: int, more: str) -> str:
    """`text` cut at a line boundary to at most `limit` characters, ending with `more` (which may hold
    `{n}`, the number of lines left out) when anything was cut."""
    if len(text) <= limit:
        return text
    lines = text.splitlines()
    kept: list[str] = []
    size = 0
    reserve = len(more) + 20
    for line in lines:
        if size + len(line) + 1 > limit - reserve:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept) + "\n" + more.format(n=len(lines) - len(kept))


def _header(title: str, part: int, total: int) -> str:
    suffix = f" (part {part} of {total})" if total > 1 else ""
    return f"{marker(part)}\n### {title}{suffix}\n\n"


def _footer(part: int, total: int) -> str:
    return f"\n\n<sub>Continued in the next comment (part {part + 1} of {total}).</sub>" if part < total else ""


def oversized_section(slug: str, size: int) -> str:
    return (f"**{slug}**: this tenant's plan is {size:,} characters, more than one comment can hold; "
            "read it in the job summary or the `plan.json` artifact.")


def split_comments(title: str, head: str, sections: Sequence[tuple[str, str]], *, budget: int = BUDGET) -> list[str]:
    """Comment bodies: `head` and as many sections as fit in the first, the rest packed in order.

    Every body is at most `budget` characters, a section is never split, and `head` is in the first.
    """
    reserve = len(_header(title, 9999, 9999)) + len(_footer(9998, 9999))
    room = budget - reserve
    if len(head) > room:
        raise ValueError(f"the comment head is {len(head)} characters, over the {room} a part can hold")
    parts: list[str] = [head]
    for slug, section in sections:
        text = section if len(section) <= room else oversized_section(slug, len(section))
        if len(parts[-1]) + 2 + len(text) <= room:
            parts[-1] = f"{parts[-1]}\n\n{text}" if parts[-1] else text
        else:
            parts.append(text)
    total = len(parts)
    return [_header(title, i, total) + text + _footer(i, total) for i, text in enumerate(parts, start=1)]


@dataclass
class SyncResult:
    """What the sync did, by comment id. `ids` are the comments now holding parts 1..n, in order."""

    ids: list[int] = field(default_factory=list)
    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)


def ours(comments: Sequence[Comment]) -> list[Comment]:
    """Our comments, ordered by part then age (ids grow with time)."""
    found: list[tuple[int, int, Comment]] = []
    for comment in comments:
        match = MARKER_RE.match(comment.body)
        if match:
            found.append((int(match.group(1)), comment.id, comment))
    return [c for _, _, c in sorted(found, key=lambda t: (t[0], t[1]))]


def _create(client: GitHubClient, number: int, body: str) -> Comment:
    """Create a comment; when the answer was lost (5xx or no answer), look for it before sending again."""
    try:
        return client.create_issue_comment(number, body)
    except GitHubError as exc:
        if exc.status is not None and exc.status < 500:
            raise
        log.warning("creating a comment on #%s got no clear answer (%s); checking whether it exists", number, exc)
        for comment in client.list_issue_comments(number):
            if comment.body == body:
                return comment
        return client.create_issue_comment(number, body)


def sync_comments(client: GitHubClient, number: int, bodies: Sequence[str]) -> SyncResult:
    """Make the PR's renderer comments equal `bodies`: edit in place, create what is missing, delete
    the extra ones. Unchanged bodies are not re-sent."""
    existing = ours(client.list_issue_comments(number))
    result = SyncResult()
    for i, body in enumerate(bodies):
        if i < len(existing):
            current = existing[i]
            if current.body == body:
                result.unchanged.append(current.id)
            else:
                client.update_issue_comment(current.id, body)
                result.updated.append(current.id)
            result.ids.append(current.id)
        else:
            created = _create(client, number, body)
            result.created.append(created.id)
            result.ids.append(created.id)
    for stale in existing[len(bodies):]:
        with contextlib.suppress(GitHubNotFound):  # already gone is what we wanted
            client.delete_issue_comment(stale.id)
        result.deleted.append(stale.id)
    return result
