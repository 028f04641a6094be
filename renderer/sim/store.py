"""The simulator's state: one workspace, its services, env vars, deploys and Postgres databases.

Objects are kept in the shapes Render's API returns (openapi.json: schemas.service, schemas.postgres,
schemas.deploy, ...). The state lives in a JSON file, created when missing and replaced atomically after
every change, so it survives a restart or a kill.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
from pathlib import Path
from typing import Any

from renderer.sim.clock import Clock

JSON = dict[str, Any]
ID_ALPHABET = "0123456789abcdefghijklmnopqrstuv"  # Render IDs: a prefix and 20 base-32 characters
STATE_VERSION = 1
BUILD_SECONDS = 2.0  # a deploy is `created`, then `build_in_progress`, then `live` after this long
NATIVE_RUNTIMES = frozenset({"elixir", "go", "node", "python", "ruby", "rust"})


class SimError(Exception):
    """An API error the simulator answers with: `{"message": ...}` and `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def new_id(prefix: str, suffix: str = "") -> str:
    return prefix + "-" + "".join(secrets.choice(ID_ALPHABET) for _ in range(20)) + suffix


def random_secret(length: int = 32) -> str:
    return secrets.token_urlsafe(length)[:length]


class Store:
    """All simulator state behind one lock. Methods raise `SimError` for answers other than 2xx."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = path
        self.clock = clock
        self.lock = threading.RLock()
        if path.exists() and path.stat().st_size > 0:
            self.state: JSON = json.loads(path.read_text(encoding="utf-8"))
        else:
            self.state = self._empty()
            self.save()

    def _empty(self) -> JSON:
        owner_id = new_id("tea")
        return {
            "version": STATE_VERSION,
            "owner": {"id": owner_id, "name": "Simulated Workspace", "email": "sim@example.com", "type": "team"},
            "services": {}, "envVars": {}, "deploys": {}, "postgres": {}, "postgresSecrets": {},
        }

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.state, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def reset(self) -> None:
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

    # Services
    def _service(self, service_id: str) -> JSON:
        service: JSON | None = self.state["services"].get(service_id)
        if service is None:
            raise SimError(404, "service not found")
        return service

    def list_services(self, *, names: list[str], types: list[str], owners: list[str]) -> list[JSON]:
        result = []
        for service in self.state["services"].values():
            if names and service["name"] not in names:
                continue
            if types and service["type"] not in types:
                continue
            if owners and service["ownerId"] not in owners:
                continue
            result.append(service)
        return result

    def get_service(self, service_id: str) -> JSON:
        return self._service(service_id)

    def _details(self, kind: str, slug: str, body: JSON, service_id: str) -> JSON:
        given: JSON = body.get("serviceDetails") or {}
        if kind == "static_site":
            return {"buildCommand": given.get("buildCommand", ""), "publishPath": given.get("publishPath", "public"),
                    "url": f"https://{slug}.onrender.com", "buildPlan": "starter",
                    "pullRequestPreviewsEnabled": "no", "previews": {"generation": "off"}}
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
            env_details = {"dockerCommand": env_given.get("dockerCommand", ""),
                           "dockerContext": env_given.get("dockerContext", "."),
                           "dockerfilePath": env_given.get("dockerfilePath", "./Dockerfile")}
        if given.get("preDeployCommand"):
            env_details["preDeployCommand"] = given["preDeployCommand"]
        details: JSON = {
            "env": runtime, "runtime": runtime, "envSpecificDetails": env_details,
            "plan": given.get("plan", "starter"), "region": given.get("region", "oregon"),
            "buildPlan": "starter",
        }
        if kind == "cron_job":
            if not given.get("schedule"):
                raise SimError(400, "serviceDetails.schedule is required for a cron job")
            details["schedule"] = given["schedule"]
            return details
        details["numInstances"] = int(given.get("numInstances", 1))
        details["pullRequestPreviewsEnabled"] = "no"
        details["previews"] = {"generation": "off"}
        details["maxShutdownDelaySeconds"] = int(given.get("maxShutdownDelaySeconds", 30))
        if kind == "web_service":
            details["healthCheckPath"] = given.get("healthCheckPath", "")
            details["openPorts"] = [{"port": 10000, "protocol": "TCP"}]
            details["url"] = f"https://{slug}.onrender.com"
        elif kind == "private_service":
            details["openPorts"] = [{"port": 10000, "protocol": "TCP"}]
            details["url"] = f"{slug}:10000"
        return details

    def create_service(self, body: JSON) -> tuple[JSON, str]:
        with self.lock:
            self._check_owner(body.get("ownerId"))
            name = body["name"]
            if any(s["name"] == name for s in self.state["services"].values()):
                raise SimError(409, f"a service named {name} already exists in this workspace")
            kind = body["type"]
            service_id = new_id("srv")
            slug = name.lower()
            now = self.clock.iso()
            service: JSON = {
                "id": service_id, "name": name, "ownerId": body["ownerId"], "type": kind,
                "createdAt": now, "updatedAt": now,
                "dashboardUrl": f"https://dashboard.render.com/{'static' if kind == 'static_site' else 'web'}"
                                f"/{service_id}",
                "suspended": "not_suspended", "suspenders": [], "autoDeploy": body.get("autoDeploy", "yes"),
                "notifyOnFail": "default", "slug": slug, "rootDir": body.get("rootDir", ""),
                "serviceDetails": self._details(kind, slug, body, service_id),
            }
            if body.get("repo"):
                service["repo"] = body["repo"]
                service["branch"] = body.get("branch", "main")
            if body.get("image"):
                service["imagePath"] = body["image"].get("imagePath", "")
            self.state["services"][service_id] = service
            env: list[JSON] = []
            for item in body.get("envVars") or []:
                value = random_secret() if item.get("generateValue") else str(item.get("value", ""))
                env = [e for e in env if e["key"] != item["key"]] + [{"key": item["key"], "value": value}]
            self.state["envVars"][service_id] = env
            self.state["deploys"][service_id] = []
            deploy = self._new_deploy(service_id, "api")
            self.save()
            return service, deploy["id"]

    def update_service(self, service_id: str, body: JSON) -> JSON:
        with self.lock:
            service = self._service(service_id)
            if "name" in body and body["name"] != service["name"]:
                if any(s["name"] == body["name"] for s in self.state["services"].values()):
                    raise SimError(409, f"a service named {body['name']} already exists in this workspace")
                service["name"] = body["name"]
            for key in ("repo", "branch", "rootDir", "autoDeploy"):
                if key in body:
                    service[key] = body[key]
            given: JSON = body.get("serviceDetails") or {}
            details: JSON = service["serviceDetails"]
            for key in ("plan", "healthCheckPath", "maxShutdownDelaySeconds", "publishPath", "buildCommand",
                        "schedule"):
                if key in given and (key in details or (key == "healthCheckPath" and service["type"] == "web_service")):
                    details[key] = given[key]
            if "runtime" in given:
                if (given["runtime"] in NATIVE_RUNTIMES) != (details.get("runtime") in NATIVE_RUNTIMES):
                    raise SimError(400, "cannot change runtime between native and docker or image")
                details["runtime"] = details["env"] = given["runtime"]
            if "preDeployCommand" in given:
                details.setdefault("envSpecificDetails", {})["preDeployCommand"] = given["preDeployCommand"]
            env_given: JSON = given.get("envSpecificDetails") or {}
            for key, value in env_given.items():
                details.setdefault("envSpecificDetails", {})[key] = value
            service["updatedAt"] = self.clock.iso()
            self.save()
            return service

    def delete_service(self, service_id: str) -> None:
        with self.lock:
            self._service(service_id)
            del self.state["services"][service_id]
            self.state["envVars"].pop(service_id, None)
            self.state["deploys"].pop(service_id, None)
            self.save()

    def scale_service(self, service_id: str, num_instances: int) -> None:
        with self.lock:
            service = self._service(service_id)
            if "numInstances" not in service["serviceDetails"]:
                raise SimError(400, f"a {service['type']} cannot be scaled")
            if num_instances < 1:
                raise SimError(400, "numInstances must be at least 1")
            service["serviceDetails"]["numInstances"] = num_instances
            service["updatedAt"] = self.clock.iso()
            self.save()

    # Env vars
    def env_vars(self, service_id: str) -> list[JSON]:
        self._service(service_id)
        env: list[JSON] = self.state["envVars"].setdefault(service_id, [])
        return env

    def get_env_var(self, service_id: str, key: str) -> JSON:
        for item in self.env_vars(service_id):
            if item["key"] == key:
                return item
        raise SimError(404, "environment variable not found")

    def put_env_var(self, service_id: str, key: str, body: JSON) -> JSON:
        with self.lock:
            env = self.env_vars(service_id)
            value = random_secret() if body.get("generateValue") else str(body.get("value", ""))
            for item in env:
                if item["key"] == key:
                    item["value"] = value
                    break
            else:
                item = {"key": key, "value": value}
                env.append(item)
            self.save()
            return item

    def replace_env_vars(self, service_id: str, items: list[JSON]) -> list[JSON]:
        with self.lock:
            self._service(service_id)
            env = [{"key": i["key"], "value": random_secret() if i.get("generateValue") else str(i.get("value", ""))}
                   for i in items]
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

    # Deploys
    def _new_deploy(self, service_id: str, trigger: str) -> JSON:
        now = self.clock.now()
        deploy: JSON = {"id": new_id("dep"), "trigger": trigger, "createdAt": self.clock.iso(now),
                        "_created": now, "_outcome": "live"}
        self.state["deploys"].setdefault(service_id, []).append(deploy)
        return deploy

    def _deploy_view(self, service_id: str, deploy: JSON) -> JSON:
        elapsed = self.clock.now() - float(deploy["_created"])
        view = {k: v for k, v in deploy.items() if not k.startswith("_")}
        if elapsed < BUILD_SECONDS / 4:
            view["status"] = "created"
        elif elapsed < BUILD_SECONDS:
            view["status"] = "build_in_progress"
            view["startedAt"] = deploy["createdAt"]
        else:
            view["status"] = deploy["_outcome"]
            view["startedAt"] = deploy["createdAt"]
            view["finishedAt"] = self.clock.iso(float(deploy["_created"]) + BUILD_SECONDS)
            later_live = [d for d in self.state["deploys"].get(service_id, [])
                          if d["_created"] > deploy["_created"] and d["_outcome"] == "live"
                          and self.clock.now() - float(d["_created"]) >= BUILD_SECONDS]
            if view["status"] == "live" and later_live:
                view["status"] = "deactivated"
        view["updatedAt"] = view.get("finishedAt", view["createdAt"])
        return view

    def create_deploy(self, service_id: str) -> JSON:
        with self.lock:
            self._service(service_id)
            deploy = self._new_deploy(service_id, "api")
            self.save()
            return self._deploy_view(service_id, deploy)

    def list_deploys(self, service_id: str) -> list[JSON]:
        self._service(service_id)
        deploys = self.state["deploys"].get(service_id, [])
        return [self._deploy_view(service_id, d) for d in reversed(deploys)]

    def get_deploy(self, service_id: str, deploy_id: str) -> JSON:
        self._service(service_id)
        for deploy in self.state["deploys"].get(service_id, []):
            if deploy["id"] == deploy_id:
                return self._deploy_view(service_id, deploy)
        raise SimError(404, "deploy not found")

    # Postgres
    def _postgres(self, postgres_id: str) -> JSON:
        postgres: JSON | None = self.state["postgres"].get(postgres_id)
        if postgres is None:
            raise SimError(404, "postgres instance not found")
        return postgres

    def postgres_view(self, postgres: JSON, *, detail: bool) -> JSON:
        view = {k: v for k, v in postgres.items() if not k.startswith("_")}
        view["owner"] = self.owner
        elapsed = self.clock.now() - float(postgres["_created"])
        view["status"] = "creating" if elapsed < BUILD_SECONDS else "available"
        if detail:
            # schemas.postgresDetail requires `project` without defining it; a database outside any
            # project has none.
            view["project"] = None
        return view

    def list_postgres(self, *, names: list[str], owners: list[str]) -> list[JSON]:
        return [self.postgres_view(p, detail=False) for p in self.state["postgres"].values()
                if (not names or p["name"] in names) and (not owners or self.owner["id"] in owners)]

    def get_postgres(self, postgres_id: str) -> JSON:
        return self.postgres_view(self._postgres(postgres_id), detail=True)

    def create_postgres(self, body: JSON) -> JSON:
        with self.lock:
            self._check_owner(body.get("ownerId"))
            postgres_id = new_id("dpg", "-a")
            now = self.clock.now()
            base = body["name"].replace("-", "_").lower()
            database = body.get("databaseName") or f"{base}_{secrets.choice(ID_ALPHABET)}{secrets.choice(ID_ALPHABET)}"
            user = body.get("databaseUser") or f"{base}_user"
            postgres: JSON = {
                "id": postgres_id, "ipAllowList": body.get("ipAllowList", []), "createdAt": self.clock.iso(now),
                "updatedAt": self.clock.iso(now), "dashboardUrl": f"https://dashboard.render.com/d/{postgres_id}",
                "databaseName": database, "databaseUser": user,
                "highAvailabilityEnabled": bool(body.get("enableHighAvailability", False)),
                "name": body["name"], "plan": body["plan"], "region": body.get("region", "oregon"),
                "readReplicas": [], "role": "primary", "version": body["version"], "suspended": "not_suspended",
                "suspenders": [], "diskAutoscalingEnabled": bool(body.get("enableDiskAutoscaling", False)),
                "_created": now,
            }
            if "diskSizeGB" in body:
                postgres["diskSizeGB"] = body["diskSizeGB"]
            self.state["postgres"][postgres_id] = postgres
            self.state["postgresSecrets"][postgres_id] = {"password": random_secret()}
            self.save()
            return self.postgres_view(postgres, detail=True)

    def update_postgres(self, postgres_id: str, body: JSON) -> JSON:
        with self.lock:
            postgres = self._postgres(postgres_id)
            for key in ("name", "plan", "diskSizeGB", "ipAllowList"):
                if key in body:
                    postgres[key] = body[key]
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
            self.state["postgresSecrets"].pop(postgres_id, None)
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
