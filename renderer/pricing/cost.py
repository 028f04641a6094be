"""Monthly cost lines of Render resources, from their fields and the price table.

A resource's fields are the same vocabulary on both sides (`DesiredResource.fields`, `LiveResource.fields`),
so the same lines price a desired resource (what it will cost) and a live one (what it costs now). Each
kind module's `monthly_cost` hook (`renderer.kinds.base.KindOps`) delegates here; `renderer.kinds.registry
.monthly_cost` prices any resource through its kind.

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
listed with them, never counted as $0 (the model: `renderer.pricing.model`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from renderer.pricing.model import ZERO, CostLine, ResourceCost, Usage, exact, money
from renderer.pricing.table import Price, PriceTable, blueprint_plan


def rate_text(price: Price, per: str) -> str:
    return f"${exact(price.amount or ZERO)}/{per}"



# Pricing one resource.

def price_line(item: str, price: Price, quantity: Decimal | int = 1,
               maximum: Decimal | int | None = None) -> CostLine:
    """`quantity` x the price (x `maximum` for the top of a range); an unknown price gives an unknown line."""
    if price.amount is None:
        return CostLine(item=item, unknown=price.unknown)
    high = price.amount * maximum if maximum is not None else None
    return CostLine(item=item, monthly=price.amount * quantity, monthly_max=high, caveat=price.caveat)


def service_lines(fields: Mapping[str, Any], table: PriceTable) -> list[CostLine]:
    plan = str(fields.get("plan") or "")
    price = table.service(plan)
    scaling = fields.get("autoscaling")
    if isinstance(scaling, Mapping) and scaling:
        low, high = int(scaling.get("min", 1)), int(scaling.get("max", 1))
        return [price_line(f"{blueprint_plan(plan)} x {low}-{high} instances (autoscaling)", price, low, high)]
    count = int(fields.get("numInstances") or 1)
    return [price_line(f"{blueprint_plan(plan)} x {count} instance{'s' if count != 1 else ''}", price, count)]


def cron_lines(fields: Mapping[str, Any], table: PriceTable, minutes: int | None) -> list[CostLine]:
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


def postgres_lines(fields: Mapping[str, Any], table: PriceTable) -> list[CostLine]:
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
        lines.append(price_line(f"instance {blueprint_plan(plan)}", price))
    if plan == "free":
        return lines
    size = fields.get("diskSizeGB")
    if size is None:
        lines.append(CostLine(item="storage", unknown="diskSizeGB is not set, so Render chooses the size"))
    else:
        lines.append(price_line(f"storage {int(size)} GB", table.postgres.storage, int(size)))
    return lines


def static_site_lines(table: PriceTable) -> list[CostLine]:
    return [price_line("static site", table.static_sites)]


def key_value_lines(fields: Mapping[str, Any], table: PriceTable) -> list[CostLine]:
    plan = str(fields.get("plan") or "")
    return [price_line(f"instance {blueprint_plan(plan)}", table.key_value_instance(plan))]


def disk_lines(fields: Mapping[str, Any], table: PriceTable) -> list[CostLine]:
    size = int(fields.get("sizeGB") or 0)
    return [price_line(f"disk {size} GB", table.disk, size)]


def custom_domain_lines(table: PriceTable) -> list[CostLine]:
    """A rate: Render charges per domain beyond the workspace's included count, a workspace-wide number."""
    rate = table.custom_domains.rate
    if rate.amount is None:
        return [CostLine(item="custom domain", unknown=rate.unknown)]
    counts = ", ".join(f"{n} on {p}" for p, n in (table.custom_domains.included or {}).items())
    return [CostLine(item="custom domain",
                     rate=f"{rate_text(rate, 'domain/month')} beyond the workspace's included domains ({counts})")]


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
