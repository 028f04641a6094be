"""A Postgres export before apply deletes a tenant's database.

Before deleting a Postgres database (its tenant removed, the database removed from the blueprint, or
replaced), apply asks Render for a logical backup and waits for it:

1. `GET /postgres/{id}/export`: the exports that already exist;
2. `POST /postgres/{id}/export` (openapi.json: operation create-postgres-export; 202, no body);
3. `GET /postgres/{id}/export` after 0.5 s, then after twice as long each time up to every `poll`
   seconds, until a new export (an `id` not seen in step 1)
   carries its download `url`, which Render sets once the export is complete
   (https://render.com/docs/postgresql-backups#logical-backups), for at most `timeout` seconds.

Any failure (Render refuses the export, the export does not appear or does not complete in time)
raises `BackupFailed` and the database is not deleted. `apply --skip-backup` skips all this.

The download URL grants access to the tenant's data. Only its scheme, host and path are printed: a
query string (where signed URLs carry their signature) shows as `?...`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from renderer.errors import RendererError
from renderer.render_api.client import RenderClient
from renderer.render_api.errors import RenderAPIError

DEFAULT_BACKUP_TIMEOUT = 1800.0
DEFAULT_BACKUP_POLL = 5.0


class BackupFailed(RendererError):
    """The export before a Postgres delete failed or did not complete; nothing was deleted."""


@dataclass(frozen=True)
class Backup:
    """A completed export: its `id`, when it was made (`created_at`, RFC 3339) and its download `url`."""

    postgres_id: str
    id: str
    created_at: str
    url: str

    @property
    def shown_url(self) -> str:
        return redact_url(self.url)

    def describe(self) -> str:
        return f"export {self.id} of {self.postgres_id} ({self.shown_url})"


def redact_url(url: str) -> str:
    """`url` without its query string and fragment (`?...` marks a removed query)."""
    parts = urlsplit(url)
    shown = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return shown + ("?..." if parts.query else "")


async def take_backup(client: RenderClient, postgres_id: str, *, what: str,
                      timeout: float = DEFAULT_BACKUP_TIMEOUT, poll: float = DEFAULT_BACKUP_POLL,
                      progress: Callable[[str], None] | None = None) -> Backup:
    """Export `postgres_id` and wait for the export to complete (module docstring). `what` names the
    database in messages (`acme-corp/postgres.backboneos-db`). Waits on the client's clock; `progress`
    hears the export's state after each poll (`export requested`, `export in progress`).

    Raises `BackupFailed` when Render refuses the export or it is not complete within `timeout` seconds.
    """
    hint = ("the database was not deleted; fix the cause and re-run apply, or pass --skip-backup to delete it "
            "without a backup")
    try:
        before = {str(e.get("id")) for e in await client.list_postgres_exports(postgres_id)}
        await client.create_postgres_export(postgres_id)
    except RenderAPIError as exc:
        raise BackupFailed(f"backup of {what} ({postgres_id}) failed: Render refused the export: {exc.message}",
                           hint=hint) from None
    deadline = client.clock.now() + timeout
    delay = min(poll, 0.5)
    while True:
        try:
            exports = await client.list_postgres_exports(postgres_id)
        except RenderAPIError as exc:
            raise BackupFailed(f"backup of {what} ({postgres_id}) failed: cannot read its exports: {exc.message}",
                               hint=hint) from None
        new = [e for e in exports if str(e.get("id")) not in before]
        ready = [e for e in new if e.get("url")]
        if ready:
            export = ready[0]
            return Backup(postgres_id, str(export["id"]), str(export.get("createdAt", "")), str(export["url"]))
        if progress is not None:
            progress("export in progress" if new else "export requested")
        if client.clock.now() >= deadline:
            state = "was started but is not complete" if new else "does not appear in the list of exports"
            raise BackupFailed(f"backup of {what} ({postgres_id}) failed: the export {state} after {timeout:g} s",
                               hint=hint)
        await client.clock.sleep(delay)
        delay = min(poll, delay * 2)
