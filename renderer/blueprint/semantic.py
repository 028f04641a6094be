"""The semantic layer: renderer's own rules on a blueprint's normal form, run in both modes.

Render's schema checks each field on its own; these rules check what only the whole document shows
(references, names, the combination of plan, disk and scaling, leftover placeholders). Each rule has an
id (`Finding.rule`); docs/validation.md lists every id with an example and its source (Render's docs, an
error Render's API or Blueprint sync was seen to return, or renderer's policy).
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from renderer import yamlio
from renderer.blueprint.model import (
    Blueprint,
    DocPath,
    resource_kind,
    resources,
)
from renderer.errors import Finding
from renderer.kind import (
    CODE_KINDS,
    DATASTORE_TYPES,
    NATIVE_RUNTIMES,
    REFERENCE_KINDS,
    SERVICE_KINDS,
    SERVICE_PLANS,
    Kind,
)

RULES = (
    "unique-name", "fleet-unique-name", "key-value-under-databases", "from-database-ref", "from-database-property",
    "from-service-ref", "from-service-type", "from-service-property", "from-group-ref", "env-var-source",
    "env-group-sync-false", "plan-for-kind", "region-for-kind", "runtime-commands", "disk-scaling",
    "free-plan-limits", "placeholder", "duplicate-env-key", "empty-env-value", "env-group-override",
    "pre-deploy-disk", "merge-key-list",
)
# Rules whose findings are warnings: what they find is legal on Render and sometimes meant.
WARNING_RULES = frozenset({"empty-env-value", "env-group-override", "pre-deploy-disk", "merge-key-list"})

# Postgres instance types, Blueprint spelling (render.yaml.schema.json: definitions.plan; openapi.json:
# postgres.plan); other kinds' are `Kind.blueprint_plans`.
POSTGRES_PLAN = re.compile(r"^(free|basic-(256mb|1gb|4gb)|pro-\d+gb|accelerated-\d+gb)$")
LEGACY_POSTGRES_PLANS = ("starter", "standard", "pro", "pro plus")
# fromDatabase properties (Render Blueprint spec, "fromDatabase").
DATABASE_PROPERTIES = ("connectionString", "host", "port", "user", "password", "database")
# fromService `type` -> the kind it names (render.yaml.schema.json: definitions.serviceType).
# The kinds `fromService` can name (render.yaml.schema.json: definitions.serviceType; `renderer.kind`).
REFERENCED_KINDS = frozenset(REFERENCE_KINDS.values())
# `fromService` targets reached by host and port over Render's private network (same region only).
DATASTORE_REFERENCES = frozenset(k for k in REFERENCED_KINDS if k.is_datastore)
PRIVATE_NETWORK_KINDS = DATASTORE_REFERENCES | {Kind.PRIVATE_SERVICE}
DEFAULT_REGION = "oregon"  # Render Blueprint spec: region defaults to oregon

_COMMAND_KEYS = frozenset({"buildCommand", "startCommand", "dockerCommand", "preDeployCommand", "initialDeployHook"})
_PLACEHOLDERS = (
    re.compile(r"REPLACE_ME|\bREPLACE_WITH_\w*|\breplace_with_\w*|\bCHANGE_?ME\b|\bchange_?me\b|\bChangeMe\b"),
    re.compile(r"\{\{.*?\}\}"),
    re.compile(r"\$\{[^}\n]*\}"),
    # `<your-api-key>`, `<API_KEY>`, `<project id>`, `<...>`; not a name such as `R&D <Labs>`
    re.compile(r"<(\.\.\.|…|[a-z][a-z0-9_ .-]{0,60}|[A-Z][A-Z0-9_]{1,60}|[^<>\n]{0,40}\b[Yy]our\b[^<>\n]{0,40})>"),
)
_SHELL_SAFE = 2  # commands legitimately use `${VAR}` and `<` redirections: only the first two patterns apply


@dataclass
class _Resource:
    path: DocPath
    list_key: str
    item: dict[str, Any]
    kind: Kind | None

    @property
    def name(self) -> str | None:
        name = self.item.get("name")
        return name if isinstance(name, str) else None

    @property
    def region(self) -> str:
        region = self.item.get("region")
        return region if isinstance(region, str) else DEFAULT_REGION


@dataclass
class _Index:
    resources: list[_Resource] = field(default_factory=list)
    by_name: dict[str, list[_Resource]] = field(default_factory=lambda: defaultdict(list))
    key_values_under_databases: dict[str, _Resource] = field(default_factory=dict)
    read_replicas: dict[str, _Resource] = field(default_factory=dict)  # replica name -> its primary

    def named(self, name: str, kinds: frozenset[Kind] | set[Kind]) -> list[_Resource]:
        return [r for r in self.by_name.get(name, []) if r.kind in kinds]


def _is_key_value_item(item: dict[str, Any]) -> bool:
    return item.get("type") in DATASTORE_TYPES or "maxmemoryPolicy" in item


def _index(document: Any) -> _Index:
    index = _Index()
    for path, list_key, item in resources(document):
        if not isinstance(item, dict):
            continue
        resource = _Resource(path, list_key, item, resource_kind(list_key, item))
        if list_key == "databases" and _is_key_value_item(item):
            if resource.name:
                index.key_values_under_databases[resource.name] = resource
            resource.kind = None  # not a Postgres database
        index.resources.append(resource)
        if resource.name:
            index.by_name[resource.name].append(resource)
        replicas = item.get("readReplicas") if resource.kind == Kind.POSTGRES else None
        for replica in replicas if isinstance(replicas, list) else []:
            if isinstance(replica, dict) and isinstance(replica.get("name"), str):
                index.read_replicas[replica["name"]] = resource
    return index


class _Rules:
    def __init__(self, blueprint: Blueprint) -> None:
        self.blueprint = blueprint
        self.index = _index(blueprint.document)
        self.findings: list[Finding] = []

    def error(self, path: DocPath, rule: str, message: str, hint: str | None = None, *,
              at_value: bool = True, severity: str = "error") -> None:
        self.findings.append(self.blueprint.finding(path, "semantic", rule, message, hint, at_value=at_value,
                                                    severity="warning" if severity == "warning" else "error"))

    # -- names ---------------------------------------------------------------------------------------
    def unique_names(self) -> None:
        seen: dict[tuple[DocPath, str, str], _Resource] = {}
        for resource in self.index.resources:
            collection = resource.kind.namespace if resource.kind is not None else None
            if resource.name is None or collection is None:
                continue
            scope = resource.path[:-2] if resource.path[:1] != ("ungrouped",) else ()
            key = (scope, collection, resource.name)
            first = seen.get(key)
            if first is None:
                seen[key] = resource
                continue
            line, _column = self.blueprint.locate((*first.path, "name"))[1:3]
            where = f" on line {line}" if line else ""
            self.error((*resource.path, "name"), "unique-name",
                       f"name `{resource.name}` is already used by another {_collection_label(collection)}{where}",
                       "give each resource its own name: Render names must be unique per kind")

    def key_values_under_databases(self) -> None:
        for name, resource in self.index.key_values_under_databases.items():
            reason = "`type: " + str(resource.item["type"]) + "`" if "type" in resource.item else "`maxmemoryPolicy`"
            self.error(resource.path, "key-value-under-databases",
                       f"`{name}` is a Key Value instance (it sets {reason}) but is declared under `databases:`, "
                       "which holds Postgres databases only",
                       f"move `{name}` under `services:` with `type: keyvalue` and `ipAllowList: []`, and read it "
                       f"with `fromService: {{type: keyvalue, name: {name}, property: connectionString}}`",
                       at_value=False)

    # -- env vars ------------------------------------------------------------------------------------
    def env_vars(self) -> None:
        for resource in self.index.resources:
            items = resource.item.get("envVars")
            if not isinstance(items, list):
                continue
            for j, env in enumerate(items):
                if isinstance(env, dict):
                    self.env_var((*resource.path, "envVars", j), env, resource)

    def duplicate_env_keys(self) -> None:
        """A key declared twice in one service's or env group's `envVars` (e.g. a tenant `env:` key the
        blueprint already sets): Render keeps one value per key, so one of the two would be lost."""
        for resource in self.index.resources:
            items = resource.item.get("envVars")
            if not isinstance(items, list):
                continue
            first: dict[str, int] = {}
            for j, env in enumerate(items):
                key = env.get("key") if isinstance(env, dict) else None
                if not isinstance(key, str):
                    continue
                if key not in first:
                    first[key] = j
                    continue
                list_path = yamlio.format_path((*resource.path, "envVars"))
                file, line, _column, _note = self.blueprint.locate((*resource.path, "envVars", first[key], "key"))
                here = self.blueprint.locate((*resource.path, "envVars", j, "key"))[0]
                where = f" at envVars[{first[key]}]" + (
                    "" if not line else f" (line {line})" if file == here else f" ({file}:{line})")
                owner = f"env group `{resource.name}`" if resource.kind == Kind.ENV_GROUP else f"`{resource.name}`"
                self.error((*resource.path, "envVars", j, "key"), "duplicate-env-key",
                           f"duplicate env var key `{key}` in `{list_path}` of {owner}: already declared{where}",
                           "declare each key once per service or env group; a tenant `env:` key must not repeat a "
                           "key the blueprint already sets (drop it from the tenant file, or rename it)")

    def env_group_overrides(self) -> None:
        """A service key that an env group it links (`fromGroup`) also declares: Render uses the service's
        value and ignores the group's, without a word."""
        groups = {r.name: r for r in self.index.resources if r.kind == Kind.ENV_GROUP and r.name}
        for resource in self.index.resources:
            items = resource.item.get("envVars")
            if resource.kind == Kind.ENV_GROUP or not isinstance(items, list):
                continue
            linked: dict[str, tuple[int, _Resource]] = {}
            for j, env in enumerate(items):
                name = env.get("fromGroup") if isinstance(env, dict) else None
                if isinstance(name, str) and name in groups:
                    linked.setdefault(name, (j, groups[name]))
            for j, env in enumerate(items):
                key = env.get("key") if isinstance(env, dict) and "fromGroup" not in env else None
                if not isinstance(key, str):
                    continue
                for link, group in linked.values():
                    group_vars = group.item.get("envVars")
                    if not any(isinstance(g, dict) and g.get("key") == key
                               for g in (group_vars if isinstance(group_vars, list) else [])):
                        continue
                    line = self.blueprint.locate((*resource.path, "envVars", link, "fromGroup"))[1]
                    self.error((*resource.path, "envVars", j, "key"), "env-group-override",
                               f"env var `{key}` of `{resource.name}` is also in env group `{group.name}`, which "
                               f"`{resource.name}` links{f' on line {line}' if line else ''}: Render uses the "
                               "service's value and ignores the group's",
                               f"remove `{key}` here to use the group's value, or remove it from env group "
                               f"`{group.name}` if each service sets its own", severity="warning")

    def env_var(self, path: DocPath, env: dict[str, Any], owner: _Resource) -> None:
        key = env.get("key")
        label = f"env var `{key}`" if isinstance(key, str) else "this env var"
        sources = [s for s in ("value", "generateValue", "sync", "fromDatabase", "fromService", "fromGroup")
                   if s in env and not (s == "generateValue" and env[s] is not True)
                   and not (s == "sync" and env[s] is not False)]
        if owner.kind == Kind.ENV_GROUP and env.get("sync") is False:
            self.error((*path, "sync"), "env-group-sync-false",
                       f"{label} in env group `{owner.name}` has `sync: false`; renderer takes `sync: false` only "
                       "on a service's env vars (an env group's values come from the blueprint)",
                       "give the group var a `value:` or `generateValue: true`, or set it with `sync: false` on the "
                       "services that need it", at_value=False)
        elif not sources:
            self.error(path, "env-var-source", f"{label} has no value source",
                       "give it `value:` or `generateValue: true`" if owner.kind == Kind.ENV_GROUP else
                       "give it exactly one of `value:`, `generateValue: true`, `sync: false`, `fromDatabase:`, "
                       "`fromService:` or `fromGroup:`", at_value=False)
        elif len(sources) > 1:
            shown = [f"`{s}: false`" if s == "sync" else f"`{s}`" for s in sources]
            self.error((*path, sources[1]), "env-var-source",
                       f"{label} has more than one value source: {' and '.join(shown)}",
                       "keep exactly one; a secret you set in the Render Dashboard is `sync: false` without a "
                       "`value`", at_value=False)
        if env.get("value") == "":
            self.error((*path, "value"), "empty-env-value",
                       f"{label} has an empty value: renderer sets it to the empty string on every apply, over any "
                       "value set in the Render Dashboard",
                       "give it its value; keep `value: \"\"` only if empty is what the service should get"
                       if owner.kind == Kind.ENV_GROUP else
                       "give it its value; for a secret you set in the Render Dashboard write `sync: false` instead "
                       "of `value: \"\"`; keep `value: \"\"` only if empty is what the service should get",
                       severity="warning")
        if "fromDatabase" in env:
            self.from_database((*path, "fromDatabase"), env["fromDatabase"])
        if "fromService" in env:
            self.from_service((*path, "fromService"), env["fromService"])
        if "fromGroup" in env:
            self.from_group((*path, "fromGroup"), env["fromGroup"])

    def from_database(self, path: DocPath, ref: Any) -> None:
        if not isinstance(ref, dict):
            return
        name, prop = ref.get("name"), ref.get("property")
        if isinstance(name, str):
            if name in self.index.key_values_under_databases:
                self.error((*path, "name"), "from-database-ref",
                           f"fromDatabase reads `{name}`, a Key Value instance wrongly declared under `databases:`; "
                           "a Key Value is read with `fromService`",
                           f"declare `{name}` under `services:` with `type: keyvalue` and write "
                           f"`fromService: {{type: keyvalue, name: {name}, property: connectionString}}`")
            elif self.index.named(name, {Kind.POSTGRES}):
                self.same_region(path, self.index.named(name, {Kind.POSTGRES})[0])
            elif name in self.index.read_replicas:  # a read replica is read like its primary
                self.same_region(path, self.index.read_replicas[name])
            elif other := self.index.named(name, DATASTORE_REFERENCES):
                kind = other[0].kind
                assert kind is not None
                self.error((*path, "name"), "from-database-ref",
                           f"fromDatabase reads `{name}`, which is a {kind.label}, not a Postgres database",
                           f"write `fromService: {{type: {kind.blueprint_type}, name: {name}, property: "
                           "connectionString}`")
            elif any(r.list_key == "services" and r.kind is None for r in self.index.by_name.get(name, [])):
                self.error((*path, "name"), "from-database-ref",
                           f"fromDatabase names `{name}`, which is declared under `services:`; a Postgres database "
                           "belongs under `databases:`", f"move `{name}` under `databases:` (without `type:`)")
            else:
                databases = sorted(r.name for r in self.index.resources if r.kind == Kind.POSTGRES and r.name)
                close = difflib.get_close_matches(name, databases, n=1)
                self.error((*path, "name"), "from-database-ref",
                           f"fromDatabase names `{name}`, which is not a database in this blueprint",
                           f"did you mean `{close[0]}`?" if close else "declare it under `databases:`")
        if isinstance(prop, str) and prop not in DATABASE_PROPERTIES:
            close = difflib.get_close_matches(prop, DATABASE_PROPERTIES, n=1)
            self.error((*path, "property"), "from-database-property",
                       f"`{prop}` is not a property of a Postgres database",
                       f"did you mean `{close[0]}`?" if close else "one of " + ", ".join(DATABASE_PROPERTIES))

    def from_service(self, path: DocPath, ref: Any) -> None:
        if not isinstance(ref, dict):
            return
        name, declared = ref.get("name"), ref.get("type")
        if isinstance(name, str):
            candidates = self.index.named(name, REFERENCED_KINDS)
            if not candidates:
                services = sorted({r.name for r in self.index.resources if r.kind in REFERENCED_KINDS and r.name})
                close = difflib.get_close_matches(name, services, n=1)
                self.error((*path, "name"), "from-service-ref",
                           f"fromService names `{name}`, which is not a service in this blueprint",
                           f"did you mean `{close[0]}`?" if close else "declare it under `services:` or fix the name")
            elif isinstance(declared, str):
                wanted = REFERENCE_KINDS.get(declared)
                matching = [r for r in candidates if r.kind == wanted]
                if not matching:
                    actual = candidates[0].kind
                    assert actual is not None
                    self.error((*path, "type"), "from-service-type",
                               f"fromService says `type: {declared}` but `{name}` is a {actual.label}",
                               f"write `type: {actual.blueprint_type}`")
                elif matching[0].kind in PRIVATE_NETWORK_KINDS:
                    self.same_region(path, matching[0])
        has_property, has_key = "property" in ref, "envVarKey" in ref
        if has_property == has_key:
            self.error(path, "from-service-property",
                       "fromService sets both `property` and `envVarKey`" if has_property
                       else "fromService needs `property` (host, port, hostport, connectionString) or `envVarKey`",
                       "keep exactly one of `property` and `envVarKey`", at_value=False)

    def from_group(self, path: DocPath, name: Any) -> None:
        if isinstance(name, str) and not self.index.named(name, {Kind.ENV_GROUP}):
            groups = sorted(r.name for r in self.index.resources if r.kind == Kind.ENV_GROUP and r.name)
            close = difflib.get_close_matches(name, groups, n=1)
            self.error(path, "from-group-ref", f"fromGroup names `{name}`, which is not an env group in this blueprint",
                       f"did you mean `{close[0]}`?" if close else
                       "declare it under `envVarGroups:` (renderer manages only env groups its blueprint declares)")

    def same_region(self, path: DocPath, target: _Resource) -> None:
        owner = next((r for r in self.index.resources if r.path == path[: len(r.path)]), None)
        if owner is None or owner.kind in (Kind.ENV_GROUP, Kind.STATIC_SITE) or owner.region == target.region:
            return
        self.error(path, "region-for-kind",
                   f"this {owner.kind.label if owner.kind else 'resource'} in `{owner.region}` reads "
                   f"{target.kind.label if target.kind else 'a resource'} `{target.name}` in `{target.region}` over "
                   "Render's private network, which connects resources in the same region only",
                   f"put both in one region (set `region: {target.region}` on `{owner.name}`)", at_value=False)

    # -- plans, commands, disks ----------------------------------------------------------------------
    def plans(self) -> None:
        for resource in self.index.resources:
            item, kind = resource.item, resource.kind
            if kind is None:
                continue
            plan = item.get("plan")
            if isinstance(plan, str):
                self.plan_for_kind((*resource.path, "plan"), plan, kind)
            previews = item.get("previews")
            preview_plan = previews.get("plan") if isinstance(previews, dict) else None
            if isinstance(preview_plan, str):
                self.plan_for_kind((*resource.path, "previews", "plan"), preview_plan, kind)
                if preview_plan == "free" and isinstance(plan, str) and plan != "free" and kind in SERVICE_KINDS:
                    self.error((*resource.path, "previews", "plan"), "plan-for-kind",
                               f"a service on `{plan}` cannot have `free` preview instances",
                               "use a paid `previews.plan`, or omit it to preview on the service's own plan")
            if isinstance(item.get("previewPlan"), str):
                self.plan_for_kind((*resource.path, "previewPlan"), item["previewPlan"], kind)

    def plan_for_kind(self, path: DocPath, plan: str, kind: Kind) -> None:
        label = kind.label
        if kind == Kind.POSTGRES:
            if plan in LEGACY_POSTGRES_PLANS:
                self.error(path, "plan-for-kind",
                           f"`{plan}` is a legacy Postgres instance type that new databases cannot use",
                           "use a current type such as `basic-256mb`, `basic-1gb` or `pro-4gb`", severity="warning")
            elif not POSTGRES_PLAN.match(plan) and plan in SERVICE_PLANS:
                self.error(path, "plan-for-kind", f"`{plan}` is a service instance type, not a Postgres one",
                           "use `free`, `basic-256mb`, `basic-1gb`, `basic-4gb`, `pro-4gb` or larger")
            return
        allowed = kind.blueprint_plans
        if allowed is None or plan in allowed:
            return
        if plan == "free":
            self.error(path, "plan-for-kind",
                       f"a {label} has no free instance type (Render offers free web services, Postgres and "
                       "Key Value only)", "use `starter` or a larger instance type")
        elif POSTGRES_PLAN.match(plan) or plan in SERVICE_PLANS:
            self.error(path, "plan-for-kind", f"`{plan}` is not an instance type for a {label}",
                       "use one of " + ", ".join(allowed))

    def commands(self) -> None:
        for resource in self.index.resources:
            item, kind = resource.item, resource.kind
            if kind not in CODE_KINDS:
                continue
            runtime = item.get("runtime")
            if runtime in NATIVE_RUNTIMES:
                for command in ("buildCommand", "startCommand"):
                    value = item.get(command)
                    if not isinstance(value, str) or not value.strip():
                        self.error((*resource.path, "runtime"), "runtime-commands",
                                   f"a {runtime} {kind.label} needs a `{command}`",
                                   f"add `{command}:` (Render runs it to "
                                   f"{'build' if command == 'buildCommand' else 'start'} the service)")
            elif runtime == "image":
                image = item.get("image")
                if not isinstance(image, dict) or not image.get("url"):
                    self.error((*resource.path, "runtime"), "runtime-commands",
                               f"a {kind.label} with `runtime: image` needs `image: {{url: ...}}`",
                               "add `image:` with the `url` of the image to run, e.g. `docker.io/library/nginx:1.27`")
                elif isinstance(image.get("url"), str) and _mutable_tag(image["url"]):
                    url = image["url"]
                    self.error((*resource.path, "image", "url"), "mutable-image-tag",
                               f"image `{url}` is given by a mutable tag (`:latest` or no tag): which build a "
                               "tenant runs changes with each push of the tag, and a deploy is not reproducible",
                               f"pin the digest: `{url.split('@')[0]}@sha256:<digest>` (`docker buildx imagetools "
                               "inspect` prints it); a release moves the digest", severity="warning")

    def disks(self) -> None:
        for resource in self.index.resources:
            item = resource.item
            if resource.kind not in SERVICE_KINDS:
                continue
            instances = item.get("numInstances")
            many = isinstance(instances, int) and not isinstance(instances, bool) and instances > 1
            scaling = item.get("scaling") is not None
            disk = item.get("disk") is not None
            if disk and (many or scaling):
                what = f"`numInstances: {instances}`" if many else "`scaling:`"
                self.error((*resource.path, "disk"), "disk-scaling",
                           f"a service with a persistent disk runs exactly one instance, so {what} cannot go with "
                           "`disk:`", "remove `disk:`, or run one instance (no `scaling:`, `numInstances: 1`)",
                           at_value=False)
            if item.get("plan") == "free" and (disk or many or scaling):
                what = "a persistent disk" if disk else "more than one instance"
                self.error((*resource.path, "plan"), "free-plan-limits",
                           f"a free service cannot have {what}",
                           "use `plan: starter` or larger, or remove "
                           + ("`disk:`" if disk else "`numInstances`/`scaling`"))

    def pre_deploy_disk(self) -> None:
        """Render runs `preDeployCommand` on a separate instance, without the service's persistent disk."""
        for resource in self.index.resources:
            item = resource.item
            disk, command = item.get("disk"), item.get("preDeployCommand")
            if resource.kind not in SERVICE_KINDS or not isinstance(disk, dict) or not isinstance(command, str):
                continue
            mount = disk.get("mountPath")
            where = f" (mounted at `{mount}`)" if isinstance(mount, str) else ""
            self.error((*resource.path, "preDeployCommand"), "pre-deploy-disk",
                       f"`preDeployCommand` runs on a separate instance without the service's disk{where}, so it "
                       "cannot read or write the disk's files",
                       "if the command needs the disk, run it at the start of `startCommand` instead "
                       "(`<command> && <start command>`); if it does not (a database migration, say), keep it",
                       at_value=False, severity="warning")

    def _source_line(self, line: int, column: int) -> int | None:
        """The line to edit for a (line, column) of the rendered text: the template line for a template."""
        if self.blueprint.template is None:
            return line
        where = self.blueprint.template.locate(line, column)
        return where.line if where else None

    def merge_key_lists(self) -> None:
        """A key written next to `<<: *anchor` replaces the merged value; for a list that drops the merged
        items, where the author usually meant to extend the list (YAML merges mappings, never lists)."""
        if "<<" not in self.blueprint.text:
            return
        for path, node in _merged_mappings(self.blueprint.parsed.positions_root(), ()):
            for key in node.lc.data:
                own = node.get(key)
                if not isinstance(own, list):
                    continue
                for source in node.merge:
                    merged = source.get(key) if isinstance(source, dict) else None
                    if not isinstance(merged, list) or merged is own:
                        continue
                    anchor = source.anchor.value if getattr(source, "anchor", None) and source.anchor.value else None
                    origin = f"`*{anchor}`" if anchor else "the merged mapping"
                    count = f"{len(merged)} item{'s' if len(merged) != 1 else ''}"
                    line = self._source_line(source.lc.line + 1, source.lc.col + 1)
                    self.findings.append(self.blueprint.finding(
                        (*path, key), "semantic", "merge-key-list",
                        f"`{key}` here replaces the `{key}` list merged from {origin} (line {line}): "
                        f"`<<:` merges mappings, not lists, so its {count} are dropped",
                        f"repeat the items you need in this list (YAML cannot extend a list), or delete `{key}` "
                        "here to keep the merged list", at_value=False, severity="warning", raw=True))
                    break

    # -- placeholders --------------------------------------------------------------------------------
    def placeholders(self) -> None:
        for path, value in _strings(self.blueprint.document, ()):
            patterns = _PLACEHOLDERS[:_SHELL_SAFE] if path and path[-1] in _COMMAND_KEYS else _PLACEHOLDERS
            for pattern in patterns:
                match = pattern.search(value)
                if match:
                    self.error(path, "placeholder", f"leftover placeholder `{match.group(0)}` in a value",
                               "put the real value here (for a secret, use `sync: false` and set it in the "
                               "Render Dashboard)")
                    break

    def run(self) -> list[Finding]:
        self.unique_names()
        self.key_values_under_databases()
        self.env_vars()
        self.duplicate_env_keys()
        self.env_group_overrides()
        self.plans()
        self.commands()
        self.disks()
        self.pre_deploy_disk()
        self.merge_key_lists()
        self.placeholders()
        return self.findings


