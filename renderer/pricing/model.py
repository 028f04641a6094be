"""The cost model: monthly cost lines, per resource, per tenant before and after a plan, and for the fleet.

Amounts are exact `Decimal` US dollars. A part whose price is unknown is a line with `unknown` (the
reason): it adds nothing to totals and is listed beside them, never counted as $0. A usage-priced part not
priced from a stated usage is a line with `rate` (a description), also outside the totals. `money` and
`span` round for display only; `cents` and `exact` are the JSON forms.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, ConfigDict, Field

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
        return _facts(self.before) != _facts(self.after)


def _facts(cost: ResourceCost | None) -> tuple[object, ...] | None:
    if cost is None:
        return None
    return cost.monthly, cost.monthly_max, cost.unknown, cost.rates


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
