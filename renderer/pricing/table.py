"""The price table: Render's list prices, loaded from `render-prices.yaml` shipped inside this package.

Every `Price` is either an exact `Decimal` amount with its source (URL, date read) or `unknown` with the
reason. Plan keys are Render API instance-type names (`pro_plus`, `basic_256mb`; openapi.json `plan`,
`postgres.plan`, `keyValuePlan`); `api_plan` turns a Blueprint name (`pro plus`, `basic-256mb`,
render.yaml.schema.json `definitions.plan`) into one. Looking up a plan the table does not list answers an
unknown `Price` naming the plan, never a zero.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from renderer.errors import RendererError

PRICE_FILE = "render-prices.yaml"

Unit = Literal["instance_month", "month", "minute", "gb_month", "gb", "domain_month", "factor"]
WorkspacePlan = Literal["hobby", "pro", "scale"]


class Source(BaseModel):
    """Where a price was read: `url`, the date it was read, and (when known) when it was published and
    through which copy (`via`) when the page itself was not reachable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https://")
    read: datetime.date
    published: datetime.date | str | None = None
    via: str | None = None
    note: str | None = None


class Price(BaseModel):
    """One price: `amount` (US dollars per `unit`, exact) or `unknown` (the reason), never both.

    `caveat` flags a sourced amount that a later announcement changed without giving the new figure."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: Decimal | None = None
    unit: Unit | None = None
    unknown: str | None = None
    source: Source | None = None
    caveat: str | None = None

    @model_validator(mode="after")
    def _amount_xor_unknown(self) -> Price:
        if (self.amount is None) == (self.unknown is None):
            raise ValueError("a price has exactly one of `amount` and `unknown`")
        if self.amount is not None and (self.source is None or self.unit is None):
            raise ValueError("a price with an amount needs its `unit` and its `source` (url and read date)")
        if self.unknown is not None and not self.unknown.strip():
            raise ValueError("an unknown price needs its reason")
        if self.amount is not None and self.amount < 0:
            raise ValueError("a price is not negative")
        return self

    @property
    def known(self) -> bool:
        return self.amount is not None


class CronPrices(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    minimum: Price
    per_minute: dict[str, Price]


class PostgresPrices(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    instances: dict[str, Price]
    storage: Price
    high_availability_multiplier: Price


class Allowance(BaseModel):
    """A workspace-level usage price: what each workspace plan includes, then `rate` per unit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: Price
    included: dict[WorkspacePlan, int] | None = None
    included_gb: dict[WorkspacePlan, int] | None = None


class PriceTable(BaseModel):
    """The whole table (`render-prices.yaml`). `version` changes whenever a price does."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    currency: Literal["USD"]
    sources: dict[str, Source]
    services: dict[str, Price]
    static_sites: Price
    cron_jobs: CronPrices
    postgres: PostgresPrices
    key_value: dict[str, Price]
    disk: Price
    custom_domains: Allowance
    bandwidth: Allowance
    build_minutes: Allowance
    workspace_plans: dict[WorkspacePlan, Price]

    def service(self, plan: str) -> Price:
        """A web service's, private service's or background worker's price per instance per month."""
        return _lookup(self.services, plan, "service instance type")

    def cron_per_minute(self, plan: str) -> Price:
        return _lookup(self.cron_jobs.per_minute, plan, "cron job instance type")

    def postgres_instance(self, plan: str) -> Price:
        return _lookup(self.postgres.instances, plan, "Postgres instance type")

    def key_value_instance(self, plan: str) -> Price:
        return _lookup(self.key_value, plan, "Key Value instance type")

    def entries(self) -> list[tuple[str, Price]]:
        """Every price with a dotted name (`services.starter`), for listing and checking the table."""
        named: list[tuple[str, Price]] = [(f"services.{k}", p) for k, p in self.services.items()]
        named.append(("static_sites", self.static_sites))
        named.append(("cron_jobs.minimum", self.cron_jobs.minimum))
        named += [(f"cron_jobs.per_minute.{k}", p) for k, p in self.cron_jobs.per_minute.items()]
        named += [(f"postgres.instances.{k}", p) for k, p in self.postgres.instances.items()]
        named.append(("postgres.storage", self.postgres.storage))
        named.append(("postgres.high_availability_multiplier", self.postgres.high_availability_multiplier))
        named += [(f"key_value.{k}", p) for k, p in self.key_value.items()]
        named.append(("disk", self.disk))
        named += [(f"{n}.rate", a.rate) for n, a in (("custom_domains", self.custom_domains),
                                                     ("bandwidth", self.bandwidth),
                                                     ("build_minutes", self.build_minutes))]
        named += [(f"workspace_plans.{k}", p) for k, p in self.workspace_plans.items()]
        return named


def api_plan(plan: str) -> str:
    """Blueprint instance-type name -> API name: `pro plus` -> `pro_plus`, `basic-256mb` -> `basic_256mb`."""
    return plan.strip().lower().replace(" ", "_").replace("-", "_")


def blueprint_plan(plan: str) -> str:
    """API instance-type name -> the Blueprint's spelling: `pro_plus` -> `pro plus`, `basic_256mb` ->
    `basic-256mb` (render.yaml.schema.json `definitions.plan`: sized types use `-`, the others a space)."""
    head, _, rest = plan.partition("_")
    if rest and rest[:1].isdigit():
        return f"{head}-{rest}"
    return plan.replace("_", " ")


def _lookup(prices: dict[str, Price], plan: str, what: str) -> Price:
    key = api_plan(plan)
    found = prices.get(key)
    if found is not None:
        return found
    return Price(unknown=f"{blueprint_plan(key)!r} is not a {what} in the price table")


def parse_price_table(text: str, origin: str) -> PriceTable:
    """Parse and validate a price table document. Raises `RendererError` naming `origin` and the entry."""
    try:
        document = YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        raise RendererError(f"{origin}: not valid YAML: {exc}") from None
    try:
        return PriceTable.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise RendererError(f"{origin}: invalid price table: {problems}",
                            hint="fix the entry; docs/cost.md describes the table's shape") from None


@lru_cache(maxsize=4)
def load_price_table(path: Path | None = None) -> PriceTable:
    """The price table: `path`, or the one shipped in this package (found by the installed tool through
    importlib.resources). Raises `RendererError` when it is unreadable or invalid."""
    if path is not None:
        return parse_price_table(path.read_text(encoding="utf-8"), str(path))
    shipped = resources.files("renderer.pricing").joinpath(PRICE_FILE)
    return parse_price_table(shipped.read_text(encoding="utf-8"), f"renderer/pricing/{PRICE_FILE}")
