"""JSON representations of Jira entities, as Jira Cloud (or DC) answers them.

``Renderer`` carries what every representation depends on: the base URL for ``self``
links (including any context path), the API version (v2 strings or v3 ADF for text
fields) and the time zone of the user who asked (Jira renders timestamps in it).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from syncd.simulators.jira.adf import text_to_adf
from syncd.simulators.jira.catalog import (
    ALL_FIELDS,
    EDITABLE_FIELDS,
    FIELD_BY_ID,
    FIELDS,
    ISSUE_TYPE_BY_ID,
    LINK_TYPE_BY_ID,
    NAVIGABLE_FIELDS,
    PRIORITY_BY_ID,
    PRIORITY_STATUS_COLORS,
    RESOLUTION_BY_ID,
    STATUS_BY_ID,
    FieldDef,
    LinkType,
    Named,
    Status,
    StatusCategory,
    Transition,
)
from syncd.simulators.jira.model import (
    Attachment,
    ChangeGroup,
    Comment,
    Issue,
    IssueCore,
    IssueLink,
    Project,
    RemoteLink,
    Text,
    User,
)
from syncd.simulators.jira.state import JiraState
from syncd.simulators.jira.timefmt import format_jira

ISSUE_EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"


def requested_fields(raw: Iterable[str] | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """Resolve a ``fields`` parameter (repeated or comma-separated) to field ids."""
    items = [part.strip() for value in (raw or []) for part in value.split(",") if part.strip()]
    if not items:
        return default
    chosen: list[str] = []
    excluded: set[str] = set()
    for item in items:
        if item == "*all":
            chosen.extend(ALL_FIELDS)
        elif item == "*navigable":
            chosen.extend(NAVIGABLE_FIELDS)
        elif item.startswith("-"):
            excluded.add(item[1:])
        else:
            chosen.append(item)
    return tuple(f for f in dict.fromkeys(chosen) if f not in excluded)


@dataclass(frozen=True)
class Renderer:
    state: JiraState
    base: str  # e.g. http://127.0.0.1:8089/jira
    version: str  # "2" or "3"
    zone: ZoneInfo
    path_version: str = ""  # the version segment of self links, when it differs ("latest")

    @staticmethod
    def utc() -> ZoneInfo:
        return ZoneInfo("UTC")

    @property
    def api(self) -> str:
        return f"{self.base}/rest/api/{self.path_version or self.version}"

    def when(self, instant: Any) -> str | None:
        return None if instant is None else format_jira(instant, self.zone)

    def text(self, value: Text | None) -> Any:
        if value is None:
            return None
        if self.version == "3":
            return value.adf if value.adf is not None else text_to_adf(value.wiki)
        return value.wiki

    # ----- users ------------------------------------------------------------------------

    def avatar_urls(self, seed: str) -> dict[str, str]:
        return {
            size: f"https://avatar.example.invalid/{seed}/{size}.png"
            for size in ("48x48", "24x24", "16x16", "32x32")
        }

    def user(self, user: User | None) -> dict[str, Any] | None:
        if user is None:
            return None
        body: dict[str, Any] = {
            "self": f"{self.api}/user?accountId={user.account_id}",
            "avatarUrls": self.avatar_urls(user.account_id),
            "displayName": user.display_name,
            "active": True,
            "timeZone": user.time_zone,
        }
        if self.state.settings.cloud:
            body["accountId"] = user.account_id
            body["accountType"] = "atlassian"
            body["emailAddress"] = user.email
        else:
            body["self"] = f"{self.api}/user?username={user.name}"
            body["name"] = user.name
            body["key"] = user.name
            body["emailAddress"] = user.email
        return body

    def user_by_id(self, account_id: str | None) -> dict[str, Any] | None:
        return self.user(self.state.users.get(account_id or ""))

    def myself(self, user: User) -> dict[str, Any]:
        body = self.user(user)
        assert body is not None
        body.update(
            {
                "locale": "en_US",
                "groups": {"size": 1, "items": []},
                "applicationRoles": {"size": 1, "items": []},
                "expand": "groups,applicationRoles",
            }
        )
        return body

    # ----- catalog objects -----------------------------------------------------------------

    def category(self, category: StatusCategory) -> dict[str, Any]:
        return {
            "self": f"{self.api}/statuscategory/{category.id}",
            "id": category.id,
            "key": category.key,
            "colorName": category.color,
            "name": category.name,
        }

    def status(self, status: Status) -> dict[str, Any]:
        return {
            "self": f"{self.api}/status/{status.id}",
            "description": status.description,
            "iconUrl": f"{self.base}/images/icons/statuses/generic.png",
            "name": status.name,
            "id": status.id,
            "statusCategory": self.category(status.category),
        }

    def priority(self, priority: Named) -> dict[str, Any]:
        return {
            "self": f"{self.api}/priority/{priority.id}",
            "statusColor": PRIORITY_STATUS_COLORS[priority.id],
            "description": priority.description,
            "iconUrl": f"{self.base}/images/icons/priorities/{priority.name.lower()}.svg",
            "name": priority.name,
            "id": priority.id,
        }

    def resolution(self, resolution: Named) -> dict[str, Any]:
        return {
            "self": f"{self.api}/resolution/{resolution.id}",
            "id": resolution.id,
            "description": resolution.description,
            "name": resolution.name,
        }

    def issue_type(self, issue_type: Named) -> dict[str, Any]:
        return {
            "self": f"{self.api}/issuetype/{issue_type.id}",
            "id": issue_type.id,
            "description": issue_type.description,
            "iconUrl": f"{self.base}/images/icons/issuetypes/{issue_type.name.lower()}.svg",
            "name": issue_type.name,
            "subtask": False,
            "avatarId": 10318,
            "hierarchyLevel": 0,
        }

    def field(self, field: FieldDef) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": field.schema_type}
        if field.items:
            schema["items"] = field.items
        if field.system:
            schema["system"] = field.system
        if field.custom_type:
            schema["custom"] = field.custom_type
            schema["customId"] = field.custom_id
        body: dict[str, Any] = {
            "id": field.id,
            "key": field.id,
            "name": field.name,
            "custom": field.custom,
            "orderable": field.orderable,
            "navigable": True,
            "searchable": field.searchable,
            "clauseNames": list(field.clause_names),
        }
        if field.id != "issuekey":
            body["schema"] = schema
        return body

    def fields(self) -> list[dict[str, Any]]:
        return [self.field(field) for field in FIELDS]

    def project(self, project: Project, *, full: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "self": f"{self.api}/project/{project.id}",
            "id": str(project.id),
            "key": project.key,
            "name": project.name,
            "avatarUrls": self.avatar_urls(f"project-{project.id}"),
            "projectTypeKey": "software",
            "simplified": False,
        }
        if full:
            body.update(
                {
                    "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
                    "description": "",
                    "lead": self.user_by_id(project.lead_account_id),
                    "components": [],
                    "issueTypes": [self.issue_type(t) for t in ISSUE_TYPE_BY_ID.values()],
                    "assigneeType": "UNASSIGNED",
                    "versions": [],
                    "roles": {},
                    "style": "classic",
                    "isPrivate": False,
                    "properties": {},
                }
            )
        return body

    # ----- transitions ----------------------------------------------------------------------

    def transition(self, transition: Transition, with_fields: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": transition.id,
            "name": transition.name,
            "to": self.status(STATUS_BY_ID[transition.to_status_id]),
            "hasScreen": bool(transition.screen_fields),
            "isGlobal": False,
            "isInitial": False,
            "isAvailable": True,
            "isConditional": False,
            "isLooped": False,
        }
        if with_fields:
            fields: dict[str, Any] = {}
            for field_id in transition.screen_fields:
                if field_id == "resolution":
                    fields["resolution"] = {
                        "required": "resolution" in transition.required_fields,
                        "schema": {"type": "resolution", "system": "resolution"},
                        "name": "Resolution",
                        "key": "resolution",
                        "operations": ["set"],
                        "allowedValues": [self.resolution(r) for r in RESOLUTION_BY_ID.values()],
                    }
            body["fields"] = fields
        return body

    # ----- comments, links, changelog -------------------------------------------------------

    def comment(
        self, issue: Issue, comment: Comment, *, properties: bool = False
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "self": f"{self.api}/issue/{issue.core.id}/comment/{comment.id}",
            "id": str(comment.id),
            "author": self.user_by_id(comment.author_id),
            "body": self.text(comment.body),
            "updateAuthor": self.user_by_id(comment.update_author_id),
            "created": self.when(comment.created),
            "updated": self.when(comment.updated),
        }
        # CHOSEN: Cloud always says jsdPublic; Data Center leaves it out, and a Service
        # Management internal note shows only as the sd.public.comment property
        if self.state.settings.cloud:
            body["jsdPublic"] = not comment.internal
        if properties:
            body["properties"] = (
                [{"key": "sd.public.comment", "value": {"internal": True}}]
                if comment.internal
                else []
            )
        if comment.visibility is not None:
            body["visibility"] = dict(comment.visibility)
        return body

    def comment_page(
        self,
        issue: Issue,
        comments: list[Comment],
        start: int,
        limit: int,
        *,
        properties: bool = False,
    ) -> dict[str, Any]:
        page = comments[start : start + limit]
        return {
            "comments": [self.comment(issue, c, properties=properties) for c in page],
            "self": f"{self.api}/issue/{issue.core.id}/comment",
            "maxResults": limit,
            "total": len(comments),
            "startAt": start,
        }

    def remote_link(self, issue: Issue, link: RemoteLink) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": link.id,
            "self": f"{self.api}/issue/{issue.core.key}/remotelink/{link.id}",
            "object": link.object,
        }
        if link.global_id is not None:
            body["globalId"] = link.global_id
        if link.application is not None:
            body["application"] = link.application
        if link.relationship is not None:
            body["relationship"] = link.relationship
        return body

    def link_type(self, link_type: LinkType) -> dict[str, Any]:
        return {
            "id": link_type.id,
            "name": link_type.name,
            "inward": link_type.inward,
            "outward": link_type.outward,
            "self": f"{self.api}/issueLinkType/{link_type.id}",
        }

    def linked_issue(self, issue: Issue) -> dict[str, Any]:
        core = issue.core
        return {
            "id": str(core.id),
            "key": core.key,
            "self": f"{self.api}/issue/{core.id}",
            "fields": {
                "summary": core.summary,
                "status": self.status(STATUS_BY_ID[core.status_id]),
                "priority": (
                    self.priority(PRIORITY_BY_ID[core.priority_id]) if core.priority_id else None
                ),
                "issuetype": self.issue_type(ISSUE_TYPE_BY_ID[core.issuetype_id]),
            },
        }

    def issue_link(self, link: IssueLink, seen_from: Issue | None = None) -> dict[str, Any]:
        """A link; seen from one of its issues (``issuelinks``) only the other end shows:
        ``outwardIssue`` when ``seen_from`` is the link's inward issue, and vice versa."""
        body: dict[str, Any] = {
            "id": str(link.id),
            "self": f"{self.api}/issueLink/{link.id}",
            "type": self.link_type(LINK_TYPE_BY_ID[link.type_id]),
        }
        inward = self.state.issues.get(link.inward_issue_id)
        outward = self.state.issues.get(link.outward_issue_id)
        if outward is not None and (seen_from is None or seen_from is inward):
            body["outwardIssue"] = self.linked_issue(outward)
        if inward is not None and (seen_from is None or seen_from is outward):
            body["inwardIssue"] = self.linked_issue(inward)
        return body

    def attachment(self, issue: Issue, attachment: Attachment) -> dict[str, Any]:
        return {
            "self": f"{self.api}/attachment/{attachment.id}",
            "id": str(attachment.id),
            "filename": attachment.filename,
            "author": self.user_by_id(attachment.author_id),
            "created": self.when(attachment.created),
            "size": attachment.size,
            "mimeType": attachment.mime_type,
            "content": f"{self.base}/rest/api/2/attachment/content/{attachment.id}",
        }

    def editmeta(self, issue: Issue) -> dict[str, Any]:
        """The edit screen: the editable fields, plus ``resolution`` where the simulator's
        settings put it on the screen (a done status)."""
        fields: dict[str, Any] = {}
        for field_id in EDITABLE_FIELDS:
            rendered = self.field(FIELD_BY_ID[field_id])
            entry: dict[str, Any] = {
                "required": field_id in ("summary", "reporter"),
                "schema": rendered["schema"],
                "name": rendered["name"],
                "key": field_id,
                "operations": ["add", "set", "remove"] if field_id == "labels" else ["set"],
            }
            if field_id == "priority":
                entry["allowedValues"] = [self.priority(p) for p in PRIORITY_BY_ID.values()]
            fields[field_id] = entry
        if self.state.resolution_editable(issue.core):
            fields["resolution"] = {
                "required": True,
                "schema": {"type": "resolution", "system": "resolution"},
                "name": "Resolution",
                "key": "resolution",
                "operations": ["set"],
                "allowedValues": [self.resolution(r) for r in RESOLUTION_BY_ID.values()],
            }
        return {"fields": fields}

    def change_group(self, group: ChangeGroup) -> dict[str, Any]:
        return {
            "id": str(group.id),
            "author": self.user_by_id(group.author_id),
            "created": self.when(group.created),
            "items": [
                # The document's ChangeDetails is not nullable: empty sides are left out.
                {
                    key: value
                    for key, value in (
                        ("field", item.field),
                        ("fieldtype", item.fieldtype),
                        ("fieldId", item.field_id),
                        ("from", item.from_value),
                        ("fromString", item.from_string),
                        ("to", item.to_value),
                        ("toString", item.to_string),
                    )
                    if value is not None
                }
                for item in group.items
            ],
        }

    # ----- issues ----------------------------------------------------------------------------

    def field_value(self, issue: Issue, core: IssueCore, field_id: str) -> tuple[bool, Any]:
        """(present, value) of one field of an issue."""
        project = self.state.projects[core.project_id]
        simple: dict[str, Any] = {
            "summary": lambda: core.summary,
            "description": lambda: self.text(core.description),
            "labels": lambda: list(core.labels),
            "priority": lambda: (
                self.priority(PRIORITY_BY_ID[core.priority_id]) if core.priority_id else None
            ),
            "status": lambda: self.status(STATUS_BY_ID[core.status_id]),
            "resolution": lambda: (
                self.resolution(RESOLUTION_BY_ID[core.resolution_id])
                if core.resolution_id
                else None
            ),
            "issuetype": lambda: self.issue_type(ISSUE_TYPE_BY_ID[core.issuetype_id]),
            "project": lambda: self.project(project, full=False),
            "created": lambda: self.when(core.created),
            "updated": lambda: self.when(core.updated),
            "resolutiondate": lambda: self.when(core.resolutiondate),
            "statuscategorychangedate": lambda: self.when(core.statuscategorychangedate),
            "reporter": lambda: self.user_by_id(core.reporter_id),
            "creator": lambda: self.user_by_id(core.reporter_id),
            "assignee": lambda: self.user_by_id(core.assignee_id),
            "comment": lambda: self.comment_page(issue, issue.comments, 0, 5000),
            "issuelinks": lambda: [
                self.issue_link(link, issue) for link in self.state.links_of(issue)
            ],
            "attachment": lambda: [self.attachment(issue, a) for a in issue.attachments],
        }
        if field_id in simple:
            return True, simple[field_id]()
        if field_id.startswith("customfield_") and any(f.id == field_id for f in FIELDS):
            return True, core.custom.get(field_id)
        return False, None

    def issue(
        self,
        issue: Issue,
        core: IssueCore,
        field_ids: tuple[str, ...],
        *,
        expand: Collection[str] = (),
        properties: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for field_id in field_ids:
            present, value = self.field_value(issue, core, field_id)
            if present:
                fields[field_id] = value
        body: dict[str, Any] = {
            "expand": ISSUE_EXPAND,
            "id": str(core.id),
            "self": f"{self.api}/issue/{core.id}",
            "key": core.key,
        }
        if fields or any(f not in ("id", "key") for f in field_ids):
            body["fields"] = fields
        if properties:
            body["properties"] = {
                key: core.properties[key] for key in properties if key in core.properties
            }
        if "changelog" in expand:
            histories = [self.change_group(g) for g in issue.changelog[-100:]]
            body["changelog"] = {
                "startAt": 0,
                "maxResults": len(histories),
                "total": len(issue.changelog),
                "histories": histories,
            }
        if "transitions" in expand:
            body["transitions"] = [self.transition(t, False) for t in self.state.transitions(issue)]
        if "names" in expand:
            names = {f.id: f.name for f in FIELDS}
            body["names"] = {key: names.get(key, key) for key in fields}
        if "renderedfields" in expand:
            body["renderedFields"] = {
                key: value if isinstance(value, str) else None for key, value in fields.items()
            }
        return body
