"""Dry-run lines for plans (syncd.sync.describe)."""

from __future__ import annotations

from datetime import UTC, datetime

from syncd.records import NewIssue
from syncd.sync.describe import describe_plan
from syncd.sync.plan import (
    AdoptIssue,
    CreateIssue,
    MoveIntigritiStatus,
    Plan,
    RecordBase,
    RecordConflict,
    ResumeCreate,
    SetIntigritiReference,
    SetIntigritiSeverity,
    SetJiraPriority,
    TransitionJira,
)

NEW = NewIssue(
    project="SEC", submission_code="ACME-1", summary="[ACME-1] XSS \x1b[2J", description="d",
    priority="High",
)


def test_empty_plan_has_no_lines() -> None:
    assert describe_plan(Plan("ACME-1")) == []


def test_every_action_kind_reads_as_a_diff_line() -> None:
    result = Plan(
        "ACME-1234",
        (
            TransitionJira("1", "In Progress", None, "accepted", previous="To Do"),
            TransitionJira("1", "Done", "Done", "closed:resolved", previous="In Progress"),
            SetJiraPriority("1", "Highest", "CVSS:3.1/AV:N", "Critical", previous="High"),
            SetIntigritiSeverity("ACME-1234", "Low", None, "Low", previous="Medium"),
            MoveIntigritiStatus("ACME-1234", "Closed", "Duplicate", "closed:duplicate",
                                previous="Accepted"),
            SetIntigritiReference("ACME-1234", "SEC-9", None, "SEC-9", previous=None),
            RecordConflict("status", "accepted", "closed:resolved", "new", "jira", "newest"),
            RecordBase("internal_reference", "SEC-9"),
            AdoptIssue("SEC-7", "internal reference names SEC-7"),
            CreateIssue("SEC", NEW),
            ResumeCreate("ACME-1234", None, datetime(2026, 3, 1, tzinfo=UTC)),
        ),
        ("severity: Jira priority 'Blocker' is not mapped; field left alone",),
    )
    lines = describe_plan(result)
    assert lines == [
        "ACME-1234  status     jira: To Do -> In Progress (accepted)",
        "ACME-1234  status     jira: In Progress -> Done (closed:resolved), resolution Done",
        "ACME-1234  severity   jira: High -> Highest (Critical), CVSS CVSS:3.1/AV:N",
        "ACME-1234  severity   intigriti: Medium -> Low (Low)",
        "ACME-1234  status     intigriti: Accepted -> Closed/Duplicate (closed:duplicate)",
        "ACME-1234  reference  intigriti: (none) -> SEC-9",
        "ACME-1234  status     conflict: intigriti accepted, jira closed:resolved, base new; "
        "jira wins (policy newest)",
        "ACME-1234  reference  in step at SEC-9 (base recorded)",
        "ACME-1234  link       jira: link to existing issue SEC-7 (internal reference names "
        "SEC-7)",
        "ACME-1234  create     jira: new Bug in SEC: '[ACME-1] XSS [2J', priority High",
        "ACME-1234  create     jira: look up the tagged issue first, do not create this cycle "
        "(intent from 2026-03-01T00:00:00+00:00)",
        "ACME-1234  note       severity: Jira priority 'Blocker' is not mapped; field left alone",
    ]
    assert all("\x1b" not in line for line in lines)
