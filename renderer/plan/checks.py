"""Checks a plan must pass before apply sends any write: the allows a destructive change needs, deletion
protection (no flag lifts it), the mass-delete breaker, and the tenant secrets the plan writes.

Each raises `RendererError` (exit 1) naming the changes it refuses; the operations layer runs them once,
after the plan is shown and before the first write.
"""

from __future__ import annotations

from collections.abc import Mapping

from renderer.errors import RendererError
from renderer.plan.model import Action, Change, Plan
from renderer.resources import EnvSource, EnvVar


def check_allowed(
    plan: Plan, *, allow_destroy: bool, allow_replace: bool, allow_data_loss: bool = False,
    allow_mass_destroy: bool = False,
) -> None:
    """Refuse a plan that deletes or replaces without the matching permission. Raises `RendererError`
    before any write; deletion protection cannot be overridden by a flag."""
    protected = [c for c in plan.changes if c.protected]
    if protected:
        slugs = sorted({c.tenant for c in protected})
        names = ", ".join(f"{c.tenant}/{c.address} ({c.action.name.lower()})" for c in protected)
        raise RendererError(
            f"deletion protection: the plan would delete or replace {names}; nothing was changed",
            hint=f"set `deletion_protection: false` for {', '.join(slugs)} in the tenant file (restore the file "
                 "if it was deleted), apply that, then apply the removal")
    breaker = plan.mass_destroy()
    if breaker and not allow_mass_destroy:
        raise RendererError(f"mass-delete breaker: {breaker}; nothing was changed",
                            hint="check the tenants directory; if the teardown is intended, re-run with "
                                 "--allow-mass-destroy (and --allow-destroy)")
    deletes = [c for c in plan.changes if c.action is Action.DELETE]
    replaces = [c for c in plan.changes if c.action is Action.REPLACE]
    if deletes and not allow_destroy:
        names = ", ".join(f"{c.tenant}/{c.address}" for c in deletes)
        raise RendererError(
            f"the plan deletes {len(deletes)} resource{'s' if len(deletes) != 1 else ''} ({names}); "
            "nothing was changed",
            hint="review the plan and re-run with --allow-destroy to delete them")
    if replaces and not allow_replace:
        names = ", ".join(f"{c.tenant}/{c.address} ({c.why})" for c in replaces)
        raise RendererError(
            f"the plan replaces {len(replaces)} resource{'s' if len(replaces) != 1 else ''}: {names}; "
            "nothing was changed",
            hint="replacing deletes the resource and its data; re-run with --allow-replace if that is intended")
    data_loss = [c for c in replaces if c.data_loss]
    if data_loss and not allow_data_loss:
        names = ", ".join(f"{c.tenant}/{c.address}" for c in data_loss)
        raise RendererError(
            f"replacing {names} deletes a database and all its data; nothing was changed",
            hint="back the data up first; re-run with --allow-replace --allow-data-loss if that is intended")


def _written_secrets(change: Change) -> list[EnvVar]:
    """The tenant-secret env vars a change writes."""
    if change.desired is None or change.action not in (Action.CREATE, Action.REPLACE, Action.UPDATE):
        return []
    secrets = [e for e in change.desired.env_vars if e.source is EnvSource.SECRET]
    if change.action is Action.UPDATE:
        paths = {f.path for f in change.fields}
        secrets = [e for e in secrets if f"envVars.{e.key}" in paths]
    return secrets


def check_secrets(plan: Plan, environ: Mapping[str, str]) -> None:
    """Every tenant secret the plan writes must be in the environment. Raises `RendererError` naming them."""
    missing = sorted({f"${e.ref_name} (secret {e.key} of {c.tenant}/{c.address})"
                      for c in plan.changes for e in _written_secrets(c) if (e.ref_name or "") not in environ})
    if missing:
        raise RendererError(
            f"tenant secrets are not set in the environment: {', '.join(missing)}; nothing was changed",
            hint="export each environment variable named by `from_env` in the tenant file before apply")
