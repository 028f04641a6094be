"""Issue 16: the release file, releases.yaml. Validation rejects an unknown ring, a tenant in two rings,
a version that is not a full SHA or sha256 digest and a pin on a tenant that does not exist, each with
file and line, exit 1 and no traceback; the JSON Schema for editors matches the committed copy."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from ruamel.yaml import YAML

from renderer.release import REST_RING, ReleaseFile, parse_duration, waves
from renderer.tenant import load_tenant
from tests.conftest import ROOT, Sim, run

SHA_A = "8d0e4b1c2a3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d"
SHA_B = "2f1c3a9d2f1c3a9d2f1c3a9d2f1c3a9d2f1c3a9d"
GOOD = f"""version:
  commit: {SHA_A}
rings:
  - name: canary
    tenants: [acme-corp]
    bake: 10m
  - name: early
    max_parallel: 2
"""


def _write(project: Path, text: str) -> None:
    (project / "releases.yaml").write_text(text)


def _label(project: Path, slug: str, text: str) -> None:
    path = project / "tenants" / f"{slug}.yaml"
    path.write_text(path.read_text() + text)


def test_a_good_release_file_validates_and_places_every_tenant(project: Path) -> None:
    _write(project, GOOD)
    _label(project, "globex", "labels:\n  ring: early\n")
    result = run("validate")
    assert result.code == 0, result.output
    release = ReleaseFile.model_validate(YAML(typ="safe").load(GOOD))
    tenants = {p.stem: load_tenant(p) for p in sorted((project / "tenants").glob("*.yaml"))}
    placed = [(w.ring, w.tenants, w.max_parallel, w.bake) for w in waves(release, tenants)]
    # initech is in no ring: the implicit last ring `rest`, with the last ring's settings
    assert placed == [("canary", ("acme-corp",), 1, 600), ("early", ("globex",), 2, 0),
                      (REST_RING, ("initech",), 2, 0)]


def test_a_version_that_is_not_a_full_sha_or_digest_is_refused_with_its_line(project: Path) -> None:
    _write(project, GOOD.replace(SHA_A, SHA_A[:7]) + "services:\n  backboneos-worker: {image: \"nginx:latest\"}\n")
    result = run("validate")
    assert result.code == 1
    assert "Traceback" not in result.output
    assert (f"releases.yaml:2:11: error: commit '{SHA_A[:7]}' is not a full Git commit SHA (40 lowercase hex "
            "digits)") in result.out
    assert "releases.yaml:10:30: error: image 'nginx:latest' is not an image digest" in result.out


def test_an_unknown_ring_label_is_refused_at_the_tenant_file_line(project: Path) -> None:
    _write(project, GOOD)
    _label(project, "globex", "labels:\n  ring: eraly\n")
    result = run("validate")
    assert result.code == 1
    assert "tenants/globex.yaml:9:9: error: label `ring: eraly` names no ring of" in result.out
    assert "did you mean `early`?" in result.out


def test_a_tenant_in_two_rings_is_refused(project: Path) -> None:
    _write(project, GOOD.replace("    max_parallel: 2\n", "    max_parallel: 2\n    tenants: [globex, acme-corp]\n"))
    result = run("validate")
    assert result.code == 1
    assert ("releases.yaml:9:23: error: tenant `acme-corp` is in ring `canary` and in ring `early` at "
            "rings[1].tenants[1] [release/tenant-in-two-rings]") in result.out
    _write(project, GOOD)
    _label(project, "acme-corp", "labels:\n  ring: early\n")
    result = run("validate")
    assert result.code == 1
    assert "is labelled `ring: early` but ring `canary` of releases.yaml lists it" in result.out


def test_a_pin_or_ring_member_that_is_no_tenant_is_refused(sim: Sim, project: Path) -> None:
    _write(project, GOOD.replace("[acme-corp]", "[acme-corp, hooli]") + f"pins:\n  ghost: {{commit: {SHA_B}}}\n")
    result = run("validate")
    assert result.code == 1
    assert "releases.yaml:5:26: error: ring `canary` lists `hooli`, which is not a tenant" in result.out
    assert "releases.yaml:10:3: error: `pins` pins `ghost`, which is not a tenant" in result.out
    # plan refuses before any API call, with the same findings
    before = sim.exchanges()
    planned = run("plan")
    assert planned.code == 1 and "`pins` pins `ghost`" in planned.output
    assert sim.exchanges() == before


def test_a_tenant_pinned_in_both_places_is_refused(project: Path) -> None:
    _write(project, GOOD + f"pins:\n  globex: {{commit: {SHA_B}}}\n")
    _label(project, "globex", f"version:\n  commit: {SHA_B}\n")
    result = run("validate")
    assert result.code == 1
    assert "tenant `globex` is pinned here and by `version:` in its tenant file" in result.out


def test_tenant_file_version_and_labels_are_checked(project: Path) -> None:
    _label(project, "globex", "version:\n  commit: main\nlabels:\n  Ring: x\n")
    result = run("validate")
    assert result.code == 1
    assert "tenants/globex.yaml:9:11: error: commit 'main' is not a full Git commit SHA" in result.out
    assert "label key 'Ring' is not a label name" in result.out


def test_durations() -> None:
    assert [parse_duration(v) for v in (0, 90, "30s", "10m", "1h", "1h30m")] == [0, 90, 30, 600, 3600, 5400]
    assert parse_duration("168h") == 7 * 24 * 3600


def test_a_bake_longer_than_a_week_is_refused_before_any_write(sim: Sim, project: Path) -> None:
    """Found by an attack: `bake: 99999999999999999999h` validated, deployed the wave, then crashed on a
    timestamp out of range. Now the file is refused with its line, and nothing is sent."""
    _write(project, GOOD.replace("bake: 10m", "bake: 99999999999999999999h"))
    result = run("validate")
    assert result.code == 1 and "Traceback" not in result.output
    assert "releases.yaml:6:" in result.out and "longer than a week" in result.out
    before = sim.exchanges()
    assert run("apply", "--auto-approve").code == 1
    assert sim.exchanges() == before


def test_schema_release_matches_committed_copy_and_accepts_the_example() -> None:
    result = run("schema", "release")
    assert result.code == 0
    assert result.out == (ROOT / "docs" / "release.schema.json").read_text()
    schema = json.loads(result.out)
    jsonschema.validate(YAML(typ="safe").load((ROOT / "releases.yaml").read_text()), schema)
    jsonschema.validate(YAML(typ="safe").load(GOOD), schema)


def test_a_broken_tenant_file_in_a_ring_is_not_also_called_missing(project: Path) -> None:
    """A tenant whose file fails validation still exists: the release file's ring naming it is not an
    `unknown-tenant` error besides the tenant file's own (found by a newcomer trying a short SHA pin)."""
    _write(project, GOOD)
    _label(project, "acme-corp", "version:\n  commit: abc1234\n")
    result = run("validate")
    assert result.code == 1
    assert "commit 'abc1234' is not a full Git commit SHA" in result.out
    assert "unknown-tenant" not in result.out and "which is not a tenant" not in result.out
    planned = run("plan")
    assert planned.code == 1 and "which is not a tenant" not in planned.output
