"""The simulator's mutable records: users, projects, issues and what hangs off issues."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from syncd.simulators.jira.catalog import Transition


@dataclass
class User:
    account_id: str
    email: str
    display_name: str
    api_token: str | None
    pat: str | None
    time_zone: str
    name: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


@dataclass
class Project:
    id: int
    key: str
    name: str
    lead_account_id: str
    workflow: tuple[Transition, ...]
    next_number: int = 1


@dataclass
class Text:
    """A text field as written: the wiki/plain string, and the ADF document if v3 wrote it."""

    wiki: str
    adf: dict[str, Any] | None = None


@dataclass
class IssueCore:
    """What search sees of an issue (a stale copy of it is kept for the search lag)."""

    id: int
    key: str
    project_id: int
    issuetype_id: str
    summary: str
    description: Text | None
    labels: list[str]
    priority_id: str | None
    status_id: str
    resolution_id: str | None
    custom: dict[str, Any]
    properties: dict[str, Any]
    created: datetime
    updated: datetime
    resolutiondate: datetime | None
    statuscategorychangedate: datetime
    reporter_id: str
    assignee_id: str | None

    def snapshot(self) -> IssueCore:
        return copy.deepcopy(self)


@dataclass
class Comment:
    id: int
    author_id: str
    update_author_id: str
    body: Text
    created: datetime
    updated: datetime
    visibility: dict[str, str] | None
    # A JSM internal note (property ``sd.public.comment`` = ``{"internal": true}``):
    # rendered as ``jsdPublic: false``.
    internal: bool = False


@dataclass
class RemoteLink:
    id: int
    global_id: str | None
    application: dict[str, Any] | None
    relationship: str | None
    object: dict[str, Any]


@dataclass(frozen=True)
class IssueLink:
    """``inward_issue_id`` <outward description> ``outward_issue_id`` (for Duplicate:
    the inward issue duplicates the outward one), as POST /issueLink names them."""

    id: int
    type_id: str
    inward_issue_id: int
    outward_issue_id: int


@dataclass
class Attachment:
    id: int
    filename: str
    author_id: str
    created: datetime
    mime_type: str
    content: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class ChangeItem:
    field: str
    field_id: str
    from_value: str | None
    from_string: str | None
    to_value: str | None
    to_string: str | None
    fieldtype: str = "jira"


@dataclass
class ChangeGroup:
    id: int
    author_id: str
    created: datetime
    items: list[ChangeItem]


@dataclass
class Issue:
    core: IssueCore
    former_keys: list[str] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    remote_links: list[RemoteLink] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    changelog: list[ChangeGroup] = field(default_factory=list)
    # The copy search still returns while the last change is younger than the lag.
    indexed: IssueCore | None = None
    changed_at: float = 0.0
    deleted: bool = False
