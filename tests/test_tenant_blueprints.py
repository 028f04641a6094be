"""Rendered blueprints: findings point at the template line, or at the tenant file's key when the value
came from the tenant; every tenant's findings in one run; the fleet rule; the validate and render commands."""

from __future__ import annotations

import json
from pathlib import Path

from ruamel.yaml import YAML

from tests.conftest import run
from tests.validation_helpers import finding, validate_json, write

SHOP = """
    {#- a test blueprint: the env loop makes rendered lines differ from template lines -#}
    services:
      - type: web
        name: shop
        runtime: python
        buildCommand: pip install -r requirements.txt
        startCommand: gunicorn shop.wsgi
        envVars:
    {% for key, value in tenant.env | dictsort %}
          - key: {{ key | yaml_quote }}
            value: {{ value | yaml_quote }}
    {% endfor %}
      - type: worker
        name: shop-jobs
        runtime: python
        buildCommand: pip install -r requirements.txt
        startCommand: celery -A shop worker
        numInstances: 2
        disk:
          name: spool
          mountPath: /var/spool
    """
TEMPLATE = "blueprints/shop/render.yaml.j2"


def shop_project(project: Path) -> None:
    for other in ("acme-corp", "globex", "initech"):
        (project / "tenants" / f"{other}.yaml").unlink()
    write(project / TEMPLATE, SHOP)


def test_findings_point_at_template_lines_and_tenant_keys(project: Path) -> None:
    shop_project(project)
    write(project / "tenants" / "demo.yaml", """
        name: Demo
        slug: demo
        blueprint: shop
        plan: free
        env:
          API_URL: "https://api.demo.test"
          API_KEY: "REPLACE_ME"
          SUPPORT_EMAIL: "help@demo.test"
        """)
    code, report = validate_json()
    assert code == 1
    assert report["errors"] == [
        finding("tenants/demo.yaml", 4, 7, "services[1].plan", "semantic", "plan-for-kind",
                "a background worker has no free instance type (Render offers free web services, Postgres and Key "
                "Value only) (set by `plan` in the tenant file)", "use `starter` or a larger instance type"),
        finding("tenants/demo.yaml", 4, 7, "services[1].plan", "semantic", "free-plan-limits",
                "a free service cannot have a persistent disk (set by `plan` in the tenant file)",
                "use `plan: starter` or larger, or remove `disk:`"),
        finding("tenants/demo.yaml", 7, 12, "services[0].envVars[0].value", "semantic", "placeholder",
                "leftover placeholder `REPLACE_ME` in a value (the value comes from `env.API_KEY` in the tenant "
                f"file, used at {TEMPLATE}:11)",
                "put the real value here (for a secret, use `sync: false` and set it in the Render Dashboard)"),
        # the template's own mistake, at the template line (rendered, it is line 21)
        finding(TEMPLATE, 19, 5, "services[1].disk", "semantic", "disk-scaling",
                "a service with a persistent disk runs exactly one instance, so `numInstances: 2` cannot go with "
                "`disk:` (rendering tenant `demo`)",
                "remove `disk:`, or run one instance (no `scaling:`, `numInstances: 1`)"),
    ]


def test_every_tenant_is_reported_in_one_run(project: Path) -> None:
    (project / "tenants" / "globex.yaml").write_text("name: Globex\nslug: globex\nblueprint: base_crm\nregoin: ohio\n")
    (project / "tenants" / "initech.yaml").write_text("name: Initech\nslug: initech\nblueprint: nope\n")
    (project / "tenants" / "umbrella.yaml").write_text("name: Umbrella\nslug: umbrella\n\tblueprint: base_crm\n")
    code, report = validate_json()
    assert code == 1
    assert [(f["file"], f["line"], f["rule"]) for f in report["errors"]] == [
        ("tenants/globex.yaml", 4, "unknown-key"),
        ("tenants/initech.yaml", 3, "unknown-blueprint"),
        ("tenants/umbrella.yaml", 3, "yaml-tab"),
    ]
    assert report["errors"][1]["message"] == "unknown blueprint `nope`: there is no blueprints/nope/render.yaml.j2"


def test_two_tenants_must_not_map_to_one_render_name(project: Path) -> None:
    for other in ("acme-corp", "globex", "initech"):
        (project / "tenants" / f"{other}.yaml").unlink()
    write(project / "blueprints" / "pair" / "render.yaml.j2", """
        services:
          - {type: web, name: web, runtime: docker}
          - {type: web, name: web-a, runtime: docker}
        """)
    write(project / "tenants" / "a-b.yaml", "name: AB\nslug: a-b\nblueprint: pair\n")
    write(project / "tenants" / "b.yaml", "name: B\nslug: b\nblueprint: pair\n")
    code, report = validate_json()
    assert code == 1
    assert report["errors"] == [finding(
        "tenants/b.yaml", 2, 7, "slug", "semantic", "fleet-unique-name",
        "Render name `web-a-b` of `services[1]` of tenant `b` is also the name of `services[0]` of tenant `a-b`",
        "rename one of the blueprint resources, or choose a slug that cannot collide")]


