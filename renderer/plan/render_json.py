"""The plan as versioned JSON, for machines (`plan --json`, CI artifacts).

Shape (`format_version` "1"): `{"format_version": "1", "tenants": [slug...], "summary": {"create": n,
"update": n, "replace": n, "delete": n, "no_op": n}, "changes": [{"tenant", "address", "kind", "name",
"action", "symbol", "reason", "id", "fields": [{"path", "before", "after", "before_set", "after_set",
"sensitive", "after_known", "forces_replace"}]}]}`. Keys are sorted; no-op changes are included with
empty `fields`. Sensitive values are never present: the plan model does not hold them.
"""

from __future__ import annotations

import json
from typing import Any

from renderer.plan.model import Action, Plan

FORMAT_VERSION = "1"


def plan_document(plan: Plan) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "tenants": list(plan.tenants),
        "summary": {action.name.lower(): plan.count(action) for action in Action},
        "changes": [
            {
                "tenant": c.tenant, "address": c.address, "kind": c.kind.value, "name": c.name,
                "action": c.action.name.lower(), "symbol": c.action.value, "reason": c.reason, "id": c.id,
                "fields": [f.model_dump(mode="json") for f in c.fields],
            }
            for c in plan.changes
        ],
    }


def render_json(plan: Plan) -> str:
    """The JSON document, sorted keys, 2-space indent, trailing newline."""
    return json.dumps(plan_document(plan), sort_keys=True, indent=2) + "\n"
