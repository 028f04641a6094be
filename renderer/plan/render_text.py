"""The plan as text, in Terraform's style: one block per resource, field lines, a closing summary.

Returns a `rich.text.Text`: styled on a terminal, plain (`.plain`) everywhere else. Sensitive values
print as `(sensitive)` (`(sensitive value changed)` when one changed), values that exist only at apply
time as `(known after apply)`. A field changed outside renderer ends with `# changed outside renderer`;
manual actions and warnings follow the resources, the `Plan:` line comes last.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text

from renderer.plan.model import Action, Change, FieldChange, Plan

STYLES = {
    Action.CREATE: "green", Action.UPDATE: "yellow", Action.REPLACE: "magenta",
    Action.DELETE: "red", Action.NO_OP: "dim",
}


def _value(value: Any, *, is_set: bool, sensitive: bool, known: bool = True) -> str:
    if not known:
        return "(known after apply)"
    if sensitive:
        return "(sensitive)"
    if not is_set:
        return "(none)"
    return json.dumps(value, ensure_ascii=False)


def field_line(change: Change, field: FieldChange, width: int) -> tuple[str, str]:
    """One field line (`      ~ plan = "starter" -> "standard"`) and its style."""
    name = field.path.ljust(width)
    notes = []
    if field.forces_replace:
        notes.append("forces replacement")
    if field.drift:
        notes.append("changed outside renderer")
    note = f"  # {'; '.join(notes)}" if notes else ""
    if change.action is Action.CREATE or (not field.before_set and field.after_set):
        after = _value(field.after, is_set=True, sensitive=field.sensitive, known=field.after_known)
        return f"      + {name} = {after}{note}", "green"
    if not field.after_set:
        before = _value(field.before, is_set=field.before_set, sensitive=field.sensitive)
        return f"      - {name} = {before}{note}", "red"
    if field.sensitive and field.after_known:
        return f"      ~ {name} = (sensitive value changed){note}", "yellow"
    before = _value(field.before, is_set=field.before_set, sensitive=field.sensitive)
    after = _value(field.after, is_set=True, sensitive=field.sensitive, known=field.after_known)
    return f"      ~ {name} = {before} -> {after}{note}", "yellow"


def change_header(change: Change) -> str:
    """`~ web_service.backboneos-backend  "backboneos-backend-acme-corp" srv-...  (field changed)`, without
    the symbol."""
    ident = f" {change.id}" if change.id else ""
    flags = ""
    if change.protected:
        flags += "  [refused: deletion_protection]"
    if change.data_loss:
        flags += "  [data loss: needs --allow-data-loss]"
    if change.deletes_database and not change.protected:
        flags += "  [backup: apply exports the database first]"
    replaces = f" (replaces {change.previous_address})" if change.previous_address else ""
    return f"{change.address}{replaces}  {json.dumps(change.name)}{ident}  ({change.why}){flags}"


def manual_lines(plan: Plan) -> list[str]:
    """`- acme-corp web_service.x: set KEY ...` per manual action."""
    return [f"- {m.tenant} {m.address}: {m.message}" for m in plan.manual_actions]


def notice_lines(plan: Plan) -> list[str]:
    return [f"- {n.tenant + ': ' if n.tenant else ''}{n.message}" for n in plan.notices]


def summary_line(plan: Plan) -> str:
    if not plan.has_changes:
        n = len(plan.tenants)
        return (f"No changes. Render matches the configuration of {n} tenant{'s' if n != 1 else ''}.")
    return (f"Plan: {plan.count(Action.CREATE)} to create, {plan.count(Action.UPDATE)} to update, "
            f"{plan.count(Action.REPLACE)} to replace, {plan.count(Action.DELETE)} to delete.")


def render_text(plan: Plan) -> Text:
    """Render `plan`. Unchanged resources are left out; tenants with no changes are not listed."""
    out = Text()
    by_tenant: dict[str, list[Change]] = {}
    for change in plan.actionable():
        by_tenant.setdefault(change.tenant, []).append(change)
    for slug, changes in by_tenant.items():
        source = plan.sources.get(slug)
        origin = f"blueprint {source.blueprint}, {source.tenant_file}" if source else "tenant file removed"
        out.append(f"Tenant {slug} ({origin})\n", style="bold")
        for change in changes:
            out.append(f"\n  {change.action.value} ", style=STYLES[change.action])
            out.append(change_header(change) + "\n", style="bold")
            width = max((len(f.path) for f in change.fields), default=0)
            for field in change.fields:
                line, style = field_line(change, field, width)
                out.append(line + "\n", style=style)
        out.append("\n")
    if plan.manual_actions:
        out.append("Manual action required:\n", style="bold yellow")
        out.append("".join(f"  {line}\n" for line in manual_lines(plan)), style="yellow")
        out.append("\n")
    if plan.notices:
        out.append("Warnings:\n", style="bold yellow")
        out.append("".join(f"  {line}\n" for line in notice_lines(plan)), style="yellow")
        out.append("\n")
    out.append(summary_line(plan) + "\n", style="bold")
    return out
