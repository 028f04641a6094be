"""Monthly cost of Render resources, from their fields and the price table.

A resource's fields are the same vocabulary on both sides (`DesiredResource.fields`, `LiveResource.fields`),
so one function prices a desired resource (what it will cost) and a live one (what it costs now).

- Services (web, private, worker): instance price x `numInstances`; with autoscaling, x `min` to x `max`
  (`monthly` .. `monthly_max`).
- Cron jobs: usage-priced. Without a stated usage, the cost is the monthly minimum per cron job and the
  per-minute rate is shown as a rate; with `expected_usage.cron_minutes` it is max(minimum, minutes x rate).
- Postgres: instance price (x the high-availability multiplier when `highAvailability`) plus `diskSizeGB`
  x the storage price (paid instance types). A database whose size is not set has its storage unknown.
- Key Value: instance price. Static sites: their price (zero). Disks: `sizeGB` x the disk price.
- Custom domains: a rate, charged per domain beyond the workspace's included count (a workspace-wide count
  renderer does not attribute to a tenant). Env groups are not priced.
- Bandwidth and build minutes: rates, priced only from a tenant's `expected_usage`.

A price the table does not know is an `unknown` line naming the plan: it adds nothing to totals and is
listed with them, never counted as $0. Amounts are exact `Decimal` US dollars; `money` rounds for display.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from renderer.pricing.table import Price, PriceTable, blueprint_plan
from renderer.resources import SCALABLE_KINDS, Kind

ZERO = Decimal(0)
CENT = Decimal("0.01")


class Usage(BaseModel):
    """A tenant's stated expected usage per month (tenant file `expected_usage`)."""

    model_config = ConfigDict(frozen=True)

    cron_minutes: dict[str, int] = Field(default_factory=dict)
    bandwidth_gb: int | None = None
    build_minutes: int | None = None


class CostLine(BaseModel):
    """One priced part of a resource.

    `monthly` (and `monthly_max` for an autoscaling range) is in the totals; `rate` describes a
    usage price that is not; `unknown` is the reason a part could not be priced (not in the totals)."""

    model_config = ConfigDict(frozen=True)

    item: str
    monthly: Decimal | None = None
    monthly_max: Decimal | None = None
    rate: str | None = None
    unknown: str | None = None
    caveat: str | None = None


class ResourceCost(BaseModel):
    """The monthly cost of one resource (or of a tenant's stated usage: kind `usage`)."""

    model_config = ConfigDict(frozen=True)

    address: str
    kind: str
    name: str
    lines: list[CostLine] = Field(default_factory=list)

    @property
    def monthly(self) -> Decimal:
        return sum((line.monthly for line in self.lines if line.monthly is not None), ZERO)

    @property
    def monthly_max(self) -> Decimal:
        return sum((line.monthly_max if line.monthly_max is not None else line.monthly
                    for line in self.lines if line.monthly is not None), ZERO)

    @property
    def unknown(self) -> list[str]:
        return [f"{self.address}: {line.item}: {line.unknown}" for line in self.lines if line.unknown]

    @property
    def rates(self) -> list[str]:
        return [f"{self.address}: {line.item}: {line.rate}" for line in self.lines if line.rate]

    @property
    def caveats(self) -> list[str]:
        return [f"{self.address}: {line.item}: {line.caveat}" for line in self.lines if line.caveat]

    def summary(self) -> str:
        """`$7.00/mo`, `$7.00-$21.00/mo`, `unknown`, or `$6.00/mo + unknown` (display rounding)."""
        return span(self.monthly, self.monthly_max, bool(self.unknown))


class Estimate(BaseModel):
    """Totals over resources: known monthly cost (minimum and maximum), and what is not in them."""

    model_config = ConfigDict(frozen=True)

    monthly: Decimal = ZERO
    monthly_max: Decimal = ZERO
    unknown: list[str] = Field(default_factory=list)
    rates: list[str] = Field(default_factory=list)
    caveats: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, costs: Iterable[ResourceCost | None]) -> Estimate:
        present = [c for c in costs if c is not None]
        return cls(monthly=sum((c.monthly for c in present), ZERO),
                   monthly_max=sum((c.monthly_max for c in present), ZERO),
                   unknown=[u for c in present for u in c.unknown], rates=[r for c in present for r in c.rates],
                   caveats=[x for c in present for x in c.caveats])

    @classmethod
    def total(cls, estimates: Iterable[Estimate]) -> Estimate:
        items = list(estimates)
        return cls(monthly=sum((e.monthly for e in items), ZERO), monthly_max=sum((e.monthly_max for e in items), ZERO),
                   unknown=[u for e in items for u in e.unknown], rates=[r for e in items for r in e.rates],
                   caveats=[x for e in items for x in e.caveats])

    def summary(self) -> str:
        return span(self.monthly, self.monthly_max, bool(self.unknown))


