"""Slow-changing Jira metadata, read once per process so hot paths stay one request.

The ``jira`` library would otherwise fetch some of this behind our back on every call
(``create_issue`` resolves the project and issue type each time; a transition by name
lists transitions first; the first search GETs ``/field``; reference §6.6). Shared by all
threads; a race only means two threads fetch the same thing once each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

import structlog

from syncd.errors import MalformedResponse, Rejected
from syncd.tracker.jql import user_zone
from syncd.tracker.options import JiraOptions
from syncd.tracker.transport import Call, Transport
from syncd.tracker.workflow import WorkflowGraph

log = structlog.get_logger(__name__)

ZONE_TTL_SECONDS = 900.0


@dataclass(frozen=True)
class FieldInfo:
    id: str
    name: str
    schema_type: str | None


@dataclass(frozen=True)
class ProjectInfo:
    id: str
    key: str
    #: issue type name (casefolded) -> (id, name)
    issue_types: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def issue_type_id(self, name: str) -> str:
        found = self.issue_types.get(name.casefold())
        if found is None:
            has = ", ".join(sorted(shown for _, shown in self.issue_types.values()))
            raise Rejected(
                f"project {self.key} has no issue type {name!r} (it has {has or 'none'})",
                system="jira",
                route="GET /project/{key}",
            )
        return found[0]


def _list(value: Any, route: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        raise MalformedResponse(f"{route}: expected a JSON list", system="jira", route=route)
    return [item for item in value if isinstance(item, Mapping)]


class Catalog:
    def __init__(self, transport: Transport, options: JiraOptions) -> None:
        self._transport = transport
        self._options = options
        self._lock = threading.Lock()
        self._zone: tuple[tzinfo | None] | None = None
        self._zone_read_at = 0.0
        #: The profile time zone can be changed by an admin while we run; a stale zone
        #: west of the real one would skip changes, so it is re-read this often.
        self.zone_ttl_seconds = ZONE_TTL_SECONDS
        self._fields: dict[str, FieldInfo] | None = None
        self._priorities: dict[str, str] | None = None
        self._resolutions: dict[str, str] | None = None
        self._link_types: dict[str, str] | None = None
        self._projects: dict[str, ProjectInfo] = {}
        self._graphs: dict[tuple[str, str], WorkflowGraph] = {}
        self._cloud: bool | None = None

    def is_cloud(self) -> bool:
        if self._cloud is None:
            self._cloud = self._transport.is_cloud()
        return self._cloud

    def zone(self) -> tzinfo | None:
        """The API user's profile time zone (None when Jira names an unknown one)."""
        stale = time.monotonic() - self._zone_read_at >= self.zone_ttl_seconds
        if self._zone is None or stale:
            me = self._transport.request(Call("GET /myself", True), "GET", "myself")
            name = me.get("timeZone") if isinstance(me, Mapping) else None
            zone = user_zone(name if isinstance(name, str) else None)
            if zone is None:
                log.warning("jira_user_time_zone_unknown", time_zone=name)
            if self._zone is not None and self._zone[0] != zone:
                log.warning("jira_user_time_zone_changed", time_zone=name)
            self._zone = (zone,)
            self._zone_read_at = time.monotonic()
        return self._zone[0]

    def fields(self) -> dict[str, FieldInfo]:
        if self._fields is None:
            route = "GET /field"
            raw = _list(self._transport.request(Call(route, True), "GET", "field"), route)
            found: dict[str, FieldInfo] = {}
            clauses: dict[str, str] = {}
            for item in raw:
                fid, name = item.get("id"), item.get("name")
                if not isinstance(fid, str):
                    continue
                schema = item.get("schema") if isinstance(item.get("schema"), Mapping) else {}
                found[fid] = FieldInfo(fid, str(name or fid), (schema or {}).get("type"))
                for clause in item.get("clauseNames") or []:
                    if isinstance(clause, str):
                        clauses[clause] = fid
            self._transport.seed_field_cache(clauses)
            self._fields = found
        return self._fields

    def cvss_field(self) -> FieldInfo | None:
        """The configured CVSS field, by id or (case-insensitive) name."""
        wanted = self._options.cvss_field
        if not wanted:
            return None
        return self.field(wanted, "jira.cvss_field")

    def field(self, wanted: str, setting: str) -> FieldInfo:
        """A field by id or (case-insensitive) name; Rejected naming ``setting`` if none."""
        fields = self.fields()
        if wanted in fields:
            return fields[wanted]
        for info in fields.values():
            if info.name.casefold() == wanted.casefold():
                return info
        raise Rejected(f"no Jira field {wanted!r} ({setting})", system="jira")

    def link_types(self) -> dict[str, str]:
        """The site's issue link types: casefolded name -> name as Jira spells it."""
        if self._link_types is None:
            route = "GET /issueLinkType"
            raw = self._transport.request(Call(route, True), "GET", "issueLinkType")
            listed = raw.get("issueLinkTypes") if isinstance(raw, Mapping) else None
            self._link_types = {
                str(item["name"]).casefold(): str(item["name"])
                for item in _list(listed, route)
                if isinstance(item.get("name"), str)
            }
        return self._link_types

    def link_type_name(self, name: str) -> str:
        found = self.link_types().get(name.casefold())
        if found is None:
            raise Rejected(
                f"Jira has no issue link type {name!r} (jira.duplicate_link_type)", system="jira"
            )
        return found

    def _names(self, path: str) -> dict[str, str]:
        route = f"GET /{path}"
        raw = _list(self._transport.request(Call(route, True), "GET", path), route)
        return {
            str(item["name"]).casefold(): str(item["name"])
            for item in raw
            if isinstance(item.get("name"), str)
        }

    def priorities(self) -> dict[str, str]:
        """casefolded name -> name as Jira spells it."""
        if self._priorities is None:
            self._priorities = self._names("priority")
        return self._priorities

    def resolutions(self) -> dict[str, str]:
        if self._resolutions is None:
            self._resolutions = self._names("resolution")
        return self._resolutions

    def priority_name(self, name: str) -> str:
        found = self.priorities().get(name.casefold())
        if found is None:
            raise Rejected(f"Jira has no priority {name!r}", system="jira")
        return found

    def resolution_name(self, name: str) -> str:
        found = self.resolutions().get(name.casefold())
        if found is None:
            raise Rejected(f"Jira has no resolution {name!r}", system="jira")
        return found

    def project(self, key_or_id: str) -> ProjectInfo:
        cached = self._projects.get(key_or_id.casefold())
        if cached is not None:
            return cached
        route = "GET /project/{key}"
        raw = self._transport.request(
            Call(route, True), "GET", f"project/{key_or_id}", params={"expand": "issueTypes"}
        )
        if not isinstance(raw, Mapping) or "id" not in raw or "key" not in raw:
            raise MalformedResponse(f"{route}: no id/key", system="jira", route=route)
        types: dict[str, tuple[str, str]] = {}
        for item in raw.get("issueTypes") or []:
            if isinstance(item, Mapping) and "id" in item and isinstance(item.get("name"), str):
                types[item["name"].casefold()] = (str(item["id"]), item["name"])
        info = ProjectInfo(id=str(raw["id"]), key=str(raw["key"]), issue_types=types)
        with self._lock:
            self._projects[info.key.casefold()] = info
            self._projects[info.id.casefold()] = info
        return info

    def graph(self, project_id: str, issue_type_id: str) -> WorkflowGraph:
        """The (partially known) workflow of one project + issue type."""
        with self._lock:
            return self._graphs.setdefault((project_id, issue_type_id), WorkflowGraph())
