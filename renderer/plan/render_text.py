"""The plan as text, in Terraform's style: one block per resource, field lines, a closing summary.

Returns a `rich.text.Text`: styled on a terminal, plain (`.plain`) everywhere else. Sensitive values
print as `(sensitive)` (`(sensitive value changed)` when one changed), values that exist only at apply
time as `(known after apply)`. A field changed outside renderer ends with `# changed outside renderer`;
manual actions and warnings follow the resources, the `Plan:` line comes last. A plan with changes shows
each listed tenant's monthly cost before and after (and each resource whose cost changes), and the fleet's
just before the `Plan:` line (`renderer.plan.render_cost`).
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text

from renderer.plan.model import Action, Change, FieldChange, Plan, VersionChange
from renderer.plan.render_cost import caveat_lines, fleet_line, rate_lines, tenant_lines, unknown_lines

STYLES = {
    Action.CREATE: "green", Action.UPDATE: "yellow", Action.REPLACE: "magenta",
    Action.DELETE: "red", Action.NO_OP: "dim",
}


def value_text(value: Any, *, is_set: bool, sensitive: bool, known: bool = True) -> str:
    """A field value as the plan shows it: JSON, or `(sensitive)`, `(none)`, `(known after apply)`."""
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
        after = value_text(field.after, is_set=True, sensitive=field.sensitive, known=field.after_known)
        return f"      + {name} = {after}{note}", "green"
    if not field.after_set:
        before = value_text(field.before, is_set=field.before_set, sensitive=field.sensitive)
        return f"      - {name} = {before}{note}", "red"
    if field.sensitive and field.after_known:
        return f"      ~ {name} = (sensitive value changed){note}", "yellow"
    before = value_text(field.before, is_set=field.before_set, sensitive=field.sensitive)
    after = value_text(field.after, is_set=True, sensitive=field.sensitive, known=field.after_known)
    return f"      ~ {name} = {before} -> {after}{note}", "yellow"


def change_header(change: Change) -> str:
    """`~ web_service.backboneos-backend  "backboneos-backend-acme-corp" srv-...  (field changed)`, without
    the symbol."""
    ident = f" {change.id}" if change.id else ""
    if change.live_name is not None and change.live_name != change.name:
        ident += f" (on Render: {json.dumps(change.live_name)})"
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


def short(version: str | None) -> str:
    """7 hex digits of a commit SHA or image digest; `(unknown)` for none."""
    if not version:
        return "(unknown)"
    return version.removeprefix("sha256:")[:7]


def version_line(change: VersionChange) -> str:
    """`version 2f1c3a9 -> 8d0e4b1  # ring canary, wave 1` (without indent or symbol)."""
    return f"version {short(change.before)} -> {short(change.after)}  # ring {change.ring}, wave {change.wave}"


def version_header(change: VersionChange) -> str:
    """The header of a service whose only change is its version, like `change_header`'s."""
    ident = f" {change.id}" if change.id else ""
    return f"{change.address}  {json.dumps(change.name)}{ident}  (version)"


def release_lines(plan: Plan) -> list[str]:
    """The release's lines after the resources: the waves in order, today's skew, what the rollout
    leaves alone; [] without a releases.yaml."""
    rollout = plan.rollout
    if rollout is None:
        return []
    lines = []
    if rollout.failed:
        lines.append(f"Release not deployed: {rollout.failed}.")
    pending = {v.tenant for v in plan.pending_versions()}
    for index, wave in enumerate(rollout.waves, start=1):
        deploying = [t for t in wave.tenants if t in pending]
        lines.append(f"Wave {index}: ring {wave.ring}, {len(wave.tenants)} tenant(s), {wave.max_parallel} at once, "
                     f"bake {wave.bake} s; deploys {', '.join(deploying) if deploying else 'nothing'}")
    if rollout.skew:
        lines.append("Versions running today: " + "; ".join(
            f"{short(version)} on {len(tenants)} tenant(s)" for version, tenants in rollout.skew.items()))
    if rollout.unpinned:
        lines.append("Unpinned (a Git-backed cron job follows its branch): " + ", ".join(rollout.unpinned))
    return lines