class ResourceDelta(BaseModel):
    """One resource's cost before (live, None: does not exist) and after the plan (None: destroyed)."""

    model_config = ConfigDict(frozen=True)

    address: str
    kind: str
    name: str
    before: ResourceCost | None = None
    after: ResourceCost | None = None

    @property
    def delta(self) -> Decimal:
        return (self.after.monthly if self.after else ZERO) - (self.before.monthly if self.before else ZERO)

    @property
    def delta_max(self) -> Decimal:
        return (self.after.monthly_max if self.after else ZERO) - (self.before.monthly_max if self.before else ZERO)

    @property
    def changed(self) -> bool:
        """Whether the plan changes this resource's cost or what is known about it."""
        before = (self.before.monthly, self.before.monthly_max, self.before.unknown) if self.before else None
        after = (self.after.monthly, self.after.monthly_max, self.after.unknown) if self.after else None
        if before is None or after is None:
            return before != after
        return before != after or self.before.rates != self.after.rates  # type: ignore[union-attr]


class TenantCost(BaseModel):
    """A tenant's monthly cost before and after the plan, and the resources whose cost changes."""

    model_config = ConfigDict(frozen=True)

    tenant: str
    before: Estimate
    after: Estimate
    resources: list[ResourceDelta] = Field(default_factory=list)

    @property
    def delta(self) -> Decimal:
        return self.after.monthly - self.before.monthly

    @property
    def delta_max(self) -> Decimal:
        return self.after.monthly_max - self.before.monthly_max

    @property
    def changed(self) -> list[ResourceDelta]:
        return [r for r in self.resources if r.changed]


class PlanCost(BaseModel):
    """The cost view of a plan: per tenant and for the fleet in scope, with the price table's version."""

    model_config = ConfigDict(frozen=True)

    version: str
    currency: str = "USD"
    tenants: list[TenantCost] = Field(default_factory=list)

    @property
    def before(self) -> Estimate:
        return Estimate.total(t.before for t in self.tenants)

    @property
    def after(self) -> Estimate:
        return Estimate.total(t.after for t in self.tenants)

    @property
    def delta(self) -> Decimal:
        return self.after.monthly - self.before.monthly

    @property
    def delta_max(self) -> Decimal:
        return self.after.monthly_max - self.before.monthly_max

    def tenant(self, slug: str) -> TenantCost | None:
        return next((t for t in self.tenants if t.tenant == slug), None)

    def unknown(self) -> list[str]:
        """Everything whose price is unknown after the plan (or was, for what the plan destroys)."""
        seen: dict[str, None] = {}
        for t in self.tenants:
            for item in (*t.after.unknown, *t.before.unknown):
                seen.setdefault(f"{t.tenant}/{item}", None)
        return list(seen)


# Display.

def money(amount: Decimal, *, sign: bool = False) -> str:
    """`$31.50`; with `sign`, `+$31.50`, `-$7.00` or `$0.00`. Rounded half-up to the cent for display only."""
    rounded = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    text = f"${abs(rounded):,.2f}"
    if rounded < 0:
        return f"-{text}"
    return f"+{text}" if sign and rounded > 0 else text


def span(low: Decimal, high: Decimal, unknown: bool = False, *, sign: bool = False) -> str:
    """A monthly amount or range: `$7.00/mo`, `$7.00-$21.00/mo`; `+ unknown` when some part is unknown."""
    text = money(low, sign=sign) if low == high else f"{money(low, sign=sign)}-{money(high, sign=sign)}"
    text += "/mo"
    return f"{text} + unknown" if unknown else text


def cents(amount: Decimal) -> int:
    """Whole cents, rounded half-up (JSON `*_cents`; the exact amount travels as a string beside it)."""
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def exact(amount: Decimal) -> str:
    """The exact amount in dollars as a plain decimal string (`0.048`, `31.5`)."""
    text = format(amount.normalize(), "f")
    return text if text != "-0" else "0"


def rate_text(price: Price, per: str) -> str:
    return f"${exact(price.amount or ZERO)}/{per}"


# Pricing one resource.

def _line(item: str, price: Price, quantity: Decimal | int = 1, maximum: Decimal | int | None = None) -> CostLine:
    if price.amount is None:
        return CostLine(item=item, unknown=price.unknown)
    high = price.amount * maximum if maximum is not None else None
    return CostLine(item=item, monthly=price.amount * quantity, monthly_max=high, caveat=price.caveat)


def _service(fields: Mapping[str, Any], table: PriceTable) -> list[CostLine]:
    plan = str(fields.get("plan") or "")
    price = table.service(plan)
    scaling = fields.get("autoscaling")
    if isinstance(scaling, Mapping) and scaling:
        low, high = int(scaling.get("min", 1)), int(scaling.get("max", 1))
        return [_line(f"{blueprint_plan(plan)} x {low}-{high} instances (autoscaling)", price, low, high)]
    count = int(fields.get("numInstances") or 1)
    return [_line(f"{blueprint_plan(plan)} x {count} instance{'s' if count != 1 else ''}", price, count)]


