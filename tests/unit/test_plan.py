"""The planner, branch by branch (syncd.sync.plan).

Each test builds both sides and the link's bases, plans, and checks the exact actions.
The defaults below describe a link in steady state: Accepted/High on Intigriti,
In Progress/High on Jira, reference SEC-1 on both, all bases agreed.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from syncd.records import Issue, Submission, SubmissionReport
from syncd.sync.mapping import FieldRule, FieldRules, Mapping, default_mapping
from syncd.sync.plan import (
    AdoptIssue,
    Bases,
    CreateIssue,
    LinkView,
    MoveIntigritiStatus,
    Plan,
    RecordBase,
    RecordConflict,
    ResumeCreate,
    SetIntigritiReference,
    SetIntigritiSeverity,
    SetJiraPriority,
    TransitionJira,
    bases_after_adopt,
    bases_after_create,
    block_signature,
    is_write,
    plan,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"
M = default_mapping(default_project="SEC")


def sub(**changes: Any) -> Submission:
    base = Submission(
        code="ACME-1",
        program_id="prog-1",
        title="Stored XSS in profile",
        status="Accepted",
        close_reason=None,
        severity="High",
        cvss_vector=VECTOR,
        cvss_score=7.5,
        internal_reference="SEC-1",
        internal_reference_url="https://jira.example/browse/SEC-1",
        created_at=T0,
        updated_at=T0,
        web_url="https://app.intigriti.com/company/submissions/prog-1/ACME-1",
        report=SubmissionReport(poc_description="1. log in\n2. <script>", impact="bad"),
    )
    return dataclasses.replace(base, **changes)


def iss(**changes: Any) -> Issue:
    base = Issue(
        id="10001",
        key="SEC-1",
        project="SEC",
        status="In Progress",
        priority="High",
        resolution=None,
        updated_at=T0,
        submission_code="ACME-1",
    )
    return dataclasses.replace(base, **changes)


def link(
    severity: str | None = "High",
    status: str | None = "accepted",
    reference: str | None = "SEC-1",
    **changes: Any,
) -> LinkView:
    base = LinkView(
        submission_code="ACME-1",
        program_id="prog-1",
        issue_id="10001",
        issue_key="SEC-1",
        state="linked",
        bases=Bases(severity=severity, status=status, internal_reference=reference),
    )
    return dataclasses.replace(base, **changes)


def with_rule(field: str, direction: str = "both", policy: str = "newest") -> Mapping:
    rules = dataclasses.replace(M.fields, **{field: FieldRule(direction, policy)})  # type: ignore[arg-type]
    return dataclasses.replace(M, fields=rules)


def run(
    lnk: LinkView | None = None,
    s: Submission | None = None,
    i: Issue | None = None,
    m: Mapping = M,
) -> Plan:
    return plan(lnk, s, i, m, now=NOW)


def steady() -> tuple[LinkView, Submission, Issue]:
    return link(), sub(), iss()


# -- steady state and failed reads ------------------------------------------------------------


def test_steady_state_plans_nothing() -> None:
    result = run(*steady())
    assert result == Plan("ACME-1", (), ())


def test_plan_is_deterministic() -> None:
    args = (link(severity="Low"), sub(severity="Critical"), iss(status="Done"))
    assert run(*args) == run(*args)


@pytest.mark.parametrize("missing", ["submission", "issue", "both"])
def test_no_write_when_a_side_was_not_read(missing: str) -> None:
    s = None if missing in ("submission", "both") else sub(severity="Low", status="Closed",
                                                            close_reason="Spam")
    i = None if missing in ("issue", "both") else iss(priority="Lowest", status="Done")
    result = run(link(), s, i)
    assert result.actions == ()
    assert "not read this cycle" in result.notes[0]


def test_parked_link_plans_nothing() -> None:
    result = run(link(state="parked"), sub(severity="Low"), iss())
    assert result.actions == ()
    assert "parked" in result.notes[0]


@pytest.mark.parametrize(
    ("s", "i"),
    [
        (sub(code="OTHER-9", severity="Low"), iss()),
        (sub(severity="Low"), iss(id="999")),
        (sub(severity="Low"), iss(submission_code="OTHER-9")),
    ],
)
def test_mismatched_records_plan_nothing(s: Submission, i: Issue) -> None:
    result = run(link(), s, i)
    assert result.actions == ()
    assert len(result.notes) == 1


def test_link_without_issue_id_plans_nothing() -> None:
    result = run(link(issue_id=None), sub(severity="Low"), iss())
    assert result.actions == ()


# -- severity -------------------------------------------------------------------------------


def test_severity_converged_records_base_once() -> None:
    result = run(link(severity="Low"), sub(), iss())
    assert result.actions == (RecordBase("severity", "High"),)
    assert run(link(severity=None), sub(), iss()).actions == (RecordBase("severity", "High"),)


def test_severity_intigriti_changed_writes_jira() -> None:
    s = sub(severity="Exceptional")
    result = run(link(), s, iss())
    # the vector is a field of its own now: a priority write does not carry it
    assert result.actions == (
        SetJiraPriority(
            "10001", "Highest", None, "Critical", previous="High",
            signature=block_signature("severity", "Exceptional", "High"),
        ),
    )


def test_severity_jira_changed_writes_intigriti_keeping_vector() -> None:
    result = run(link(), sub(), iss(priority="Lowest"))
    assert result.actions == (
        SetIntigritiSeverity(
            "ACME-1", "Low", VECTOR, "Low", previous="High",
            signature=block_signature("severity", "High", "Lowest"),
        ),
    )


@pytest.mark.parametrize(
    ("s", "i"),
    [
        (sub(severity="Exceptional"), iss(priority="Highest")),  # Critical class, both sides
        (sub(severity="Critical"), iss(priority="Highest")),
        (sub(severity="Low"), iss(priority="Lowest")),
        (sub(severity="low"), iss(priority="LOW")),
    ],
)
def test_severity_move_inside_a_class_changes_nothing(s: Submission, i: Issue) -> None:
    base = M.canonical_severity_from_intigriti(s.severity)
    assert run(link(severity=base), s, i).actions == ()


@pytest.mark.parametrize(
    ("policy", "sub_time", "winner"),
    [
        ("intigriti", T0, "intigriti"),
        ("jira", T0, "jira"),
        ("newest", T0 + timedelta(minutes=1), "intigriti"),
        ("newest", T0 - timedelta(minutes=1), "jira"),
        ("newest", T0, "intigriti"),  # a tie goes to Intigriti
    ],
)
def test_severity_conflict_follows_policy(policy: str, sub_time: datetime, winner: str) -> None:
    m = with_rule("severity", "both", policy)
    s, i = sub(severity="Critical", updated_at=sub_time), iss(priority="Low")
    result = run(link(severity="Medium"), s, i, m)
    conflict = RecordConflict("severity", "Critical", "Low", "Medium", winner, policy)  # type: ignore[arg-type]
    assert result.actions[0] == conflict
    assert len(result.actions) == 2
    write = result.actions[1]
    if winner == "intigriti":
        assert isinstance(write, SetJiraPriority)
        assert (write.priority, write.new_base) == ("Highest", "Critical")
    else:
        assert isinstance(write, SetIntigritiSeverity)
        assert (write.severity, write.new_base) == ("Low", "Low")


def test_newest_policy_accepts_naive_timestamps() -> None:
    s = sub(severity="Critical", updated_at=datetime(2026, 3, 1, 13, 0))  # naive: read as UTC
    result = run(link(severity="Medium"), s, iss(priority="Low"), with_rule("severity"))
    assert isinstance(result.actions[0], RecordConflict)
    assert result.actions[0].winner == "intigriti"


def test_severity_base_none_with_disagreement_is_a_conflict() -> None:
    result = run(link(severity=None), sub(severity="Low"), iss(priority="Medium"))
    assert result.actions[0] == RecordConflict("severity", "Low", "Medium", None, "intigriti",
                                               "intigriti")
    assert isinstance(result.actions[1], SetJiraPriority)


@pytest.mark.parametrize(
    ("s", "i", "text"),
    [
        (sub(severity=None), iss(priority="Low"), "Intigriti severity is not set"),
        (sub(severity="None"), iss(priority="Low"), "Intigriti severity 'None' is not mapped"),
        (sub(severity="High"), iss(priority="Blocker"), "Jira priority 'Blocker' is not mapped"),
        (sub(severity="High"), iss(priority=None), "Jira priority is not set"),
    ],
)
def test_severity_without_opinion_is_left_alone(s: Submission, i: Issue, text: str) -> None:
    result = run(link(severity="Low"), s, i)
    assert result.actions == ()
    assert any(text in note for note in result.notes), result.notes


def test_severity_direction_to_jira_makes_jira_follow() -> None:
    # Under "both" this is a Jira change (i == b); under to_jira Intigriti wins anyway.
    result = run(link(), sub(), iss(priority="Low"), with_rule("severity", "to_jira"))
    assert [type(a) for a in result.actions] == [SetJiraPriority]
    assert result.actions[0].new_base == "High"  # type: ignore[union-attr]


def test_severity_direction_to_intigriti_makes_intigriti_follow() -> None:
    result = run(link(), sub(severity="Low"), iss(), with_rule("severity", "to_intigriti"))
    assert [type(a) for a in result.actions] == [SetIntigritiSeverity]
    assert result.actions[0].new_base == "High"  # type: ignore[union-attr]


@pytest.mark.parametrize("direction", ["to_jira", "to_intigriti"])
def test_one_way_directions_still_record_agreement(direction: str) -> None:
    result = run(link(severity="Low"), sub(), iss(), with_rule("severity", direction))
    assert result.actions == (RecordBase("severity", "High"),)


def test_direction_off_leaves_field_alone() -> None:
    m = Mapping(
        severity_to_priority=M.severity_to_priority,
        priority_to_severity=M.priority_to_severity,
        states=M.states,
        fields=FieldRules(FieldRule("off"), FieldRule("off"), FieldRule("off")),
        default_project="SEC",
    )
    s = sub(severity="Low", status="Closed", close_reason="Spam", internal_reference=None)
    result = run(link(severity=None), s, iss(status="Done"), m)
    assert result.actions == ()


def test_unwritable_severity_class_is_a_note_not_a_loop() -> None:
    # An (invalid) mapping whose class has no priority to write: plan no write.
    m = dataclasses.replace(
        M,
        severity_to_priority=(("High", "High"), ("Low", "Low")),
        priority_to_severity=(("High", "High"), ("Low", "Low"), ("Urgent", "Critical")),
    )
    result = run(link(severity="Low"), sub(severity="High"), iss(priority="Low"), m)
    assert any(isinstance(a, SetJiraPriority) for a in result.actions)
    result = run(link(severity="Low"), sub(severity="Critical"), iss(priority="Low"), m)
    assert result.actions == ()  # Critical is unmapped on the Intigriti side of this mapping


# -- status ---------------------------------------------------------------------------------


def test_status_intigriti_changed_transitions_jira_with_resolution() -> None:
    s = sub(status="Closed", close_reason="Resolved")
    result = run(link(), s, iss())
    assert result.actions == (
        TransitionJira(
            "10001", "Done", "Done", "closed:resolved", previous="In Progress",
            signature=block_signature("status", "Closed/Resolved", "In Progress"),
        ),
    )


def test_status_jira_changed_moves_intigriti_with_close_reason() -> None:
    result = run(link(), sub(), iss(status="Won't Do"))
    assert result.actions == (
        MoveIntigritiStatus(
            "ACME-1", "Closed", "Accepted risk", "closed:wontfix", previous="Accepted",
            signature=block_signature("status", "Accepted", "Won't Do"),
        ),
    )


def test_status_accepted_after_creation_moves_issue_out_of_todo() -> None:
    created = iss(status="To Do", priority="High")
    bases = bases_after_create(created, M)
    assert bases == Bases(severity="High", status="new", internal_reference=None)
    lnk = link(bases.severity, bases.status, bases.internal_reference)
    result = run(lnk, sub(internal_reference=None), created)
    assert [type(a) for a in result.actions] == [SetIntigritiReference, TransitionJira]
    assert result.actions[1].status == "In Progress"  # type: ignore[union-attr]


def test_jira_back_to_todo_has_no_intigriti_target_and_does_not_loop() -> None:
    result = run(link(), sub(), iss(status="To Do"))
    assert result.actions == ()
    assert any("cannot be written to Intigriti" in n for n in result.notes)


def test_conflict_won_by_unwritable_side_plans_no_write_and_no_conflict_record() -> None:
    s = sub(status="Closed", close_reason="Spam", updated_at=T0)
    i = iss(status="To Do", updated_at=T0 + timedelta(minutes=5))
    result = run(link(), s, i)  # newest: Jira (new) wins, but Intigriti cannot go back
    assert result.actions == ()
    assert any("cannot be written" in n for n in result.notes)


@pytest.mark.parametrize(
    ("s", "i", "base"),
    [
        (sub(), iss(status="In Review"), "accepted"),
        (sub(status="Pending"), iss(status="To Do"), "new"),
        (sub(status="Triage"), iss(status="To Do"), "new"),
        (sub(status="Closed", close_reason="Informative"), iss(status="Won't Do"),
         "closed:wontfix"),
        (sub(status="Archived", close_reason="Resolved"), iss(status="Done"), "closed:resolved"),
    ],
)
def test_status_move_inside_a_class_changes_nothing(s: Submission, i: Issue, base: str) -> None:
    assert run(link(status=base), s, i).actions == ()


@pytest.mark.parametrize(
    ("policy", "sub_time", "expected"),
    [
        ("intigriti", T0, TransitionJira),
        ("jira", T0, MoveIntigritiStatus),
        ("newest", T0 + timedelta(seconds=1), TransitionJira),
        ("newest", T0 - timedelta(seconds=1), MoveIntigritiStatus),
    ],
)
def test_status_conflict_follows_policy(policy: str, sub_time: datetime, expected: type) -> None:
    s = sub(status="Closed", close_reason="Duplicate", updated_at=sub_time)
    result = run(link(status="new"), s, iss(status="Done"), with_rule("status", "both", policy))
    assert isinstance(result.actions[0], RecordConflict)
    assert result.actions[0].policy == policy
    assert isinstance(result.actions[1], expected)
    assert len(result.actions) == 2


@pytest.mark.parametrize(
    ("s", "i", "text"),
    [
        (sub(status="Draft"), iss(), "Intigriti status 'Draft' is not mapped"),
        (sub(status="Closed", close_reason=None), iss(), "Intigriti status 'Closed'"),
        (sub(), iss(status="Backlog"), "Jira status 'Backlog' is not mapped"),
    ],
)
def test_status_unmapped_is_left_alone(s: Submission, i: Issue, text: str) -> None:
    result = run(link(status="new"), s, i)
    assert not any(a.field == "status" for a in result.actions)
    assert any(text in n for n in result.notes), result.notes


def test_status_direction_to_intigriti_and_to_jira() -> None:
    s, i = sub(status="Closed", close_reason="Resolved"), iss(status="Duplicate")
    to_i = run(link(status="accepted"), s, i, with_rule("status", "to_intigriti"))
    assert [type(a) for a in to_i.actions] == [MoveIntigritiStatus]
    to_j = run(link(status="accepted"), s, i, with_rule("status", "to_jira"))
    assert [type(a) for a in to_j.actions] == [TransitionJira]


# -- blocked --------------------------------------------------------------------------------


def test_blocked_status_is_skipped_until_a_side_changes() -> None:
    s, i = sub(status="Pending"), iss(status="Done")
    first = run(link(status="new"), s, i)
    move = first.actions[0]
    assert isinstance(move, MoveIntigritiStatus)
    blocked = link(status="new", state="blocked", blocked_signature=move.signature)
    again = run(blocked, s, i)
    assert again.actions == ()
    assert again.blocked_fields == ("status",)
    assert any("blocked" in n for n in again.notes)
    # Other fields still sync while one is blocked.
    lower = dataclasses.replace(i, priority="Low")
    assert [type(a) for a in run(blocked, s, lower).actions] == [SetIntigritiSeverity]
    # A human moved Jira: plan normally again.
    assert isinstance(run(blocked, s, iss(status="Duplicate")).actions[0], MoveIntigritiStatus)
    # A move inside one Intigriti class also unblocks (it may make the move allowed).
    assert run(blocked, sub(status="Triage"), i).actions != ()


def test_block_signature_is_bounded() -> None:
    long = block_signature("status", "x" * 400, "y")
    assert len(long) <= 255
    assert long != block_signature("status", "x" * 401, "y")
    assert block_signature("status", None, "Done") == "status:|Done"


# -- internal reference ---------------------------------------------------------------------


def test_fresh_link_writes_key_to_intigriti_without_notes() -> None:
    result = run(link(reference=None), sub(internal_reference=None), iss())
    assert result.actions == (
        SetIntigritiReference(
            "ACME-1", "SEC-1", None, "SEC-1", previous=None,
            signature=block_signature("internal_reference", None, "SEC-1"),
        ),
    )
    assert result.notes == ()


def test_jira_key_change_updates_intigriti() -> None:
    result = run(link(), sub(), iss(key="APP-7"))
    assert [(type(a), a.reference) for a in result.actions  # type: ignore[union-attr]
            ] == [(SetIntigritiReference, "APP-7")]


def test_human_typed_another_key_relinks_and_suppresses_other_fields() -> None:
    s = sub(internal_reference=" app-7 ", severity="Low")
    result = run(link(), s, iss())
    assert len(result.actions) == 1
    adopt = result.actions[0]
    assert isinstance(adopt, AdoptIssue)
    assert adopt.issue_key == "APP-7"
    assert adopt.signature == block_signature("internal_reference", " app-7 ", "SEC-1")
    assert "APP-7" in result.notes[0]
    # A failed adoption parked as blocked is not retried; the other fields sync again.
    blocked = link(state="blocked", blocked_signature=adopt.signature)
    again = run(blocked, s, iss())
    assert [type(a) for a in again.actions] == [SetJiraPriority]
    assert again.blocked_fields == ("internal_reference",)


@pytest.mark.parametrize(("raw", "note"), [("", "cleared"), (None, "cleared"),
                                           ("see ticket", "not an issue key")])
def test_cleared_or_garbage_reference_is_written_back(raw: str | None, note: str) -> None:
    result = run(link(), sub(internal_reference=raw), iss())
    assert [type(a) for a in result.actions] == [SetIntigritiReference]
    assert result.actions[0].reference == "SEC-1"  # type: ignore[union-attr]
    assert any(note in n for n in result.notes)


def test_reference_case_and_url_forms_count_as_the_same_key() -> None:
    assert run(link(), sub(internal_reference="sec-1"), iss()).actions == ()
    url = "https://jira.example/browse/SEC-1"
    assert run(link(), sub(internal_reference=url), iss()).actions == ()
    assert run(link(reference=None), sub(), iss()).actions == (
        RecordBase("internal_reference", "SEC-1"),
    )


def test_reference_conflict_by_policy() -> None:
    s, i = sub(internal_reference="APP-7"), iss(key="SEC-2")
    jira_wins = run(link(), s, i)  # default policy: jira
    assert isinstance(jira_wins.actions[0], RecordConflict)
    assert isinstance(jira_wins.actions[1], SetIntigritiReference)
    intigriti_wins = run(link(), s, i, with_rule("internal_reference", "both", "intigriti"))
    assert isinstance(intigriti_wins.actions[0], RecordConflict)
    assert isinstance(intigriti_wins.actions[1], AdoptIssue)
    assert len(intigriti_wins.actions) == 2


def test_reference_directions() -> None:
    typed = sub(internal_reference="APP-7")
    to_i = run(link(), typed, iss(), with_rule("internal_reference", "to_intigriti"))
    assert [type(a) for a in to_i.actions] == [SetIntigritiReference]
    to_j = run(link(), sub(internal_reference=None), iss(), with_rule("internal_reference",
                                                                       "to_jira"))
    assert to_j.actions == ()
    assert any("to_jira" in n for n in to_j.notes)
    # to_jira: a human naming another issue in Intigriti relinks ...
    to_j_typed = run(link(), typed, iss(), with_rule("internal_reference", "to_jira"))
    assert [type(a) for a in to_j_typed.actions] == [AdoptIssue]
    # ... but a moved Jira key is not chased back to the old key.
    moved = run(link(), sub(), iss(key="APP-1"), with_rule("internal_reference", "to_jira"))
    assert moved.actions == ()
    assert any("APP-1" in n for n in moved.notes)


def test_adopting_an_old_key_of_a_moved_issue_settles() -> None:
    # A human typed SEC-1, the issue's key before it moved to APP-3; Jira resolves SEC-1 to
    # it. With the requested key as base, the next plan writes the current key back.
    typed = sub(internal_reference="SEC-1")
    lnk = link(reference=None, issue_key="APP-3")
    first = run(lnk, typed, iss(key="APP-3"))
    assert [type(a) for a in first.actions] == [RecordConflict, SetIntigritiReference]
    adopted = link(reference=bases_after_adopt("SEC-1").internal_reference, issue_key="APP-3")
    after = run(adopted, typed, iss(key="APP-3"))
    assert [type(a) for a in after.actions] == [SetIntigritiReference]
    assert after.actions[0].reference == "APP-3"  # type: ignore[union-attr]


# -- creation -------------------------------------------------------------------------------


def test_unlinked_submission_gets_an_issue() -> None:
    result = run(None, sub(internal_reference=None, status="Triage"), None)
    assert len(result.actions) == 1
    create = result.actions[0]
    assert isinstance(create, CreateIssue)
    assert create.project == "SEC"
    assert create.new_issue.summary == "[ACME-1] Stored XSS in profile"
    assert create.new_issue.priority == "High"
    assert create.new_issue.labels == ("intigriti",)
    assert create.new_issue.submission_code == "ACME-1"


def test_unlinked_submission_routes_to_program_project() -> None:
    m = dataclasses.replace(M, project_for_program=(("prog-1", "APP"),))
    result = run(None, sub(internal_reference=None), None, m)
    assert result.actions[0].project == "APP"  # type: ignore[union-attr]


@pytest.mark.parametrize("status", ["Draft", "Closed", "Archived"])
def test_unlinked_in_other_status_plans_nothing(status: str) -> None:
    assert run(None, sub(status=status, internal_reference=None), None) == Plan("ACME-1")


def test_unlinked_with_typed_key_adopts() -> None:
    result = run(None, sub(internal_reference="sec-44"), None)
    assert [(type(a), a.issue_key) for a in result.actions  # type: ignore[union-attr]
            ] == [(AdoptIssue, "SEC-44")]


def test_unlinked_with_tagged_issue_found_adopts_it() -> None:
    result = run(None, sub(internal_reference=None), iss(key="SEC-9"))
    assert [type(a) for a in result.actions] == [AdoptIssue]
    assert result.actions[0].issue_key == "SEC-9"  # type: ignore[union-attr]
    # Whatever the status: a tagged issue is never duplicated.
    closed = run(None, sub(status="Closed", close_reason="Spam"), iss(key="SEC-9"))
    assert [type(a) for a in closed.actions] == [AdoptIssue]
    # An issue tagged for another submission is not adopted.
    other = run(None, sub(internal_reference=None), iss(submission_code="X-1"))
    assert isinstance(other.actions[0], CreateIssue)


def test_unlinked_without_project_notes_and_creates_nothing() -> None:
    m = dataclasses.replace(M, default_project="")
    result = run(None, sub(internal_reference=None), None, m)
    assert result.actions == ()
    assert "no Jira project" in result.notes[0]


def test_unlinked_and_unread_plans_nothing() -> None:
    assert run(None, None, iss()).actions == ()
    assert run(None, None, None).actions == ()


def test_creating_link_resumes_through_lookup() -> None:
    attempted = T0 + timedelta(minutes=30)
    lnk = link(None, None, None, state="creating", issue_id=None, issue_key=None,
               create_attempted_at=attempted)
    result = run(lnk, sub(internal_reference=None), None)
    assert len(result.actions) == 1
    resume = result.actions[0]
    assert isinstance(resume, ResumeCreate)
    assert resume.attempted_at == attempted
    assert resume.new_issue is not None and resume.new_issue.project == "SEC"
    assert any("1800s ago" in n for n in result.notes)
    unread = run(lnk, None, None).actions[0]
    assert isinstance(unread, ResumeCreate) and unread.new_issue is None


def test_bases_after_adopt_only_agree_on_the_key() -> None:
    assert bases_after_adopt(" app-7") == Bases(internal_reference="APP-7")


def test_is_write() -> None:
    assert not is_write(RecordBase("status", "new"))
    assert is_write(AdoptIssue("SEC-1", "x"))
    assert run(link(severity="Low"), sub(severity="Critical"), iss()).writes != ()