def summary_line(plan: Plan) -> str:
    if not plan.has_changes:
        n = len(plan.tenants)
        return (f"No changes. Render matches the configuration of {n} tenant{'s' if n != 1 else ''}.")
    versions = plan.pending_versions()
    deploys = f" {len(versions)} to deploy at a new version." if versions else ""
    return (f"Plan: {plan.count(Action.CREATE)} to create, {plan.count(Action.UPDATE)} to update, "
            f"{plan.count(Action.REPLACE)} to replace, {plan.count(Action.DELETE)} to delete.{deploys}")


def render_text(plan: Plan) -> Text:
    """Render `plan`. Unchanged resources are left out; tenants with no changes are not listed."""
    out = Text()
    by_tenant: dict[str, list[Change]] = {}
    for change in plan.actionable():
        by_tenant.setdefault(change.tenant, []).append(change)
    versions: dict[str, dict[str, VersionChange]] = {}
    for version in plan.pending_versions():
        versions.setdefault(version.tenant, {})[version.address] = version
        by_tenant.setdefault(version.tenant, [])
    for slug, changes in by_tenant.items():
        source = plan.sources.get(slug)
        origin = f"blueprint {source.blueprint}, {source.tenant_file}" if source else "tenant file removed"
        out.append(f"Tenant {slug} ({origin})\n", style="bold")
        mine = dict(versions.get(slug, {}))
        for change in changes:
            out.append(f"\n  {change.action.value} ", style=STYLES[change.action])
            out.append(change_header(change) + "\n", style="bold")
            width = max((len(f.path) for f in change.fields), default=0)
            for field in change.fields:
                line, style = field_line(change, field, width)
                out.append(line + "\n", style=style)
            if change.address in mine:
                out.append(f"      ~ {version_line(mine.pop(change.address))}\n", style="yellow")
        for version in mine.values():
            out.append(f"\n  {Action.UPDATE.value} ", style=STYLES[Action.UPDATE])
            out.append(version_header(version) + "\n", style="bold")
            out.append(f"      ~ {version_line(version)}\n", style="yellow")
        costs = tenant_lines(plan.cost, slug)
        if costs:
            out.append("\n" + "".join(f"  {line}\n" for line in costs), style="cyan")
        out.append("\n")
    if plan.manual_actions:
        out.append("Manual action required:\n", style="bold yellow")
        out.append("".join(f"  {line}\n" for line in manual_lines(plan)), style="yellow")
        out.append("\n")
    if plan.notices:
        out.append("Warnings:\n", style="bold yellow")
        out.append("".join(f"  {line}\n" for line in notice_lines(plan)), style="yellow")
        out.append("\n")
    release = release_lines(plan)
    if release and (plan.pending_versions() or (plan.rollout is not None and plan.rollout.failed)):
        out.append("Release (releases.yaml):\n", style="bold")
        out.append("".join(f"  {line}\n" for line in release))
        out.append("\n")
    if plan.cost is not None and plan.has_changes:
        out.append(cost_text(plan))
    out.append(summary_line(plan) + "\n", style="bold")
    return out


def cost_text(plan: Plan) -> Text:
    """The fleet's cost line, then what is priced as a rate, unknown or possibly out of date."""
    out = Text()
    if plan.cost is None:
        return out
    out.append(fleet_line(plan.cost) + "\n", style="bold cyan")
    for title, lines in (("Usage-priced, shown as rates (not in totals)", rate_lines(plan.cost)),
                         ("Price unknown (not in totals)", unknown_lines(plan.cost)),
                         ("Price may be out of date", caveat_lines(plan.cost))):
        if lines:
            out.append(f"{title}:\n", style="cyan")
            out.append("".join(f"    - {line}\n" for line in lines), style="cyan")
    out.append("\n")
    return out