def _mutable_tag(url: str) -> bool:
    """Whether an image URL names its image by `:latest` or by no tag at all, without a digest
    (docs.docker.com: a reference without a tag means `latest`)."""
    if "@sha256:" in url:
        return False
    last = url.rsplit("/", 1)[-1]
    return ":" not in last or last.rsplit(":", 1)[1] == "latest"


def _collection_label(collection: str) -> str:
    return "service" if collection == "service" else Kind(collection).label


def _strings(node: Any, path: DocPath) -> Iterator[tuple[DocPath, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, (*path, i))
    elif isinstance(node, str):
        yield path, node


def _merged_mappings(node: Any, path: DocPath) -> Iterator[tuple[DocPath, Any]]:
    """(raw path, node) of every round-trip mapping that merges another one (`<<: *x`)."""
    if isinstance(node, CommentedMap):
        if node.merge:
            yield path, node
        for key in node.lc.data:
            yield from _merged_mappings(node.get(key), (*path, key))
    elif isinstance(node, CommentedSeq):
        for i, value in enumerate(node):
            yield from _merged_mappings(value, (*path, i))


def semantic_findings(blueprint: Blueprint) -> list[Finding]:
    """Our rules on `blueprint.document` (layer `semantic`), every finding at once."""
    return _Rules(blueprint).run()
