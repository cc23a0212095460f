"""The control API under ``/_control/`` (no auth): seed data, act as a human, inject
faults, change settings and read request counters. Tests and the demo use it across
processes through ``JiraControl``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, fields
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from starlette.datastructures import QueryParams

from syncd.simulators.jira import webhooks
from syncd.simulators.jira.catalog import (
    ISSUE_TYPE_BY_ID,
    LINK_TYPE_BY_ID,
    PRIORITY_BY_ID,
    RESOLUTION_BY_ID,
    STATUS_BY_ID,
)
from syncd.simulators.jira.errors import ApiError
from syncd.simulators.jira.faults import FAULT_KINDS, Fault, FaultBoard, RateLimiter
from syncd.simulators.jira.http import Resp
from syncd.simulators.jira.model import Issue, IssueLink, User
from syncd.simulators.jira.state import JiraState, Settings
from syncd.simulators.jira.timefmt import parse_jira

HUMAN_EMAIL = "analyst@example.com"
MAX_BULK = 50000

ControlHandler = Callable[[dict[str, str], QueryParams, Any], Resp]


def issue_state(state: JiraState, issue: Issue) -> dict[str, Any]:
    """A plain, version-independent view of an issue for assertions."""
    core = issue.core
    return {
        "id": str(core.id),
        "key": core.key,
        "former_keys": list(issue.former_keys),
        "project": state.projects[core.project_id].key,
        "issuetype": ISSUE_TYPE_BY_ID[core.issuetype_id].name,
        "summary": core.summary,
        "description": None if core.description is None else core.description.wiki,
        "labels": list(core.labels),
        "priority": PRIORITY_BY_ID[core.priority_id].name if core.priority_id else None,
        "status": STATUS_BY_ID[core.status_id].name,
        "status_category": STATUS_BY_ID[core.status_id].category.key,
        "resolution": RESOLUTION_BY_ID[core.resolution_id].name if core.resolution_id else None,
        "custom": dict(core.custom),
        "properties": dict(core.properties),
        "created": core.created.isoformat(),
        "updated": core.updated.isoformat(),
        "comments": [
            {
                "id": str(c.id),
                "body": c.body.wiki,
                "author": state.users[c.author_id].email if c.author_id in state.users else None,
                "visibility": c.visibility,
                "internal": c.internal,
                "created": c.created.isoformat(),
                "updated": c.updated.isoformat(),
            }
            for c in issue.comments
        ],
        "remote_links": [
            {
                "id": link.id,
                "globalId": link.global_id,
                "relationship": link.relationship,
                "application": link.application,
                "object": link.object,
            }
            for link in issue.remote_links
        ],
        "links": [_link_state(state, issue, link) for link in state.links_of(issue)],
        "attachments": [
            {
                "id": str(a.id),
                "filename": a.filename,
                "size": a.size,
                "mime_type": a.mime_type,
                "author": state.users[a.author_id].email if a.author_id in state.users else None,
            }
            for a in issue.attachments
        ],
        "changelog_count": len(issue.changelog),
    }


def _link_state(state: JiraState, issue: Issue, link: IssueLink) -> dict[str, Any]:
    """One link as this issue's side reads it: ``"duplicates SEC-1"`` style."""
    link_type = LINK_TYPE_BY_ID[link.type_id]
    outward = link.inward_issue_id == issue.core.id  # this issue <outward phrase> other
    other_id = link.outward_issue_id if outward else link.inward_issue_id
    other = state.issues.get(other_id)
    return {
        "id": str(link.id),
        "type": link_type.name,
        "direction": "outward" if outward else "inward",
        "phrase": link_type.outward if outward else link_type.inward,
        "issue": other.core.key if other is not None else None,
    }


