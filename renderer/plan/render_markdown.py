"""The plan as GitHub-flavoured markdown, for PR comments and job summaries.

The tenant is the unit: a fleet summary first (`3 tenants: 1 create, 1 update, 0 delete, 1 unchanged`),
destructive changes called out next, then one collapsible section per tenant holding its changes in a
`diff` code block. `markdown_parts` returns the pieces separately so a caller can split a long plan at
tenant boundaries (GitHub rejects comments over 65,536 characters).
"""

from __future__ import annotations

from dataclasses import dataclass

from renderer.plan.model import Action, Change, FieldChange, Plan
from renderer.plan.render_cost import (
    caveat_lines,
    fleet_line,
    rate_lines,
    tenant_line,
    tenant_lines,
    unknown_lines,
)
from renderer.plan.render_text import (
    change_header,
    manual_lines,
    notice_lines,
    short,
    summary_line,
    value_text,
    version_header,
    version_line,
)

# Tenants listed by name in the fleet's cost summary; the others' costs stay in their sections (GitHub
# rejects comments over 65,536 characters).
COST_TENANT_LINES = 50
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
        return "update" if any(v.tenant == slug for v in plan.pending_versions()) else "unchanged"
    if slug not in plan.sources:
        return "delete"
    if all(c.action is Action.CREATE for c in changes) and not any(
            c.tenant == slug and c.action is Action.NO_OP for c in plan.changes):
        return "create"
    return "update"


def diff_header(change: Change) -> str:
    """A resource's line in a `diff` block. GitHub colours a line by its first character (`+` green, `-`
    red, `!` orange), so an update or a replace starts with `!` before Terraform's symbol."""
    symbol = change.action.value
    lead = {Action.CREATE: "+", Action.DELETE: "-"}.get(change.action, "!")
    return f"{symbol} {change_header(change)}" if lead == symbol else f"{lead} {symbol} {change_header(change)}"


def diff_field_lines(change: Change, field: FieldChange) -> list[str]:
    """A field's lines in a `diff` block: `+` for a value set, `-` for a value removed, the old value as a
    `-` line and the new one as a `+` line for a change, `!` for a secret that changed (no values)."""
    notes = [n for n, on in (("forces replacement", field.forces_replace), ("changed outside renderer", field.drift))
             if on]
    note = f"  # {'; '.join(notes)}" if notes else ""
    before = value_text(field.before, is_set=field.before_set, sensitive=field.sensitive)
    after = value_text(field.after, is_set=True, sensitive=field.sensitive, known=field.after_known)
    if change.action is Action.CREATE or (not field.before_set and field.after_set):
        return [f"+     {field.path} = {after}{note}"]
    if not field.after_set:
        return [f"-     {field.path} = {before}{note}"]
    if field.sensitive and field.after_known:
        return [f"!     {field.path} = (sensitive value changed){note}"]
    return [f"-     {field.path} = {before}", f"+     {field.path} = {after}{note}"]


def _section(plan: Plan, slug: str, changes: list[Change]) -> str:
    source = plan.sources.get(slug)
    origin = f"blueprint `{source.blueprint}`, `{source.tenant_file}`" if source else "tenant file removed"
    counts = ", ".join(f"{sum(1 for c in changes if c.action is a)} {a.name.lower()}"
                       for a in (Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE))
    lines: list[str] = []
    mine = {v.address: v for v in plan.pending_versions() if v.tenant == slug}
    for change in changes:
        lines.append(diff_header(change))
        for field in change.fields:
            lines += diff_field_lines(change, field)
        if change.address in mine:
            lines.append(f"!     {version_line(mine.pop(change.address))}")
    for version in mine.values():
        lines += [f"! ~ {version_header(version)}", f"!     {version_line(version)}"]
    body = "\n".join(lines)
    costs = tenant_lines(plan.cost, slug)
    cost = f"{money_escape(costs[0])}\n\n" if costs else ""
    detail = "".join(f"- {money_escape(line.strip())}\n" for line in costs[1:])
    return (f"<details><summary><b>{slug}</b>: {tenant_status(plan, slug)} ({counts}); {origin}</summary>\n\n"
            f"{cost}{detail}{chr(10) if detail else ''}```diff\n{body}\n```\n\n</details>")


