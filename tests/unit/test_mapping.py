"""Canonical values and mapping validation (syncd.sync.mapping)."""

from __future__ import annotations

import dataclasses

import pytest

from syncd.sync.mapping import (
    FieldRule,
    FieldRules,
    Mapping,
    SyncState,
    canonical_issue_key,
    canonical_reference,
    default_mapping,
    looks_like_issue_key,
    pairs,
    validate_mapping,
)

M = default_mapping(default_project="SEC")


def test_default_mapping_is_valid_and_hashable() -> None:
    assert validate_mapping(M) == []
    assert hash(M) == hash(default_mapping(default_project="SEC"))
    assert default_mapping(default_project="SEC") == M


@pytest.mark.parametrize(
    ("severity", "canonical"),
    [
        ("Exceptional", "Critical"),
        ("Critical", "Critical"),
        ("High", "High"),
        ("medium", "Medium"),
        (" Low ", "Low"),
        ("None", None),  # Intigriti's undecided severity maps to nothing
        ("Bogus", None),
        (None, None),
    ],
)
def test_canonical_severity_from_intigriti(severity: str | None, canonical: str | None) -> None:
    assert M.canonical_severity_from_intigriti(severity) == canonical


@pytest.mark.parametrize(
    ("priority", "canonical"),
    [
        ("Highest", "Critical"),
        ("High", "High"),
        ("MEDIUM", "Medium"),
        ("Low", "Low"),
        ("Lowest", "Low"),
        ("Blocker", None),
        (None, None),
    ],
)
def test_canonical_severity_from_jira(priority: str | None, canonical: str | None) -> None:
    assert M.canonical_severity_from_jira(priority) == canonical


def test_severity_write_targets_read_back_as_their_class() -> None:
    for severity, _ in M.severity_to_priority:
        canonical = M.canonical_severity_from_intigriti(severity)
        assert canonical is not None
        assert M.canonical_severity_from_jira(M.priority_for(canonical)) == canonical
        assert M.canonical_severity_from_intigriti(M.severity_for(canonical)) == canonical
    assert M.priority_for("Critical") == "Highest"
    assert M.severity_for("Critical") == "Critical"
    assert M.priority_for(None) is None
    assert M.severity_for("Bogus") is None


@pytest.mark.parametrize(
    ("status", "reason", "state"),
    [
        ("Triage", None, "new"),
        ("Pending", None, "new"),
        ("pending", None, "new"),
        ("Accepted", None, "accepted"),
        ("Closed", "Resolved", "closed:resolved"),
        ("Closed", "Duplicate", "closed:duplicate"),
        ("Closed", "Accepted risk", "closed:wontfix"),
        ("Closed", "Spam", "closed:wontfix"),
        ("Closed", "not  applicable", "closed:wontfix"),
        ("Archived", "Duplicate", "closed:duplicate"),
        ("Archived", "Resolved", "closed:resolved"),
        ("Archived", None, None),
        ("Closed", None, None),
        ("Closed", "Something new", None),
        ("Draft", None, None),
        (None, None, None),
    ],
)
def test_canonical_status_from_intigriti(
    status: str | None, reason: str | None, state: str | None
) -> None:
    assert M.canonical_status_from_intigriti(status, reason) == state


def test_reason_specific_entry_wins_over_bare_status_and_archived_entry_wins() -> None:
    m = dataclasses.replace(
        M,
        states=(
            SyncState("closed", ("Closed/Resolved", "Closed"), ("Done",), "Done"),
            SyncState("dup", ("Closed/Duplicate",), ("Duplicate",)),
            SyncState("archive", ("Archived/Duplicate",), ("Archive",)),
        ),
    )
    assert m.canonical_status_from_intigriti("Closed", "Duplicate") == "dup"
    assert m.canonical_status_from_intigriti("Closed", "Spam") == "closed"
    assert m.canonical_status_from_intigriti("Closed", None) == "closed"
    assert m.canonical_status_from_intigriti("Archived", "Duplicate") == "archive"
    assert m.canonical_status_from_intigriti("Archived", "Spam") == "closed"


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("To Do", "new"),
        ("In Progress", "accepted"),
        ("in review", "accepted"),
        ("Done", "closed:resolved"),
        ("Duplicate", "closed:duplicate"),
        ("Won't Do", "closed:wontfix"),
        ("Backlog", None),
        (None, None),
    ],
)
def test_canonical_status_from_jira(status: str | None, state: str | None) -> None:
    assert M.canonical_status_from_jira(status) == state


def test_targets() -> None:
    assert M.intigriti_target("new") is None  # syncd never moves Intigriti back to triage
    assert M.intigriti_target("accepted") == ("Accepted", None)
    assert M.intigriti_target("closed:wontfix") == ("Closed", "Accepted risk")
    assert M.intigriti_target("closed:duplicate") == ("Closed", "Duplicate")
    assert M.intigriti_target("nope") is None
    assert M.intigriti_target(None) is None
    assert M.jira_target("new") == ("To Do", None)
    assert M.jira_target("accepted") == ("In Progress", None)
    assert M.jira_target("closed:resolved") == ("Done", "Done")
    assert M.jira_target("closed:wontfix") == ("Won't Do", "Won't Do")
    assert M.jira_target("nope") is None


def test_every_target_reads_back_as_its_state() -> None:
    for state in M.states:
        jira = M.jira_target(state.name)
        assert jira is not None
        assert M.canonical_status_from_jira(jira[0]) == state.name
        target = M.intigriti_target(state.name)
        if target is not None:
            assert M.canonical_status_from_intigriti(*target) == state.name


