"""The simulator's whole Jira site: users, projects, issues, and the operations on them.

Every public method takes the lock, so HTTP handlers (on the server thread) and direct
Python callers can share one instance. Operations raise ``ApiError`` with Jira's messages.

Search consistency: each issue remembers when it last changed and, while that change is
younger than ``search_lag_seconds``, search sees the copy from before the change (or no
issue at all when it was created within the lag), unless the issue id is listed in
``reconcileIssues``. GET by key always sees the current issue.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from syncd.simulators.jira.catalog import (
    CHANGE_RESOLUTION_OFFSET,
    DEFAULT_PRIORITY_ID,
    DEFAULT_RESOLUTION_FOR_STATUS,
    GROUPS,
    INITIAL_STATUS_ID,
    ISSUE_TYPE_BY_ID,
    ISSUE_TYPES,
    LINK_TYPE_BY_ID,
    LINK_TYPES,
    RESOLUTION_BY_ID,
    RESOLUTIONS,
    ROLES,
    STATUS_BY_ID,
    STATUSES,
    Group,
    LinkType,
    Transition,
    workflow_for,
)
from syncd.simulators.jira.edits import EditResult, FieldWriter, parse_resolution, parse_text
from syncd.simulators.jira.errors import ApiError, cannot_set, not_found_issue
from syncd.simulators.jira.jql_eval import Compiled
from syncd.simulators.jira.model import (
    Attachment,
    ChangeGroup,
    ChangeItem,
    Comment,
    Issue,
    IssueCore,
    IssueLink,
    Project,
    RemoteLink,
    Text,
    User,
)
from syncd.simulators.jira.timefmt import utc_now

MAX_PROPERTY_KEY = 255
INVALID_PAYLOAD = "Invalid request payload. Refer to the REST API documentation and try again."
MAX_CURSORS = 512
# The comment property a JSM internal note carries (reference §2.4).
SD_PUBLIC_COMMENT = "sd.public.comment"


@dataclass
class Settings:
    """Behaviour knobs that tests change at run time through the control API."""

    deployment_type: str = "Cloud"
    search_lag_seconds: float = 0.0
    property_max_bytes: int = 32768
    remote_link_cap: int = 500
    burst_capacity: int = 1000
    burst_refill_per_second: float = 1000.0
    issue_write_capacity: int = 100
    issue_write_refill_per_second: float = 50.0
    # Jira Cloud indexes only entity properties an app declares; False makes
    # ``issue.property[...]`` JQL answer 400 as such a site does.
    property_jql: bool = True
    # Added to the real clock for every timestamp the site writes or reads ("now" in
    # relative JQL dates, serverTime): simulates a Jira whose clock is off from ours.
    clock_offset_seconds: float = 0.0
    # Whether the edit screen has the resolution field while an issue is in a done status
    # (then PUT /issue may change it in place); off: only a transition can set it.
    resolution_on_edit_screen: bool = True
    # Whether every done status has a "Change Resolution" transition to itself.
    resolution_self_transition: bool = False
    attachment_max_bytes: int = 10 * 1024 * 1024

    @property
    def cloud(self) -> bool:
        return self.deployment_type == "Cloud"


class ChangeObserver(Protocol):
    """Told of every change as it is made, under the lock (the webhook emitter)."""

    def issue_event(
        self,
        event: str,
        issue: Issue,
        actor_id: str | None,
        changelog: ChangeGroup | None = None,
    ) -> None: ...

    def comment_event(
        self, event: str, issue: Issue, comment: Comment, actor_id: str | None
    ) -> None: ...

    def close(self) -> None: ...


@dataclass
class CommentChange:
    """What one comment edit changes; ``None``/``False`` fields stay as they are."""

    text: Text | None = None
    set_visibility: bool = False
    visibility: dict[str, str] | None = None
    internal: bool | None = None


@dataclass
class Cursor:
    ids: list[int]
    offset: int
    reconcile: frozenset[int]


@dataclass
class JiraState:
    settings: Settings = field(default_factory=Settings)
    clock: Callable[[], float] = time.monotonic
    lock: threading.RLock = field(default_factory=threading.RLock)
    users: dict[str, User] = field(default_factory=dict)
    projects: dict[int, Project] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    keys: dict[str, int] = field(default_factory=dict)
    links: dict[int, IssueLink] = field(default_factory=dict)
    cursors: OrderedDict[str, Cursor] = field(default_factory=OrderedDict)
    # The webhook emitter, when one is configured; None (the default) costs nothing.
    observer: ChangeObserver | None = None
    #: admin webhooks registered through /rest/webhooks/1.0/webhook (number -> body)
    admin_webhooks: dict[int, dict[str, Any]] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(10001))
    _project_ids: Iterator[int] = field(default_factory=lambda: itertools.count(10000))
    _other_ids: Iterator[int] = field(default_factory=lambda: itertools.count(10000))
    _account_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def now(self) -> datetime:
        """The site's clock: real UTC time (ms precision) plus the configured offset."""
        offset = self.settings.clock_offset_seconds
        now = utc_now()
        return now + timedelta(milliseconds=round(offset * 1000)) if offset else now

    def _next(self, counter: Iterator[int]) -> int:
        return next(counter)

    # ----- users and auth -------------------------------------------------------------

    def add_user(
        self,
        email: str,
        *,
        display_name: str | None = None,
        api_token: str | None = None,
        pat: str | None = None,
        time_zone: str = "UTC",
        name: str | None = None,
    ) -> User:
        with self.lock:
            number = self._next(self._account_ids)
            user = User(
                account_id=f"5b10ac8d82e05b22cc7d{number:04d}",
                email=email,
                display_name=display_name or email.split("@", maxsplit=1)[0],
                api_token=api_token,
                pat=pat,
                time_zone=time_zone,
                name=name or email.split("@", maxsplit=1)[0],
            )
            self.users[user.account_id] = user
            return user

    def authenticate_basic(self, username: str, secret: str) -> User | None:
        with self.lock:
            for user in self.users.values():
                if (
                    username in (user.email, user.name)
                    and user.api_token is not None
                    and secrets.compare_digest(user.api_token, secret)
                ):
                    return user
            return None

    def update_user(
        self,
        email: str,
        *,
        api_token: str | bool | None = False,
        pat: str | bool | None = False,
        time_zone: str | None = None,
    ) -> User:
        """Change a user's credentials or zone (``False`` leaves a credential unchanged;
        ``None`` revokes it, so later calls with it get 401)."""
        with self.lock:
            user = next((u for u in self.users.values() if u.email == email), None)
            if user is None:
                raise ApiError(404, [f"No user with email {email}"])
            if api_token is not False:
                user.api_token = api_token if isinstance(api_token, str) else None
            if pat is not False:
                user.pat = pat if isinstance(pat, str) else None
            if time_zone is not None:
                ZoneInfo(time_zone)  # raises for an unknown zone
                user.time_zone = time_zone
            return user

    def authenticate_bearer(self, token: str) -> User | None:
        with self.lock:
            for user in self.users.values():
                if user.pat is not None and secrets.compare_digest(user.pat, token):
                    return user
            return None

    def user_for(self, reference: Mapping[str, Any]) -> str | None:
        """The account id named by ``{"accountId": ...}`` (Cloud) or ``{"name": ...}`` (DC)."""
        with self.lock:
            if self.settings.cloud:
                account = reference.get("accountId")
                return account if account in self.users else None
            name = reference.get("name")
            for user in self.users.values():
                if user.name == name:
                    return user.account_id
            return None

    # ----- projects ---------------------------------------------------------------------

    def add_project(self, key: str, name: str | None = None, lead: str | None = None) -> Project:
        with self.lock:
            if any(p.key == key for p in self.projects.values()):
                raise ApiError(400, errors={"projectKey": f"A project with key '{key}' exists."})
            lead_id = lead or next(iter(self.users), "")
            project = Project(
                id=self._next(self._project_ids),
                key=key,
                name=name or key,
                lead_account_id=lead_id,
                workflow=workflow_for(len(self.projects)),
            )
            self.projects[project.id] = project
            return project

    def project(self, reference: str) -> Project:
        with self.lock:
            for project in self.projects.values():
                if str(project.id) == reference or project.key == reference.upper():
                    return project
            raise ApiError(404, [f"No project could be found with key '{reference}'."])

    # JQL resolver protocol
    def project_ids_for(self, ref: str) -> set[int] | None:
        found = {
            p.id
            for p in self.projects.values()
            if str(p.id) == ref or p.key == ref.upper() or p.name.lower() == ref.lower()
        }
        return found or None

    def issue_ids_for_key(self, ref: str) -> set[int] | None:
        issue_id = self.keys.get(ref.upper())
        return None if issue_id is None else {issue_id}

    def properties_searchable(self) -> bool:
        return self.settings.property_jql

    def project_key_of(self, project_id: int) -> str:
        return self.projects[project_id].key

    # ----- issues: lookup and consistency -------------------------------------------------

    def issue(self, reference: str) -> Issue:
        with self.lock:
            issue_id = int(reference) if reference.isdigit() else self.keys.get(reference.upper())
            issue = self.issues.get(issue_id) if issue_id is not None else None
            if issue is None:
                raise not_found_issue()
            return issue

    def _before_change(self, issue: Issue) -> None:
        now = self.clock()
        lag = self.settings.search_lag_seconds
        if lag > 0 and now - issue.changed_at >= lag:
            issue.indexed = issue.core.snapshot()
        issue.changed_at = now

    def settle_search(self) -> None:
        """Let search catch up: every issue is indexed as it is now."""
        with self.lock:
            for issue in self.issues.values():
                issue.indexed = issue.core.snapshot()
                issue.changed_at = float("-inf")

    def view(self, issue: Issue, reconcile: frozenset[int] = frozenset()) -> IssueCore | None:
        """What search sees of ``issue`` now."""
        lag = self.settings.search_lag_seconds
        if lag <= 0 or issue.core.id in reconcile or self.clock() - issue.changed_at >= lag:
            return issue.core
        return issue.indexed

    def _record(self, issue: Issue, author: str, items: list[ChangeItem], when: datetime) -> None:
        """Append a changelog group: every issue change but comments ends here, so it is
        also where ``jira:issue_updated`` is emitted."""
        if items:
            group = ChangeGroup(self._next(self._other_ids), author, when, items)
            issue.changelog.append(group)
            if self.observer is not None:
                self.observer.issue_event("jira:issue_updated", issue, author, group)

    # ----- create / edit / transition ---------------------------------------------------

    def create_issue(self, actor: User, body: Any, version: str) -> Issue:
        with self.lock:
            if not isinstance(body, Mapping) or not isinstance(body.get("fields"), Mapping):
                raise ApiError(400, errors={"project": "Specify a valid project ID or key"})
            fields: Mapping[str, Any] = body["fields"]
            errors: dict[str, str] = {}
            project = self._project_from(fields.get("project"), errors)
            issuetype_id = self._issuetype_from(fields.get("issuetype"), errors)
            if "summary" not in fields:
                errors["summary"] = "You must specify a summary of the issue."
            if errors:
                raise ApiError(400, errors=errors)
            assert project is not None and issuetype_id is not None
            now = self.now()
            core = IssueCore(
                id=0,
                key="",
                project_id=project.id,
                issuetype_id=issuetype_id,
                summary="",
                description=None,
                labels=[],
                priority_id=DEFAULT_PRIORITY_ID,
                status_id=INITIAL_STATUS_ID,
                resolution_id=None,
                custom={},
                properties={},
                created=now,
                updated=now,
                resolutiondate=None,
                statuscategorychangedate=now,
                reporter_id=actor.account_id,
                assignee_id=None,
            )
            result = self._apply(core, body, version, skip=("project", "issuetype"))
            if result.errors:
                raise ApiError(400, errors=result.errors)
            properties = self._initial_properties(body.get("properties"))
            core.properties.update(properties)
            core.id = self._next(self._ids)
            core.key = f"{project.key}-{project.next_number}"
            project.next_number += 1
            issue = Issue(core=core, changed_at=self.clock())
            self.issues[core.id] = issue
            self.keys[core.key] = core.id
            if self.observer is not None:
                self.observer.issue_event("jira:issue_created", issue, actor.account_id)
            for text, visibility in result.comments:
                self._add_comment(issue, actor, text, visibility, now)
            return issue

    def _initial_properties(self, raw: Any) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, list) or not all(
            isinstance(item, Mapping) and isinstance(item.get("key"), str) and "value" in item
            for item in raw
        ):
            raise ApiError(400, [INVALID_PAYLOAD])
        for item in raw:
            self._check_property(item["key"], json.dumps(item["value"]).encode())
        return {item["key"]: item["value"] for item in raw}

    def _check_property(self, key: str, raw: bytes) -> None:
        if len(key) > MAX_PROPERTY_KEY:
            raise ApiError(
                400, [f"The property key can not be longer than {MAX_PROPERTY_KEY} characters."]
            )
        if len(raw) > self.settings.property_max_bytes:
            raise ApiError(
                400,
                [
                    "The property value has exceeded the maximum size of "
                    f"{self.settings.property_max_bytes} bytes."
                ],
            )

    def _project_from(self, value: Any, errors: dict[str, str]) -> Project | None:
        if isinstance(value, Mapping):
            ref = value.get("id", value.get("key"))
            if ref is not None:
                try:
                    return self.project(str(ref))
                except ApiError:
                    pass
        errors["project"] = "Specify a valid project ID or key"
        return None

    def _issuetype_from(self, value: Any, errors: dict[str, str]) -> str | None:
        if isinstance(value, Mapping):
            for issue_type in ISSUE_TYPES:
                if str(value.get("id")) == issue_type.id or value.get("name") == issue_type.name:
                    return issue_type.id
        errors["issuetype"] = "Specify an issue type"
        return None

    def _apply(
        self,
        core: IssueCore,
        body: Mapping[str, Any],
        version: str,
        *,
        skip: tuple[str, ...] = (),
        allowed: Iterable[str] | None = None,
    ) -> EditResult:
        """Apply ``fields`` and ``update`` of a request body to ``core``."""
        result = EditResult()
        writer = FieldWriter(core, version, self.user_for, result)
        fields = body.get("fields") or {}
        update = body.get("update") or {}
        if not isinstance(fields, Mapping) or not isinstance(update, Mapping):
            raise ApiError(400, [INVALID_PAYLOAD])
        allowed_set = None if allowed is None else set(allowed)
        for field_id, value in fields.items():
            if field_id in skip:
                continue
            if field_id in update:
                result.errors[field_id] = (
                    f"Field '{field_id}' cannot be set in both 'fields' and 'update'."
                )
                continue
            if allowed_set is not None and field_id not in allowed_set:
                result.errors[field_id] = cannot_set(field_id)
                continue
            writer.set(field_id, value)
        for field_id, operations in update.items():
            if allowed_set is not None and field_id not in allowed_set and field_id != "comment":
                result.errors[field_id] = cannot_set(field_id)
                continue
            writer.update(field_id, operations)
        return result

    def edit_issue(self, actor: User, issue: Issue, body: Any, version: str) -> None:
        with self.lock:
            if not isinstance(body, Mapping):
                raise ApiError(400, [INVALID_PAYLOAD])
            trial = issue.core.snapshot()
            fields = body.get("fields")
            resolution_given = isinstance(fields, Mapping) and "resolution" in fields
            if resolution_given:
                assert isinstance(fields, Mapping)
                body = {**body, "fields": {k: v for k, v in fields.items() if k != "resolution"}}
            result = self._apply(trial, body, version)
            if resolution_given:
                assert isinstance(fields, Mapping)
                self._edit_resolution(trial, fields["resolution"], result)
            if result.errors:
                raise ApiError(400, errors=result.errors)
            if not result.changes and not result.comments:
                return
            self._before_change(issue)
            now = self.now()
            if result.changes:
                trial.updated = now
            issue.core = trial
            self._record(issue, actor.account_id, result.changes, now)
            for text, visibility in result.comments:
                self._add_comment(issue, actor, text, visibility, now)

    def resolution_editable(self, core: IssueCore) -> bool:
        """Whether the edit screen shows ``resolution`` for the issue as it is now."""
        done = STATUS_BY_ID[core.status_id].category.key == "done"
        return done and self.settings.resolution_on_edit_screen

    def _edit_resolution(self, core: IssueCore, value: Any, result: EditResult) -> None:
        if not self.resolution_editable(core):
            result.errors["resolution"] = cannot_set("resolution")
            return
        found = parse_resolution(value, result)
        if found is None or found.id == core.resolution_id:
            return
        before = RESOLUTION_BY_ID[core.resolution_id].name if core.resolution_id else None
        result.changes.append(
            ChangeItem("resolution", "resolution", core.resolution_id, before, found.id, found.name)
        )
        core.resolution_id = found.id
        core.resolutiondate = self.now()

    def transitions(self, issue: Issue) -> list[Transition]:
        with self.lock:
            workflow = self.projects[issue.core.project_id].workflow
            available = [t for t in workflow if issue.core.status_id in t.from_status_ids]
            status = STATUS_BY_ID[issue.core.status_id]
            if self.settings.resolution_self_transition and status.category.key == "done":
                # ids follow the workflow's: its first transition is 11 + 100 per project
                offset = int(workflow[0].id) - 11
                available.append(
                    Transition(
                        id=str(CHANGE_RESOLUTION_OFFSET + offset),
                        name="Change Resolution",
                        from_status_ids=(status.id,),
                        to_status_id=status.id,
                        screen_fields=("resolution",),
                        required_fields=("resolution",),
                    )
                )
            return available

    def transition(self, actor: User, issue: Issue, body: Any, version: str) -> None:
        with self.lock:
            if not isinstance(body, Mapping) or not isinstance(body.get("transition"), Mapping):
                raise ApiError(400, ["Missing 'transition' identifier"])
            raw_id = body["transition"].get("id")
            if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
                raise ApiError(400, ["Missing 'transition' identifier"])
            available = {t.id: t for t in self.transitions(issue)}
            chosen = available.get(str(raw_id))
            if chosen is None:
                raise ApiError(
                    400,
                    [
                        f"Transition id '{raw_id}' is not valid for this issue.",
                    ],
                )
            trial = issue.core.snapshot()
            fields = dict(body.get("fields") or {})
            resolution_value = fields.pop("resolution", None) if "resolution" in fields else None
            had_resolution = "resolution" in (body.get("fields") or {})
            result = self._apply(
                trial,
                {"fields": fields, "update": body.get("update") or {}},
                version,
                allowed=chosen.screen_fields,
            )
            resolution_id: str | None = None
            if had_resolution:
                if "resolution" not in chosen.screen_fields:
                    result.errors["resolution"] = cannot_set("resolution")
                else:
                    found = parse_resolution(resolution_value, result)
                    resolution_id = found.id if found else None
            elif "resolution" in chosen.required_fields:
                result.errors["resolution"] = "Resolution is required."
            if result.errors:
                raise ApiError(400, errors=result.errors)
            self._before_change(issue)
            now = self.now()
            items = list(result.changes)
            items.extend(self._move_status(trial, chosen.to_status_id, resolution_id, now))
            trial.updated = now
            issue.core = trial
            self._record(issue, actor.account_id, items, now)
            for text, visibility in result.comments:
                self._add_comment(issue, actor, text, visibility, now)

    def _move_status(
        self, core: IssueCore, status_id: str, resolution_id: str | None, now: datetime
    ) -> list[ChangeItem]:
        old = STATUS_BY_ID[core.status_id]
        new = STATUS_BY_ID[status_id]
        items: list[ChangeItem] = []
        if old.id != new.id:  # a transition to the same status changes only the resolution
            items.append(ChangeItem("status", "status", old.id, old.name, new.id, new.name))
        if new.category.key != "done":
            resolution_id = None
        if resolution_id != core.resolution_id:
            before = RESOLUTION_BY_ID[core.resolution_id].name if core.resolution_id else None
            after = RESOLUTION_BY_ID[resolution_id].name if resolution_id else None
            items.append(
                ChangeItem(
                    "resolution", "resolution", core.resolution_id, before, resolution_id, after
                )
            )
        if old.category != new.category:
            core.statuscategorychangedate = now
        core.status_id = status_id
        core.resolution_id = resolution_id
        core.resolutiondate = now if resolution_id else None
        return items

    def delete_issue(self, issue: Issue) -> None:
        with self.lock:
            self.issues.pop(issue.core.id, None)
            for link_id in [i for i, link in self.links.items() if issue.core.id in _ends(link)]:
                del self.links[link_id]
            for key in [k for k, v in self.keys.items() if v == issue.core.id]:
                del self.keys[key]
            if self.observer is not None:
                self.observer.issue_event("jira:issue_deleted", issue, None)

    # ----- human edits (control API) -------------------------------------------------------

    def human_set_status(
        self, actor: User, issue: Issue, status_name: str, resolution_name: str | None
    ) -> None:
        with self.lock:
            status = next((s for s in STATUSES if s.name.lower() == status_name.lower()), None)
            if status is None:
                raise ApiError(400, [f"Unknown status '{status_name}'"])
            resolution_id: str | None = None
            if status.category.key == "done":
                wanted = resolution_name or DEFAULT_RESOLUTION_FOR_STATUS.get(status.name, "Done")
                found = next((r for r in RESOLUTIONS if r.name == wanted), None)
                if found is None:
                    raise ApiError(400, [f"Unknown resolution '{wanted}'"])
                resolution_id = found.id
            if status.id == issue.core.status_id and resolution_id == issue.core.resolution_id:
                return
            self._before_change(issue)
            now = self.now()
            items = self._move_status(issue.core, status.id, resolution_id, now)
            issue.core.updated = now
            self._record(issue, actor.account_id, items, now)

    def human_edit(self, actor: User, issue: Issue, body: Mapping[str, Any]) -> None:
        self.edit_issue(actor, issue, body, "2")

    def move_issue(self, actor: User, issue: Issue, project_ref: str) -> None:
        with self.lock:
            target = self.project(project_ref)
            if target.id == issue.core.project_id:
                return
            self._before_change(issue)
            now = self.now()
            old_key = issue.core.key
            old_project = self.projects[issue.core.project_id]
            new_key = f"{target.key}-{target.next_number}"
            target.next_number += 1
            issue.former_keys.append(old_key)
            issue.core.key = new_key
            issue.core.project_id = target.id
            issue.core.updated = now
            self.keys[new_key] = issue.core.id
            items = [
                ChangeItem(
                    "project",
                    "project",
                    str(old_project.id),
                    old_project.name,
                    str(target.id),
                    target.name,
                ),
                ChangeItem("Key", "issuekey", None, old_key, None, new_key),
            ]
            self._record(issue, actor.account_id, items, now)

    def set_timestamps(
        self, issue: Issue, created: datetime | None, updated: datetime | None
    ) -> None:
        with self.lock:
            self._before_change(issue)
            if created is not None:
                issue.core.created = created
            if updated is not None:
                issue.core.updated = updated

    # ----- comments --------------------------------------------------------------------------

    def _add_comment(
        self,
        issue: Issue,
        actor: User,
        text: Text,
        visibility: Mapping[str, str] | None,
        now: datetime,
        *,
        internal: bool = False,
    ) -> Comment:
        comment = Comment(
            id=self._next(self._other_ids),
            author_id=actor.account_id,
            update_author_id=actor.account_id,
            body=text,
            created=now,
            updated=now,
            visibility=dict(visibility) if visibility else None,
            internal=internal,
        )
        issue.comments.append(comment)
        if self.observer is not None:
            self.observer.comment_event("comment_created", issue, comment, actor.account_id)
        return comment

    def _visibility(self, raw: Any) -> dict[str, str] | None:
        if raw is None:
            return None
        if not isinstance(raw, Mapping) or raw.get("type") not in ("role", "group"):
            raise ApiError(400, errors={"commentLevel": "Invalid comment visibility type."})
        value = raw.get("value") or raw.get("identifier")
        if not isinstance(value, str) or value == "":
            raise ApiError(400, errors={"commentLevel": "You must specify a visibility value."})
        if raw["type"] == "role":
            if value not in ROLES:
                raise ApiError(
                    400,
                    errors={
                        "commentLevel": (
                            f"You are currently not a member of the project role: {value}."
                        )
                    },
                )
            return {"type": "role", "value": value, "identifier": value}
        group = _known_group(raw.get("identifier"), raw.get("value"))
        if group is None:
            # CHOSEN message (Jira's wording is not in the reference), as the role case.
            raise ApiError(400, errors={"commentLevel": f"Group: '{value}' does not exist."})
        return {"type": "group", "value": group.name, "identifier": group.group_id}

    def _comment_text(self, raw: Any, version: str) -> Text:
        result = EditResult()
        text = parse_text(raw, version, "comment", result)
        if result.errors:
            raise ApiError(400, errors=result.errors)
        if text is None or text.wiki.strip() == "":
            raise ApiError(400, errors={"comment": "Comment body can not be empty!"})
        return text

    def add_comment(
        self, actor: User, issue: Issue, body: Any, version: str, *, internal: bool = False
    ) -> Comment:
        """POST .../comment; ``internal`` (the control API's human) or the JSM property
        ``sd.public.comment`` in the body make it an internal note."""
        with self.lock:
            if not isinstance(body, Mapping):
                raise ApiError(400, [INVALID_PAYLOAD])
            text = self._comment_text(body.get("body"), version)
            visibility = self._visibility(body.get("visibility"))
            internal = _internal_flag(body.get("properties")) or internal
            self._before_change(issue)
            now = self.now()
            issue.core.updated = now
            return self._add_comment(issue, actor, text, visibility, now, internal=internal)

    def comment(self, issue: Issue, comment_id: str) -> Comment:
        with self.lock:
            for comment in issue.comments:
                if str(comment.id) == comment_id:
                    return comment
            raise ApiError(404, ["Can not find a comment for the id: " + comment_id + "."])

    def update_comment(
        self, actor: User, issue: Issue, comment_id: str, body: Any, version: str
    ) -> Comment:
        """PUT .../comment/{id}: a body is required; ``visibility`` (null clears it) and
        the ``sd.public.comment`` property change only when given."""
        with self.lock:
            comment = self.comment(issue, comment_id)
            if not isinstance(body, Mapping):
                raise ApiError(400, [INVALID_PAYLOAD])
            change = CommentChange(
                text=self._comment_text(body.get("body"), version),
                internal=_internal_flag(body.get("properties")),
            )
            if "visibility" in body:
                change.set_visibility = True
                change.visibility = self._visibility(body.get("visibility"))
            return self._change_comment(actor, issue, comment, change)

    def human_update_comment(
        self, actor: User, issue: Issue, comment_id: str, changes: Mapping[str, Any]
    ) -> Comment:
        """A human edits a comment in the web UI: any of ``body`` (wiki text),
        ``visibility`` (present: set, None: clear) and ``internal`` (bool)."""
        with self.lock:
            comment = self.comment(issue, comment_id)
            internal = changes.get("internal")
            if internal is not None and not isinstance(internal, bool):
                raise ApiError(400, ["internal must be true, false or null"])
            change = CommentChange(internal=internal)
            if changes.get("body") is not None:
                change.text = self._comment_text(changes["body"], "2")
            if "visibility" in changes:
                change.set_visibility = True
                change.visibility = self._visibility(changes["visibility"])
            return self._change_comment(actor, issue, comment, change)

    def _change_comment(
        self, actor: User, issue: Issue, comment: Comment, change: CommentChange
    ) -> Comment:
        """Apply an edit: like Jira, every saved edit moves the comment's and the issue's
        ``updated`` and sends ``comment_updated``."""
        self._before_change(issue)
        now = self.now()
        if change.text is not None:
            comment.body = change.text
        if change.set_visibility:
            comment.visibility = change.visibility
        if change.internal is not None:
            comment.internal = change.internal
        comment.updated = now
        comment.update_author_id = actor.account_id
        issue.core.updated = now
        if self.observer is not None:
            self.observer.comment_event("comment_updated", issue, comment, actor.account_id)
        return comment

    def delete_comment(self, issue: Issue, comment_id: str) -> None:
        with self.lock:
            comment = self.comment(issue, comment_id)
            self._before_change(issue)
            issue.comments.remove(comment)
            issue.core.updated = self.now()
            if self.observer is not None:
                self.observer.comment_event("comment_deleted", issue, comment, None)

    # ----- entity properties --------------------------------------------------------------

    def set_property(self, issue: Issue, key: str, raw: bytes, value: Any) -> bool:
        """Store a property; return True when it was created (201), False when updated."""
        with self.lock:
            self._check_property(key, raw)
            self._before_change(issue)
            created = key not in issue.core.properties
            issue.core.properties[key] = value
            return created

    def delete_property(self, issue: Issue, key: str) -> None:
        with self.lock:
            if key not in issue.core.properties:
                raise ApiError(404, [f"The property with key '{key}' does not exist."])
            self._before_change(issue)
            del issue.core.properties[key]

    # ----- remote links --------------------------------------------------------------------

    def upsert_remote_link(self, issue: Issue, body: Any) -> tuple[RemoteLink, bool]:
        with self.lock:
            if not isinstance(body, Mapping):
                raise ApiError(400, [INVALID_PAYLOAD])
            obj = body.get("object")
            errors: dict[str, str] = {}
            if not isinstance(obj, Mapping) or not obj.get("url"):
                errors["url"] = "'url' is required."
            if not isinstance(obj, Mapping) or not obj.get("title"):
                errors["title"] = "'title' is required."
            if errors:
                raise ApiError(400, errors=errors)
            assert isinstance(obj, Mapping)
            global_id = body.get("globalId")
            existing = None
            if isinstance(global_id, str) and global_id:
                existing = next(
                    (link for link in issue.remote_links if link.global_id == global_id), None
                )
            application = body.get("application")
            relationship = body.get("relationship")
            if existing is not None:
                # Fields left out of an update by globalId are set to null, as Jira does.
                existing.application = (
                    dict(application) if isinstance(application, Mapping) else None
                )
                existing.relationship = relationship if isinstance(relationship, str) else None
                existing.object = dict(obj)
                return existing, False
            if len(issue.remote_links) >= self.settings.remote_link_cap:
                raise ApiError(
                    413,
                    [
                        f"The issue has reached the limit of {self.settings.remote_link_cap} "
                        "remote links."
                    ],
                )
            link = RemoteLink(
                id=self._next(self._other_ids),
                global_id=global_id if isinstance(global_id, str) and global_id else None,
                application=dict(application) if isinstance(application, Mapping) else None,
                relationship=relationship if isinstance(relationship, str) else None,
                object=dict(obj),
            )
            issue.remote_links.append(link)
            return link, True

    def remote_link(self, issue: Issue, link_id: str) -> RemoteLink:
        with self.lock:
            for link in issue.remote_links:
                if str(link.id) == link_id:
                    return link
            raise ApiError(404, [f"No remote link with id '{link_id}' exists on this issue."])

    def delete_remote_links(self, issue: Issue, predicate: Callable[[RemoteLink], bool]) -> int:
        with self.lock:
            before = len(issue.remote_links)
            issue.remote_links = [link for link in issue.remote_links if not predicate(link)]
            return before - len(issue.remote_links)

    # ----- issue links ----------------------------------------------------------------------

    def create_link(self, actor: User, body: Any) -> IssueLink:
        """POST /issueLink: the same link again changes nothing (Jira answers 201 anyway)."""
        with self.lock:
            if not isinstance(body, Mapping):
                raise ApiError(400, [INVALID_PAYLOAD])
            link_type = self._link_type(body.get("type"))
            inward = self._linked_issue(body.get("inwardIssue"))
            outward = self._linked_issue(body.get("outwardIssue"))
            if inward is outward:
                raise ApiError(400, ["You cannot link an issue to itself."])
            ends = (link_type.id, inward.core.id, outward.core.id)
            for link in self.links.values():
                if (link.type_id, link.inward_issue_id, link.outward_issue_id) == ends:
                    return link
            link = IssueLink(self._next(self._other_ids), *ends)
            self.links[link.id] = link
            self._record_link(actor, link, added=True)
            return link

    def _link_type(self, raw: Any) -> LinkType:
        if isinstance(raw, Mapping):
            for link_type in LINK_TYPES:
                if str(raw.get("id")) == link_type.id or raw.get("name") == link_type.name:
                    return link_type
            name = raw.get("name", raw.get("id"))
            raise ApiError(404, [f"No issue link type with name '{name}' found."])
        raise ApiError(400, ["Issue link type is required."])

    def _linked_issue(self, raw: Any) -> Issue:
        if not isinstance(raw, Mapping) or not (raw.get("key") or raw.get("id")):
            raise ApiError(400, [INVALID_PAYLOAD])
        reference = str(raw.get("key") or raw.get("id"))
        try:
            return self.issue(reference)
        except ApiError:
            raise ApiError(404, [f"Issue Does Not Exist: {reference}"]) from None

    def _record_link(self, actor: User, link: IssueLink, *, added: bool) -> None:
        """A changelog item and an ``updated`` bump on both issues, as Jira records it."""
        link_type = LINK_TYPE_BY_ID[link.type_id]
        now = self.now()
        sides = (
            (link.inward_issue_id, link.outward_issue_id, link_type.outward),
            (link.outward_issue_id, link.inward_issue_id, link_type.inward),
        )
        for this_id, other_id, phrase in sides:
            issue, other = self.issues.get(this_id), self.issues.get(other_id)
            if issue is None or other is None:
                continue
            self._before_change(issue)
            text = f"This issue {phrase} {other.core.key}"
            item = (
                ChangeItem("Link", "issuelinks", None, None, other.core.key, text)
                if added
                else ChangeItem("Link", "issuelinks", other.core.key, text, None, None)
            )
            issue.core.updated = now
            self._record(issue, actor.account_id, [item], now)

    def link(self, link_id: str) -> IssueLink:
        with self.lock:
            found = self.links.get(int(link_id)) if link_id.isdigit() else None
            if found is None:
                raise ApiError(404, [f"No issue link with id '{link_id}' exists."])
            return found

    def delete_link(self, actor: User, link: IssueLink) -> None:
        with self.lock:
            if self.links.pop(link.id, None) is not None:
                self._record_link(actor, link, added=False)

    def links_of(self, issue: Issue) -> list[IssueLink]:
        with self.lock:
            return [link for link in self.links.values() if issue.core.id in _ends(link)]

    # ----- attachments -----------------------------------------------------------------------

    def add_attachments(
        self, actor: User, issue: Issue, files: list[tuple[str, str, bytes]]
    ) -> list[Attachment]:
        """Store uploaded files (name, MIME type, bytes); Jira keeps same-named files apart."""
        with self.lock:
            if not files:
                raise ApiError(400, ["No attachments were provided in the request."])
            limit = self.settings.attachment_max_bytes
            if any(len(content) > limit for _, _, content in files):
                raise ApiError(413, [f"The attachment exceeds the maximum size of {limit} bytes."])
            self._before_change(issue)
            now = self.now()
            added = [
                Attachment(self._next(self._other_ids), name, actor.account_id, now, mime, data)
                for name, mime, data in files
            ]
            issue.attachments.extend(added)
            issue.core.updated = now
            items = [
                ChangeItem("Attachment", "attachment", None, None, str(a.id), a.filename)
                for a in added
            ]
            self._record(issue, actor.account_id, items, now)
            return added

    # ----- search ----------------------------------------------------------------------------

    def search(self, compiled: Compiled, reconcile: frozenset[int]) -> list[int]:
        with self.lock:
            rows: list[tuple[tuple[Any, ...], int]] = []
            lag = self.settings.search_lag_seconds
            now = self.clock()
            for issue in self.issues.values():
                core: IssueCore | None = issue.core
                if lag > 0 and issue.core.id not in reconcile and now - issue.changed_at < lag:
                    core = issue.indexed
                if core is None or not compiled.predicate(core, issue):
                    continue
                rows.append((compiled.sort_key(core), core.id))
            # Ties (and queries without ORDER BY) fall back to the newest issue first.
            rows.sort(key=lambda row: row[1], reverse=True)
            for index in reversed(range(len(compiled.descending))):
                rows.sort(key=lambda row: row[0][index], reverse=compiled.descending[index])
            return [issue_id for _, issue_id in rows]

    def new_cursor(self, ids: list[int], offset: int, reconcile: frozenset[int]) -> str:
        with self.lock:
            token = secrets.token_urlsafe(12)
            self.cursors[token] = Cursor(ids, offset, reconcile)
            while len(self.cursors) > MAX_CURSORS:
                self.cursors.popitem(last=False)
            return token

    def cursor(self, token: str) -> Cursor:
        with self.lock:
            found = self.cursors.get(token)
            if found is None:
                raise ApiError(400, ["The provided next page token is invalid or expired."])
            return found