def cost_markdown(plan: Plan) -> str:
    """The fleet's cost line and what is priced as a rate, unknown or possibly out of date ("" without a
    cost or without changes)."""
    if plan.cost is None or not plan.has_changes:
        return ""
    parts = [f"**{money_escape(fleet_line(plan.cost))}**"]
    changed = [t for t in plan.cost.tenants if t.tenant in {c.tenant for c in plan.actionable()}]
    if changed:
        items = [f"- {t.tenant}: {money_escape(tenant_line(t).removeprefix('monthly cost '))}"
                 for t in changed[:COST_TENANT_LINES]]
        if len(changed) > COST_TENANT_LINES:
            items.append(f"- ... and {len(changed) - COST_TENANT_LINES} more tenants: each in its section below")
        parts.append("\n".join(items))
    for title, lines in (("Usage-priced, shown as rates (not in totals)", rate_lines(plan.cost)),
                         ("Price unknown (not in totals)", unknown_lines(plan.cost)),
                         ("Price may be out of date", caveat_lines(plan.cost))):
        if lines:
            parts.append(f"{title}:\n\n" + "\n".join(f"- {money_escape(line)}" for line in lines))
    return "\n\n".join(parts)


def _escape(line: str) -> str:
    """Keep a text line from being read as HTML in a PR comment (GitHub leaves intraword `_` alone)."""
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def money_escape(line: str) -> str:
    """A cost line for markdown: no HTML, and `$` escaped so GitHub does not read `$7.00 ... $25.00` as
    inline math (`\\$` renders as `$`)."""
    return line.replace("&", "&amp;").replace("<", "&lt;").replace("$", "\\$")


def markdown_parts(plan: Plan) -> MarkdownPlan:
    """The plan in parts: fleet summary (with manual actions and warnings), destructive call-out, and one
    collapsible section per tenant with changes."""
    statuses = [tenant_status(plan, slug) for slug in plan.tenants]
    n = len(plan.tenants)
    fleet = f"{n} tenant{'s' if n != 1 else ''}: " + ", ".join(
        f"{statuses.count(s)} {s}" for s in TENANT_STATUSES)
    summary = f"**{fleet}**\n\n{summary_line(plan)}"
    cost = cost_markdown(plan)
    if cost:
        summary += "\n\n" + cost
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
    rollout = rollout_markdown(plan)
    if rollout:
        summary += "\n\n" + rollout
    by_tenant: dict[str, list[Change]] = {}
    for change in plan.actionable():
        by_tenant.setdefault(change.tenant, []).append(change)
    for version in plan.pending_versions():
        by_tenant.setdefault(version.tenant, [])
    sections = [(slug, _section(plan, slug, changes)) for slug, changes in by_tenant.items()]
    return MarkdownPlan(summary=summary, destructive=destructive, sections=sections)


def rollout_markdown(plan: Plan) -> str:
    """The rollout section of a PR comment: the waves in order with their tenants, and today's version
    skew across the fleet ("" without a releases.yaml)."""
    rollout = plan.rollout
    if rollout is None:
        return ""
    pending = {v.tenant for v in plan.pending_versions()}
    rows = ["| wave | ring | tenants | at once | bake | deploys |", "|---|---|---|---|---|---|"]
    for index, wave in enumerate(rollout.waves, start=1):
        more = len(wave.tenants) - 20
        listed = ", ".join(wave.tenants[:20]) + (f" and {more} more" if more > 0 else "")
        deploying = sum(1 for t in wave.tenants if t in pending)
        rows.append(f"| {index} | {wave.ring} | {listed} | {wave.max_parallel} | {wave.bake} s | "
                    f"{deploying} tenant(s) |")
    parts = ["**Rollout** (releases.yaml): waves in order; a wave starts once the one before is live on the "
             "target and baked", "\n".join(rows)]
    if rollout.skew:
        parts.append("Version skew today: " + "; ".join(
            f"`{short(version)}` on {len(tenants)} tenant(s)" for version, tenants in rollout.skew.items()))
    if rollout.failed:
        parts.append(f"> [!CAUTION]\n> Release not deployed: {_escape(rollout.failed)}.")
    if rollout.unpinned:
        parts.append("Unpinned (a Git-backed cron job follows its branch): "
                     + ", ".join(f"`{u}`" for u in rollout.unpinned))
    return "\n\n".join(parts)


def render_markdown(plan: Plan) -> str:
    return markdown_parts(plan).render()
