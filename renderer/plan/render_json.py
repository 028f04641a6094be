"""The plan as versioned JSON, for machines (`plan --json`, CI artifacts).

Shape (`format_version` "1"): `{"format_version": "1", "tenants": [slug...], "summary": {"create": n,
"update": n, "replace": n, "delete": n, "no_op": n}, "changes": [{"tenant", "address", "kind", "name",
"action", "symbol", "reason", "id", "protected", "data_loss", "previous_address", "live_name", "identity",
"fields": [{"path",
"before", "after", "before_set", "after_set", "sensitive", "after_known", "forces_replace", "drift"}]}],
"manual_actions": [{"tenant", "address", "name", "key", "message"}], "notices": [{"tenant", "kind",
"message"}], "cost": {...} or null, "versions": [{"tenant", "address", "name", "id", "before", "after",
"ring", "wave"}], "rollout": {"release", "waves": [{"ring", "tenants", "max_parallel", "bake"}], "skew":
{version: [tenant...]}, "failed", "unpinned"} or null}`. `versions` are the services whose application
version changes (releases.yaml): an update of the service, carried out as a deploy. Keys are sorted;
no-op changes are included with empty `fields`.
Sensitive values are never present: the plan model does not hold them. `cost` (`render_cost.cost_document`)
holds money as whole cents (`*_cents`) beside the exact decimal amount in dollars (`*_exact`), with the
price table's version.
"""

from __future__ import annotations

import json
from typing import Any

from renderer.plan.model import Action, Plan
from renderer.plan.render_cost import cost_document

FORMAT_VERSION = "1"


def plan_document(plan: Plan) -> dict[str, Any]:
    """The plan as a JSON-ready dict (the shape above)."""
    return {
        "format_version": FORMAT_VERSION,
        "tenants": list(plan.tenants),
        "summary": {action.name.lower(): plan.count(action) for action in Action},
        "changes": [
            {
                "tenant": c.tenant, "address": c.address, "kind": c.kind.value, "name": c.name,
                "action": c.action.name.lower(), "symbol": c.action.value, "reason": c.why, "id": c.id,
                "protected": c.protected, "data_loss": c.data_loss, "previous_address": c.previous_address,
                "live_name": c.live_name, "identity": c.identity,
                "fields": [f.model_dump(mode="json") for f in c.fields],
            }
            for c in plan.changes
        ],
        "manual_actions": [m.model_dump(mode="json") for m in plan.manual_actions],
        "notices": [n.model_dump(mode="json") for n in plan.notices],
        "cost": cost_document(plan.cost),
        "versions": [v.model_dump(mode="json") for v in plan.pending_versions()],
        "rollout": plan.rollout.model_dump(mode="json") if plan.rollout is not None else None,
    }


def render_json(plan: Plan) -> str:
    """The JSON document, sorted keys, 2-space indent, trailing newline."""
    return json.dumps(plan_document(plan), sort_keys=True, indent=2) + "\n"
