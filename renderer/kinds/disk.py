"""Persistent disks (openapi.json: schemas.disk; POST/PATCH/DELETE /disks, GET /disks/{id}). A child of
its service (`disk:` in the service's Blueprint entry): it has its own ID but lives and dies with it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from renderer.kind import Kind
from renderer.kinds.base import ApplyContext, DocPath, KindOps, Listing, TranslateContext
from renderer.kinds.service import scalable
from renderer.live import LiveResource
from renderer.plan.model import Change
from renderer.pricing.cost import disk_lines
from renderer.pricing.model import CostLine, Usage
from renderer.pricing.table import PriceTable
from renderer.render_api.client import JSON, RenderClient
from renderer.resources import DesiredResource

# render.yaml.schema.json: disk.sizeGB "Defaults to 10".
DEFAULT_DISK_SIZE_GB = 10
PATCH_FIELDS = ("name", "mountPath", "sizeGB")


def disk_fields(disk: JSON) -> dict[str, Any]:
    """A disk (GET /disks/{id}) in desired-field vocabulary."""
    return {"name": disk.get("name"), "mountPath": disk.get("mountPath"), "sizeGB": disk.get("sizeGB")}


class DiskOps(KindOps):
    kinds: ClassVar[tuple[Kind, ...]] = (Kind.DISK,)
    create_rank: ClassVar[int] = 4
    # A disk is replaced only to shrink it (PATCH /disks/{id} can only grow one): that loses its data.
    loses_data: ClassVar[bool] = True

    def translate_child(self, tr: TranslateContext, path: DocPath, item: Any,
                        service: DesiredResource) -> list[DesiredResource]:
        disk = item.get("disk")
        if not isinstance(disk, dict):
            return []
        if not scalable(service.kind):
            raise tr.unsupported((*path, "disk"), f"a disk on a {service.kind.value}")
        return [DesiredResource(
            tenant=tr.slug, kind=Kind.DISK, blueprint_name=service.blueprint_name, name=str(disk["name"]),
            parent=service.address,
            fields={"name": str(disk["name"]), "mountPath": str(disk["mountPath"]),
                    "sizeGB": int(disk.get("sizeGB", DEFAULT_DISK_SIZE_GB))})]

    async def find_by_id(self, client: RenderClient, kind: Kind, rid: str, parent_id: str | None) -> JSON | None:
        return await client.find_disk(rid)

    async def find_by_name(self, client: RenderClient, kind: Kind, name: str, parent_id: str | None) -> str | None:
        found = [d["id"] for d in (await client.list_disks(service_id=parent_id) if parent_id else [])
                 if d.get("name") == name]
        return found[0] if found else None

    async def read(self, client: RenderClient, kind: Kind, rid: str, obj: JSON, listing: Listing) -> LiveResource:
        return LiveResource(id=rid, kind=kind, name=obj["name"], fields=disk_fields(obj))

    def forces_replace(self, kind: Kind, key: str, before: Any, after: Any) -> bool:
        return key == "sizeGB" and isinstance(before, int) and after < before

    async def create(self, ctx: ApplyContext, change: Change, owner: str) -> str:
        desired = change.desired
        assert desired is not None
        parent = ctx.parent_id(change)
        f = desired.fields
        return await ctx.create(
            change, lambda: ctx.client.create_disk(parent, f["name"], int(f["sizeGB"]), f["mountPath"]),
            parent_id=parent)

    async def update(self, ctx: ApplyContext, change: Change) -> None:
        """PATCH /disks/{id} with the changed name, mount path and (larger) size."""
        desired = change.desired
        assert desired is not None and change.id is not None
        rid = change.id
        changed = {f.path for f in change.fields}
        body = {k: desired.fields[k] for k in PATCH_FIELDS if k in changed}
        if body:
            await ctx.write("patch", change, lambda: ctx.client.update_disk(rid, body), id=rid)

    async def delete(self, client: RenderClient, kind: Kind, rid: str, parent_id: str | None) -> None:
        await client.delete_disk(rid)

    def monthly_cost(self, kind: Kind, fields: Mapping[str, Any], table: PriceTable, *, blueprint_name: str,
                     usage: Usage | None) -> list[CostLine] | None:
        """`sizeGB` x the disk price."""
        return disk_lines(fields, table)


OPS = DiskOps()