class ControlApi:
    def __init__(
        self,
        state: JiraState,
        faults: FaultBoard,
        limiter: RateLimiter,
        fresh_state: Callable[[], JiraState] | None = None,
    ) -> None:
        self.state = state
        self._fresh_state = fresh_state
        self.faults = faults
        self.limiter = limiter
        table: list[tuple[str, str, ControlHandler]] = [
            ("GET", "/_control/health", lambda p, q, b: Resp(200, {"ok": True})),
            ("POST", "/_control/reset", self._reset),
            ("POST", "/_control/users", self._add_user),
            ("PATCH", "/_control/users/{email}", self._update_user),
            ("POST", "/_control/projects", self._add_project),
            ("POST", "/_control/projects/{key}/workflow/remove-status", self._remove_status),
            ("GET", "/_control/issues", self._list_issues),
            ("POST", "/_control/issues", self._create_issue),
            ("POST", "/_control/issues/bulk", self._bulk_create),
            ("GET", "/_control/issues/{ref}", self._get_issue),
            ("DELETE", "/_control/issues/{ref}", self._delete_issue),
            ("POST", "/_control/issues/{ref}/status", self._set_status),
            ("POST", "/_control/issues/{ref}/edit", self._edit),
            ("POST", "/_control/issues/{ref}/move", self._move),
            ("POST", "/_control/issues/{ref}/comments", self._comment),
            ("PUT", "/_control/issues/{ref}/comments/{comment_id}", self._update_comment),
            ("DELETE", "/_control/issues/{ref}/comments/{comment_id}", self._delete_comment),
            ("POST", "/_control/issues/{ref}/timestamps", self._timestamps),
            ("PUT", "/_control/issues/{ref}/properties/{key}", self._set_property),
            ("POST", "/_control/links", self._add_link),
            ("POST", "/_control/search/settle", self._settle),
            ("GET", "/_control/settings", self._get_settings),
            ("PUT", "/_control/settings", self._put_settings),
            ("GET", "/_control/faults", self._list_faults),
            ("POST", "/_control/faults", self._arm_fault),
            ("DELETE", "/_control/faults", self._clear_faults),
            ("GET", "/_control/counters", self._counters),
            ("DELETE", "/_control/counters", self._reset_counters),
            ("GET", "/_control/journal", self._journal),
            ("DELETE", "/_control/journal", self._reset_journal),
            ("POST", "/_control/rate-limits/reset", self._reset_limits),
            ("GET", "/_control/webhook", self._webhook_stats),
            ("PUT", "/_control/webhook", self._configure_webhook),
            ("DELETE", "/_control/webhook", self._disable_webhook),
        ]
        self._table = [
            (method, re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$"), fn)
            for method, path, fn in table
        ]

    def handle(self, method: str, path: str, query: QueryParams, raw: bytes) -> Resp:
        for route_method, pattern, handler in self._table:
            match = pattern.match(path)
            if match is None or route_method != method.upper():
                continue
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError:
                return Resp(400, {"error": "body is not JSON"})
            try:
                return handler(match.groupdict(), query, body)
            except ApiError as error:
                return Resp(error.status, error.body())
            except (KeyError, TypeError, ValueError) as error:
                return Resp(400, {"error": f"bad control request: {error!r}"})
        return Resp(404, {"error": f"no control route {method} {path}"})

    # ----- helpers -------------------------------------------------------------------------

    def _actor(self, body: Any) -> User:
        email = body.get("actor") if isinstance(body, dict) else None
        wanted = email or HUMAN_EMAIL
        with self.state.lock:
            for user in self.state.users.values():
                if user.email == wanted:
                    return user
            if email:
                raise ApiError(400, [f"no user {email}"])
            return next(iter(self.state.users.values()))

    def _issue(self, params: dict[str, str]) -> Issue:
        return self.state.issue(params["ref"])

    def _state(self, issue: Issue) -> Resp:
        with self.state.lock:
            return Resp(200, issue_state(self.state, issue))

    def _reset(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        """Back to the seeded site: no issues, default settings, no faults, zero counters."""
        if self._fresh_state is None:
            raise ApiError(400, ["this simulator cannot reset"])
        fresh = self._fresh_state()
        webhooks.install(self.state, None)  # the copy below would orphan its thread
        with self.state.lock:
            for name, value in vars(fresh).items():
                if name != "lock":
                    setattr(self.state, name, value)
        self.faults.clear()
        self.faults.reset_counters()
        self.faults.journal.reset()
        self.limiter.reset()
        return Resp(204)

    # ----- users and projects ----------------------------------------------------------------

    def _add_user(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        user = self.state.add_user(
            body["email"],
            display_name=body.get("display_name"),
            api_token=body.get("api_token"),
            pat=body.get("pat"),
            time_zone=body.get("time_zone", "UTC"),
            name=body.get("name"),
        )
        return Resp(201, {"accountId": user.account_id, "email": user.email, "name": user.name})

    def _update_user(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        changes: dict[str, Any] = {}
        for name in ("api_token", "pat"):
            if name in body:
                changes[name] = body[name]
        try:
            user = self.state.update_user(
                params["email"], time_zone=body.get("time_zone"), **changes
            )
        except ZoneInfoNotFoundError:
            raise ApiError(400, [f"unknown time zone {body.get('time_zone')!r}"]) from None
        return Resp(
            200, {"accountId": user.account_id, "email": user.email, "time_zone": user.time_zone}
        )

    def _add_project(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        project = self.state.add_project(body["key"], body.get("name"))
        return Resp(201, {"id": str(project.id), "key": project.key})

    def _remove_status(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        """An admin takes a status out of one project's workflow: every transition into or
        out of it goes, so the project no longer lists it. Refused while issues are in it
        (Jira asks to move them first)."""
        name = str(body["status"])
        by_name = {status.name.casefold(): status.id for status in STATUS_BY_ID.values()}
        status_id = by_name.get(name.casefold())
        if status_id is None:
            raise ApiError(400, [f"no status {name!r}"])
        with self.state.lock:
            project = self.state.project(params["key"])
            if any(
                i.core.project_id == project.id and i.core.status_id == status_id
                for i in self.state.issues.values()
            ):
                raise ApiError(400, [f"issues of {project.key} are in status {name!r}"])
            project.workflow = tuple(
                t
                for t in project.workflow
                if t.to_status_id != status_id and status_id not in t.from_status_ids
            )
            return Resp(200, {"key": project.key, "transitions": len(project.workflow)})

    # ----- issues ---------------------------------------------------------------------------

    def _create_issue(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        actor = self._actor(body)
        with self.state.lock:
            issue = self._create_one(actor, body)
            return self._state(issue)

    def _create_one(self, actor: User, body: dict[str, Any]) -> Issue:
        fields_in: dict[str, Any] = {
            "project": {"key": body["project"]},
            "issuetype": {"name": body.get("issuetype", "Task")},
            "summary": body["summary"],
        }
        if "priority" in body:
            fields_in["priority"] = {"name": body["priority"]}
        if "labels" in body:
            fields_in["labels"] = body["labels"]
        if "description" in body:
            fields_in["description"] = body["description"]
        fields_in.update(body.get("fields") or {})
        properties = [{"key": k, "value": v} for k, v in (body.get("properties") or {}).items()]
        issue = self.state.create_issue(actor, {"fields": fields_in, "properties": properties}, "2")
        if body.get("status"):
            self.state.human_set_status(actor, issue, body["status"], body.get("resolution"))
        return issue

    def _bulk_create(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        actor = self._actor(body)
        count = int(body["count"])
        if not 0 < count <= MAX_BULK:
            raise ApiError(400, [f"count must be between 1 and {MAX_BULK}"])
        prefix = body.get("summary_prefix", "Seeded issue")
        keys = []
        with self.state.lock:
            for number in range(count):
                one = {**body, "summary": f"{prefix} {number + 1}"}
                keys.append(self._create_one(actor, one).core.key)
        return Resp(201, {"keys": keys})

    def _list_issues(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        project = query.get("project")
        with self.state.lock:
            project_id = self.state.project(project).id if project else None
            listed = [
                issue_state(self.state, issue)
                for issue in self.state.issues.values()
                if project_id is None or issue.core.project_id == project_id
            ]
        return Resp(200, listed)

    def _get_issue(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        return self._state(self._issue(params))

    def _delete_issue(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        self.state.delete_issue(self._issue(params))
        return Resp(204)

    def _set_status(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        issue = self._issue(params)
        self.state.human_set_status(
            self._actor(body), issue, body["status"], body.get("resolution")
        )
        return self._state(issue)

    def _edit(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        issue = self._issue(params)
        request = {"fields": body.get("fields") or {}, "update": body.get("update") or {}}
        self.state.human_edit(self._actor(body), issue, request)
        return self._state(issue)

    def _move(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        issue = self._issue(params)
        self.state.move_issue(self._actor(body), issue, body["project"])
        return self._state(issue)

    def _comment(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        issue = self._issue(params)
        request = {"body": body["body"], "visibility": body.get("visibility")}
        internal = body.get("internal", False)
        if not isinstance(internal, bool):
            raise ApiError(400, ["internal must be true or false"])
        comment = self.state.add_comment(
            self._actor(body), issue, request, "2", internal=internal
        )
        return Resp(201, {"id": str(comment.id)})

    def _update_comment(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        """A human edits a comment: ``body``, ``visibility`` (present; null clears) and
        ``internal``, each only when given."""
        issue = self._issue(params)
        changes = {k: body[k] for k in ("body", "visibility", "internal") if k in body}
        comment = self.state.human_update_comment(
            self._actor(body), issue, params["comment_id"], changes
        )
        return Resp(200, {"id": str(comment.id)})

    def _delete_comment(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        self.state.delete_comment(self._issue(params), params["comment_id"])
        return Resp(204)

    def _timestamps(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        issue = self._issue(params)
        created = parse_jira(body["created"]) if body.get("created") else None
        updated = parse_jira(body["updated"]) if body.get("updated") else None
        self.state.set_timestamps(issue, created, updated)
        return self._state(issue)

    def _set_property(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        issue = self._issue(params)
        raw = json.dumps(body).encode()
        created = self.state.set_property(issue, params["key"], raw, body)
        return Resp(201 if created else 200)

    def _add_link(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        """A human links two issues: ``inward`` <type's outward phrase> ``outward``."""
        request = {
            "type": {"name": body["type"]},
            "inwardIssue": {"key": body["inward"]},
            "outwardIssue": {"key": body["outward"]},
        }
        link = self.state.create_link(self._actor(body), request)
        return Resp(201, {"id": str(link.id)})

    # ----- settings, faults, counters -----------------------------------------------------------

    def _settle(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        self.state.settle_search()
        return Resp(204)

    def _get_settings(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        return Resp(200, asdict(self.state.settings))

    def _put_settings(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        known = {f.name: f.type for f in fields(Settings)}
        unknown = set(body) - set(known)
        if unknown:
            raise ApiError(400, [f"unknown settings: {sorted(unknown)}"])
        with self.state.lock:
            for name, value in body.items():
                current = getattr(self.state.settings, name)
                if isinstance(current, bool) and not isinstance(value, bool):
                    raise ApiError(400, [f"setting {name} takes true or false"])
                setattr(self.state.settings, name, type(current)(value))
        return Resp(200, asdict(self.state.settings))

    def _list_faults(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        with self.faults.lock:
            return Resp(200, [asdict(f) for f in self.faults.faults])

    def _arm_fault(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        kind = body["kind"]
        if kind not in FAULT_KINDS:
            raise ApiError(400, [f"unknown fault kind {kind!r}; known: {FAULT_KINDS}"])
        count = body.get("count")
        rate = float(body.get("rate", 1.0))
        if count is None and rate >= 1.0:
            count = 1
        fault = Fault(
            kind=kind,
            pattern=body.get("route", "*"),
            remaining=None if count is None else int(count),
            rate=rate,
            status=int(body.get("status", 503)),
            retry_after=None if body.get("retry_after") is None else int(body["retry_after"]),
            seconds=float(body.get("seconds", 0.0)),
            reason=body.get("reason", "jira-burst-based"),
        )
        self.faults.arm(fault)
        return Resp(201, asdict(fault))

    def _clear_faults(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        self.faults.clear()
        return Resp(204)

    def _counters(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        return Resp(200, self.faults.snapshot_counters())

    def _reset_counters(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        self.faults.reset_counters()
        return Resp(204)

    def _journal(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        return Resp(200, self.faults.journal.snapshot())

    def _reset_journal(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        self.faults.journal.reset()
        return Resp(204)

    def _reset_limits(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        self.limiter.reset()
        return Resp(204)

    # ----- webhooks ------------------------------------------------------------------------

    def _webhook_stats(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        return Resp(200, webhooks.stats(self.state))

    def _configure_webhook(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        return Resp(200, webhooks.configure(self.state, body))

    def _disable_webhook(self, params: dict[str, str], query: QueryParams, body: Any) -> Resp:
        webhooks.install(self.state, None)
        return Resp(204)
