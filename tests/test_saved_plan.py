"""Issue 10: the saved-plan file is owned by `renderer.plan.saved`, with its own `version`. The `--format
json` document it carries is for a reviewer; renderer reads back only `saved`, so the JSON output can
change without making saved plans unreadable. tests/data/saved-plan.v1.json was written by
`renderer plan --out` of renderer 0.1 before this format version (tenant globex, no lockfile)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from renderer.plan.saved import VERSION
from tests.conftest import ROOT, Sim, run
from tests.helpers import only_tenant

V1_PLAN = ROOT / "tests" / "data" / "saved-plan.v1.json"


def test_a_saved_plan_stays_loadable_when_the_json_output_changes(sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    assert run("plan", "--out", "plan.json").code == 0
    path = project / "plan.json"
    document = json.loads(path.read_text())
    assert document["saved"]["version"] == VERSION == 2
    assert document["saved"]["plan"].startswith("sha256:")  # a fingerprint of the plan model

    # The document as a renderer whose `--format json` output differs would have written it: a new
    # format_version, a field renamed in every change, one dropped, one added, and no summary.
    changed = {
        "format_version": "2",
        "tenants": document["tenants"],
        "resource_changes": [{**{k: v for k, v in c.items() if k not in ("symbol", "action")},
                              "verb": c["action"], "new_field": True} for c in document["changes"]],
        "saved": document["saved"],
    }
    path.write_text(json.dumps(changed, indent=2))
    done = run("apply", "plan.json")
    assert done.code == 0, done.output
    assert "Apply complete! Resources: 5 created" in done.out


def test_a_saved_plan_is_still_compared_with_the_plan_after_the_json_part_is_gone(
        sim: Sim, project: Path) -> None:
    """Without the JSON document the comparison still works: the live state changed, so it is refused."""
    only_tenant(project, "globex")
    assert run("apply", "--auto-approve").code == 0
    tenant = project / "tenants" / "globex.yaml"
    tenant.write_text(tenant.read_text().replace('"USD"', '"EUR"'))
    assert run("plan", "--out", "plan.json").code == 0
    path = project / "plan.json"
    path.write_text(json.dumps({"saved": json.loads(path.read_text())["saved"]}))
    tenant.write_text(tenant.read_text().replace('"EUR"', '"GBP"'))
    stale = run("apply", "plan.json")
    assert stale.code == 1
    assert "the saved plan plan.json is out of date; nothing was changed" in stale.err
    assert "- tenant file tenants/globex.yaml changed" in stale.err


def test_a_saved_plan_of_the_previous_format_is_refused_with_how_to_make_a_new_one(
        sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    shutil.copy(V1_PLAN, project / "old-plan.json")
    assert json.loads(V1_PLAN.read_text())["saved"]["kind"] == "renderer-saved-plan"
    refused = run("apply", "old-plan.json")
    assert refused.code == 1
    assert ("old-plan.json is a saved plan in an older format (saved-plan version 1) than this renderer reads "
            "(version 2); nothing was changed") in refused.err
    assert "hint: make a new plan with `renderer plan --out FILE`, review it and apply that" in refused.err
    assert sim.get("/services").json() == []


def test_a_damaged_saved_plan_is_refused(sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    assert run("plan", "--out", "plan.json").code == 0
    path = project / "plan.json"
    document = json.loads(path.read_text())
    del document["saved"]["state"]["live"]
    path.write_text(json.dumps(document))
    refused = run("apply", "plan.json")
    assert refused.code == 1
    assert "plan.json is a damaged saved plan: Field required at saved.state.live" in refused.err
    assert "Traceback" not in refused.output