def test_archived_and_draft_are_never_targets() -> None:
    m = dataclasses.replace(
        M, states=(SyncState("gone", ("Archived/Resolved", "Closed/Resolved"), ("Done",)),)
    )
    assert m.intigriti_target("gone") is None
    assert any("mapping.states[0].intigriti" in p for p in validate_mapping(m))


def test_should_create_and_projects() -> None:
    m = dataclasses.replace(M, project_for_program=(("prog-1", "APP"), ("prog-2", " ")))
    assert m.should_create("triage")
    assert m.should_create("Accepted")
    assert not m.should_create("Closed")
    assert not m.should_create("Draft")
    assert not m.should_create(None)
    assert m.project_for("prog-1") == "APP"
    assert m.project_for("prog-2") == "SEC"  # blank entry falls back to the default
    assert m.project_for("other") == "SEC"
    assert dataclasses.replace(m, default_project="").project_for("other") is None


@pytest.mark.parametrize(
    ("text", "is_key"),
    [
        ("SEC-1", True),
        (" sec-12 ", True),
        ("A1_B-99", True),
        ("SEC-0", False),
        ("SEC-01", False),
        ("S-1", False),  # a project key has at least two characters
        ("1SEC-1", False),
        ("SEC 1", False),
        ("", False),
        (None, False),
        ("SEC-1\nSEC-2", False),
    ],
)
def test_looks_like_issue_key(text: str | None, is_key: bool) -> None:
    assert looks_like_issue_key(text) is is_key


def test_canonical_reference() -> None:
    assert canonical_reference(" sec-12 ") == "SEC-12"
    assert canonical_reference("https://acme.atlassian.net/browse/sec-12") == "SEC-12"
    assert canonical_reference("https://acme.atlassian.net/browse/SEC-12/") == "SEC-12"
    assert canonical_reference("see ticket 12") is None
    assert canonical_reference("") is None
    assert canonical_reference(None) is None
    assert canonical_issue_key(" sec-3 ") == "SEC-3"
    assert canonical_issue_key("  ") is None


def _problems(**changes: object) -> list[str]:
    return validate_mapping(dataclasses.replace(M, **changes))  # type: ignore[arg-type]


def test_validation_duplicate_raw_values_name_the_key() -> None:
    states = (
        SyncState("a", ("Accepted",), ("In Progress",)),
        SyncState("b", ("accepted",), ("in progress", "Done")),
        SyncState("a", ("Closed/Resolved",), ("Done2",)),
    )
    problems = _problems(states=states)
    assert any(p.startswith("mapping.states[1].intigriti") for p in problems)
    assert any(
        p.startswith("mapping.states[1].jira") and "mapping.states[0].jira" in p for p in problems
    )
    assert any(p.startswith("mapping.states[2].name") for p in problems)


def test_validation_empty_jira_and_closed_without_reason() -> None:
    states = (
        SyncState("a", ("Accepted",), ()),
        SyncState("b", ("Closed",), ("Done",)),
        SyncState("c", ("Triage",), ("To Do",)),
        SyncState("d", ("Pending",), ("Backlog",), intigriti_writable=False),
    )
    problems = _problems(states=states)
    assert any(p.startswith("mapping.states[0].jira: empty") for p in problems)
    assert any(p.startswith("mapping.states[1].intigriti") and "close reason" in p
               for p in problems)
    assert any(p.startswith("mapping.states[2].intigriti") for p in problems)
    assert not any(p.startswith("mapping.states[3]") for p in problems)


def test_validation_priority_missing_from_inverse_map() -> None:
    problems = _problems(
        severity_to_priority=pairs({"Critical": "Urgent", "High": "High"}),
        priority_to_severity=pairs({"High": "High", "Lowest": "Low"}),
    )
    assert any(
        p.startswith("mapping.severity_to_priority['Critical']") and "'Urgent'" in p
        for p in problems
    )
    assert any(
        p.startswith("mapping.priority_to_severity['Lowest']") and "'Low'" in p for p in problems
    )


def test_validation_round_trip_that_would_echo() -> None:
    # Urgent -> Exceptional -> Highest -> Critical: syncd's own write would read back as
    # another class.
    problems = _problems(
        severity_to_priority=pairs({"Exceptional": "Highest", "Critical": "Highest"}),
        priority_to_severity=pairs({"Highest": "Critical", "Urgent": "Exceptional"}),
    )
    assert any(p.startswith("mapping.priority_to_severity['Urgent']") for p in problems)


def test_validation_rules_labels_and_projects() -> None:
    bad_rules = FieldRules(severity=FieldRule(direction="sideways", policy="loudest"))  # type: ignore[arg-type]
    problems = _problems(fields=bad_rules, label="two words", default_project="",
                         severity_to_priority=(), statuses_to_create=("",))
    for key in (
        "mapping.fields.severity.direction",
        "mapping.fields.severity.policy",
        "mapping.label",
        "jira.project: not set",
        "mapping.severity_to_priority: empty",
        "mapping.statuses_to_create[0]",
    ):
        assert any(p.startswith(key) for p in problems), key


def test_duplicate_severity_key_reported_and_first_wins() -> None:
    m = Mapping(
        severity_to_priority=(("High", "High"), ("high", "Low")),
        priority_to_severity=(("High", "High"), ("Low", "High")),
        states=M.states,
        default_project="SEC",
    )
    assert any("listed more than once" in p for p in validate_mapping(m))
    assert m.priority_for("High") == "High"
