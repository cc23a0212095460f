"""Properties of the planner over generated inputs (hypothesis).

* convergence / echo-freedom: applying a plan's actions the way a perfect executor would
  (both sides and the bases) leaves nothing to do on the next plan;
* never infer from a failed read: a side that was not read causes no write elsewhere;
* determinism and totality: the same inputs give the same plan, no input raises.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncd.records import Issue, Submission, SubmissionReport
from syncd.sync.agreement import nothing_to_do
from syncd.sync.describe import describe_plan
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
    plan,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BASE_MAPPING = default_mapping(default_project="SEC")

SEVERITIES = ["Low", "Medium", "High", "Critical", "Exceptional", "None", "high", "Bogus"]
PRIORITIES = ["Highest", "High", "Medium", "Low", "Lowest", "Blocker", "HIGH"]
INTIGRITI_STATES = [
    ("Draft", None),
    ("Triage", None),
    ("Pending", None),
    ("Accepted", None),
    ("Closed", "Resolved"),
    ("Closed", "Duplicate"),
    ("Closed", "Accepted risk"),
    ("Closed", "Spam"),
    ("Closed", None),
    ("Archived", "Resolved"),
    ("Archived", "Out of scope"),
]
JIRA_STATUSES = ["To Do", "In Progress", "In Review", "Done", "Duplicate", "Won't Do", "Backlog"]
REFERENCES = [None, "", "SEC-1", "sec-1", "SEC-2", "APP-7", "see jira", "SEC-1 and SEC-2"]
KEYS = ["SEC-1", "SEC-2", "APP-7"]
#: SEC-2 was moved and is now APP-7: Jira resolves the old key to the issue
ALIASES = {"SEC-2": "APP-7"}
CANONICAL = [
    None, "Low", "Medium", "High", "Critical", "new", "accepted", "closed:resolved",
    "closed:duplicate", "closed:wontfix", "SEC-1", "SEC-2", "APP-7", "stale",
]

rules = st.builds(
    FieldRule,
    direction=st.sampled_from(["both", "both", "to_jira", "to_intigriti", "off"]),
    policy=st.sampled_from(["intigriti", "jira", "newest"]),
)
mappings = st.builds(
    lambda s, t, r: dataclasses.replace(BASE_MAPPING, fields=FieldRules(s, t, r)),
    rules, rules, rules,
)
times = st.sampled_from([T0 - timedelta(minutes=1), T0, T0 + timedelta(minutes=1)])


@st.composite
def submissions(draw: st.DrawFn) -> Submission:
    status, reason = draw(st.sampled_from(INTIGRITI_STATES))
    return Submission(
        code="ACME-1",
        program_id="prog-1",
        title=draw(st.text(max_size=40)),
        status=status,
        close_reason=reason,
        severity=draw(st.none() | st.sampled_from(SEVERITIES)),
        cvss_vector=draw(st.none() | st.just("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N")),
        cvss_score=None,
        internal_reference=draw(st.sampled_from(REFERENCES)),
        internal_reference_url=None,
        created_at=T0,
        updated_at=draw(times),
        report=SubmissionReport(poc_description=draw(st.text(max_size=60))),
    )


@st.composite
def issues(draw: st.DrawFn) -> Issue:
    return Issue(
        id="10001",
        key=draw(st.sampled_from(KEYS)),
        project="SEC",
        status=draw(st.sampled_from(JIRA_STATUSES)),
        priority=draw(st.none() | st.sampled_from(PRIORITIES)),
        resolution=None,
        updated_at=draw(times),
        submission_code=draw(st.sampled_from([None, "ACME-1"])),
    )


@st.composite
def links(draw: st.DrawFn) -> LinkView:
    bases = Bases(
        severity=draw(st.sampled_from(CANONICAL)),
        status=draw(st.sampled_from(CANONICAL)),
        internal_reference=draw(st.sampled_from(CANONICAL)),
    )
    return LinkView(
        submission_code="ACME-1",
        program_id="prog-1",
        issue_id="10001",
        issue_key="SEC-1",
        state=draw(st.sampled_from(["linked", "linked", "blocked"])),
        bases=bases,
        blocked_signature=draw(st.none() | st.sampled_from(
            ["status:Pending|Done", "status:Accepted|To Do", "severity:High|Low"]
        )),
    )


@dataclasses.dataclass
class World:
    """Both systems and the link row, as a perfect executor would leave them."""

    link: LinkView
    submission: Submission
    issue: Issue
    bump_timestamps: bool = False
    clock: datetime = T0 + timedelta(hours=1)

    def tick(self) -> datetime:
        self.clock += timedelta(seconds=1)
        return self.clock

    def set_base(self, field: str, value: str | None) -> None:
        bases = dataclasses.replace(self.link.bases, **{field: value})
        self.link = dataclasses.replace(self.link, bases=bases)

    def jira(self, **changes: object) -> None:
        if self.bump_timestamps:
            changes["updated_at"] = self.tick()
        self.issue = dataclasses.replace(self.issue, **changes)  # type: ignore[arg-type]

    def intigriti(self, **changes: object) -> None:
        if self.bump_timestamps:
            changes["updated_at"] = self.tick()
        self.submission = dataclasses.replace(self.submission, **changes)  # type: ignore[arg-type]

    def apply(self, result: Plan) -> None:
        for action in result.actions:
            match action:
                case SetJiraPriority():
                    self.jira(priority=action.priority, cvss=action.cvss)
                    self.set_base("severity", action.new_base)
                case TransitionJira():
                    self.jira(status=action.status, resolution=action.resolution)
                    self.set_base("status", action.new_base)
                case SetIntigritiSeverity():
                    self.intigriti(severity=action.severity, cvss_vector=action.vector)
                    self.set_base("severity", action.new_base)
                case MoveIntigritiStatus():
                    self.intigriti(status=action.status, close_reason=action.close_reason)
                    self.set_base("status", action.new_base)
                case SetIntigritiReference():
                    self.intigriti(internal_reference=action.reference)
                    self.set_base("internal_reference", action.new_base)
                case RecordBase():
                    self.set_base(action.field, action.value)
                case AdoptIssue():
                    # The named issue: same values as the old one, another id and key. An
                    # old key of a moved issue resolves to the issue's current key.
                    key = ALIASES.get(action.issue_key, action.issue_key)
                    self.issue = dataclasses.replace(
                        self.issue, id=f"id-{key}", key=key, submission_code="ACME-1",
                    )
                    self.link = dataclasses.replace(
                        self.link, issue_id=self.issue.id, issue_key=self.issue.key,
                        bases=bases_after_adopt(action.issue_key),
                    )
                case RecordConflict():
                    pass
                case _:
                    raise AssertionError(f"unexpected action for a linked link: {action}")

    def plan(self, mapping: Mapping) -> Plan:
        return plan(self.link, self.submission, self.issue, mapping, now=self.clock)


FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(links(), submissions(), issues(), mappings)
def test_applying_a_plan_leaves_nothing_to_do(
    link: LinkView, submission: Submission, issue: Issue, mapping: Mapping
) -> None:
    world = World(link, submission, issue)
    first = world.plan(mapping)
    world.apply(first)
    second = world.plan(mapping)
    if any(isinstance(a, AdoptIssue) for a in first.actions):
        # A relink compares the fields with the adopted issue once more, then settles;
        # never another adoption (an old key resolving to a moved issue is written back).
        assert not any(isinstance(a, AdoptIssue) for a in second.actions), second
        world.apply(second)
        second = world.plan(mapping)
    assert second.actions == (), (first, second)


@FAST
@given(links(), submissions(), issues(), mappings)
def test_converges_even_when_writes_bump_update_times(
    link: LinkView, submission: Submission, issue: Issue, mapping: Mapping
) -> None:
    # Real writes change updated_at, which can change a "newest" decision that a mapping
    # gap had left unwritten; it must still settle within a few rounds, never oscillate.
    world = World(link, submission, issue, bump_timestamps=True)
    for _ in range(4):
        result = world.plan(mapping)
        if not result.actions:
            break
        world.apply(result)
    assert world.plan(mapping).actions == ()


JIRA_WRITES = (SetJiraPriority, TransitionJira, CreateIssue, AdoptIssue)
INTIGRITI_WRITES = (SetIntigritiSeverity, MoveIntigritiStatus, SetIntigritiReference)


@FAST
@given(
    st.none() | links() | links().map(lambda lk: dataclasses.replace(
        lk, state="creating", issue_id=None, issue_key=None)),
    st.none() | submissions(),
    st.none() | issues(),
    mappings,
)
def test_no_write_is_inferred_from_a_side_that_was_not_read(
    link: LinkView | None, submission: Submission | None, issue: Issue | None, mapping: Mapping
) -> None:
    result = plan(link, submission, issue, mapping, now=T0)
    if submission is None:
        for action in result.actions:
            assert not isinstance(action, JIRA_WRITES + INTIGRITI_WRITES + (RecordBase,))
            if isinstance(action, ResumeCreate):
                assert action.new_issue is None  # look the tag up, create nothing
    if issue is None and link is not None:
        for action in result.actions:
            assert not isinstance(action, (*INTIGRITI_WRITES, RecordBase, RecordConflict))
            assert not isinstance(action, SetJiraPriority | TransitionJira)


anything = st.none() | st.text(max_size=20)


@settings(max_examples=400, deadline=None)
@given(
    st.none() | st.builds(
        LinkView,
        submission_code=st.sampled_from(["ACME-1", "acme-1", "X"]),
        program_id=st.text(max_size=5),
        issue_id=st.none() | st.sampled_from(["10001", "2"]),
        issue_key=anything,
        state=st.sampled_from(["creating", "linked", "blocked", "parked"]),
        bases=st.builds(Bases, anything, anything, anything),
        blocked_signature=anything,
        create_attempted_at=st.none() | st.datetimes(timezones=st.just(UTC)) | st.datetimes(),
    ),
    st.none() | st.builds(
        Submission,
        code=st.sampled_from(["ACME-1", "acme-1", "X"]),
        program_id=st.text(max_size=5),
        title=st.text(),
        status=st.text(max_size=10) | st.sampled_from([s for s, _ in INTIGRITI_STATES]),
        close_reason=anything,
        severity=anything | st.sampled_from(SEVERITIES),
        cvss_vector=anything,
        cvss_score=st.none() | st.floats(allow_nan=True),
        internal_reference=anything | st.sampled_from(REFERENCES),
        internal_reference_url=anything,
        created_at=st.datetimes(),
        updated_at=st.datetimes() | st.datetimes(timezones=st.just(UTC)),
        web_url=anything,
        researcher=anything,
        report=st.none() | st.builds(SubmissionReport, anything, anything, anything, anything,
                                     anything, anything, anything, anything, anything),
    ),
    st.none() | st.builds(
        Issue,
        id=st.sampled_from(["10001", "2"]),
        key=st.text(max_size=8) | st.sampled_from(KEYS),
        project=st.text(max_size=5),
        status=st.text(max_size=10) | st.sampled_from(JIRA_STATUSES),
        priority=anything | st.sampled_from(PRIORITIES),
        resolution=anything,
        updated_at=st.datetimes() | st.datetimes(timezones=st.just(UTC)),
        submission_code=st.none() | st.sampled_from(["ACME-1", "X"]),
    ),
    mappings,
    st.datetimes(timezones=st.just(UTC)),
)
def test_plan_is_total_and_deterministic(
    link: LinkView | None,
    submission: Submission | None,
    issue: Issue | None,
    mapping: Mapping,
    now: datetime,
) -> None:
    first = plan(link, submission, issue, mapping, now=now)
    second = plan(link, submission, issue, mapping, now=now)
    assert first == second
    assert describe_plan(first) == describe_plan(second)
    for line in describe_plan(first):
        assert "\n" not in line and "\x1b" not in line


def test_a_submission_lifecycle_plans_each_change_once() -> None:
    """Creation to archive, one human change at a time; each settles in one write."""
    mapping = BASE_MAPPING
    submission = Submission(
        code="ACME-1", program_id="prog-1", title="XSS", status="Triage", close_reason=None,
        severity=None, cvss_vector=None, cvss_score=None, internal_reference=None,
        internal_reference_url=None, created_at=T0, updated_at=T0,
    )
    created = plan(None, submission, None, mapping, now=T0)
    assert [type(a) for a in created.actions] == [CreateIssue]
    assert created.actions[0].new_issue.priority is None  # type: ignore[union-attr]
    # Jira created the issue in its initial status with its default priority.
    issue = Issue(id="10001", key="SEC-1", project="SEC", status="To Do", priority="Medium",
                  resolution=None, updated_at=T0, submission_code="ACME-1")
    link = LinkView("ACME-1", "prog-1", "10001", "SEC-1", "linked",
                    bases_after_create(issue, mapping))
    world = World(link, submission, issue, bump_timestamps=True)

    def step(expected: list[type]) -> None:
        result = world.plan(mapping)
        assert [type(a) for a in result.actions] == expected, result
        world.apply(result)
        assert world.plan(mapping).actions == ()  # echo-free

    step([SetIntigritiReference])
    world.intigriti(severity="High", status="Pending")  # triage: severity set, validated
    step([SetJiraPriority])
    assert world.issue.priority == "High"
    world.intigriti(status="Accepted")
    step([TransitionJira])
    assert world.issue.status == "In Progress"
    world.jira(status="In Review")  # a move inside one class
    step([])
    world.jira(status="Done", resolution="Done")
    step([MoveIntigritiStatus])
    assert (world.submission.status, world.submission.close_reason) == ("Closed", "Resolved")
    world.intigriti(status="Archived")
    step([])
    world.jira(key="APP-3")  # the issue moved to another project
    step([SetIntigritiReference])
    assert world.submission.internal_reference == "APP-3"
    world.jira(priority="Highest")
    world.intigriti(severity="Exceptional")  # both changed, to the same class
    step([RecordBase])
    assert world.link.bases == Bases("Critical", "closed:resolved", "APP-3")


def _plans_nothing(link: LinkView, submission: Submission, issue: Issue, mapping: Mapping) -> bool:
    result = plan(link, submission, issue, mapping, now=T0)
    return not result.actions and not result.unmapped and not result.needs_detail


@FAST
@given(links(), submissions(), issues(), mappings)
def test_the_sweep_skips_planning_only_where_the_plan_would_be_empty(
    link: LinkView, submission: Submission, issue: Issue, mapping: Mapping
) -> None:
    """``agreement.nothing_to_do`` lets the sweep skip the planner: whenever it says so,
    on a random state or on the settled state a perfect executor reaches, the plan is
    empty (no action, nothing unmapped, no detail needed)."""
    world = World(link, submission, issue)
    states = [(world.link, world.submission, world.issue)]
    for _round in range(3):
        world.apply(world.plan(mapping))
        states.append((world.link, world.submission, world.issue))
    for state in states:
        if nothing_to_do(*state, mapping):
            assert _plans_nothing(*state, mapping), state


def test_a_settled_link_is_one_the_sweep_need_not_plan() -> None:
    # the property above is not vacuous: the usual settled link does take the short cut
    submission = Submission(
        code="ACME-1", program_id="prog-1", title="XSS", status="Triage", close_reason=None,
        severity="High", cvss_vector=None, cvss_score=None, internal_reference="SEC-1",
        internal_reference_url=None, created_at=T0, updated_at=T0,
    )
    issue = Issue(
        id="10001", key="SEC-1", project="SEC", status="To Do", priority="High",
        resolution=None, updated_at=T0, submission_code="ACME-1",
    )
    link = LinkView(
        submission_code="ACME-1", program_id="prog-1", issue_id="10001", issue_key="SEC-1",
        state="linked", bases=Bases(severity="High", status="new", internal_reference="SEC-1"),
    )
    assert nothing_to_do(link, submission, issue, BASE_MAPPING)
    assert _plans_nothing(link, submission, issue, BASE_MAPPING)
    moved = dataclasses.replace(issue, priority="Low")
    assert not nothing_to_do(link, submission, moved, BASE_MAPPING)
