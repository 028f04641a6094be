"""The plan as GitHub-flavoured markdown, for PR comments and job summaries.

The tenant is the unit: a fleet summary first (`3 tenants: 1 create, 1 update, 0 delete, 1 unchanged`),
destructive changes called out next, then one collapsible section per tenant holding its changes in a
`diff` code block. `markdown_parts` returns the pieces separately so a caller can split a long plan at
tenant boundaries (GitHub rejects comments over 65,536 characters).
"""

from __future__ import annotations

from dataclasses import dataclass

from renderer.plan.model import Action, Change, Plan
from renderer.plan.render_text import change_header, field_line, manual_lines, notice_lines, summary_line

# How a tenant is counted in the fleet summary.
TENANT_STATUSES = ("create", "update", "delete", "unchanged")


@dataclass(frozen=True)
class MarkdownPlan:
    """`summary`: the fleet line and the plan line; `destructive`: the call-out ("" when none);
    `sections`: (slug, markdown) per tenant with changes, in plan order."""

    summary: str
    destructive: str
    sections: list[tuple[str, str]]

    def render(self) -> str:
        parts = [self.summary]
        if self.destructive:
            parts.append(self.destructive)
        parts += [text for _, text in self.sections]
        return "\n\n".join(parts) + "\n"


def tenant_status(plan: Plan, slug: str) -> str:
    changes = [c for c in plan.changes if c.tenant == slug and c.action is not Action.NO_OP]
    if not changes:
        return "unchanged"
    if slug not in plan.sources:
        return "delete"
    if all(c.action is Action.CREATE for c in changes) and not any(
            c.tenant == slug and c.action is Action.NO_OP for c in plan.changes):
        return "create"
    return "update"


def _section(plan: Plan, slug: str, changes: list[Change]) -> str:
    source = plan.sources.get(slug)
    origin = f"blueprint `{source.blueprint}`, `{source.tenant_file}`" if source else "tenant file removed"
    counts = ", ".join(f"{sum(1 for c in changes if c.action is a)} {a.name.lower()}"
                       for a in (Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE))
    lines: list[str] = []
    for change in changes:
        lines.append(f"{change.action.value} {change_header(change)}")
        width = max((len(f.path) for f in change.fields), default=0)
        for field in change.fields:
            line, _ = field_line(change, field, width)
            lines.append(line.strip().replace("  # forces", " # forces"))
    body = "\n".join(lines)
    return (f"<details><summary><b>{slug}</b>: {tenant_status(plan, slug)} ({counts}); {origin}</summary>\n\n"
            f"```diff\n{body}\n```\n\n</details>")


def _escape(line: str) -> str:
    """Keep a text line from being read as HTML in a PR comment (GitHub leaves intraword `_` alone)."""
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def markdown_parts(plan: Plan) -> MarkdownPlan:
    """The plan in parts: fleet summary (with manual actions and warnings), destructive call-out, and one
    collapsible section per tenant with changes."""
    statuses = [tenant_status(plan, slug) for slug in plan.tenants]
    n = len(plan.tenants)
    fleet = f"{n} tenant{'s' if n != 1 else ''}: " + ", ".join(
        f"{statuses.count(s)} {s}" for s in TENANT_STATUSES)
    summary = f"**{fleet}**\n\n{summary_line(plan)}"
    if plan.manual_actions:
        summary += "\n\n**Manual action required**\n\n" + "\n".join(
            _escape(line) for line in manual_lines(plan))
    if plan.notices:
        summary += "\n\n**Warnings**\n\n" + "\n".join(_escape(line) for line in notice_lines(plan))
    destructive_changes = [c for c in plan.changes if c.action in (Action.DELETE, Action.REPLACE)]
    destructive = ""
    if destructive_changes:
        items = "\n".join(f"- `{c.action.value}` **{c.tenant}** `{c.address}` \"{c.name}\" ({c.why})"
                          + (" — refused: deletion_protection" if c.protected else "")
                          + (" — data loss" if c.data_loss else "")
                          for c in destructive_changes)
        destructive = f"> [!WARNING]\n> This plan deletes or replaces {len(destructive_changes)} resources:\n\n{items}"
    by_tenant: dict[str, list[Change]] = {}
    for change in plan.actionable():
        by_tenant.setdefault(change.tenant, []).append(change)
    sections = [(slug, _section(plan, slug, changes)) for slug, changes in by_tenant.items()]
    return MarkdownPlan(summary=summary, destructive=destructive, sections=sections)


def render_markdown(plan: Plan) -> str:
    return markdown_parts(plan).render()