def _cron(fields: Mapping[str, Any], table: PriceTable, minutes: int | None) -> list[CostLine]:
    plan = str(fields.get("plan") or "")
    rate = table.cron_per_minute(plan)
    minimum = table.cron_jobs.minimum
    item = f"cron job {blueprint_plan(plan)}"
    if rate.amount is None:
        return [CostLine(item=item, unknown=rate.unknown)]
    if minimum.amount is None:
        return [CostLine(item=f"{item} monthly minimum", unknown=minimum.unknown)]
    if minutes is None:
        return [CostLine(item=f"{item}: monthly minimum", monthly=minimum.amount),
                CostLine(item=f"{item}: run time", rate=f"{rate_text(rate, 'minute')} (billed when runs cost more "
                                                          f"than the {money(minimum.amount)} minimum)")]
    used = rate.amount * minutes
    return [CostLine(item=f"{item}: {minutes} minutes at {rate_text(rate, 'minute')} "
                          f"(minimum {money(minimum.amount)})", monthly=max(minimum.amount, used))]


def _postgres(fields: Mapping[str, Any], table: PriceTable) -> list[CostLine]:
    plan = str(fields.get("plan") or "")
    price = table.postgres_instance(plan)
    lines: list[CostLine] = []
    if fields.get("highAvailability"):
        factor = table.postgres.high_availability_multiplier
        if price.amount is None or factor.amount is None:
            lines.append(CostLine(item=f"instance {blueprint_plan(plan)} with high availability",
                                  unknown=price.unknown or factor.unknown))
        else:
            lines.append(CostLine(item=f"instance {blueprint_plan(plan)} with high availability (primary + standby)",
                                  monthly=price.amount * factor.amount, caveat=price.caveat))
    else:
        lines.append(_line(f"instance {blueprint_plan(plan)}", price))
    if plan == "free":
        return lines
    size = fields.get("diskSizeGB")
    if size is None:
        lines.append(CostLine(item="storage", unknown="diskSizeGB is not set, so Render chooses the size"))
    else:
        lines.append(_line(f"storage {int(size)} GB", table.postgres.storage, int(size)))
    return lines


def resource_cost(
    kind: Kind, fields: Mapping[str, Any], table: PriceTable, *, address: str, name: str,
    usage: Usage | None = None,
) -> ResourceCost | None:
    """The monthly cost of one resource from its fields (desired or live: the same vocabulary).

    `address` is `<kind>.<blueprint name>` (it keys `usage.cron_minutes` by blueprint name). Returns None for
    env groups (not priced)."""
    lines: list[CostLine]
    if kind is Kind.ENV_GROUP:
        return None
    if kind in SCALABLE_KINDS:
        lines = _service(fields, table)
    elif kind is Kind.CRON_JOB:
        blueprint_name = address.split(".", 1)[1]
        minutes = usage.cron_minutes.get(blueprint_name) if usage else None
        lines = _cron(fields, table, minutes)
    elif kind is Kind.STATIC_SITE:
        lines = [_line("static site", table.static_sites)]
    elif kind is Kind.POSTGRES:
        lines = _postgres(fields, table)
    elif kind is Kind.KEY_VALUE:
        plan = str(fields.get("plan") or "")
        lines = [_line(f"instance {blueprint_plan(plan)}", table.key_value_instance(plan))]
    elif kind is Kind.DISK:
        size = int(fields.get("sizeGB") or 0)
        lines = [_line(f"disk {size} GB", table.disk, size)]
    else:  # custom domain
        rate = table.custom_domains.rate
        included = table.custom_domains.included or {}
        counts = ", ".join(f"{n} on {p}" for p, n in included.items())
        lines = [CostLine(item="custom domain", unknown=rate.unknown) if rate.amount is None else CostLine(
            item="custom domain",
            rate=f"{rate_text(rate, 'domain/month')} beyond the workspace's included domains ({counts})")]
    return ResourceCost(address=address, kind=kind.value, name=name, lines=lines)


def usage_cost(usage: Usage, table: PriceTable) -> ResourceCost | None:
    """A tenant's stated bandwidth and build minutes, priced at the rate beyond the workspace's included
    allowance (renderer cannot tell which tenant uses the allowance, so it is not deducted)."""
    lines: list[CostLine] = []
    for item, amount, allowance, per in (("bandwidth", usage.bandwidth_gb, table.bandwidth, "GB"),
                                         ("build minutes", usage.build_minutes, table.build_minutes, "minute")):
        if amount is None:
            continue
        rate = allowance.rate
        label = f"{item}: {amount} {per if per == 'GB' else 'minutes'} at {rate_text(rate, per)} (workspace " \
                "allowance not deducted)"
        lines.append(CostLine(item=label, unknown=rate.unknown) if rate.amount is None
                     else CostLine(item=label, monthly=rate.amount * amount, caveat=rate.caveat))
    if not lines:
        return None
    return ResourceCost(address="usage", kind="usage", name="expected usage", lines=lines)
