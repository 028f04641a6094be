"""`renderer doctor`'s checks: read-only questions to the configured Render API, each with a verdict.

1. configuration: RENDER_API_KEY is set (RENDER_API_URL, RENDERER_RATE_LIMITS and RENDERER_PARALLELISM
   read without error was checked when the settings were built);
2. API reachable: GET /users answers at all;
3. API key: GET /users answers 200 (401: wrong or revoked key);
4. workspace: RENDER_OWNER_ID is set, GET /owners/{id} answers 200 and GET /owners lists it (the key
   can reach it); the owner's `type` says whether it is a team workspace or a personal one;
5. rate-limit headroom: what the `Ratelimit-*` headers of those GETs left of the GET budget, and what
   this client knows of the POST /services budget (Render reports that one only on a create).

Only GETs are sent. `DoctorReport.exit_code` is 0 when no check failed (warnings allowed), else 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from renderer.errors import ExitCode
from renderer.render_api.client import JSON, RenderClient, Settings
from renderer.render_api.errors import NotFound, RenderAPIError, TransportError, Unauthorized
from renderer.render_api.limits import Bucket

LOW_HEADROOM = 0.1  # warn when less than this share of a budget is left


class Verdict(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Check:
    name: str
    verdict: Verdict
    detail: str
    hint: str | None = None


@dataclass
class DoctorReport:
    checks: list[Check] = field(default_factory=list)

    def add(self, name: str, verdict: Verdict, detail: str, hint: str | None = None) -> Verdict:
        self.checks.append(Check(name, verdict, detail, hint))
        return verdict

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.ERROR if any(c.verdict is Verdict.FAIL for c in self.checks) else ExitCode.OK


def _owners_text(owners: list[JSON]) -> str:
    return ", ".join(f"{o.get('id')} ({o.get('name')}, {o.get('type')})" for o in owners) or "none"


async def diagnose(settings: Settings) -> DoctorReport:
    """Run the checks (module docstring) against `settings`' API. Never raises for an API failure:
    each becomes a failed check."""
    report = DoctorReport()
    if not settings.api_key:
        report.add("configuration", Verdict.FAIL, "RENDER_API_KEY is not set",
                   "create a key in the Render dashboard (Account Settings > API Keys) and export RENDER_API_KEY")
        return report
    report.add("configuration", Verdict.OK,
               f"API {settings.base_url}; client limits: {settings.rate_limits.describe()}")
    async with RenderClient(settings) as client:
        try:
            user = await client.get_user()
        except TransportError as exc:
            report.add("API reachable", Verdict.FAIL, exc.api_message, "check RENDER_API_URL and the network")
            return report
        except Unauthorized as exc:
            report.add("API reachable", Verdict.OK, f"{settings.base_url} answered")
            report.add("API key", Verdict.FAIL, f"refused (401: {exc.api_message})",
                       "the key is wrong or revoked: create a new one under Account Settings > API Keys")
            return report
        except RenderAPIError as exc:
            report.add("API reachable", Verdict.OK, f"{settings.base_url} answered")
            report.add("API key", Verdict.FAIL, f"GET /users failed: {exc.message}", exc.hint)
            return report
        report.add("API reachable", Verdict.OK, f"{settings.base_url} answered")
        report.add("API key", Verdict.OK, f"accepted (user {user.get('name')} <{user.get('email')}>)")

        owners: list[JSON] = []
        try:
            owners = await client.list_owners()
        except RenderAPIError as exc:
            report.add("workspace", Verdict.FAIL, f"GET /owners failed: {exc.message}", exc.hint)
            return report
        if not settings.owner_id:
            report.add("workspace", Verdict.FAIL, "RENDER_OWNER_ID is not set",
                       f"set it to one of the workspaces this key can reach: {_owners_text(owners)}")
        else:
            try:
                owner = await client.get_owner(settings.owner_id)
            except NotFound:
                report.add("workspace", Verdict.FAIL, f"{settings.owner_id} does not exist or this key cannot see it",
                           f"workspaces this key can reach: {_owners_text(owners)}")
            except RenderAPIError as exc:
                report.add("workspace", Verdict.FAIL, f"GET /owners/{settings.owner_id} failed: {exc.message}",
                           exc.hint)
            else:
                kind = "team workspace" if owner.get("type") == "team" else "personal workspace"
                if any(o.get("id") == settings.owner_id for o in owners):
                    report.add("workspace", Verdict.OK, f"{owner.get('id')} \"{owner.get('name')}\" ({kind}) "
                                                        "is reachable with this key")
                else:
                    report.add("workspace", Verdict.FAIL, f"{settings.owner_id} exists but is not among the "
                                                          "workspaces this key lists",
                               f"workspaces this key can reach: {_owners_text(owners)}")

        get = client.budget(Bucket.GET)
        create = client.service_create_budget()
        if get is None or create is None:
            report.add("rate-limit headroom", Verdict.WARN, "client-side rate limiting is off "
                                                            "(RENDERER_RATE_LIMITS=off)",
                       "renderer may then meet Render's 429s; unset RENDERER_RATE_LIMITS to keep Render's limits")
            return report
        resets = f", resets in {get.resets_in:.0f} s" if get.resets_in else ""
        detail = (f"GET {get.remaining} of {get.limit} left this window{resets}; POST /services "
                  f"{create.remaining} of {create.limit} per {create.window / 60:g} min (this client's count)")
        low = get.remaining < get.limit * LOW_HEADROOM or create.remaining < create.limit * LOW_HEADROOM
        report.add("rate-limit headroom", Verdict.WARN if low else Verdict.OK, detail,
                   "another client is spending the same budget; plan/apply will wait for it" if low else None)
    return report
