"""Issue 17: what each tenant costs per month, and what a plan adds or saves.

The price table's entries are sourced (URL and date) and cover every instance type the Blueprint schema
allows; the cost of a plan is computed from desired and live resources against the simulator over real
HTTP, and shown in text, JSON (cents) and markdown.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from renderer.errors import RendererError
from renderer.kind import Kind
from renderer.kinds.registry import monthly_cost as resource_cost
from renderer.pricing.cost import usage_cost
from renderer.pricing.model import Usage, cents, exact, money
from renderer.pricing.table import Price, api_plan, blueprint_plan, load_price_table, parse_price_table
from tests.ci_support import Actions, GitProject, pull_request_event
from tests.conftest import BLUEPRINT_SCHEMA, Sim, run
from tests.github_fake import FakeGitHub

TABLE = load_price_table()
SERVICE_TYPES = ("free", "starter", "standard", "pro", "pro_plus", "pro_max", "pro_ultra")
POSTGRES_FLEXIBLE = ("basic_256mb", "basic_1gb", "basic_4gb", "pro_4gb", "pro_8gb", "pro_16gb", "pro_32gb",
                     "pro_64gb", "pro_128gb", "pro_192gb", "pro_256gb", "pro_384gb", "pro_512gb",
                     "accelerated_16gb", "accelerated_32gb", "accelerated_64gb", "accelerated_128gb",
                     "accelerated_256gb", "accelerated_384gb", "accelerated_512gb", "accelerated_768gb",
                     "accelerated_1024gb")
KEY_VALUE_TYPES = ("free", "starter", "standard", "pro", "pro_plus", "pro_max", "pro_ultra")


# The price table.

def test_every_price_carries_a_source_url_and_a_date_or_an_unknown_reason() -> None:
    entries = TABLE.entries()
    assert len(entries) > 60
    for name, price in entries:
        if price.amount is not None:
            assert price.source is not None, name
            assert price.source.url.startswith("https://"), name
            assert price.source.read.year >= 2026, name
            assert price.unit is not None, name
        else:
            assert price.unknown and price.unknown.strip(), name


def test_current_instance_types_and_unit_prices_are_known() -> None:
    for plan in SERVICE_TYPES:
        assert TABLE.service(plan).known, plan
    for plan in POSTGRES_FLEXIBLE:
        assert TABLE.postgres_instance(plan).known, plan
    for plan in KEY_VALUE_TYPES:
        assert TABLE.key_value_instance(plan).known, plan
    for price in (TABLE.disk, TABLE.postgres.storage, TABLE.cron_jobs.minimum, TABLE.static_sites,
                  TABLE.custom_domains.rate, TABLE.bandwidth.rate, TABLE.build_minutes.rate):
        assert price.known
    assert TABLE.service("starter").amount == Decimal("7")
    assert TABLE.postgres_instance("basic-256mb").amount == Decimal("6")
    assert TABLE.postgres.storage.amount == Decimal("0.30")
    assert TABLE.cron_per_minute("starter").amount == Decimal("0.00016")


def _schema_plans() -> list[str]:
    schema = json.loads(BLUEPRINT_SCHEMA.read_text())
    plans = schema["definitions"]["plan"]["enum"]
    assert "basic-256mb" in plans and "pro plus" in plans
    return [str(p) for p in plans]


def test_every_plan_the_blueprint_schema_allows_has_an_entry_or_an_explicit_unknown() -> None:
    tables = {"services": TABLE.services, "postgres": TABLE.postgres.instances, "key_value": TABLE.key_value}
    missing = [plan for plan in _schema_plans() if not any(api_plan(plan) in t for t in tables.values())]
    assert missing == [], f"plans the Blueprint schema allows with no price entry: {missing}"


def test_the_schema_check_fails_for_a_plan_with_no_entry() -> None:
    trimmed = TABLE.model_copy(update={"key_value": {k: v for k, v in TABLE.key_value.items() if k != "pro_ultra"},
                                       "services": {k: v for k, v in TABLE.services.items() if k != "pro_ultra"}})
    tables = (trimmed.services, trimmed.postgres.instances, trimmed.key_value)
    missing = [p for p in _schema_plans() if not any(api_plan(p) in t for t in tables)]
    assert missing == ["pro ultra"]


def test_a_plan_the_table_does_not_list_is_unknown_with_the_plan_named_never_zero() -> None:
    price = TABLE.service("turbo")
    assert price.amount is None
    assert price.unknown == "'turbo' is not a service instance type in the price table"
    legacy = TABLE.postgres_instance("pro plus")
    assert legacy.amount is None and legacy.unknown and "legacy" in legacy.unknown


def test_api_and_blueprint_plan_names_map_both_ways() -> None:
    assert api_plan("basic-256mb") == "basic_256mb"
    assert api_plan("pro plus") == "pro_plus"
    assert blueprint_plan("basic_256mb") == "basic-256mb"
    assert blueprint_plan("accelerated_1024gb") == "accelerated-1024gb"
    assert blueprint_plan("pro_plus") == "pro plus"
    for plan in _schema_plans():
        assert blueprint_plan(api_plan(plan)) == plan


def test_a_price_without_a_source_or_with_both_amount_and_unknown_is_refused() -> None:
    text = Path(__file__).resolve().parent.parent.joinpath("renderer", "pricing", "render-prices.yaml").read_text()
    broken = text.replace('pro_ultra: {amount: "450", unit: instance_month, source: *pricing_page}',
                          'pro_ultra: {amount: "450", unit: instance_month}')
    with pytest.raises(RendererError, match=r"services\.pro_ultra: .*source"):
        parse_price_table(broken, "render-prices.yaml")
    with pytest.raises(Exception, match="exactly one"):
        Price(amount=Decimal(1), unknown="no", unit="month")


# Pricing one resource.

def test_service_cost_scales_with_instances_and_shows_an_autoscaling_range() -> None:
    fixed = resource_cost(Kind.WEB_SERVICE, {"plan": "standard", "numInstances": 3}, TABLE,
                          address="web_service.api", name="api-acme")
    assert fixed is not None and fixed.monthly == Decimal("75") and fixed.summary() == "$75.00/mo"
    scaled = resource_cost(Kind.WEB_SERVICE, {"plan": "starter", "numInstances": 1,
                                              "autoscaling": {"min": 1, "max": 3, "cpu": 70, "memory": None}},
                           TABLE, address="web_service.api", name="api-acme")
    assert scaled is not None
    assert (scaled.monthly, scaled.monthly_max) == (Decimal("7"), Decimal("21"))
    assert scaled.summary() == "$7.00-$21.00/mo"


def test_postgres_cost_is_instance_plus_storage_and_high_availability_doubles_the_instance() -> None:
    db = resource_cost(Kind.POSTGRES, {"plan": "pro_4gb", "diskSizeGB": 15}, TABLE, address="postgres.db", name="db")
    assert db is not None and db.monthly == Decimal("55") + Decimal("4.50")
    ha = resource_cost(Kind.POSTGRES, {"plan": "pro_4gb", "diskSizeGB": 15, "highAvailability": True}, TABLE,
                       address="postgres.db", name="db")
    assert ha is not None and ha.monthly == Decimal("110") + Decimal("4.50")
    unsized = resource_cost(Kind.POSTGRES, {"plan": "basic_256mb"}, TABLE, address="postgres.db", name="db")
    assert unsized is not None and unsized.monthly == Decimal("6")
    assert unsized.unknown == ["postgres.db: storage: diskSizeGB is not set, so Render chooses the size"]


def test_cron_job_is_a_rate_plus_its_minimum_unless_usage_is_stated() -> None:
    fields = {"plan": "starter", "schedule": "0 * * * *"}
    plain = resource_cost(Kind.CRON_JOB, fields, TABLE, address="cron_job.report", name="report-acme")
    assert plain is not None and plain.monthly == Decimal("1")
    assert plain.rates == ["cron_job.report: cron job starter: run time: $0.00016/minute (billed when runs cost "
                           "more than the $1.00 minimum)"]
    heavy = resource_cost(Kind.CRON_JOB, fields, TABLE, address="cron_job.report", name="report-acme",
                          usage=Usage(cron_minutes={"report": 10_000}))
    assert heavy is not None and heavy.monthly == Decimal("1.60000") and heavy.rates == []
    light = resource_cost(Kind.CRON_JOB, fields, TABLE, address="cron_job.report", name="report-acme",
                          usage=Usage(cron_minutes={"report": 300}))
    assert light is not None and light.monthly == Decimal("1")


def test_disks_key_value_domains_and_usage() -> None:
    disk = resource_cost(Kind.DISK, {"sizeGB": 10, "name": "data"}, TABLE, address="disk.api", name="data")
    assert disk is not None and disk.monthly == Decimal("2.50")
    kv = resource_cost(Kind.KEY_VALUE, {"plan": "starter"}, TABLE, address="key_value.cache", name="cache")
    assert kv is not None and kv.monthly == Decimal("10")
    domain = resource_cost(Kind.CUSTOM_DOMAIN, {}, TABLE, address="custom_domain.api/x.example.com", name="x")
    assert domain is not None and domain.monthly == 0 and domain.rates and "$0.25/domain/month" in domain.rates[0]
    assert resource_cost(Kind.ENV_GROUP, {}, TABLE, address="env_group.shared", name="shared") is None
    usage = usage_cost(Usage(bandwidth_gb=40, build_minutes=2000), TABLE)
    assert usage is not None and usage.monthly == Decimal("6.00") + Decimal("10.000")


def test_money_is_rounded_for_display_and_exact_in_json() -> None:
    assert money(Decimal("31.5"), sign=True) == "+$31.50"
    assert money(Decimal("-7")) == "-$7.00"
    assert money(Decimal("0.048")) == "$0.05"
    assert cents(Decimal("0.048")) == 5
    assert exact(Decimal("0.04800")) == "0.048"
    assert cents(Decimal("31.50")) == 3150


# Cost in plans, against the simulator.

def _tenant(project: Path, slug: str, text: str) -> None:
    (project / "tenants" / f"{slug}.yaml").write_text(text)


def _only(project: Path, slug: str, body: str) -> None:
    for path in (project / "tenants").glob("*.yaml"):
        path.unlink()
    _tenant(project, slug, f"name: Hooli\nslug: {slug}\nblueprint: base_crm\n{body}")


def _json_plan() -> dict[str, object]:
    result = run("plan", "--format", "json")
    assert result.code == 0, result.output
    document: dict[str, object] = json.loads(result.out)
    return document


def test_adding_moving_and_removing_a_tenant_shows_cost_saving_and_unknown(sim: Sim, project: Path) -> None:
    _only(project, "hooli", "")
    starter, postgres = TABLE.service("starter").amount, TABLE.postgres_instance("basic-256mb").amount
    assert starter is not None and postgres is not None
    storage = TABLE.postgres.storage.amount
    assert storage is not None
    full = 2 * starter + postgres + 5 * storage  # base_crm sets diskSizeGB: 5

    added = run("plan")
    assert added.code == 0, added.output
    assert f"monthly cost $0.00/mo -> {money(full)}/mo ({money(full, sign=True)}/mo)" in added.out
    assert f"web_service.backboneos-backend: $0.00/mo -> {money(starter)}/mo (new)" in added.out
    assert f"background_worker.backboneos-worker: $0.00/mo -> {money(starter)}/mo (new)" in added.out
    assert f"postgres.backboneos-db: $0.00/mo -> {money(postgres + 5 * storage)}/mo (new)" in added.out
    assert f"Monthly cost of 1 tenant: $0.00/mo -> {money(full)}/mo ({money(full, sign=True)}/mo)" in added.out
    assert "Price unknown" not in added.out

    document = _json_plan()
    cost = document["cost"]
    assert isinstance(cost, dict)
    assert cost["price_table_version"] == TABLE.version
    (tenant,) = cost["tenants"]
    assert tenant["after"]["monthly_cents"] == cents(full) == 2150
    assert tenant["after"]["unknown"] == []
    assert tenant["delta_cents"] == 2150 and cost["delta_cents"] == 2150
    db = next(r for r in tenant["resources"] if r["address"] == "postgres.backboneos-db")
    assert [(line["item"], line["monthly_cents"]) for line in db["after"]["lines"]] == [
        ("instance basic-256mb", 600), ("storage 5 GB", 150)]

    assert run("apply", "--auto-approve").code == 0
    assert "monthly cost" not in run("plan").out  # no changes: no cost lines

    # Moving the tenant's services to `standard` shows the delta per resource and in total.
    _only(project, "hooli", "plan: standard\n")
    standard = TABLE.service("standard").amount
    assert standard is not None
    moved = run("plan")
    assert moved.code == 0, moved.output
    step = standard - starter
    assert (f"monthly cost {money(full)}/mo -> {money(full + 2 * step)}/mo ({money(2 * step, sign=True)}/mo)"
            in moved.out)
    assert (f"web_service.backboneos-backend: {money(starter)}/mo -> {money(standard)}/mo "
            f"({money(step, sign=True)}/mo)") in moved.out
    assert "postgres.backboneos-db:" not in moved.out.split("Monthly cost of")[0].split("monthly cost")[1]
    markdown = run("plan", "--format", "markdown")
    assert f"(+\\{money(2 * step)}/mo)" in markdown.out
    assert f"Monthly cost of 1 tenant: \\{money(full)}/mo -> \\{money(full + 2 * step)}/mo" in markdown.out
    assert run("apply", "--auto-approve").code == 0

    # Removing the tenant shows the saving.
    (project / "tenants" / "hooli.yaml").unlink()
    removed = run("plan")
    assert removed.code == 0, removed.output
    total = full + 2 * step
    assert f"monthly cost {money(total)}/mo -> $0.00/mo ({money(-total, sign=True)}/mo)" in removed.out
    assert f"web_service.backboneos-backend: {money(standard)}/mo -> $0.00/mo (destroyed)" in removed.out


def test_an_unknown_plan_is_reported_as_unknown_not_zero(sim: Sim, project: Path) -> None:
    _only(project, "hooli", "")
    blueprint = project / "blueprints" / "base_crm" / "render.yaml.j2"
    blueprint.write_text(blueprint.read_text().replace("plan: basic-256mb", "plan: pro plus"))
    result = run("plan")
    assert result.code == 0, result.output
    assert "Price unknown (not in totals):" in result.out
    assert ("hooli/postgres.backboneos-db: instance pro plus: legacy Postgres instance type: no current page "
            "prices it") in result.out
    assert "postgres.backboneos-db: $0.00/mo -> $1.50/mo + unknown (new)" in result.out  # storage only


def test_pr_comment_has_a_cost_line_per_affected_tenant_the_total_and_the_unknown_prices(
        sim: Sim, github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = GitProject(tmp_path, ["globex"])
    monkeypatch.chdir(project.path)
    actions = Actions(tmp_path, monkeypatch, github)
    project.sync_main()
    project.branch("add-acme")
    project.copy_tenant("acme-corp")
    blueprint = project.path / "blueprints" / "base_crm" / "render.yaml.j2"
    project.write("blueprints/base_crm/render.yaml.j2",
                  blueprint.read_text().replace("plan: basic-256mb", "plan: pro plus"))  # a legacy type: unknown
    project.commit("Add tenant acme-corp; databases on pro plus")
    project.push("add-acme")
    event = pull_request_event(7, base_sha=project.sha("origin/main"), head_sha=project.sha(), head_ref="add-acme")
    actions.event("pull_request", event, sha=project.sha())
    planned = run("ci", "plan", "--out", str(tmp_path / "renderer-plan"))
    assert planned.code == 0, planned.output

    (comment,) = github.comments_on(7)
    body = comment["body"]
    starter, storage = TABLE.service("starter").amount, TABLE.postgres.storage.amount
    assert starter is not None and storage is not None
    each = money(2 * starter + 5 * storage).replace("$", "\\$")
    both = money(2 * (2 * starter + 5 * storage)).replace("$", "\\$")
    assert f"- acme-corp: \\$0.00/mo -> {each}/mo + unknown (+{each}/mo)" in body
    assert f"- globex: \\$0.00/mo -> {each}/mo + unknown (+{each}/mo)" in body
    assert f"**Monthly cost of 2 tenants: \\$0.00/mo -> {both}/mo + unknown (+{both}/mo); " in body
    assert f"table {TABLE.version}**" in body
    assert ("Price unknown (not in totals):\n\n"
            "- acme-corp/postgres.backboneos-db: instance pro plus: legacy Postgres instance type") in body
    assert "- globex/postgres.backboneos-db: instance pro plus: legacy Postgres instance type" in body
    document = json.loads((tmp_path / "renderer-plan" / "plan.json").read_text())
    assert [t["tenant"] for t in document["cost"]["tenants"]] == ["acme-corp", "globex"]
    assert document["cost"]["delta_cents"] == cents(2 * (2 * starter + 5 * storage))


def test_status_shows_each_tenants_monthly_cost_and_the_fleet_total_sorted_by_cost(sim: Sim, project: Path) -> None:
    assert "plan: standard" in (project / "tenants" / "initech.yaml").read_text()
    assert run("apply", "--auto-approve").code == 0
    starter, standard, postgres = (TABLE.service("starter").amount, TABLE.service("standard").amount,
                                   TABLE.postgres_instance("basic-256mb").amount)
    assert starter is not None and standard is not None and postgres is not None
    disk = 5 * (TABLE.postgres.storage.amount or Decimal(0))
    small, big = 2 * starter + postgres + disk, 2 * standard + postgres + disk

    text = run("status")
    assert text.code == 0, text.output
    # the tenants' resource tables as before, then the cost section (its own table)
    table, costs = re.split(r"\n\ntenant +monthly cost\n", text.out, maxsplit=1)
    assert "web_service.backboneos-backend" in table and "monthly cost" not in table
    assert max(len(line) for line in text.out.splitlines()) <= 120
    rows = [line.split() for line in costs.splitlines()[:3]]
    assert [r[0] for r in rows] == ["acme-corp", "globex", "initech"]
    assert rows[2][1:] == [f"{money(big)}/mo"]
    fleet = 2 * small + big
    assert (f"Monthly cost of 3 tenants: {money(fleet)}/mo; Render list prices, "
            f"table {TABLE.version}") in text.out
    assert "Price unknown" not in text.out

    by_cost = run("status", "--sort", "cost")
    by_cost_tables, by_cost_costs = re.split(r"\n\ntenant +monthly cost\n", by_cost.out, maxsplit=1)
    assert [line.split()[0] for line in by_cost_costs.splitlines()[:3]] == ["initech", "acme-corp", "globex"]
    assert [line for line in by_cost_tables.splitlines() if line.startswith("Tenant ")] == [
        "Tenant initech (active)", "Tenant acme-corp (active)", "Tenant globex (active)"]

    document = json.loads(run("status", "--format", "json", "--sort", "cost").out)
    assert document["price_table_version"] == TABLE.version
    assert document["format_version"] == "1" and document["lockfile"] == "render.lock.json"
    assert [t["slug"] for t in document["tenants"]] == ["initech", "acme-corp", "globex"]
    assert document["tenants"][0]["cost"]["monthly_cents"] == cents(big)
    assert document["fleet"]["monthly_cents"] == cents(fleet)
    web = next(r for r in document["tenants"][0]["resources"] if r["address"] == "web_service.backboneos-backend")
    assert web["cost"]["monthly_cents"] == cents(standard) and web["id"].startswith("srv-")


JOBS_BLUEPRINT = """\
services:
  - type: web
    name: api
    runtime: python
    repo: https://github.com/backboneos/backboneos
    plan: standard
    buildCommand: pip install -r requirements.txt
    startCommand: gunicorn app
    domains:
      - {{ tenant.slug }}.example.com
    scaling:
      minInstances: 1
      maxInstances: 3
      targetCPUPercent: 70
  - type: worker
    name: indexer
    runtime: python
    repo: https://github.com/backboneos/backboneos
    plan: starter
    buildCommand: pip install -r requirements.txt
    startCommand: python index.py
    disk:
      name: data
      mountPath: /data
      sizeGB: 10
  - type: cron
    name: report
    runtime: python
    repo: https://github.com/backboneos/backboneos
    plan: standard
    schedule: "0 * * * *"
    buildCommand: pip install -r requirements.txt
    startCommand: python report.py
  - type: keyvalue
    name: cache
    plan: starter
    ipAllowList: []
