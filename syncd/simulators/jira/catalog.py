"""The fixed Jira configuration the simulator seeds: statuses, workflow, priorities,
resolutions, issue types and fields.

The workflow is the realistic one a security team uses: To Do -> In Progress -> In Review
-> Done, with Won't Do and Duplicate as other done states. Done is only reachable from In
Review, so a status move may take several transitions. Every transition into a done status
has a screen on which the resolution is required. Transition ids are per workflow: each
project gets its own workflow copy whose ids are offset by 100 per project.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StatusCategory:
    id: int
    key: str
    name: str
    color: str


CATEGORY_NEW = StatusCategory(2, "new", "To Do", "blue-gray")
CATEGORY_IN_PROGRESS = StatusCategory(4, "indeterminate", "In Progress", "yellow")
CATEGORY_DONE = StatusCategory(3, "done", "Done", "green")
STATUS_CATEGORIES = (CATEGORY_NEW, CATEGORY_IN_PROGRESS, CATEGORY_DONE)


@dataclass(frozen=True)
class Status:
    id: str
    name: str
    category: StatusCategory
    description: str = ""


STATUSES = (
    Status("10000", "To Do", CATEGORY_NEW, "Work that has not been started."),
    Status("3", "In Progress", CATEGORY_IN_PROGRESS, "Work that is being done."),
    Status("10001", "In Review", CATEGORY_IN_PROGRESS, "Work that is waiting for review."),
    Status("10002", "Done", CATEGORY_DONE, "Work that is finished."),
    Status("10003", "Won't Do", CATEGORY_DONE, "Work that will not be done."),
    Status("10004", "Duplicate", CATEGORY_DONE, "Work that duplicates other work."),
)
STATUS_BY_ID = {status.id: status for status in STATUSES}
INITIAL_STATUS_ID = "10000"


@dataclass(frozen=True)
class Named:
    """A priority, resolution or issue type: an id, a name and a description."""

    id: str
    name: str
    description: str = ""


PRIORITIES = (
    Named("1", "Highest", "This problem will block progress."),
    Named("2", "High", "Serious problem that could block progress."),
    Named("3", "Medium", "Has the potential to affect progress."),
    Named("4", "Low", "Minor problem or easily worked around."),
    Named("5", "Lowest", "Trivial problem with little or no impact on progress."),
)
PRIORITY_BY_ID = {priority.id: priority for priority in PRIORITIES}
DEFAULT_PRIORITY_ID = "3"
PRIORITY_STATUS_COLORS = {
    "1": "#d04437",
    "2": "#f15C75",
    "3": "#f79232",
    "4": "#707070",
    "5": "#999999",
}

RESOLUTIONS = (
    Named("10000", "Done", "Work has been completed on this issue."),
    Named("10001", "Won't Do", "This issue won't be actioned."),
    Named("10002", "Duplicate", "The problem is a duplicate of an existing issue."),
)
RESOLUTION_BY_ID = {resolution.id: resolution for resolution in RESOLUTIONS}

ISSUE_TYPES = (
    Named("10001", "Task", "A small, distinct piece of work."),
    Named("10002", "Bug", "A problem or error."),
)
ISSUE_TYPE_BY_ID = {issue_type.id: issue_type for issue_type in ISSUE_TYPES}


@dataclass(frozen=True)
class TransitionTemplate:
    id_offset: int
    name: str
    from_statuses: tuple[str, ...]
    to_status: str
    resolution_screen: bool


WORKFLOW_TEMPLATE = (
    TransitionTemplate(11, "Start Progress", ("To Do",), "In Progress", False),
    TransitionTemplate(21, "Submit for Review", ("In Progress",), "In Review", False),
    TransitionTemplate(31, "Done", ("In Review",), "Done", True),
    TransitionTemplate(41, "Back to In Progress", ("In Review",), "In Progress", False),
    TransitionTemplate(51, "Won't Do", ("To Do", "In Progress", "In Review"), "Won't Do", True),
    TransitionTemplate(
        61, "Mark as Duplicate", ("To Do", "In Progress", "In Review"), "Duplicate", True
    ),
    TransitionTemplate(71, "Stop Progress", ("In Progress",), "To Do", False),
    TransitionTemplate(81, "Reopen", ("Done", "Won't Do", "Duplicate"), "To Do", False),
)

# Which resolution a human picks by default when moving into a done status.
DEFAULT_RESOLUTION_FOR_STATUS = {"Done": "Done", "Won't Do": "Won't Do", "Duplicate": "Duplicate"}


@dataclass(frozen=True)
class Transition:
    id: str
    name: str
    from_status_ids: tuple[str, ...]
    to_status_id: str
    screen_fields: tuple[str, ...]
    required_fields: tuple[str, ...]


def workflow_for(project_index: int) -> tuple[Transition, ...]:
    by_name = {status.name: status.id for status in STATUSES}
    transitions = []
    for template in WORKFLOW_TEMPLATE:
        screen = ("resolution",) if template.resolution_screen else ()
        transitions.append(
            Transition(
                id=str(template.id_offset + 100 * project_index),
                name=template.name,
                from_status_ids=tuple(by_name[name] for name in template.from_statuses),
                to_status_id=by_name[template.to_status],
                screen_fields=screen,
                required_fields=screen,
            )
        )
    return tuple(transitions)


@dataclass(frozen=True)
class FieldDef:
    id: str
    name: str
    schema_type: str
    custom: bool
    clause_names: tuple[str, ...]
    system: str | None = None
    custom_type: str | None = None
    custom_id: int | None = None
    items: str | None = None
    searchable: bool = True
    orderable: bool = True


CVSS_FIELD_ID = "customfield_10050"
CVSS_SCORE_FIELD_ID = "customfield_10051"
PAYOUT_FIELD_ID = "customfield_10052"

FIELDS = (
    FieldDef(
        "issuekey",
        "Key",
        "string",
        False,
        ("id", "issue", "issuekey", "key"),
        system=None,
        orderable=False,
    ),
    FieldDef("summary", "Summary", "string", False, ("summary",), system="summary"),
    FieldDef("description", "Description", "string", False, ("description",), system="description"),
    FieldDef("labels", "Labels", "array", False, ("labels",), system="labels", items="string"),
    FieldDef("priority", "Priority", "priority", False, ("priority",), system="priority"),
    FieldDef("status", "Status", "status", False, ("status",), system="status", orderable=False),
    FieldDef("resolution", "Resolution", "resolution", False, ("resolution",), system="resolution"),
    FieldDef(
        "issuetype", "Issue Type", "issuetype", False, ("issuetype", "type"), system="issuetype"
    ),
    FieldDef("project", "Project", "project", False, ("project",), system="project"),
    FieldDef(
        "created",
        "Created",
        "datetime",
        False,
        ("created", "createdDate"),
        system="created",
        orderable=False,
    ),
    FieldDef(
        "updated",
        "Updated",
        "datetime",
        False,
        ("updated", "updatedDate"),
        system="updated",
        orderable=False,
    ),
    FieldDef(
        "resolutiondate",
        "Resolved",
        "datetime",
        False,
        ("resolved", "resolutiondate", "resolutionDate"),
        system="resolutiondate",
        orderable=False,
    ),
    FieldDef(
        "statuscategorychangedate",
        "Status Category Changed",
        "datetime",
        False,
        ("statusCategoryChangedDate",),
        system="statuscategorychangedate",
        orderable=False,
    ),
    FieldDef("reporter", "Reporter", "user", False, ("reporter",), system="reporter"),
    FieldDef("assignee", "Assignee", "user", False, ("assignee",), system="assignee"),
    FieldDef("comment", "Comment", "comments-page", False, ("comment",), system="comment"),
    FieldDef(
        "issuelinks",
        "Linked Issues",
        "array",
        False,
        ("issueLink",),
        system="issuelinks",
        items="issuelinks",
        orderable=False,
    ),
    FieldDef(
        "attachment",
        "Attachment",
        "array",
        False,
        ("attachments",),
        system="attachment",
        items="attachment",
        orderable=False,
    ),
    FieldDef(
        CVSS_FIELD_ID,
        "CVSS",
        "string",
        True,
        ("cf[10050]", "CVSS"),
        custom_type="com.atlassian.jira.plugin.system.customfieldtypes:textfield",
        custom_id=10050,
    ),
    FieldDef(
        CVSS_SCORE_FIELD_ID,
        "CVSS Score",
        "number",
        True,
        ("cf[10051]", "CVSS Score"),
        custom_type="com.atlassian.jira.plugin.system.customfieldtypes:float",
        custom_id=10051,
    ),
    FieldDef(
        PAYOUT_FIELD_ID,
        "Payouts",
        "string",
        True,
        ("cf[10052]", "Payouts"),
        custom_type="com.atlassian.jira.plugin.system.customfieldtypes:textfield",
        custom_id=10052,
    ),
)
FIELD_BY_ID = {field.id: field for field in FIELDS}
CUSTOM_FIELDS = {field.id: field for field in FIELDS if field.custom}
# Fields returned for ``*navigable`` (everything here except the comment page).
NAVIGABLE_FIELDS = tuple(f.id for f in FIELDS if f.id not in ("comment", "issuekey"))
ALL_FIELDS = tuple(f.id for f in FIELDS if f.id != "issuekey")
EDITABLE_FIELDS = (
    "summary",
    "description",
    "labels",
    "priority",
    "assignee",
    "reporter",
    CVSS_FIELD_ID,
    CVSS_SCORE_FIELD_ID,
    PAYOUT_FIELD_ID,
)

# Issue link types as a fresh Jira Cloud site has them (ids, names and descriptions).
# A link "A <outward> B" (A duplicates B) shows on A as ``outwardIssue: B`` and on B as
# ``inwardIssue: A``; POST /issueLink names A ``inwardIssue`` and B ``outwardIssue``.


@dataclass(frozen=True)
class LinkType:
    id: str
    name: str
    inward: str
    outward: str


LINK_TYPES = (
    LinkType("10000", "Blocks", "is blocked by", "blocks"),
    LinkType("10001", "Cloners", "is cloned by", "clones"),
    LinkType("10002", "Duplicate", "is duplicated by", "duplicates"),
    LinkType("10003", "Relates", "relates to", "relates to"),
)
LINK_TYPE_BY_ID = {link_type.id: link_type for link_type in LINK_TYPES}
#: A done status's transition to itself that only changes the resolution (offered when
#: the ``resolution_self_transition`` setting is on), per workflow like the others.
CHANGE_RESOLUTION_OFFSET = 91

# Project roles and their ids (CHOSEN: the reference gives none; the OpenAPI example's
# Administrators 10002). Shared by every project, as on Jira Cloud.
ROLE_IDS = {
    "Administrators": "10002",
    "Developers": "10001",
    "Users": "10000",
    "Service Desk Team": "10003",
}
ROLES = tuple(ROLE_IDS)


@dataclass(frozen=True)
class Group:
    name: str
    group_id: str


# The site's groups (CHOSEN: a small fixed set; Cloud group ids are UUIDs, §2.4).
GROUPS = (
    Group("developers", "5f1c8e2a-3b4d-4e6f-9a1b-2c3d4e5f6a7b"),
    Group("jira-administrators", "0a6e3c1d-7b2f-4c8e-9d5a-1e2f3a4b5c6d"),
    Group("jira-software-users", "8d2b4f6a-1c3e-4a5b-8c7d-9e0f1a2b3c4d"),
    Group("security-team", "3c9a7e5b-2d4f-4b6a-8e1c-5f7a9b0c2d4e"),
)