def _known_group(identifier: Any, name: Any) -> Group | None:
    """The group a visibility names: by ``identifier`` (its id, or a name as older
    clients send) when given, else by ``value``. CHOSEN: names match case-insensitively,
    as Jira stores group names in lower case."""
    wanted = identifier if isinstance(identifier, str) and identifier else name
    if not isinstance(wanted, str):
        return None
    for group in GROUPS:
        if wanted in (group.group_id, group.name) or wanted.lower() == group.name:
            return group
    return None


def _internal_flag(raw: Any) -> bool | None:
    """Whether comment ``properties`` mark a JSM internal note (reference §2.4:
    ``sd.public.comment`` = ``{"internal": true}``); None when they do not say."""
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(
        isinstance(item, Mapping) and isinstance(item.get("key"), str) and "value" in item
        for item in raw
    ):
        raise ApiError(400, [INVALID_PAYLOAD])
    flag: bool | None = None
    for item in raw:
        if item["key"] == SD_PUBLIC_COMMENT:
            value = item["value"]
            flag = isinstance(value, Mapping) and value.get("internal") is True
    return flag


def _ends(link: IssueLink) -> tuple[int, int]:
    return (link.inward_issue_id, link.outward_issue_id)


def issue_type_name(issue_type_id: str) -> str:
    return ISSUE_TYPE_BY_ID[issue_type_id].name
