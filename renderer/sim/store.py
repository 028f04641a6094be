"""The simulator's state: one workspace and everything renderer manages in it.

Objects are kept in the shapes Render's API returns (openapi.json: schemas.service, schemas.postgres,
schemas.deploy, schemas.keyValue, schemas.envGroup, schemas.customDomain, the disk of GET /disks/{id})
plus private fields whose names start with `_`, which views strip. IDs carry Render's prefixes: `tea-`
workspace, `srv-` service, `dep-` deploy, `dpg-` Postgres, `red-` Key Value, `evg-` env group, `cdm-`
custom domain, `dsk-` disk. The state lives in a JSON file, created when missing and replaced
atomically after every change, so it survives a restart or a kill.

Deploys move on the simulator clock. As Render answers (../shared/render/recorded/), a deploy is already
under way when created: a deploy that builds (a Git or Dockerfile service) starts `build_in_progress`, then
`update_in_progress` after 20 s and `live` after 30 s; an image-backed service has nothing to build and
starts `update_in_progress` (`pre_deploy_in_progress` with a pre-deploy command), `live` after 30 s; an
image-backed cron job is `live` at once. A forced outcome ends the deploy in `build_failed`,
`pre_deploy_failed`, `update_failed`, `canceled` or `deactivated` (superseded before going live) where its
timeline would have moved on. When a newer deploy is live, the older live one reads `deactivated`.

Other behaviour taken from the recordings (they win over openapi.json): cron jobs have `crn-` IDs; lists
come newest first; `null` means empty (`envVars`, `secretFiles`, a PUT of env vars or secret files);
an empty IP allow list reads `null`; a requested Postgres `databaseName` gets a random `_xxxx` suffix (and
the default user derives from it); an image reference is answered normalised
(`nginx` -> `docker.io/library/nginx:latest`); a new Postgres or Key Value reads `unknown` first, then
`creating`; a PATCH of a Postgres's instance type or disk, or of a Key Value's plan, puts it back into
`creating`; a trigger while a deploy is in progress on a private service or a cron job is queued (202,
no body).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import secrets
import tempfile
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from renderer.sim.clock import Clock

JSON = dict[str, Any]
ID_ALPHABET = "0123456789abcdefghijklmnopqrstuv"  # Render IDs: a prefix and 20 base-32 characters
STATE_VERSION = 2
NATIVE_RUNTIMES = frozenset({"elixir", "go", "node", "python", "ruby", "rust"})
SCALABLE = frozenset({"web_service", "private_service", "background_worker"})
DOMAIN_SERVICES = frozenset({"web_service", "static_site"})
SHORT_TYPE = {"static_site": "static", "web_service": "web", "private_service": "pserv",
              "background_worker": "worker", "cron_job": "cron"}
# A version that goes live, then its server fails (POST /_sim/deploy-outcomes with a commit or image).
SERVER_FAILED = "server_failed_after_live"
SERVER_FAILED_DELAY = 30.0  # seconds after going live, unless `delaySeconds` says otherwise
RECORDED_DEPLOY_SECONDS = 30.0  # start to live in DEPLOY_TIMELINE; POST /_sim/deploy-timing rescales it
DEPLOY_OUTCOMES = ("live", "build_failed", "update_failed", "pre_deploy_failed", "canceled", "deactivated")
# Seconds after creation at which a deploy enters each status, by outcome (module docstring): a deploy
# that builds, one of an image (nothing to build), one of an image with a pre-deploy command.
DEPLOY_TIMELINE: dict[str, list[tuple[float, str]]] = {
    "live": [(0, "build_in_progress"), (20, "update_in_progress"), (30, "live")],
    "build_failed": [(0, "build_in_progress"), (20, "build_failed")],
    "pre_deploy_failed": [(0, "build_in_progress"), (20, "pre_deploy_in_progress"), (30, "pre_deploy_failed")],
    "update_failed": [(0, "build_in_progress"), (20, "update_in_progress"), (30, "update_failed")],
    "canceled": [(0, "build_in_progress"), (20, "canceled")],
    # Superseded before it could go live (another deploy of the service took over).
    "deactivated": [(0, "build_in_progress"), (20, "update_in_progress"), (30, "deactivated")],
}
IMAGE_TIMELINE: dict[str, list[tuple[float, str]]] = {
    "live": [(0, "update_in_progress"), (30, "live")],
    "build_failed": [(0, "update_in_progress"), (30, "update_failed")],
    "pre_deploy_failed": [(0, "pre_deploy_in_progress"), (20, "pre_deploy_failed")],
    "update_failed": [(0, "update_in_progress"), (30, "update_failed")],
    "canceled": [(0, "update_in_progress"), (20, "canceled")],
    "deactivated": [(0, "update_in_progress"), (30, "deactivated")],
}
PRE_DEPLOY_IMAGE_TIMELINE: dict[str, list[tuple[float, str]]] = {
    outcome: [(0, "pre_deploy_in_progress"), *steps[1:]] for outcome, steps in IMAGE_TIMELINE.items()}
# Services whose deploy trigger is queued (202, no body) while another deploy is in progress; the others
# start the new deploy at once (201), as recorded.
QUEUED_TRIGGER_TYPES = frozenset({"private_service", "cron_job"})
ID_PREFIX = {"cron_job": "crn"}
# Postgres disk when none is asked for (GB), by plan family; recorded: 15 for basic_256mb.
POSTGRES_DEFAULT_DISK_GB = 15
DEPLOY_ENDED = frozenset({"live", "build_failed", "update_failed", "pre_deploy_failed", "canceled", "deactivated"})
DATABASE_READY_SECONDS = 30.0  # recorded: `creating` 23 s after the create, `available` from 30-40 s on
EXPORT_READY_SECONDS = 10.0
PAYMENT_MESSAGE = "You must enter payment information to perform this request."
KEY_VALUE_VERSION = "8.1.4"
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
# The deprecated integer `status` that build_ended, pre_deploy_ended and deploy_ended details still require
# (openapi.json); no recording shows its values, so these are the simulator's own.
_EVENT_STATUS = {"succeeded": 2, "failed": 3, "canceled": 4}


class SimError(Exception):
    """An API error the simulator answers with: `{"id": ..., "message": ...}` and `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def new_id(prefix: str, suffix: str = "") -> str:
    return prefix + "-" + "".join(secrets.choice(ID_ALPHABET) for _ in range(20)) + suffix


def random_secret(length: int = 32) -> str:
    return secrets.token_urlsafe(length)[:length]


def public(obj: JSON) -> JSON:
    """`obj` without private (`_`) fields."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def normalise_image(reference: str) -> str:
    """An image reference as Render answers it: registry, `library/` namespace and `:latest` filled in
    (`nginx` -> `docker.io/library/nginx:latest`; recorded in webservice_resource__web_service_image)."""
    if not reference:
        return reference
    name, digest = reference, ""
    if "@" in name:
        name, digest = name.split("@", 1)
        digest = "@" + digest
    first, _, rest = name.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        registry, path = "docker.io", name
    else:
        registry, path = first, rest
    if registry == "docker.io" and "/" not in path:
        path = "library/" + path
    if not digest and ":" not in path.rsplit("/", 1)[-1]:
        path += ":latest"
    return f"{registry}/{path}{digest}"


def _repository(reference: str) -> str:
    """A normalised image reference without its tag or digest (`docker.io/library/nginx`)."""
    name = reference.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}"


def parse_time(value: str) -> float:
    """Epoch seconds of an RFC 3339 timestamp or of a number of epoch seconds (openapi.json's
    startTime / endTime say both). Raises SimError(400) otherwise."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise SimError(400, f"invalid time {value!r}: give an RFC 3339 timestamp") from None


def _start_of(deploy: JSON) -> float:
    """When a deploy started or starts (a queued one later than it was created)."""
    return float(deploy["_start"] if "_start" in deploy else deploy["_created"])


# Workspace plans (render.com/pricing). Hobby workspaces can have one project with up to two environments
# (render.com/docs/projects, "Setup"); blocking cross-environment traffic is a paid feature.
WORKSPACE_PLANS = ("hobby", "professional", "organization", "enterprise")
HOBBY_PROJECTS = 1
HOBBY_ENVIRONMENTS = 2
HOBBY_LIMIT_MESSAGE = ("Hobby workspaces can have up to one project with up to two environments; upgrade the "
                       "workspace to create more")
ISOLATION_MESSAGE = ("network isolation (blocking cross-environment private traffic) requires a Professional "
                     "workspace or higher; upgrade the workspace or leave networkIsolationEnabled false")
# Private network: who opens connections (services that run, not static sites) and who listens.
PRIVATE_SOURCES = ("web_service", "private_service", "background_worker", "cron_job")
PRIVATE_LISTENERS = ("web_service", "private_service")


def _in_environments(item: JSON, environments: list[str] | None) -> bool:
    """The `environmentId` list filter (openapi.json: components.parameters.environmentIdParam)."""
    return not environments or item.get("environmentId") in environments


def _null_empty(items: Any) -> Any:
    """Render answers an empty IP allow list as `null`."""
    return items or None


class Store:
    """All simulator state behind one lock. Methods raise `SimError` for answers other than 2xx."""

    def __init__(self, path: Path, clock: Clock, *, default_outcome: str = "live") -> None:
        self.path = path
        self.clock = clock
        self.default_outcome = default_outcome
        self.lock = threading.RLock()
        self._batch = False
        self._seen: set[tuple[str, str]] | None = None  # (collection or "slug", name) while seeding
        if path.exists() and path.stat().st_size > 0:
            self.state: JSON = json.loads(path.read_text(encoding="utf-8"))
            self._upgrade()
        else:
            self.state = self._empty()
            self.save()

    def _empty(self) -> JSON:
        owner_id = new_id("tea")
        return {
            "version": STATE_VERSION,
            "owner": {"id": owner_id, "name": "Simulated Workspace", "email": "sim@example.com", "type": "team"},
            "user": {"name": "Simulated User", "email": "sim@example.com"},
            "workspace": {"paymentDetails": True, "plan": "professional"},
            "services": {}, "envVars": {}, "secretFiles": {}, "deploys": {}, "customDomains": {}, "disks": {},
            "postgres": {}, "postgresSecrets": {}, "postgresExports": {},
            "keyValue": {}, "keyValueSecrets": {}, "envGroups": {}, "deployOutcomes": [], "versionOutcomes": [],
            "branchHeads": {}, "deployTiming": {"seconds": None},
            "headers": {}, "routes": {}, "projects": {}, "environments": {},
        }

    def _upgrade(self) -> None:
        """Fill in what state files of earlier versions lack."""
        for key, value in self._empty().items():
            if key not in ("owner", "version"):
                self.state.setdefault(key, value)
        self.state["version"] = STATE_VERSION

    def save(self) -> None:
        if self._batch:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.state, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def reset(self) -> None:
        """Everything but the workspace ID back to empty."""
        with self.lock:
            owner = self.state["owner"]
            self.state = self._empty()
            self.state["owner"] = owner
            self.save()

    @property
    def owner(self) -> JSON:
        owner: JSON = self.state["owner"]
        return owner

    def _check_owner(self, owner_id: Any) -> None:
        if owner_id != self.owner["id"]:
            raise SimError(404, f"owner {owner_id} not found")

    def _require_payment(self, plan: str | None, what: str, status: int = 402) -> None:
        """A paid plan in a workspace without payment details is refused: 402 where the description
        documents it (services), else 400 with the same message (Postgres, Key Value)."""
        if plan != "free" and not self.state["workspace"]["paymentDetails"]:
            raise SimError(status, f"{PAYMENT_MESSAGE} ({what} on plan {plan or 'starter'})")

    def set_workspace(self, body: JSON) -> JSON:
        with self.lock:
            if "paymentDetails" in body:
                self.state["workspace"]["paymentDetails"] = bool(body["paymentDetails"])
            if "plan" in body:
                if body["plan"] not in WORKSPACE_PLANS:
                    raise SimError(400, f"plan must be one of {', '.join(WORKSPACE_PLANS)}")
                self.state["workspace"]["plan"] = body["plan"]
            self.save()
            return dict(self.state["workspace"])

    def user(self) -> JSON:
        user: JSON = self.state["user"]
        return user

    def _remember(self, collection: str, name: str) -> None:
        if self._seen is not None:
            self._seen.add((collection, name))

    def _name_taken(self, collection: str, name: str, but: str | None = None) -> bool:
        if self._seen is not None and but is None:  # seeding: the names so far, without a scan each time
            return (collection, name) in self._seen
        return any(item["name"] == name and item_id != but for item_id, item in self.state[collection].items())

    # Services
    def _service(self, service_id: str) -> JSON:
        service: JSON | None = self.state["services"].get(service_id)
        if service is None:
            raise SimError(404, "service not found")
        return service

    def list_services(self, *, names: list[str], types: list[str], owners: list[str],
                      suspended: list[str] | None = None, regions: list[str] | None = None,
                      environments: list[str] | None = None) -> list[JSON]:
        result = []
        for service in reversed(self.state["services"].values()):
            region = service["serviceDetails"].get("region")
            if (names and service["name"] not in names) or (types and service["type"] not in types) \
                    or (owners and service["ownerId"] not in owners) \
                    or (suspended and service["suspended"] not in suspended) \
                    or (regions and region not in regions) or not _in_environments(service, environments):
                continue
            result.append(self.service_view(service))
        return result

    def get_service(self, service_id: str) -> JSON:
        return self.service_view(self._service(service_id))

    def _slug(self, name: str) -> str:
        base = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", name.lower())).strip("-") or "service"
        taken = self._seen if self._seen is not None else {("slug", s["slug"]) for s in self.state["services"].values()}
        slug = base
        while ("slug", slug) in taken:
            slug = f"{base}-{''.join(secrets.choice('abcdefghijklmnopqrstuvwxyz0123456789') for _ in range(4))}"
        return slug

    def _details(self, kind: str, slug: str, body: JSON) -> JSON:
        given: JSON = body.get("serviceDetails") or {}
        previews = self._previews(given)
        if kind == "static_site":
            return {"buildCommand": given.get("buildCommand", ""), "publishPath": given.get("publishPath", "public"),
                    "url": f"https://{slug}.onrender.com", "buildPlan": "starter", **previews}
        runtime = given.get("runtime") or given.get("env")
        if runtime is None:
            raise SimError(400, "serviceDetails.runtime is required")
        env_given: JSON = given.get("envSpecificDetails") or {}
        if runtime in NATIVE_RUNTIMES:
            missing = [k for k in ("buildCommand", "startCommand") if not env_given.get(k)]
            if missing:
                raise SimError(400, f"serviceDetails.envSpecificDetails.{missing[0]} is required for runtime {runtime}")
            env_details: JSON = {"buildCommand": env_given["buildCommand"], "startCommand": env_given["startCommand"]}
        else:
            env_details = self._docker_details(runtime, env_given)
        if given.get("preDeployCommand"):
            env_details["preDeployCommand"] = given["preDeployCommand"]
        plan = given.get("plan", "starter")
        details: JSON = {
            "env": runtime, "runtime": runtime, "envSpecificDetails": env_details,
            "plan": plan, "region": given.get("region", "oregon"), "buildPlan": "starter",
        }
        if kind == "cron_job":
            if not given.get("schedule"):
                raise SimError(400, "serviceDetails.schedule is required for a cron job")
            details["schedule"] = given["schedule"]
            return details
        details["numInstances"] = int(given.get("numInstances", 1))
        details.update(previews)
        if "maxShutdownDelaySeconds" in given:
            details["maxShutdownDelaySeconds"] = int(given["maxShutdownDelaySeconds"])
        details["sshAddress"] = "{id}@ssh." + str(details["region"]) + ".render.com"
        if "autoscaling" in given:
            details["autoscaling"] = self._autoscaling(given["autoscaling"])
        if kind == "web_service":
            details["healthCheckPath"] = given.get("healthCheckPath", "")
            details["openPorts"] = [{"port": 10000, "protocol": "TCP"}]
            details["url"] = f"https://{slug}.onrender.com"
        elif kind == "private_service":
            details["openPorts"] = [{"port": 10000, "protocol": "TCP"}]
            details["url"] = f"{slug}:10000"
        return details

    @staticmethod
    def _previews(given: JSON, current: JSON | None = None) -> JSON:
        """`previews` always with its `generation` (an empty `previews` reads `off`), and
        `pullRequestPreviewsEnabled` following it, as recorded (staticsite_resource__static_site)."""
        previews = dict((current or {}).get("previews") or {"generation": "off"})
        if isinstance(given.get("previews"), dict):
            previews = {"generation": given["previews"].get("generation") or "off"}
        elif "pullRequestPreviewsEnabled" in given:
            previews = {"generation": "automatic" if given["pullRequestPreviewsEnabled"] == "yes" else "off"}
        enabled = "yes" if previews["generation"] == "automatic" else "no"
        return {"previews": previews, "pullRequestPreviewsEnabled": enabled}

    @staticmethod
    def _docker_details(runtime: str, given: JSON, current: JSON | None = None) -> JSON:
        """A Docker service builds from `.` and `./Dockerfile` unless told otherwise; an image service
        builds nothing and answers `""` for both (recorded in webservice_resource__web_service_image)."""
        current = current or {}
        if runtime == "image":
            return {"dockerCommand": given.get("dockerCommand", current.get("dockerCommand", "")),
                    "dockerContext": "", "dockerfilePath": ""}
        return {"dockerCommand": given.get("dockerCommand", current.get("dockerCommand", "")),
                "dockerContext": given.get("dockerContext") or current.get("dockerContext") or ".",
                "dockerfilePath": given.get("dockerfilePath") or current.get("dockerfilePath") or "./Dockerfile"}

    @staticmethod
    def _build_filter(given: Any) -> JSON | None:
        """`buildFilter` as given; lists of `null` are empty, and a filter with nothing in it is none."""
        if not isinstance(given, dict):
            return None
        paths, ignored = list(given.get("paths") or []), list(given.get("ignoredPaths") or [])
        return {"paths": paths, "ignoredPaths": ignored} if paths or ignored else None

    def service_view(self, service: JSON) -> JSON:
        """A service as Render answers it (`sshAddress` carries the service ID)."""
        view = public(service)
        details = dict(view["serviceDetails"])
        if "sshAddress" in details:
            details["sshAddress"] = str(details["sshAddress"]).replace("{id}", service["id"])
        view["serviceDetails"] = details
        return view

    @staticmethod
    def _auto_deploy(body: JSON, current: str = "yes") -> tuple[str, str]:
        """(`autoDeploy`, `autoDeployTrigger`) from a body that may set either."""
        trigger = body.get("autoDeployTrigger")
        if trigger is not None:
            if trigger not in ("commit", "checksPass", "off"):
                raise SimError(400, "autoDeployTrigger must be one of commit, checksPass, off")
            return ("no" if trigger == "off" else "yes"), str(trigger)
        auto = str(body.get("autoDeploy", current))
        return auto, ("commit" if auto == "yes" else "off")

    def create_service(self, body: JSON) -> tuple[JSON, str]:
        with self.lock:
            self._check_owner(body.get("ownerId"))
            name = body["name"]
            if self._name_taken("services", name):
                raise SimError(409, f"a service named {name} already exists in this workspace")
            kind = body["type"]
            plan = None if kind == "static_site" else (body.get("serviceDetails") or {}).get("plan", "starter")
            if plan is not None:
                self._require_payment(plan, f"a {kind}")
            slug = self._slug(name)
            details = self._details(kind, slug, body)
            disk_given = (body.get("serviceDetails") or {}).get("disk")
            if disk_given and (kind not in SCALABLE or plan == "free"):
                raise SimError(400, "a disk needs a paid web service, private service or background worker")
            service_id = new_id(ID_PREFIX.get(kind, "srv"))
            now = self.clock.iso()
            auto, trigger = self._auto_deploy(body)
            service: JSON = {
                "id": service_id, "name": name, "ownerId": body["ownerId"], "type": kind,
                "createdAt": now, "updatedAt": now,
                "dashboardUrl": f"https://dashboard.render.com/{'static' if kind == 'static_site' else 'web'}"
                                f"/{service_id}",
                "suspended": "not_suspended", "suspenders": [], "autoDeploy": auto, "autoDeployTrigger": trigger,
                "notifyOnFail": "default", "slug": slug, "rootDir": body.get("rootDir", ""),
                "serviceDetails": details,
            }
            if body.get("repo"):
                service["repo"] = body["repo"]
                service["branch"] = body.get("branch", "main")
                build_filter = self._build_filter(body.get("buildFilter"))
                if build_filter:
                    service["buildFilter"] = build_filter
            if body.get("image"):
                service["imagePath"] = normalise_image(body["image"].get("imagePath", ""))
            if body.get("environmentId"):
                self._add_to_environment(str(body["environmentId"]), service_id)
                service["environmentId"] = body["environmentId"]
            self.state["services"][service_id] = service
            self._remember("services", name)
            self._remember("slug", slug)
            env: list[JSON] = []
            for item in body.get("envVars") or []:
                value = random_secret() if item.get("generateValue") else str(item.get("value", ""))
                env = [e for e in env if e["key"] != item["key"]] + [{"key": item["key"], "value": value}]
            self.state["envVars"][service_id] = env
            self.state["secretFiles"][service_id] = [
                {"name": f["name"], "content": f["content"]} for f in body.get("secretFiles") or []]
            self.state["deploys"][service_id] = []
            self.state["customDomains"][service_id] = []
            if kind == "static_site":
                given = body.get("serviceDetails") or {}
                self.state["headers"][service_id] = self._headers(given.get("headers") or [])
                self.state["routes"][service_id] = self._routes(given.get("routes") or [])
            if disk_given:
                self._add_disk(service_id, disk_given["name"], int(disk_given.get("sizeGB", 1)),
                               disk_given["mountPath"])
            deploy = self._new_deploy(service_id, "api")
            self.save()
            return self.service_view(service), deploy["id"]

    def update_service(self, service_id: str, body: JSON) -> JSON:
        with self.lock:
            service = self._service(service_id)
            if "name" in body and body["name"] != service["name"]:
                if self._name_taken("services", body["name"], but=service_id):
                    raise SimError(409, f"a service named {body['name']} already exists in this workspace")
                service["name"] = body["name"]
            for key in ("repo", "branch", "rootDir"):
                if key in body:
                    service[key] = body[key]
            if "buildFilter" in body:
                build_filter = self._build_filter(body["buildFilter"])
                if build_filter:
                    service["buildFilter"] = build_filter
                else:
                    service.pop("buildFilter", None)
            if body.get("image"):  # servicePATCH.image: the image a runtime-image service pulls
                service["imagePath"] = normalise_image(body["image"].get("imagePath", ""))
            if "autoDeploy" in body or "autoDeployTrigger" in body:
                service["autoDeploy"], service["autoDeployTrigger"] = self._auto_deploy(body, service["autoDeploy"])
            given: JSON = body.get("serviceDetails") or {}
            details: JSON = service["serviceDetails"]
            if "plan" in given and service["type"] != "static_site":
                self._require_payment(given["plan"], f"a {service['type']}")
                if given["plan"] == "free" and details.get("disk"):
                    raise SimError(400, "a service with a disk cannot use the free instance type")
            for key in ("plan", "healthCheckPath", "maxShutdownDelaySeconds", "publishPath", "buildCommand",
                        "schedule"):
                if key in given and (key in details or (key == "healthCheckPath" and service["type"] == "web_service")
                                     or (key == "maxShutdownDelaySeconds" and service["type"] in SCALABLE)):
                    details[key] = given[key]
            if "previews" in given or "pullRequestPreviewsEnabled" in given:
                details.update(self._previews(given, details))
            env_given: JSON = given.get("envSpecificDetails") or {}
            runtime = given.get("runtime") or details.get("runtime")
            if "runtime" in given and service["type"] != "static_site":
                # Render switches runtimes in place, native, docker and image alike (PATCH answered 200;
                # webservice_resource__runtime_update).
                before = details.get("runtime")
                details["runtime"] = details["env"] = runtime
                if (runtime in NATIVE_RUNTIMES) != (before in NATIVE_RUNTIMES) or "image" in (runtime, before):
                    pre_deploy = details.get("envSpecificDetails", {}).get("preDeployCommand")
                    if runtime in NATIVE_RUNTIMES:
                        missing = [k for k in ("buildCommand", "startCommand") if not env_given.get(k)]
                        if missing:
                            raise SimError(400, f"serviceDetails.envSpecificDetails.{missing[0]} is required "
                                                f"for runtime {runtime}")
                        details["envSpecificDetails"] = {}
                    else:
                        details["envSpecificDetails"] = self._docker_details(str(runtime), env_given)
                    if pre_deploy:
                        details["envSpecificDetails"]["preDeployCommand"] = pre_deploy
                if runtime == "image":
                    for key in ("repo", "branch", "buildFilter"):
                        service.pop(key, None)
                elif before == "image":
                    service.pop("imagePath", None)
            env_details = details.get("envSpecificDetails", {})
            if service["type"] != "static_site" and (given.get("preDeployCommand") or (
                    "preDeployCommand" in given and "preDeployCommand" in env_details)):
                # A command cleared with "" reads "" (webservice_resource__web_service); "" sets none.
                details.setdefault("envSpecificDetails", {})["preDeployCommand"] = given["preDeployCommand"]
            for key, value in env_given.items():
                if runtime == "image" and key in ("dockerContext", "dockerfilePath"):
                    continue
                if key == "registryCredential" or (runtime in NATIVE_RUNTIMES) != (
                        key in ("buildCommand", "startCommand")):
                    continue
                details.setdefault("envSpecificDetails", {})[key] = value
            service["updatedAt"] = self.clock.iso()
            self.save()
            return self.service_view(service)

    def delete_service(self, service_id: str) -> None:
        with self.lock:
            self._service(service_id)
            del self.state["services"][service_id]
            self._remove_from_environments([service_id])
            for collection in ("envVars", "secretFiles", "deploys", "customDomains", "headers", "routes"):
                self.state[collection].pop(service_id, None)
            self.state["disks"] = {k: d for k, d in self.state["disks"].items() if d.get("serviceId") != service_id}
            for group in self.state["envGroups"].values():
                group["_serviceIds"] = [s for s in group["_serviceIds"] if s != service_id]
            self.save()

    def suspend_service(self, service_id: str) -> None:
        with self.lock:
            service = self._service(service_id)
            service["suspended"], service["suspenders"] = "suspended", ["user"]
            service["updatedAt"] = self.clock.iso()
            self.save()

    def resume_service(self, service_id: str) -> None:
        with self.lock:
            service = self._service(service_id)
            if service["suspended"] != "suspended":
                raise SimError(400, "service is not suspended")
            service["suspended"], service["suspenders"] = "not_suspended", []
            service["updatedAt"] = self.clock.iso()
            self._new_deploy(service_id, "service_resumed")
            self.save()

    def scale_service(self, service_id: str, num_instances: int) -> None:
        with self.lock:
            service = self._service(service_id)
            if service["type"] not in SCALABLE:
                raise SimError(400, f"a {service['type']} cannot be scaled")
            if num_instances < 1:
                raise SimError(400, "numInstances must be at least 1")
            if service["serviceDetails"].get("disk") and num_instances > 1:
                raise SimError(400, "a service with a disk runs exactly one instance")
            service["serviceDetails"]["numInstances"] = num_instances
            service["updatedAt"] = self.clock.iso()
            self.save()

    @staticmethod
    def _autoscaling(body: JSON) -> JSON:
        low, high = int(body["min"]), int(body["max"])
        if low < 1 or high < low:
            raise SimError(400, "autoscaling needs 1 <= min <= max")
        criteria = body["criteria"]
        for name in ("cpu", "memory"):
            percentage = int(criteria[name]["percentage"])
            if not 1 <= percentage <= 90:
                raise SimError(400, f"autoscaling {name} percentage must be between 1 and 90")
        return {"enabled": bool(body["enabled"]), "min": low, "max": high,
                "criteria": {n: {"enabled": bool(criteria[n]["enabled"]), "percentage": int(criteria[n]["percentage"])}
                             for n in ("cpu", "memory")}}

    def put_autoscaling(self, service_id: str, body: JSON) -> JSON:
        with self.lock:
            service = self._service(service_id)
            if service["type"] not in SCALABLE:
                raise SimError(400, f"a {service['type']} cannot autoscale")
            if service["serviceDetails"].get("plan") == "free":
                raise SimError(400, "autoscaling needs a paid instance type")
            config = self._autoscaling(body)
            service["serviceDetails"]["autoscaling"] = config
            service["updatedAt"] = self.clock.iso()
            self.save()
            return config

    def delete_autoscaling(self, service_id: str) -> None:
        with self.lock:
            service = self._service(service_id)
            service["serviceDetails"].pop("autoscaling", None)
            service["updatedAt"] = self.clock.iso()
            self.save()

    # Env vars (per service, and per env group)
    def env_vars(self, service_id: str) -> list[JSON]:
        self._service(service_id)
        env: list[JSON] = self.state["envVars"].setdefault(service_id, [])
        return env

    @staticmethod
    def _check_key(key: str) -> None:
        if not _ENV_KEY.match(key):
            raise SimError(400, f"invalid environment variable key {key!r}")

    @staticmethod
    def _put(items: list[JSON], key: str, body: JSON) -> JSON:
        value = random_secret() if body.get("generateValue") else str(body.get("value", ""))
        for item in items:
            if item["key"] == key:
                item["value"] = value
                return item
        item = {"key": key, "value": value}
        items.append(item)
        return item

    def get_env_var(self, service_id: str, key: str) -> JSON:
        for item in self.env_vars(service_id):
            if item["key"] == key:
                return item
        raise SimError(404, "environment variable not found")

    def put_env_var(self, service_id: str, key: str, body: JSON) -> JSON:
        with self.lock:
            self._check_key(key)
            item = self._put(self.env_vars(service_id), key, body)
            self.save()
            return item

    def list_env_vars(self, service_id: str) -> list[JSON]:
        """GET /services/{id}/env-vars: newest first, as recorded."""
        return list(reversed(self.env_vars(service_id)))

    def replace_env_vars(self, service_id: str, items: list[JSON] | None) -> list[JSON]:
        """PUT /services/{id}/env-vars: the answer lists the variables in the order given; a `null` body
        removes them all (recorded: 200 `[]`)."""
        with self.lock:
            self._service(service_id)
            env = [{"key": i["key"], "value": random_secret() if i.get("generateValue") else str(i.get("value", ""))}
                   for i in items or []]
            self.state["envVars"][service_id] = env
            self.save()
            return env

    def delete_env_var(self, service_id: str, key: str) -> None:
        with self.lock:
            env = self.env_vars(service_id)
            kept = [i for i in env if i["key"] != key]
            if len(kept) == len(env):
                raise SimError(404, "environment variable not found")
            self.state["envVars"][service_id] = kept
            self.save()

    # Secret files
    def secret_files(self, service_id: str) -> list[JSON]:
        self._service(service_id)
        files: list[JSON] = self.state["secretFiles"].setdefault(service_id, [])
        return files

    def list_secret_files(self, service_id: str) -> list[JSON]:
        """GET /services/{id}/secret-files: newest first, as recorded."""
        return list(reversed(self.secret_files(service_id)))

    def replace_secret_files(self, service_id: str, items: list[JSON] | None) -> list[JSON]:
        """PUT /services/{id}/secret-files: every secret file replaced (a `null` body removes them all)."""
        with self.lock:
            self._service(service_id)
            files = [{"name": str(f["name"]), "content": str(f["content"])} for f in items or []]
            self.state["secretFiles"][service_id] = files
            self.save()
            return files

    def get_secret_file(self, service_id: str, name: str) -> JSON:
        for item in self.secret_files(service_id):
            if item["name"] == name:
                return item
        raise SimError(404, "secret file not found")

    @staticmethod
    def _put_file(files: list[JSON], name: str, body: JSON) -> JSON:
        if "content" not in body:
            raise SimError(400, "content is required")
        for item in files:
            if item["name"] == name:
                item["content"] = str(body["content"])
                return item
        item = {"name": name, "content": str(body["content"])}
        files.append(item)
        return item

    def put_secret_file(self, service_id: str, name: str, body: JSON) -> JSON:
        with self.lock:
            item = self._put_file(self.secret_files(service_id), name, body)
            self.save()
            return item

    def delete_secret_file(self, service_id: str, name: str) -> None:
        with self.lock:
            files = self.secret_files(service_id)
            kept = [f for f in files if f["name"] != name]
            if len(kept) == len(files):
                raise SimError(404, "secret file not found")
            self.state["secretFiles"][service_id] = kept
            self.save()

    # Deploys
    def force_outcome(self, outcome: str, service_id: str | None = None, count: int = 1, *,
                      commit: str | None = None, image: str | None = None, delay: float | None = None) -> None:
        """How deploys end. Without a version selector: the next `count` deploys (of `service_id`, or of
        any service) end in `outcome`. With `commit` (a commit SHA) or `image` (an image digest or
        reference): every later deploy of that version, of any service, until another rule for the same
        version replaces it (`live` clears it). `server_failed_after_live` goes live and emits a
        `server_failed` event `delay` seconds later (default `SERVER_FAILED_DELAY`)."""
        allowed = (*DEPLOY_OUTCOMES, SERVER_FAILED)
        if outcome not in allowed:
            raise SimError(400, f"outcome must be one of {', '.join(allowed)}")
        if commit and image:
            raise SimError(400, "give commit or image, not both")
        if delay is not None and delay < 0:
            raise SimError(400, "delaySeconds must be >= 0")
        with self.lock:
            if commit or image:
                key = {"commit": commit} if commit else {"image": image}
                rules = [r for r in self.state["versionOutcomes"] if {k: r.get(k) for k in key} != key]
                if outcome != "live":
                    rules.append({**key, "outcome": outcome,
                                  "delaySeconds": SERVER_FAILED_DELAY if delay is None else delay})
                self.state["versionOutcomes"] = rules
            elif outcome == SERVER_FAILED:
                raise SimError(400, f"{SERVER_FAILED} needs a commit or image selector")
            else:
                self.state["deployOutcomes"] += [{"serviceId": service_id, "outcome": outcome}] * max(1, count)
            self.save()

    def outcomes_json(self) -> JSON:
        return {"queued": self.state["deployOutcomes"], "versions": self.state["versionOutcomes"]}

    def _next_outcome(self, service_id: str, deploy: JSON) -> None:
        """Sets the deploy's `_outcome` (and `_serverFailedAfter`): a rule for its version first, else
        the queue of forced outcomes, else the simulator's default."""
        commit = (deploy.get("_commit") or {}).get("id")
        image = deploy.get("_image") or {}
        for rule in self.state["versionOutcomes"]:
            if (rule.get("commit") and rule["commit"] == commit) or (
                    rule.get("image") and rule["image"] in (image.get("sha"), image.get("ref"))):
                if rule["outcome"] == SERVER_FAILED:
                    deploy["_outcome"], deploy["_serverFailedAfter"] = "live", float(rule["delaySeconds"])
                else:
                    deploy["_outcome"] = rule["outcome"]
                return
        queue: list[JSON] = self.state["deployOutcomes"]
        for index, forced in enumerate(queue):
            if forced["serviceId"] in (None, service_id):
                del queue[index]
                deploy["_outcome"] = str(forced["outcome"])
                return
        deploy["_outcome"] = self.default_outcome

    def _timeline(self, service: JSON) -> str:
        details = service["serviceDetails"]
        if details.get("runtime") != "image":
            return "build"
        if service["type"] == "cron_job":
            return "instant"
        return "image_pre" if details.get("envSpecificDetails", {}).get("preDeployCommand") else "image"

    def _steps(self, deploy: JSON) -> list[tuple[float, str]]:
        outcome = str(deploy["_outcome"])
        timeline = deploy.get("_timeline", "build")
        if timeline == "instant":
            steps = [(0.0, "live")] if outcome == "live" else IMAGE_TIMELINE[outcome]
        else:
            table = {"build": DEPLOY_TIMELINE, "image": IMAGE_TIMELINE, "image_pre": PRE_DEPLOY_IMAGE_TIMELINE}
            steps = table[str(timeline)][outcome]
        scale = float(deploy.get("_scale", 1.0))
        return steps if scale == 1.0 else [(offset * scale, name) for offset, name in steps]

    def set_deploy_timing(self, body: JSON) -> JSON:
        """POST /_sim/deploy-timing {"seconds": N}: deploys created from now on take N seconds from start
        to live (every step of their timeline scaled alike; a failure ends as far in); `null` restores
        the recorded 30 s."""
        seconds = body.get("seconds")
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int | float)
                                    or seconds <= 0):
            raise SimError(400, "seconds must be a positive number or null")
        with self.lock:
            self.state["deployTiming"] = {"seconds": seconds}
            self.save()
            return {"seconds": seconds}

    def _in_progress(self, service_id: str, now: float) -> list[JSON]:
        return [d for d in self.state["deploys"].get(service_id, []) if self._status(d, now)[1] is None]

    def branch_head(self, repo: str | None, branch: str | None) -> str:
        """The commit at the head of a repository's branch: set by POST /_sim/push, else a fixed SHA."""
        key = f"{repo}@{branch}"
        head = self.state["branchHeads"].get(key)
        return str(head) if head else hashlib.sha1(key.encode()).hexdigest()

    def _new_deploy(self, service_id: str, trigger: str, *, queue: bool = False, commit_id: str | None = None,
                    image_url: str | None = None, rollback_of: JSON | None = None) -> JSON:
        """A deploy of `commit_id` / `image_url` (the trigger's `commitId` / `imageUrl`), of the deploy
        `rollback_of` (a rollback: its commit or image, nothing to build), or else of the service's
        current source (its branch head, or its configured image). `queue`: it starts when the deploys
        in progress end (status `queued` until then)."""
        service = self._service(service_id)
        now = self.clock.now()
        timeline = self._timeline(service)
        deploy: JSON = {"id": new_id("dep"), "trigger": trigger, "createdAt": self.clock.iso(now),
                        "_created": now, "_start": now, "_timeline": timeline}
        if rollback_of is not None:
            deploy["_rollbackOf"] = rollback_of["id"]
            deploy["_timeline"] = "instant" if timeline == "instant" else "image"
            if "_image" in rollback_of:
                deploy["_image"] = dict(rollback_of["_image"])
            else:
                deploy["_commit"] = dict(rollback_of["_commit"])
        elif service.get("imagePath"):
            ref = normalise_image(image_url) if image_url else str(service["imagePath"])
            _, _, digest = ref.partition("@")
            deploy["_image"] = {"ref": ref, "sha": digest or "sha256:" + hashlib.sha256(ref.encode()).hexdigest()}
        else:
            branch = service.get("branch", "main")
            sha = commit_id or self.branch_head(service.get("repo"), branch)
            message = f"Commit {sha[:7]}" if commit_id else f"Latest commit on {branch}"
            deploy["_commit"] = {"id": sha, "message": message, "createdAt": self.clock.iso(now - 86400)}
        self._next_outcome(service_id, deploy)
        seconds = self.state["deployTiming"].get("seconds")
        if seconds:
            deploy["_scale"] = float(seconds) / RECORDED_DEPLOY_SECONDS
        if queue:
            ends = [self._planned_end(d) for d in self._in_progress(service_id, now)]
            deploy["_start"] = max([now, *ends])
        self.state["deploys"].setdefault(service_id, []).append(deploy)
        return deploy

    def _planned_end(self, deploy: JSON) -> float:
        return _start_of(deploy) + self._steps(deploy)[-1][0]

    def _status(self, deploy: JSON, now: float) -> tuple[str, float | None]:
        """A deploy's status now and when it ended (None while queued or in progress)."""
        start = _start_of(deploy)
        if "_canceledAt" in deploy:
            return "canceled", float(deploy["_canceledAt"])
        if now < start:
            return "queued", None
        status, ended = "queued", None
        for offset, name in self._steps(deploy):
            if now - start >= offset:
                status = name
                ended = start + offset if name in DEPLOY_ENDED else None
        return status, ended

    def _superseded_at(self, service_id: str, deploy: JSON) -> float | None:
        """When a newer deploy of the service went live (the end of this one's time as the live deploy)."""
        times = [end for later in self.state["deploys"].get(service_id, [])
                 if later["_created"] > deploy["_created"]
                 for status, end in [self._status(later, math.inf)] if status == "live" and end is not None]
        return min(times) if times else None

    def _deploy_view(self, service_id: str, deploy: JSON) -> JSON:
        """schemas.deploy as recorded: `commit` (null for an image), `image` {ref, sha} for an image,
        `finishedAt` null until it ends, `startedAt` once a builder has picked it up (1 s after it
        started; at once when it ends at once)."""
        now = self.clock.now()
        view = public(deploy)
        view["commit"] = deploy.get("_commit")
        if "_image" in deploy:
            view["image"] = deploy["_image"]
        status, ended = self._status(deploy, now)
        start = _start_of(deploy)
        if status != "queued" and (now - start >= 1 or ended is not None):
            view["startedAt"] = self.clock.iso(start)
        view["finishedAt"] = None if ended is None else self.clock.iso(ended)
        if status == "live":
            superseded = self._superseded_at(service_id, deploy)
            if superseded is not None and superseded <= now:
                status = "deactivated"
        view["status"] = status
        view["updatedAt"] = view["finishedAt"] or view.get("startedAt") or view["createdAt"]
        return view

    def _check_image_url(self, service: JSON, image_url: str) -> None:
        """openapi.json (create-deploy `imageUrl`): host, repository and image name must match the
        service's configured image; only the tag or digest may differ."""
        if not service.get("imagePath"):
            raise SimError(400, "imageUrl is only supported for image-backed services")
        if _repository(normalise_image(image_url)) != _repository(str(service["imagePath"])):
            raise SimError(400, "imageUrl must match the host, repository and image name of the service's image")

    def create_deploy(self, service_id: str, body: JSON | None) -> JSON | None:
        """POST /services/{id}/deploys: the new deploy (201), or None (202, queued) when a deploy of a
        private service or cron job is already in progress (recorded in privateservice_resource__*).
        `commitId` deploys that commit (not for cron jobs, openapi.json); `imageUrl` that image."""
        body = body or {}
        with self.lock:
            service = self._service(service_id)
            if service["suspended"] == "suspended":
                raise SimError(400, "cannot deploy a suspended service")
            commit_id, image_url = body.get("commitId"), body.get("imageUrl")
            if commit_id and service["type"] == "cron_job":
                raise SimError(400, "commitId is not supported for cron jobs")
            if commit_id and service.get("imagePath"):
                raise SimError(400, "commitId is only supported for Git-backed services")
            if image_url:
                self._check_image_url(service, str(image_url))
            queue = service["type"] in QUEUED_TRIGGER_TYPES and bool(self._in_progress(service_id, self.clock.now()))
            deploy = self._new_deploy(service_id, "api", queue=queue, commit_id=commit_id, image_url=image_url)
            self.save()
            return None if queue else self._deploy_view(service_id, deploy)

    def rollback(self, service_id: str, deploy_id: str) -> JSON:
        """POST /services/{id}/rollback {deployId}: a new deploy (trigger `rollback`) of that deploy's
        commit or image, which reuses its build (update, then live; openapi.json: "Roll back deploy").
        400 for a deploy that never went live (nothing to go back to)."""
        with self.lock:
            service = self._service(service_id)
            if service["suspended"] == "suspended":
                raise SimError(400, "cannot roll back a suspended service")
            target = self._deploy(service_id, deploy_id)
            status, ended = self._status(target, math.inf)
            if status != "live" or ended is None or ended > self.clock.now():
                raise SimError(400, f"deploy {deploy_id} never went live; only a deploy that was live can be "
                                    "rolled back to")
            deploy = self._new_deploy(service_id, "rollback", rollback_of=target)
            self.save()
            return self._deploy_view(service_id, deploy)

    def list_deploys(self, service_id: str, statuses: list[str] | None = None,
                     times: dict[str, float] | None = None) -> list[JSON]:
        """GET /services/{id}/deploys, newest first, filtered by status and by `createdBefore`,
        `createdAfter`, `updatedBefore`, `updatedAfter`, `finishedBefore`, `finishedAfter` (epoch
        seconds; openapi.json list-deploys)."""
        self._service(service_id)
        views = [self._deploy_view(service_id, d) for d in reversed(self.state["deploys"].get(service_id, []))]
        views = [v for v in views if not statuses or v["status"] in statuses]
        for name, bound in (times or {}).items():
            field, _, side = re.sub(r"(Before|After)$", r" \1", name).partition(" ")
            views = [v for v in views if v.get(field + "At") and (
                (parse_time(v[field + "At"]) < bound) if side == "Before" else (parse_time(v[field + "At"]) > bound))]
        return views

    def _deploy(self, service_id: str, deploy_id: str) -> JSON:
        self._service(service_id)
        deploys: list[JSON] = self.state["deploys"].get(service_id, [])
        for deploy in deploys:
            if deploy["id"] == deploy_id:
                return deploy
        raise SimError(404, "deploy not found")

    def get_deploy(self, service_id: str, deploy_id: str) -> JSON:
        return self._deploy_view(service_id, self._deploy(service_id, deploy_id))

    def cancel_deploy(self, service_id: str, deploy_id: str) -> JSON:
        with self.lock:
            deploy = self._deploy(service_id, deploy_id)
            if self._status(deploy, self.clock.now())[1] is not None:
                raise SimError(400, "the deploy has already finished")
            deploy["_canceledAt"] = self.clock.now()
            self.save()
            return self._deploy_view(service_id, deploy)

    def push(self, body: JSON) -> JSON:
        """POST /_sim/push {repo, branch?, commit?}: a new head for the branch (a random SHA unless given).
        Services on that repository and branch with auto-deploy on (`autoDeployTrigger: commit`) start
        a deploy of it (trigger `new_commit`), as Render's auto-deploy does; the others do not."""
        repo, branch = str(body["repo"]), str(body.get("branch") or "main")
        commit = str(body.get("commit") or secrets.token_hex(20))
        if not _FULL_SHA.match(commit):
            raise SimError(400, "commit must be a full 40-character SHA")
        with self.lock:
            self.state["branchHeads"][f"{repo}@{branch}"] = commit
            started = []
            for service in self.state["services"].values():
                if (service.get("repo") == repo and service.get("branch") == branch
                        and service.get("autoDeployTrigger") == "commit" and service["suspended"] != "suspended"):
                    started.append(self._new_deploy(service["id"], "new_commit", commit_id=commit)["id"])
            self.save()
            return {"commit": commit, "deployIds": started}

    # Service events (GET /services/{id}/events), derived from the deploys' timelines
    def _deploy_events(self, service_id: str, deploy: JSON, first: bool, now: float) -> list[JSON]:
        """The events a deploy has caused by `now`, oldest first, each with its time in `_at`:
        deploy_started at its start; build_started / build_ended around a build; pre_deploy_started /
        pre_deploy_ended around a pre-deploy command; deploy_ended when it ends (`deployStatus`
        succeeded, failed or canceled); and for a version set to `server_failed_after_live`, one
        `server_failed` that long after it went live, while it is still the live deploy. Detail shapes:
        openapi.json schemas.serviceEventWithCursor (event.details)."""
        start = _start_of(deploy)
        if now < start:
            return []
        seq: list[tuple[float, str, JSON]] = []
        build_id = "bld-" + deploy["id"][4:]
        rollback_of = deploy.get("_rollbackOf")
        trigger: JSON = {"firstBuild": first, "envUpdated": False, "manual": False, "deployedByRender": False,
                         "clearCache": False, "rollback": bool(rollback_of)}
        if rollback_of:
            trigger["rollbackTargetDeployId"] = rollback_of
        if deploy.get("_commit") and deploy["trigger"] == "new_commit":
            trigger["newCommit"] = deploy["_commit"]["id"]
        seq.append((start, "deploy_started", {"deployId": deploy["id"], "trigger": trigger}))
        steps = self._steps(deploy)
        final, ended = self._status(deploy, math.inf)  # a cancel counts from `_canceledAt`
        if "_canceledAt" in deploy:
            steps = [(o, n) for o, n in steps if start + o < float(deploy["_canceledAt"])]
            steps.append((float(deploy["_canceledAt"]) - start, "canceled"))
        for (offset, name), following in zip(steps, [*steps[1:], (math.inf, "")], strict=True):
            at, leaves = start + offset, start + following[0]
            if name == "build_in_progress":
                seq.append((at, "build_started", {"buildId": build_id, "trigger": trigger}))
                verdict = {"build_failed": "failed", "canceled": "canceled"}.get(following[1], "succeeded")
                reason: JSON = {"buildFailed": {"id": build_id}} if verdict == "failed" else {}
                seq.append((leaves, "build_ended", {"buildId": build_id, "buildStatus": verdict, "reason": reason,
                                                    "status": _EVENT_STATUS[verdict]}))
            if name == "pre_deploy_in_progress":
                run = "dce-" + deploy["id"][4:]
                verdict = {"pre_deploy_failed": "failed", "canceled": "canceled"}.get(following[1], "succeeded")
                seq.append((at, "pre_deploy_started", {"deployCommandExecutionId": run, "deployId": deploy["id"]}))
                seq.append((leaves, "pre_deploy_ended", {"deployCommandExecutionId": run, "deployId": deploy["id"],
                                                         "preDeployStatus": verdict, "reason": {},
                                                         "status": _EVENT_STATUS[verdict]}))
        if ended is not None:
            ended_at = ended
            verdict = {"live": "succeeded", "canceled": "canceled", "deactivated": "canceled"}.get(final, "failed")
            reason = {"buildFailed": {"id": build_id}} if final == "build_failed" else {}
            seq.append((ended_at, "deploy_ended", {"deployId": deploy["id"], "deployStatus": verdict, "reason": reason,
                                                   "status": _EVENT_STATUS[verdict]}))
            if final == "live" and "_serverFailedAfter" in deploy:
                at = ended_at + float(deploy["_serverFailedAfter"])
                superseded = self._superseded_at(service_id, deploy)
                if superseded is None or superseded > at:
                    instance = f"{service_id}-{deploy['id'][4:9]}"
                    seq.append((at, "server_failed", {"instanceID": instance,
                                                      "reason": {"evicted": False, "nonZeroExit": 1}}))
        events = []
        for index, (at, kind, details) in enumerate(seq):
            if at > now:
                continue
            digest = hashlib.sha256(f"{deploy['id']}/{index}/{kind}".encode()).digest()
            event_id = "evt-" + "".join(ID_ALPHABET[b % 32] for b in digest[:20])
            events.append({"id": event_id, "timestamp": self.clock.iso(at), "serviceId": service_id, "type": kind,
                           "details": details, "_at": at, "_order": (deploy["_created"], index)})
        return events

    def list_events(self, service_id: str, types: list[str], start: float | None, end: float | None) -> list[JSON]:
        """GET /services/{id}/events: events between `start` (default an hour ago) and `end` (default
        now), epoch seconds, both inclusive; of `types` when given; newest first (openapi.json
        list-events, startTimeParam / endTimeParam)."""
        now = self.clock.now()
        start = now - 3600 if start is None else start
        end = now if end is None else end
        self._service(service_id)
        found: list[JSON] = []
        for index, deploy in enumerate(self.state["deploys"].get(service_id, [])):
            found += self._deploy_events(service_id, deploy, index == 0, now)
        found = [e for e in found if start <= e["_at"] <= end and (not types or e["type"] in types)]
        found.sort(key=lambda e: (e["_at"], e["_order"]), reverse=True)
        return [public(e) for e in found]

    # Static site headers and routes (redirect and rewrite rules)
    def _static(self, service_id: str) -> JSON:
        service = self._service(service_id)
        if service["type"] != "static_site":
            raise SimError(400, "headers and routes belong to static sites")
        return service

    @staticmethod
    def _headers(items: list[JSON]) -> list[JSON]:
        return [{"id": new_id("hdr"), "path": str(h["path"]), "name": str(h["name"]), "value": str(h["value"])}
                for h in items]

    @staticmethod
    def _routes(items: list[JSON]) -> list[JSON]:
        routes = []
        for priority, r in enumerate(items):
            if r.get("type") not in ("redirect", "rewrite"):
                raise SimError(400, "route type must be redirect or rewrite")
            routes.append({"id": new_id("rdr"), "type": r["type"], "source": str(r["source"]),
                           "destination": str(r["destination"]), "priority": priority})
        return routes

    def list_headers(self, service_id: str) -> list[JSON]:
        """Newest first, as recorded (staticsite_resource__static_site)."""
        self._static(service_id)
        return [dict(h) for h in reversed(self.state["headers"].setdefault(service_id, []))]

    def replace_headers(self, service_id: str, items: list[JSON] | None) -> list[JSON] | None:
        """PUT .../headers; an empty list is answered `null` (recorded in staticsite_resource__static_site)."""
        with self.lock:
            self._static(service_id)
            self.state["headers"][service_id] = self._headers(items or [])
            self.save()
            return self.list_headers(service_id) or None

    def list_routes(self, service_id: str) -> list[JSON]:
        self._static(service_id)
        return [dict(r) for r in self.state["routes"].setdefault(service_id, [])]

    def replace_routes(self, service_id: str, items: list[JSON] | None) -> list[JSON] | None:
        """PUT .../routes; an empty list is answered `null`, like headers."""
        with self.lock:
            self._static(service_id)
            self.state["routes"][service_id] = self._routes(items or [])
            self.save()
            return self.list_routes(service_id) or None

    # Custom domains
    def _domains(self, service_id: str) -> list[JSON]:
        self._service(service_id)
        domains: list[JSON] = self.state["customDomains"].setdefault(service_id, [])
        return domains

    def list_custom_domains(self, service_id: str, *, names: list[str], domain_type: str | None,
                            verification: str | None) -> list[JSON]:
        return [d for d in reversed(self._domains(service_id))
                if (not names or d["name"] in names) and (domain_type in (None, d["domainType"]))
                and (verification in (None, d["verificationStatus"]))]

    def _new_domain(self, service: JSON, name: str, redirect_for: str) -> JSON:
        labels = name.split(".")
        return {"id": new_id("cdm"), "name": name, "domainType": "apex" if len(labels) == 2 else "subdomain",
                "publicSuffix": labels[-1], "redirectForName": redirect_for, "verificationStatus": "unverified",
                "createdAt": self.clock.iso()}

    def add_custom_domain(self, service_id: str, name: str) -> list[JSON]:
        """Adding an apex domain adds its `www.` subdomain redirecting to it, and the other way round."""
        with self.lock:
            service = self._service(service_id)
            if service["type"] not in DOMAIN_SERVICES:
                raise SimError(400, "custom domains can be added to web services and static sites only")
            name = name.strip().lower()
            if not _DOMAIN.match(name) or name.endswith(".onrender.com"):
                raise SimError(400, f"{name!r} is not a domain name you can add")
            taken = {d["name"] for domains in self.state["customDomains"].values() for d in domains}
            labels = name.split(".")
            companion = None
            if len(labels) == 2:
                companion = "www." + name
            elif len(labels) == 3 and labels[0] == "www":
                companion = ".".join(labels[1:])
            wanted = [n for n in (name, companion) if n]
            if any(n in taken for n in wanted):
                raise SimError(409, f"the domain {name} is already in use")
            added = [self._new_domain(service, name, "")]
            if companion:
                added.append(self._new_domain(service, companion, name))
            self._domains(service_id).extend(added)
            self.save()
            return added

    def _domain(self, service_id: str, id_or_name: str) -> JSON:
        for domain in self._domains(service_id):
            if id_or_name in (domain["id"], domain["name"]):
                return domain
        raise SimError(404, "custom domain not found")

    def get_custom_domain(self, service_id: str, id_or_name: str) -> JSON:
        return self._domain(service_id, id_or_name)

    def delete_custom_domain(self, service_id: str, id_or_name: str) -> None:
        with self.lock:
            domain = self._domain(service_id, id_or_name)
            self.state["customDomains"][service_id] = [d for d in self._domains(service_id)
                                                       if d["id"] != domain["id"]]
            self.save()

    def verify_custom_domain(self, service_id: str, id_or_name: str) -> None:
        with self.lock:
            self._domain(service_id, id_or_name)["verificationStatus"] = "verified"
            self.save()

    # Disks
    def _disk(self, disk_id: str) -> JSON:
        disk: JSON | None = self.state["disks"].get(disk_id)
        if disk is None:
            raise SimError(404, "disk not found")
        return disk

    def _sync_disk(self, disk: JSON | None, service_id: str) -> None:
        service = self.state["services"].get(service_id)
        if service is None:
            return
        if disk is None:
            service["serviceDetails"].pop("disk", None)
        else:
            service["serviceDetails"]["disk"] = {k: disk[k] for k in ("id", "name", "sizeGB", "mountPath")}

    def _add_disk(self, service_id: str, name: str, size_gb: int, mount_path: str) -> JSON:
        if size_gb < 1:
            raise SimError(400, "sizeGB must be at least 1")
        if not mount_path.startswith("/"):
            raise SimError(400, "mountPath must be an absolute path")
        now = self.clock.iso()
        disk: JSON = {"id": new_id("dsk"), "name": name, "sizeGB": size_gb, "mountPath": mount_path,
                      "serviceId": service_id, "createdAt": now, "updatedAt": now}
        self.state["disks"][disk["id"]] = disk
        self._sync_disk(disk, service_id)
        return disk

    def list_disks(self, *, owners: list[str], names: list[str], service_ids: list[str],
                   disk_ids: list[str]) -> list[JSON]:
        if owners and self.owner["id"] not in owners:
            return []
        return [d for d in self.state["disks"].values()
                if (not names or d["name"] in names) and (not service_ids or d["serviceId"] in service_ids)
                and (not disk_ids or d["id"] in disk_ids)]

    def get_disk(self, disk_id: str) -> JSON:
        return self._disk(disk_id)

    def create_disk(self, body: JSON) -> JSON:
        with self.lock:
            service_id = str(body["serviceId"])
            service = self._service(service_id)
            if service["type"] not in SCALABLE or service["serviceDetails"].get("plan") == "free":
                raise SimError(400, "a disk needs a paid web service, private service or background worker")
            if service["serviceDetails"].get("disk"):
                raise SimError(400, "the service already has a disk")
            if service["serviceDetails"].get("numInstances", 1) > 1:
                raise SimError(400, "a service with more than one instance cannot have a disk")
            disk = self._add_disk(service_id, str(body["name"]), int(body["sizeGB"]), str(body["mountPath"]))
            self.save()
            return disk

    def update_disk(self, disk_id: str, body: JSON) -> JSON:
        with self.lock:
            disk = self._disk(disk_id)
            if "sizeGB" in body:
                if int(body["sizeGB"]) < disk["sizeGB"]:
                    raise SimError(400, "a disk cannot shrink")
                disk["sizeGB"] = int(body["sizeGB"])
            if "mountPath" in body:
                if not str(body["mountPath"]).startswith("/"):
                    raise SimError(400, "mountPath must be an absolute path")
                disk["mountPath"] = str(body["mountPath"])
            if "name" in body:
                disk["name"] = str(body["name"])
            disk["updatedAt"] = self.clock.iso()
            self._sync_disk(disk, disk["serviceId"])
            self.save()
            return disk

    def delete_disk(self, disk_id: str) -> None:
        with self.lock:
            disk = self._disk(disk_id)
            del self.state["disks"][disk_id]
            self._sync_disk(None, disk["serviceId"])
            self.save()

    # Postgres
    def _postgres(self, postgres_id: str) -> JSON:
        postgres: JSON | None = self.state["postgres"].get(postgres_id)
        if postgres is None:
            raise SimError(404, "postgres instance not found")
        return postgres

    def _database_status(self, item: JSON) -> str:
        """`creating` until ready (again after a PATCH of its instance type or disk: `_busyFrom`)."""
        if item["suspended"] == "suspended":
            return "suspended"
        since = float(item["_busyFrom"] if "_busyFrom" in item else item["_created"])
        return "creating" if self.clock.now() - since < DATABASE_READY_SECONDS else "available"

    def postgres_view(self, postgres: JSON, *, detail: bool) -> JSON:
        """schemas.postgres(Detail) as recorded: an empty allow list reads `null`; no `project`
        (postgres_resource__postgres); `parameterOverrides` only on the detail, when set."""
        view = public(postgres)
        view["owner"] = self.owner
        view["status"] = self._database_status(postgres)
        view["ipAllowList"] = _null_empty(view["ipAllowList"])
        if not detail or not view.get("parameterOverrides"):
            view.pop("parameterOverrides", None)
        return view

    def list_postgres(self, *, names: list[str], owners: list[str], regions: list[str] | None = None,
                      suspended: list[str] | None = None, environments: list[str] | None = None) -> list[JSON]:
        if owners and self.owner["id"] not in owners:
            return []
        return [self.postgres_view(p, detail=False) for p in self.state["postgres"].values()
                if (not names or p["name"] in names) and (not regions or p["region"] in regions)
                and (not suspended or p["suspended"] in suspended) and _in_environments(p, environments)]

    def get_postgres(self, postgres_id: str) -> JSON:
        return self.postgres_view(self._postgres(postgres_id), detail=True)

    def create_postgres(self, body: JSON) -> JSON:
        with self.lock:
            self._check_owner(body.get("ownerId"))
            self._require_payment(body["plan"], "a Postgres database", 400)
            if self._name_taken("postgres", body["name"]):
                raise SimError(400, f"a Postgres database named {body['name']} already exists in this workspace")
            postgres_id = new_id("dpg", "-a")
            now = self.clock.now()
            # Render suffixes the database name, requested or not, and derives the default user from it
            # (`db_name` -> `db_name_ehyv`; postgres_resource__postgres, postgres_resource__postgres_allowlist).
            base = body.get("databaseName") or re.sub(r"[^a-z0-9_]", "_", body["name"].lower())
            database = f"{base}_{''.join(secrets.choice('abcdefghijklmnopqrstuvwxyz0123456789') for _ in range(4))}"
            user = body.get("databaseUser") or f"{database}_user"
            postgres: JSON = {
                "id": postgres_id, "ipAllowList": body.get("ipAllowList") or [], "createdAt": self.clock.iso(now),
                "updatedAt": self.clock.iso(now), "dashboardUrl": f"https://dashboard.render.com/d/{postgres_id}",
                "databaseName": database, "databaseUser": user,
                "highAvailabilityEnabled": bool(body.get("enableHighAvailability", False)),
                "name": body["name"], "plan": body["plan"], "region": body.get("region", "oregon"),
                "readReplicas": [], "role": "primary", "version": body["version"], "suspended": "not_suspended",
                "suspenders": [], "diskAutoscalingEnabled": bool(body.get("enableDiskAutoscaling", False)),
                "_created": now,
                "diskSizeGB": body.get("diskSizeGB") or (1 if body["plan"] == "free" else POSTGRES_DEFAULT_DISK_GB),
            }
            if body.get("parameterOverrides"):
                postgres["parameterOverrides"] = body["parameterOverrides"]
            postgres["readReplicas"] = self._replicas(postgres_id, body.get("readReplicas"), [])
            if body.get("environmentId"):
                self._add_to_environment(str(body["environmentId"]), postgres_id)
                postgres["environmentId"] = body["environmentId"]
            self.state["postgres"][postgres_id] = postgres
            self._remember("postgres", body["name"])
            self.state["postgresSecrets"][postgres_id] = {"password": random_secret()}
            self.state["postgresExports"][postgres_id] = []
            self.save()
            view = self.postgres_view(postgres, detail=True)
            view["status"] = "unknown"  # what the create answers, before the instance reports
            return view

    @staticmethod
    def _replicas(postgres_id: str, given: Any, current: list[JSON]) -> list[JSON]:
        """Read replicas by name (`null` is none); a replica keeps its ID, a new one gets the primary's
        ID with `-b`, `-c`, ... (recorded: dpg-...-a's replica is dpg-...-b)."""
        if given is None:
            return current if current else []
        by_name = {r["name"]: r for r in current}
        taken = {r["id"] for r in current}
        replicas = []
        for item in given:
            replica = by_name.get(item["name"])
            if replica is None:
                letter = next(c for c in "bcdefghijklmnopqrstuvwxyz" if f"{postgres_id[:-2]}-{c}" not in taken)
                replica = {"id": f"{postgres_id[:-2]}-{letter}", "name": item["name"]}
                taken.add(replica["id"])
            replicas.append(replica)
        return replicas

    def update_postgres(self, postgres_id: str, body: JSON) -> JSON:
        with self.lock:
            postgres = self._postgres(postgres_id)
            if "plan" in body:
                self._require_payment(body["plan"], "a Postgres database", 400)
            if "diskSizeGB" in body and int(body["diskSizeGB"]) < int(postgres.get("diskSizeGB", 0)):
                raise SimError(400, "a database disk cannot shrink")
            if "name" in body and self._name_taken("postgres", body["name"], but=postgres_id):
                raise SimError(409, f"a Postgres database named {body['name']} already exists in this workspace")
            if any(key in body and body[key] != postgres.get(key) for key in ("plan", "diskSizeGB")):
                postgres["_busyFrom"] = self.clock.now()  # Render moves it: `creating` again
            for key in ("name", "plan", "diskSizeGB"):
                if key in body:
                    postgres[key] = body[key]
            if "ipAllowList" in body:
                postgres["ipAllowList"] = body["ipAllowList"] or []
            if "parameterOverrides" in body:
                postgres["parameterOverrides"] = body["parameterOverrides"] or {}
            if "readReplicas" in body and body["readReplicas"] is not None:
                postgres["readReplicas"] = self._replicas(postgres_id, body["readReplicas"], postgres["readReplicas"])
            if "enableHighAvailability" in body:
                postgres["highAvailabilityEnabled"] = bool(body["enableHighAvailability"])
            if "enableDiskAutoscaling" in body:
                postgres["diskAutoscalingEnabled"] = bool(body["enableDiskAutoscaling"])
            postgres["updatedAt"] = self.clock.iso()
            self.save()
            return self.postgres_view(postgres, detail=True)

    def delete_postgres(self, postgres_id: str) -> None:
        with self.lock:
            self._postgres(postgres_id)
            del self.state["postgres"][postgres_id]
            self._remove_from_environments([postgres_id])
            self.state["postgresSecrets"].pop(postgres_id, None)
            self.state["postgresExports"].pop(postgres_id, None)
            self.save()

    def _set_suspended(self, item: JSON, suspended: bool) -> None:
        if not suspended and item["suspended"] != "suspended":
            raise SimError(400, "not suspended")
        item["suspended"], item["suspenders"] = ("suspended", ["user"]) if suspended else ("not_suspended", [])
        item["updatedAt"] = self.clock.iso()

    def suspend_postgres(self, postgres_id: str, suspended: bool) -> None:
        with self.lock:
            self._set_suspended(self._postgres(postgres_id), suspended)
            self.save()

    def postgres_connection_info(self, postgres_id: str) -> JSON:
        postgres = self._postgres(postgres_id)
        password = self.state["postgresSecrets"][postgres_id]["password"]
        user, database = postgres["databaseUser"], postgres["databaseName"]
        host = f"{postgres_id}.{postgres['region']}-postgres.render.com"
        return {
            "password": password,
            "internalConnectionString": f"postgresql://{user}:{password}@{postgres_id}/{database}",
            "externalConnectionString": f"postgresql://{user}:{password}@{host}/{database}",
            "psqlCommand": f"PGPASSWORD={password} psql -h {host} -U {user} {database}",
        }

    def create_postgres_export(self, postgres_id: str) -> None:
        with self.lock:
            postgres = self._postgres(postgres_id)
            if postgres["suspended"] == "suspended":
                raise SimError(400, "cannot export a suspended database")
            now = self.clock.now()
            export_id = new_id("exp")
            self.state["postgresExports"].setdefault(postgres_id, []).append(
                {"id": export_id, "createdAt": self.clock.iso(now), "_created": now,
                 "_url": f"https://sim-exports.invalid/{postgres_id}/{export_id}.dir.tar.gz"})
            self.save()

    def list_postgres_exports(self, postgres_id: str) -> list[JSON]:
        self._postgres(postgres_id)
        views = []
        for export in reversed(self.state["postgresExports"].get(postgres_id, [])):
            view = public(export)
            if self.clock.now() - float(export["_created"]) >= EXPORT_READY_SECONDS:
                view["url"] = export["_url"]
            views.append(view)
        return views

    # Key Value
    def _key_value(self, key_value_id: str) -> JSON:
        item: JSON | None = self.state["keyValue"].get(key_value_id)
        if item is None:
            raise SimError(404, "key value instance not found")
        return item

    def key_value_view(self, item: JSON, *, detail: bool) -> JSON:
        view = public(item)
        view["owner"] = self.owner
        view["status"] = self._database_status(item)
        view["ipAllowList"] = _null_empty(view["ipAllowList"])
        if detail:
            view.pop("dashboardUrl", None)  # schemas.keyValueDetail has no dashboardUrl
        view.pop("suspended", None)
        view.pop("suspenders", None)
        return view

    def list_key_value(self, *, names: list[str], owners: list[str], regions: list[str] | None = None,
                       environments: list[str] | None = None) -> list[JSON]:
        if owners and self.owner["id"] not in owners:
            return []
        return [self.key_value_view(k, detail=False) for k in self.state["keyValue"].values()
                if (not names or k["name"] in names) and (not regions or k["region"] in regions)
                and _in_environments(k, environments)]

    def get_key_value(self, key_value_id: str) -> JSON:
        return self.key_value_view(self._key_value(key_value_id), detail=True)

    def create_key_value(self, body: JSON) -> JSON:
        with self.lock:
            self._check_owner(body.get("ownerId"))
            self._require_payment(body["plan"], "a Key Value instance", 400)
            if self._name_taken("keyValue", body["name"]):
                raise SimError(400, f"a Key Value instance named {body['name']} already exists in this workspace")
            key_value_id = new_id("red")
            now = self.clock.now()
            free = body["plan"] == "free"
            item: JSON = {
                "id": key_value_id, "createdAt": self.clock.iso(now), "updatedAt": self.clock.iso(now),
                "region": body.get("region", "oregon"), "plan": body["plan"], "name": body["name"],
                "options": {"maxmemoryPolicy": body.get("maxmemoryPolicy", "allkeys_lru"),
                            "persistenceMode": "off" if free else body.get("persistenceMode", "journal_snapshot")},
                "ipAllowList": body.get("ipAllowList") or [], "version": KEY_VALUE_VERSION,
                "dashboardUrl": f"https://dashboard.render.com/r/{key_value_id}",
                "suspended": "not_suspended", "suspenders": [], "_created": now,
            }
            if body.get("environmentId"):
                self._add_to_environment(str(body["environmentId"]), key_value_id)
                item["environmentId"] = body["environmentId"]
            self.state["keyValue"][key_value_id] = item
            self._remember("keyValue", body["name"])
            self.state["keyValueSecrets"][key_value_id] = {"password": random_secret()}
            self.save()
            view = self.key_value_view(item, detail=True)
            view["status"] = "unknown"  # what the create answers (keyvalue_resource__keyvalue)
            return view

    def update_key_value(self, key_value_id: str, body: JSON) -> JSON:
        with self.lock:
            item = self._key_value(key_value_id)
            if "plan" in body:
                self._require_payment(body["plan"], "a Key Value instance", 400)
                if body["plan"] != item["plan"]:
                    item["_busyFrom"] = self.clock.now()
                    if item["plan"] == "free" and "persistenceMode" not in body:
                        # Upgrading from free turns persistence on (keyvalue_resource__keyvalue).
                        item["options"]["persistenceMode"] = "journal_snapshot"
                item["plan"] = body["plan"]
            if "name" in body:
                if self._name_taken("keyValue", body["name"], but=key_value_id):
                    raise SimError(409, f"a Key Value instance named {body['name']} already exists")
                item["name"] = body["name"]
            for key in ("maxmemoryPolicy", "persistenceMode"):
                if key in body:
                    item["options"][key] = body[key]
            if "ipAllowList" in body:
                item["ipAllowList"] = body["ipAllowList"] or []
            item["updatedAt"] = self.clock.iso()
            self.save()
            return self.key_value_view(item, detail=True)

    def delete_key_value(self, key_value_id: str) -> None:
        with self.lock:
            self._key_value(key_value_id)
            del self.state["keyValue"][key_value_id]
            self._remove_from_environments([key_value_id])
            self.state["keyValueSecrets"].pop(key_value_id, None)
            self.save()

    def suspend_key_value(self, key_value_id: str, suspended: bool) -> None:
        with self.lock:
            self._set_suspended(self._key_value(key_value_id), suspended)
            self.save()

    def key_value_connection_info(self, key_value_id: str) -> JSON:
        item = self._key_value(key_value_id)
        password = self.state["keyValueSecrets"][key_value_id]["password"]
        host = f"{item['region']}-keyvalue.render.com"
        external = f"rediss://{key_value_id}:{password}@{host}:6379"
        return {"internalConnectionString": f"redis://{key_value_id}:6379",
                "externalConnectionString": external, "cliCommand": f"valkey-cli -u {external}"}

    # Env groups
    def _group(self, env_group_id: str) -> JSON:
        group: JSON | None = self.state["envGroups"].get(env_group_id)
        if group is None:
            raise SimError(404, "environment group not found")
        return group

    def env_group_view(self, group: JSON, *, detail: bool) -> JSON:
        view = public(group)
        links = []
        for service_id in group["_serviceIds"]:
            service = self.state["services"].get(service_id)
            if service is not None:
                links.append({"id": service_id, "name": service["name"], "type": SHORT_TYPE[service["type"]]})
        view["serviceLinks"] = links
        if detail:
            view["envVars"] = [dict(e) for e in reversed(group["_envVars"])]
            view["secretFiles"] = [dict(f) for f in reversed(group["_secretFiles"])]
        return view

    def list_env_groups(self, *, names: list[str], owners: list[str],
                        environments: list[str] | None = None) -> list[JSON]:
        if owners and self.owner["id"] not in owners:
            return []
        return [self.env_group_view(g, detail=False) for g in self.state["envGroups"].values()
                if (not names or g["name"] in names) and _in_environments(g, environments)]

    def get_env_group(self, env_group_id: str) -> JSON:
        return self.env_group_view(self._group(env_group_id), detail=True)

    def create_env_group(self, body: JSON) -> JSON:
        with self.lock:
            self._check_owner(body.get("ownerId"))
            if self._name_taken("envGroups", body["name"]):
                raise SimError(400, f"an environment group named {body['name']} already exists in this workspace")
            for service_id in body.get("serviceIds") or []:
                self._service(service_id)
            env: list[JSON] = []
            for item in body.get("envVars") or []:
                self._check_key(item["key"])
                self._put(env, item["key"], item)
            now = self.clock.iso()
            group: JSON = {"id": new_id("evg"), "name": body["name"], "ownerId": body["ownerId"],
                           "createdAt": now, "updatedAt": now, "_envVars": env,
                           "_secretFiles": [{"name": f["name"], "content": f["content"]}
                                            for f in body.get("secretFiles") or []],
                           "_serviceIds": list(dict.fromkeys(body.get("serviceIds") or []))}
            self.state["envGroups"][group["id"]] = group
            if body.get("environmentId"):
                self._add_to_environment(str(body["environmentId"]), group["id"])
                group["environmentId"] = body["environmentId"]
            self._remember("envGroups", body["name"])
            self.save()
            return self.env_group_view(group, detail=True)

    def _touch_group(self, group: JSON) -> JSON:
        group["updatedAt"] = self.clock.iso()
        self.save()
        return self.env_group_view(group, detail=True)

    def update_env_group(self, env_group_id: str, body: JSON) -> JSON:
        with self.lock:
            group = self._group(env_group_id)
            if self._name_taken("envGroups", body["name"], but=env_group_id):
                raise SimError(400, f"an environment group named {body['name']} already exists in this workspace")
            group["name"] = body["name"]
            return self._touch_group(group)

    def delete_env_group(self, env_group_id: str) -> None:
        with self.lock:
            self._group(env_group_id)
            del self.state["envGroups"][env_group_id]
            self.save()

    def link_env_group(self, env_group_id: str, service_id: str, linked: bool) -> JSON:
        with self.lock:
            group = self._group(env_group_id)
            self._service(service_id)
            if linked and service_id not in group["_serviceIds"]:
                group["_serviceIds"].append(service_id)
            elif not linked:
                if service_id not in group["_serviceIds"]:
                    raise SimError(404, "the service is not linked to this environment group")
                group["_serviceIds"].remove(service_id)
            return self._touch_group(group)

    def get_group_env_var(self, env_group_id: str, key: str) -> JSON:
        for item in self._group(env_group_id)["_envVars"]:
            if item["key"] == key:
                return dict(item)
        raise SimError(404, "environment variable not found")

    def put_group_env_var(self, env_group_id: str, key: str, body: JSON) -> JSON:
        with self.lock:
            group = self._group(env_group_id)
            self._check_key(key)
            self._put(group["_envVars"], key, body)
            return self._touch_group(group)

    def delete_group_env_var(self, env_group_id: str, key: str) -> None:
        with self.lock:
            group = self._group(env_group_id)
            kept = [e for e in group["_envVars"] if e["key"] != key]
            if len(kept) == len(group["_envVars"]):
                raise SimError(404, "environment variable not found")
            group["_envVars"] = kept
            self._touch_group(group)

    def get_group_secret_file(self, env_group_id: str, name: str) -> JSON:
        for item in self._group(env_group_id)["_secretFiles"]:
            if item["name"] == name:
                return dict(item)
        raise SimError(404, "secret file not found")

    def put_group_secret_file(self, env_group_id: str, name: str, body: JSON) -> JSON:
        with self.lock:
            group = self._group(env_group_id)
            self._put_file(group["_secretFiles"], name, body)
            return self._touch_group(group)

    def delete_group_secret_file(self, env_group_id: str, name: str) -> None:
        with self.lock:
            group = self._group(env_group_id)
            kept = [f for f in group["_secretFiles"] if f["name"] != name]
            if len(kept) == len(group["_secretFiles"]):
                raise SimError(404, "secret file not found")
            group["_secretFiles"] = kept
            self._touch_group(group)

    # Projects and their environments (schemas.project, schemas.environment)
    def _project(self, project_id: str) -> JSON:
        project: JSON | None = self.state["projects"].get(project_id)
        if project is None:
            raise SimError(404, "project not found")
        return project

    def _environment(self, environment_id: str) -> JSON:
        environment: JSON | None = self.state["environments"].get(environment_id)
        if environment is None:
            raise SimError(404, "environment not found")
        return environment

    def project_view(self, project: JSON) -> JSON:
        view = public(project)
        view["owner"] = self.owner
        view["environmentIds"] = [e["id"] for e in self.state["environments"].values()
                                  if e["projectId"] == project["id"]]
        return view

    def environment_view(self, environment: JSON) -> JSON:
        """Resource lists newest first, `null` when empty (project_resource__project); a Postgres's read
        replicas are listed with it."""
        view = public(environment)
        ids: list[str] = environment["_resources"]
        databases: list[str] = []
        for rid in ids:
            if rid in self.state["postgres"]:
                databases += [r["id"] for r in self.state["postgres"][rid]["readReplicas"]] + [rid]
        view["databasesIds"] = list(reversed(databases)) or None
        view["redisIds"] = list(reversed([r for r in ids if r in self.state["keyValue"]])) or None
        view["serviceIds"] = list(reversed([r for r in ids if r in self.state["services"]])) or None
        view["envGroupIds"] = list(reversed([r for r in ids if r in self.state["envGroups"]])) or None
        return view

    def _hobby(self) -> bool:
        return bool(self.state["workspace"].get("plan", "professional") == "hobby")

    def _check_environment_settings(self, body: JSON) -> None:
        if body.get("networkIsolationEnabled") and self._hobby():
            raise SimError(400, ISOLATION_MESSAGE)
        status = body.get("protectedStatus")
        if status is not None and status not in ("protected", "unprotected"):
            raise SimError(400, "protectedStatus must be protected or unprotected")

    def _new_environment(self, project_id: str, body: JSON) -> JSON:
        environment: JSON = {"id": new_id("evm"), "name": str(body["name"]), "projectId": project_id,
                             "protectedStatus": body.get("protectedStatus", "unprotected"),
                             "networkIsolationEnabled": bool(body.get("networkIsolationEnabled", False)),
                             "_resources": []}
        if body.get("ipAllowList"):
            environment["ipAllowList"] = body["ipAllowList"]
        self.state["environments"][environment["id"]] = environment
        return environment

    def list_projects(self, *, names: list[str], owners: list[str]) -> list[JSON]:
        if owners and self.owner["id"] not in owners:
            return []
        return [self.project_view(p) for p in self.state["projects"].values() if not names or p["name"] in names]

    def list_environments(self, *, projects: list[str], names: list[str], environments: list[str]) -> list[JSON]:
        """GET /environments: `projectId` is required (openapi.json: components.parameters.projectIdParam)."""
        return [self.environment_view(e) for e in self.state["environments"].values()
                if e["projectId"] in projects and (not names or e["name"] in names)
                and (not environments or e["id"] in environments)]

    def create_project(self, body: JSON) -> JSON:
        """POST /projects with its first environments, all or nothing: a Hobby workspace's limits and
        network isolation are checked before anything is made."""
        with self.lock:
            self._check_owner(body.get("ownerId"))
            given = list(body.get("environments") or [])
            if self._hobby() and (self.state["projects"] or len(given) > HOBBY_ENVIRONMENTS):
                raise SimError(400, HOBBY_LIMIT_MESSAGE)
            for item in given:
                self._check_environment_settings(item)
            now = self.clock.iso()
            project: JSON = {"id": new_id("prj"), "name": str(body["name"]), "createdAt": now, "updatedAt": now}
            self.state["projects"][project["id"]] = project
            for item in given:
                self._new_environment(project["id"], item)
            self.save()
            return self.project_view(project)

    def get_project(self, project_id: str) -> JSON:
        return self.project_view(self._project(project_id))

    def update_project(self, project_id: str, body: JSON) -> JSON:
        with self.lock:
            project = self._project(project_id)
            if "name" in body:
                project["name"] = str(body["name"])
            project["updatedAt"] = self.clock.iso()
            self.save()
            return self.project_view(project)

    def _holders(self, environment: JSON) -> list[str]:
        return [r for r in environment["_resources"]
                if any(r in self.state[c] for c in ("services", "postgres", "keyValue", "envGroups"))]

    def delete_project(self, project_id: str) -> None:
        """409 unless every environment of the project is empty (openapi.json: DELETE /projects/{id});
        its empty environments go with it."""
        with self.lock:
            self._project(project_id)
            environments = [e for e in self.state["environments"].values() if e["projectId"] == project_id]
            held = [r for e in environments for r in self._holders(e)]
            if held:
                raise SimError(409, f"project {project_id} is not empty: its environments still contain "
                                    f"{', '.join(held)}")
            for environment in environments:
                del self.state["environments"][environment["id"]]
            del self.state["projects"][project_id]
            self.save()

    def create_environment(self, body: JSON) -> JSON:
        with self.lock:
            project_id = str(body["projectId"])
            self._project(project_id)
            if self._hobby() and sum(1 for e in self.state["environments"].values()
                                     if e["projectId"] == project_id) >= HOBBY_ENVIRONMENTS:
                raise SimError(400, HOBBY_LIMIT_MESSAGE)
            self._check_environment_settings(body)
            environment = self._new_environment(project_id, body)
            self.save()
            return self.environment_view(environment)

    def get_environment(self, environment_id: str) -> JSON:
        return self.environment_view(self._environment(environment_id))

    def update_environment(self, environment_id: str, body: JSON) -> JSON:
        with self.lock:
            environment = self._environment(environment_id)
            self._check_environment_settings(body)
            for key in ("name", "protectedStatus", "networkIsolationEnabled", "ipAllowList"):
                if key in body:
                    environment[key] = body[key]
            self.save()
            return self.environment_view(environment)

    def delete_environment(self, environment_id: str) -> None:
        """409 unless the environment is empty (openapi.json: DELETE /environments/{id})."""
        with self.lock:
            environment = self._environment(environment_id)
            held = self._holders(environment)
            if held:
                raise SimError(409, f"environment {environment_id} is not empty: it still contains {', '.join(held)}")
            del self.state["environments"][environment_id]
            self.save()

    # The private network (an admin model, not a Render endpoint): render.com/docs/private-network and
    # render.com/docs/projects ("Blocking cross-environment traffic").
    def _network_node(self, rid: str) -> tuple[str, str | None, str | None] | None:
        """(kind, region, environment ID) of a resource on the private network, or None."""
        if rid in self.state["services"]:
            service = self.state["services"][rid]
            return service["type"], service["serviceDetails"].get("region"), service.get("environmentId")
        for collection, kind in (("postgres", "postgres"), ("keyValue", "key_value")):
            if rid in self.state[collection]:
                item = self.state[collection][rid]
                return kind, item.get("region"), item.get("environmentId")
        return None

    def _isolated(self, environment_id: str | None) -> bool:
        environment = self.state["environments"].get(environment_id or "")
        return bool(environment and environment.get("networkIsolationEnabled"))

    def reachable(self, source: str, target: str) -> JSON:
        """Whether `source` can open a private connection to `target`: both in one region, and in the same
        environment or neither in a network-isolated one."""
        a, b = self._network_node(source), self._network_node(target)
        if a is None or b is None:
            raise SimError(404, f"resource {source if a is None else target} not found")
        reason = None
        if a[0] not in PRIVATE_SOURCES:
            reason = f"a {a[0]} opens no private connections"
        elif b[0] not in (*PRIVATE_LISTENERS, "postgres", "key_value"):
            reason = f"a {b[0]} accepts no private connections"
        elif a[1] != b[1]:
            reason = f"different regions ({a[1]}, {b[1]})"
        elif a[2] != b[2] and (self._isolated(a[2]) or self._isolated(b[2])):
            reason = "different environments, one of them network-isolated"
        return {"from": source, "to": target, "reachable": reason is None, "reason": reason}

    def network(self) -> JSON:
        """Every pair of resources that can connect privately, and how many pairs were looked at."""
        ids = [*self.state["services"], *self.state["postgres"], *self.state["keyValue"]]
        pairs = [{"from": a, "to": b} for a in ids for b in ids
                 if a != b and self.reachable(a, b)["reachable"]]
        return {"pairs": pairs, "resources": len(ids)}

    def _add_to_environment(self, environment_id: str, resource_id: str) -> None:
        environment = self._environment(environment_id)
        self._remove_from_environments([resource_id])
        environment["_resources"].append(resource_id)

    def _remove_from_environments(self, resource_ids: list[str]) -> None:
        for environment in self.state["environments"].values():
            environment["_resources"] = [r for r in environment["_resources"] if r not in resource_ids]
        for rid in resource_ids:
            for collection in ("services", "postgres", "keyValue", "envGroups"):
                if rid in self.state[collection]:
                    self.state[collection][rid].pop("environmentId", None)

    def add_environment_resources(self, environment_id: str, resource_ids: list[str]) -> JSON:
        """POST /environments/{id}/resources: resources move into the environment (201, recorded), all or
        none. A service with linked env groups is refused, as Render is reported to do
        (render-oss/terraform-provider-render#10; polarsource/polar#4512 moved services first and linked
        their env groups after): its groups must be unlinked first."""
        with self.lock:
            environment = self._environment(environment_id)
            for rid in resource_ids:
                if not any(rid in self.state[c] for c in ("services", "postgres", "keyValue", "envGroups")):
                    raise SimError(404, f"resource {rid} not found")
                linked = [g["id"] for g in self.state["envGroups"].values() if rid in g["_serviceIds"]]
                if linked:
                    raise SimError(400, f"service {rid} has linked environment groups ({', '.join(linked)}); "
                                        "unlink them before moving the service to another environment")
            for rid in resource_ids:
                collection = next(c for c in ("services", "postgres", "keyValue", "envGroups")
                                  if rid in self.state[c])
                self._add_to_environment(environment_id, rid)
                self.state[collection][rid]["environmentId"] = environment_id
            self.save()
            return self.environment_view(environment)

    def remove_environment_resources(self, resource_ids: list[str]) -> None:
        """DELETE /environments/{id}/resources?resourceIds=...: the resources leave their environment.
        Render answers 204 whatever environment ID the path names (recorded with a service ID there:
        privateservice_resource__private_service)."""
        with self.lock:
            self._remove_from_environments(resource_ids)
            self.save()

    # Seeding, for benchmarks: many resources at once, without the API (or its rate limits).
    def seed(self, body: JSON) -> JSON:
        """Create `services` services (`type`, default web_service, named `<prefix>-<n>`) with
        `envVarsPerService` env vars each (`SEED_VAR_<i>` = `value-<n>-<i>`), plus `postgres`,
        `keyValue` and `envGroups` instances. `serviceNames` / `postgresNames` (lists) name the services /
        Postgres instances instead (their counts are then the lists' lengths; `<n>` is the position in
        the list). `autoDeployTrigger` sets the services' as a create does (default `commit`). `projects`
        (a list of {"name", "environments": [{"name", "networkIsolationEnabled", "protectedStatus"}]})
        creates projects with their environments first, as POST /projects does;
        `serviceEnvironments` / `postgresEnvironments` (environment IDs, one per name in `serviceNames` /
        `postgresNames`, in order) put each of those resources in that environment, as a create with
        `environmentId` does. Saves once. Returns the counts created, and with `projects` each project's
        {"id", "name", "environments": [{"id", "name"}]} in the order given. Raises `SimError` (400) for a
        malformed body or an unknown environment ID, before anything is made."""
        names = {key: body.get(key) for key in ("serviceNames", "postgresNames", "serviceEnvironments",
                                                 "postgresEnvironments")}
        for key, value in names.items():
            if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
                raise SimError(400, f"{key} must be a list of {'environment IDs' if 'Env' in key else 'names'}")
        for key, listed in (("serviceEnvironments", "serviceNames"), ("postgresEnvironments", "postgresNames")):
            if names[key] is not None and len(names[key] or []) != len(names[listed] or []):
                raise SimError(400, f"{key} must give one environment ID for each of {listed}")
        projects = self._seed_projects(body.get("projects"))
        if names["serviceNames"] is not None:
            body = {**body, "services": len(names["serviceNames"])}
        if names["postgresNames"] is not None:
            body = {**body, "postgres": len(names["postgresNames"])}
        counts = {key: int(body.get(key, 0)) for key in ("services", "envVarsPerService", "postgres",
                                                         "keyValue", "envGroups")}
        if any(value < 0 for value in counts.values()) or counts["services"] > 100_000:
            raise SimError(400, "seed counts must be between 0 and 100000")
        kind = str(body.get("type", "web_service"))
        if kind not in SHORT_TYPE:
            raise SimError(400, f"type must be one of {', '.join(SHORT_TYPE)}")
        prefix = str(body.get("prefix", "seed"))
        owner = self.owner["id"]
        details: JSON = {"runtime": "python", "plan": "starter", "region": "oregon",
                         "envSpecificDetails": {"buildCommand": "pip install -r requirements.txt",
                                                "startCommand": "python main.py"}}
        if kind == "cron_job":
            details["schedule"] = "0 * * * *"
        deploys: JSON = {}
        if body.get("autoDeployTrigger") is not None:
            deploys["autoDeployTrigger"] = body["autoDeployTrigger"]
            self._auto_deploy(deploys)  # a 400 for an unknown trigger, before anything is made
        with self.lock:
            for key in ("serviceEnvironments", "postgresEnvironments"):
                for eid in set(names[key] or []):
                    if eid not in self.state["environments"]:
                        raise SimError(400, f"{key}: environment {eid} not found")
            self._batch = True
            self._seen = {(c, item["name"]) for c in ("services", "postgres", "keyValue", "envGroups")
                          for item in self.state[c].values()}
            self._seen |= {("slug", item["slug"]) for item in self.state["services"].values()}
            try:
                made = []
                for project in projects:
                    now = self.clock.iso()
                    item: JSON = {"id": new_id("prj"), "name": project["name"], "createdAt": now, "updatedAt": now}
                    self.state["projects"][item["id"]] = item
                    made.append({"id": item["id"], "name": item["name"], "environments": [
                        {"id": e["id"], "name": e["name"]}
                        for e in (self._new_environment(item["id"], env) for env in project["environments"])]})
                start = len(self.state["services"])
                for n in range(counts["services"]):
                    name = names["serviceNames"][n] if names["serviceNames"] else f"{prefix}-{start + n:05d}"
                    envs = [{"key": f"SEED_VAR_{i}", "value": f"value-{n}-{i}"}
                            for i in range(counts["envVarsPerService"])]
                    view, _ = self.create_service({"type": kind, "name": name, "ownerId": owner,
                                                   "serviceDetails": details, "envVars": envs, **deploys})
                    if names["serviceEnvironments"]:
                        self._seed_into(names["serviceEnvironments"][n], "services", str(view["id"]))
                for n in range(counts["postgres"]):
                    pg_name = names["postgresNames"][n] if names["postgresNames"] else f"{prefix}-db-{n:05d}"
                    view = self.create_postgres({"name": pg_name, "ownerId": owner, "plan": "basic_256mb",
                                                 "version": "16"})
                    if names["postgresEnvironments"]:
                        self._seed_into(names["postgresEnvironments"][n], "postgres", str(view["id"]))
                for n in range(counts["keyValue"]):
                    self.create_key_value({"name": f"{prefix}-kv-{n:05d}", "ownerId": owner, "plan": "starter"})
                for n in range(counts["envGroups"]):
                    self.create_env_group({"name": f"{prefix}-group-{n:05d}", "ownerId": owner,
                                           "envVars": [{"key": "SEEDED", "value": "yes"}]})
            finally:
                self._batch = False
                self._seen = None
            self.save()
        result: JSON = {"created": {k: counts[k] for k in ("services", "postgres", "keyValue", "envGroups")},
                        "envVars": counts["services"] * counts["envVarsPerService"]}
        if projects:
            result["created"]["projects"] = len(made)
            result["projects"] = made
        return result

    def _seed_projects(self, given: Any) -> list[JSON]:
        """The `projects` of a seed body, checked: each {"name", "environments": [...]} with the environment
        settings POST /projects takes (schemas.projectPOSTEnvironmentInput)."""
        if given is None:
            return []
        if not isinstance(given, list):
            raise SimError(400, "projects must be a list of {name, environments}")
        projects = []
        for item in given:
            environments = item.get("environments") if isinstance(item, dict) else None
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not isinstance(
                    environments, list) or not all(isinstance(e, dict) and isinstance(e.get("name"), str)
                                                   for e in environments):
                raise SimError(400, "each of projects must be {name, environments: [{name, ...}]}")
            for environment in environments:
                self._check_environment_settings(environment)
            projects.append({"name": item["name"], "environments": environments})
        return projects

    def _seed_into(self, environment_id: str, collection: str, rid: str) -> None:
        """Put a resource seeding just made in an environment (no scan of the others: it is in none)."""
        self.state["environments"][environment_id]["_resources"].append(rid)
        self.state[collection][rid]["environmentId"] = environment_id

