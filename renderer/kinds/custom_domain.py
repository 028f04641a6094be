"""Custom domains (openapi.json: schemas.customDomain; GET/POST /services/{id}/custom-domains, GET/DELETE
/services/{id}/custom-domains/{idOrName}). A child of its web service or static site (`domain:` and
`domains:` in its Blueprint entry), reached through the service's ID."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from renderer.kind import Kind
from renderer.kinds.base import ApplyContext, DocPath, KindOps, Listing, TranslateContext
from renderer.kinds.service import takes_custom_domains
from renderer.live import LiveResource
from renderer.plan.model import Change
from renderer.pricing.cost import custom_domain_lines
from renderer.pricing.model import CostLine, Usage
from renderer.pricing.table import PriceTable
from renderer.render_api.client import JSON, RenderClient
from renderer.render_api.errors import Conflict, NotFound
from renderer.render_api.limits import Bucket
from renderer.resources import DesiredResource


class CustomDomainOps(KindOps):
    kinds: ClassVar[tuple[Kind, ...]] = (Kind.CUSTOM_DOMAIN,)
    create_rank: ClassVar[int] = 4
    create_bucket: ClassVar[Bucket | None] = Bucket.CREATE_CUSTOM_DOMAIN
    listed_under_parent: ClassVar[bool] = True

    def translate_child(self, tr: TranslateContext, path: DocPath, item: Any,
                        service: DesiredResource) -> list[DesiredResource]:
        domains = [item["domain"]] if isinstance(item.get("domain"), str) else []
        domains += [d for d in item.get("domains") or [] if isinstance(d, str)]
        if domains and not takes_custom_domains(service.kind):
            raise tr.unsupported((*path, "domains"), f"a custom domain on a {service.kind.value}")
        return [DesiredResource(tenant=tr.slug, kind=Kind.CUSTOM_DOMAIN,
                                blueprint_name=f"{service.blueprint_name}/{domain}", name=domain,
                                parent=service.address)
                for domain in dict.fromkeys(d.strip().lower() for d in domains)]

    async def list_under(self, client: RenderClient, parent_id: str) -> list[JSON]:
        try:
            return await client.list_custom_domains(parent_id)
        except NotFound:
            return []

    async def find_by_id(self, client: RenderClient, kind: Kind, rid: str, parent_id: str | None) -> JSON | None:
        """Needs its service's ID; without one it counts as gone."""
        if parent_id is None:
            return None
        try:
            return await client.get_custom_domain(parent_id, rid)
        except NotFound:
            return None

    async def find_by_name(self, client: RenderClient, kind: Kind, name: str, parent_id: str | None) -> str | None:
        found = [d["id"] for d in (await client.list_custom_domains(parent_id) if parent_id else [])
                 if d.get("name") == name]
        return found[0] if found else None

    async def read(self, client: RenderClient, kind: Kind, rid: str, obj: JSON, listing: Listing) -> LiveResource:
        return LiveResource(id=rid, kind=kind, name=obj["name"], fields={},
                            info={"status": obj.get("verificationStatus")})

    async def create(self, ctx: ApplyContext, change: Change, owner: str) -> str:
        """POST /services/{id}/custom-domains; a domain Render already added to this service as the `www.`
        companion of another (adding `example.com` also adds `www.example.com`) is adopted."""
        parent = ctx.parent_id(change)
        name = change.name
        client = ctx.client

        async def call() -> list[JSON]:
            try:
                return await client.add_custom_domain(parent, name)
            except Conflict:
                existing = [d for d in await client.list_custom_domains(parent) if d.get("name") == name]
                if not existing:
                    raise
                return existing

        added = await ctx.write("create", change, call,
                                lambda r: {"id": next(d["id"] for d in r if d.get("name") == name)}, parent_id=parent)
        rid = str(next(d["id"] for d in added if d.get("name") == name))
        ctx.record(change, rid)
        return rid

    async def update(self, ctx: ApplyContext, change: Change) -> None:
        """A custom domain has nothing to update in place."""

    async def delete(self, client: RenderClient, kind: Kind, rid: str, parent_id: str | None) -> None:
        if parent_id is None:
            raise NotFound("the custom domain's service is gone", status=404)
        await client.delete_custom_domain(parent_id, rid)

    def monthly_cost(self, kind: Kind, fields: Mapping[str, Any], table: PriceTable, *, blueprint_name: str,
                     usage: Usage | None) -> list[CostLine] | None:
        """A rate per domain beyond the workspace's included count (not in totals)."""
        return custom_domain_lines(table)


OPS = CustomDomainOps()