def test_validate_paths_directories_and_blueprint_files(project: Path) -> None:
    assert run("validate", "tenants/globex.yaml").out.splitlines()[-1] == "Valid: 1 tenant."
    assert run("validate", "tenants").out.splitlines()[-1] == "Valid: 3 tenants."
    missing = run("validate", "tenants/nobody.yaml")
    assert missing.code == 1 and "no such file or directory: tenants/nobody.yaml" in missing.err
    assert run("validate", "--blueprint").code == 1  # needs a path
    rendered = run("render", "--all", "--out", "out")
    assert rendered.code == 0, rendered.output
    assert "Wrote 3 blueprints to out." in rendered.err
    assert sorted(p.name for p in (project / "out").iterdir()) == ["acme-corp.yaml", "globex.yaml", "initech.yaml"]
    strict = run("validate", "--strict", "--blueprint", "out")
    assert (strict.code, strict.out.splitlines()[-1]) == (0, "Valid: 3 files.")
    assert ("git -C ./custom_plugins fetch -q --depth 1 -- https://github.com/acme/custom-plugins.git "
            "3f9a1c0d2b4e6f8a0c1e3d5b7a9f1e2d4c6b8a0f") in (project / "out" / "acme-corp.yaml").read_text()
    assert run("render").code == 1 and run("render", "--all").code == 1  # SLUG or --all --out


def test_render_reports_errors_and_still_prints(project: Path) -> None:
    path = project / "tenants" / "globex.yaml"
    path.write_text(path.read_text() + "plan: free\n")
    result = run("render", "globex")
    assert result.code == 1
    assert "name: backboneos-worker" in result.out
    assert "tenants/globex.yaml:8:7: error: a background worker has no free instance type" in result.err


def test_yaml_errors_in_rendered_text_point_at_the_template_or_the_tenant(project: Path) -> None:
    shop_project(project)
    write(project / "blueprints" / "loose" / "render.yaml.j2", """
        services:
          - type: web
            name: api
            runtime: docker
            envVars:
        {% for key, value in tenant.env | dictsort %}
              - key: {{ key }}
                value: {{ value }}
        {% endfor %}
        """)
    write(project / "tenants" / "evil.yaml", """
        name: Evil
        slug: evil
        blueprint: loose
        env:
          A: "one"
          MOTTO: "we: win"
        """)
    write(project / "tenants" / "sloppy.yaml", "name: Sloppy\nslug: sloppy\nblueprint: shop\n")
    template = project / TEMPLATE
    template.write_text(template.read_text().replace("    name: shop-jobs\n", "    name: shop-jobs\n   bad: indent\n"))
    code, report = validate_json()
    assert code == 1
    assert report["errors"] == [
        finding("tenants/evil.yaml", 6, 10, "", "yaml", "yaml-syntax",
                "mapping values are not allowed in this context (in the value of `env.MOTTO` from the tenant file, "
                "used at blueprints/loose/render.yaml.j2:8)",
                "the template should quote the value: `{{ ... | yaml_quote }}` at blueprints/loose/render.yaml.j2:8"),
        finding(TEMPLATE, 15, 4, "", "yaml", "yaml-syntax",
                "while parsing a block collection did not find expected '-' indicator (in the rendered blueprint) "
                "(rendering tenant `sloppy`)",
                "fix the YAML syntax at this position (indentation, a missing `:` or an unquoted `: `)"),
    ]


def test_names_with_newlines_and_hashes_cannot_change_the_document(project: Path) -> None:
    name = 'Evil # Corp\nservices: []\n"quoted": yes'
    path = project / "tenants" / "globex.yaml"
    path.write_text(path.read_text().replace("name: Globex Corporation", f"name: {json.dumps(name)}"))
    assert validate_json() == (0, {"valid": True, "errors": [], "warnings": []})
    rendered = run("render", "globex")
    assert rendered.code == 0
    document = YAML(typ="safe").load(rendered.out)
    assert [s["name"] for s in document["services"]] == ["backboneos-backend", "backboneos-worker"]
    assert {"key": "TENANT_NAME", "value": name} in document["services"][0]["envVars"]


def test_private_use_characters_are_refused_in_tenant_files(project: Path) -> None:
    path = project / "tenants" / "globex.yaml"
    path.write_text(path.read_text().replace("Globex Corporation", "Globex \ue000 Corporation"))
    code, report = validate_json()
    assert code == 1
    assert [(f["file"], f["line"], f["path"], f["message"]) for f in report["errors"]] == [
        ("tenants/globex.yaml", 2, "name", "the value contains a Unicode private-use character; remove it")]
