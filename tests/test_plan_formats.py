"""Plan renderers: markdown and JSON show the same plan as text, secrets redacted."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Sim, run


def test_json_plan_is_versioned_and_redacted(sim: Sim, project: Path) -> None:
    result = run("plan", "--format", "json")
    assert result.code == 0
    doc = json.loads(result.out)
    assert doc["format_version"] == "1"
    assert doc["summary"] == {"create": 15, "update": 0, "replace": 0, "delete": 0, "no_op": 0}
    assert result.out == json.dumps(doc, sort_keys=True, indent=2) + "\n"
    web = next(c for c in doc["changes"] if c["tenant"] == "acme-corp" and c["kind"] == "web_service")
    assert (web["action"], web["symbol"], web["reason"]) == ("create", "+", "tenant added")
    secret = next(f for f in web["fields"] if f["path"] == "envVars.DJANGO_SECRET_KEY")
    assert secret["sensitive"] and secret["after"] is None


def test_markdown_plan_has_fleet_summary_and_tenant_sections(sim: Sim, project: Path) -> None:
    assert run("apply", "--auto-approve").code == 0
    (project / "tenants" / "initech.yaml").unlink()
    globex = project / "tenants" / "globex.yaml"
    globex.write_text(globex.read_text().replace('"USD"', '"EUR"'))
    result = run("plan", "--format", "markdown")
    assert result.code == 0
    text = result.out
    assert text.startswith("**3 tenants: 0 create, 1 update, 1 delete, 1 unchanged**")
    assert "Plan: 0 to create, 1 to update, 0 to replace, 5 to delete." in text
    assert text.index("[!WARNING]") < text.index("<details>")
    assert "<details><summary><b>globex</b>: update" in text
    assert '-     envVars.CRM_DEFAULT_CURRENCY = "USD"\n+     envVars.CRM_DEFAULT_CURRENCY = "EUR"' in text
    assert "<details><summary><b>initech</b>: delete" in text
    assert "acme-corp</b>" not in text