databases:
  - name: db
    plan: pro-4gb
    diskSizeGB: 20
    highAvailability:
      enabled: true
"""


def test_every_kind_is_priced_and_expected_usage_prices_cron_minutes_and_bandwidth(sim: Sim, project: Path) -> None:
    (project / "blueprints" / "jobs").mkdir()
    (project / "blueprints" / "jobs" / "render.yaml.j2").write_text(JOBS_BLUEPRINT)
    for path in (project / "tenants").glob("*.yaml"):
        path.unlink()
    _tenant(project, "hooli", "name: Hooli\nslug: hooli\nblueprint: jobs\n"
                              "expected_usage:\n  cron_minutes: {report: 6000}\n  bandwidth_gb: 40\n")
    document = _json_plan()
    cost = document["cost"]
    assert isinstance(cost, dict)
    (tenant,) = cost["tenants"]
    after = {r["address"]: r["after"] for r in tenant["resources"]}
    assert after["web_service.api"]["monthly_cents"] == 2500 and after["web_service.api"]["monthly_max_cents"] == 7500
    assert after["background_worker.indexer"]["monthly_cents"] == 700
    assert after["disk.indexer"]["monthly_cents"] == 250
    assert after["cron_job.report"]["lines"][0]["monthly_exact"] == "3.48"  # 6000 minutes x $0.00058
    assert after["key_value.cache"]["monthly_cents"] == 1000
    assert after["postgres.db"]["monthly_cents"] == 2 * 5500 + 20 * 30
    domain = after["custom_domain.api/hooli.example.com"]
    assert domain["monthly_cents"] == 0 and "$0.25/domain/month" in domain["lines"][0]["rate"]
    assert after["usage"]["monthly_cents"] == 600  # 40 GB x $0.15
    assert "env_group" not in {r["kind"] for r in tenant["resources"]}
    low = 2500 + 700 + 250 + 348 + 1000 + 11600 + 600
    assert tenant["after"]["monthly_cents"] == low and tenant["after"]["monthly_max_cents"] == low + 5000
    assert tenant["after"]["unknown"] == []
    assert any("custom domain" in rate for rate in tenant["after"]["rates"])

    text = run("plan").out
    assert f"monthly cost $0.00/mo -> {money(Decimal(low) / 100)}-{money(Decimal(low + 5000) / 100)}/mo" in text
    assert "Usage-priced, shown as rates (not in totals):\n    - hooli/custom_domain.api/hooli.example.com" in text


def test_expected_usage_is_validated_with_a_hint(project: Path) -> None:
    _tenant(project, "globex", (project / "tenants" / "globex.yaml").read_text()
            + "expected_usage:\n  cron_minute: {report: 10}\n")
    result = run("validate")
    assert result.code == 1
    assert "tenants/globex.yaml:" in result.output and "unknown key `cron_minute`" in result.output
    assert "did you mean `cron_minutes`?" in result.output
