"""A Hypothesis state machine over the whole sync core: planner, executor, engine, store.

Humans edit both sides at random (severity, priority, status, new submissions), writes
fail at random (transiently, with the answer lost after the write took effect, or with
the process killed before or after the write), the process restarts, and the mapping's
field directions and conflict policies change between runs. Sides are in memory
(fake_sides.py, honouring the adapters' contracts); the database is a real SQLite file.

After every *quiet* reconcile (faults cleared, passes repeated until nothing fails) these
must hold:

* every submission in a status that gets an issue has exactly one Jira issue, linked;
* per field not switched off, both sides agree in canonical form and the link's base is
  that value, unless the mapping has no target for the write (Jira's "To Do" means the
  new state, which syncd never moves a submission back into): then the plan says so;
* one more pass writes nothing, to either side.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fake_sides import Clock, Crash, FakeIntigriti, FakeJira
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from syncd.store.instances import InstanceRegistry
from syncd.store.repository import ClaimTerms, Repository
from syncd.sync.engine import Engine, EngineOptions
from syncd.sync.executor import Executor, ExecutorOptions, Summary, link_view
from syncd.sync.mapping import FieldRule, FieldRules, Mapping, default_mapping
from syncd.sync.plan import plan

SEVERITIES = ("Low", "Medium", "High", "Critical")
#: Jira statuses a human may pick, and Intigriti (status, close reason) pairs: each is in a
#: sync state both sides can be moved to
JIRA_STATUSES = ("In Progress", "In Review", "Done", "Won't Do", "Duplicate")
INTIGRITI_STATES = (
    ("Accepted", None),
    ("Closed", "Resolved"),
    ("Closed", "Duplicate"),
    ("Closed", "Informative"),
)
PRIORITIES = ("Highest", "High", "Medium", "Low")
TIMEOUT = timedelta(seconds=30)
SETTLE = timedelta(seconds=10)
EXAMPLES = 100
STEPS = 40


class SyncModel(RuleBasedStateMachine):
    """One syncd over one database; a crash makes the next step a restart."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.intigriti = FakeIntigriti(self.clock)
        self.jira = FakeJira(self.clock)
        self.directions: dict[str, str] = {"severity": "both", "status": "both"}
        self.policies: dict[str, str] = {"severity": "intigriti", "status": "intigriti"}
        self.instances = itertools.count()
        self.repository: Repository | None = None
        self.engine: Engine | None = None
        self.registry: InstanceRegistry | None = None

    # -- set-up ---------------------------------------------------------------------------

    @initialize(
        path=st.just(None),
        submissions=st.lists(
            st.tuples(st.sampled_from(("Triage", "Accepted")), st.sampled_from(SEVERITIES)),
            min_size=1,
            max_size=4,
        ),
    )
    def start(self, path: None, submissions: list[tuple[str, str]]) -> None:
        self.repository = Repository(f"sqlite:///{_database_path()}")
        self.repository.upgrade()
        for status, severity in submissions:
            self.intigriti.add(status, severity)
        self._restart()

    def _mapping(self) -> Mapping:
        base = default_mapping(default_project="SEC")
        rules = FieldRules(
            severity=FieldRule(self.directions["severity"], self.policies["severity"]),  # type: ignore[arg-type]
            status=FieldRule(self.directions["status"], self.policies["status"]),  # type: ignore[arg-type]
            internal_reference=base.fields.internal_reference,
        )
        return replace(base, fields=rules)

    def _restart(self) -> None:
        """A (new) syncd process: new instance, new executor and engine, faults cleared."""
        assert self.repository is not None
        self.intigriti.faults.crashed = self.jira.faults.crashed = False
        self.registry = InstanceRegistry(
            self.repository,
            command="model",
            instance_id=f"instance-{next(self.instances)}",
            clock=self.clock,
        )
        self.registry.register("oneshot")
        executor = Executor(
            self.repository,
            self.intigriti,  # type: ignore[arg-type]
            self.jira,  # type: ignore[arg-type]
            self._mapping(),
            escape=lambda text: text,
            claims=ClaimTerms(instance=self.registry.id, instance_timeout=TIMEOUT),
            options=ExecutorOptions(create_settle=SETTLE),
            clock=self.clock,
        )
        self.engine = Engine(
            self.repository,
            self.intigriti,  # type: ignore[arg-type]
            self.jira,  # type: ignore[arg-type]
            executor,
            options=EngineOptions(overlap=timedelta(seconds=5)),
        )

    def teardown(self) -> None:
        if self.repository is not None:
            self.repository.close()

    def _run(self, cycle: str) -> Summary | None:
        """One cycle; a crash leaves the process dead (the next rule restarts it)."""
        assert self.engine is not None
        try:
            if cycle == "sweep":
                return self.engine.full_pass()
            if cycle == "poll_intigriti":
                return self.engine.poll_intigriti()
            return self.engine.poll_jira()
        except Crash:
            event("a crash (process killed mid-cycle)")
            # time passes before the restart: the dead instance's claims are free by then
            self.clock.tick(TIMEOUT.total_seconds() + 1)
            self._restart()
            return None

    # -- humans ---------------------------------------------------------------------------

    @rule(severity=st.sampled_from(SEVERITIES), pick=st.integers(0, 10))
    def human_sets_severity(self, severity: str, pick: int) -> None:
        codes = sorted(self.intigriti.submissions)
        self.intigriti.human_edit(codes[pick % len(codes)], severity=severity)

    @rule(state=st.sampled_from(INTIGRITI_STATES), pick=st.integers(0, 10))
    def human_moves_submission(self, state: tuple[str, str | None], pick: int) -> None:
        codes = sorted(self.intigriti.submissions)
        code = codes[pick % len(codes)]
        if self.intigriti.submissions[code].status in ("Triage", "Pending"):
            return  # only syncd's triage flow moves a new submission on
        self.intigriti.human_edit(code, status=state[0], close_reason=state[1])

    @precondition(lambda self: bool(self.jira.issues))
    @rule(priority=st.sampled_from(PRIORITIES), pick=st.integers(0, 10))
    def human_sets_priority(self, priority: str, pick: int) -> None:
        ids = sorted(self.jira.issues)
        self.jira.human_edit(ids[pick % len(ids)], priority=priority)

    @precondition(lambda self: bool(self.jira.issues))
    @rule(status=st.sampled_from(JIRA_STATUSES), pick=st.integers(0, 10))
    def human_moves_issue(self, status: str, pick: int) -> None:
        ids = sorted(self.jira.issues)
        issue_id = ids[pick % len(ids)]
        if self.jira.issues[issue_id].status == "To Do":
            return  # a new issue waits for triage on Intigriti
        self.jira.human_edit(issue_id, status=status)

    @rule(severity=st.sampled_from(SEVERITIES), status=st.sampled_from(("Triage", "Accepted")))
    def researcher_submits(self, severity: str, status: str) -> None:
        if len(self.intigriti.submissions) < 8:
            self.intigriti.add(status, severity)

    # -- the environment ------------------------------------------------------------------

    @rule(
        side=st.sampled_from(("intigriti", "jira")),
        fault=st.sampled_from(("transient", "ambiguous", "crash_before", "crash_after")),
    )
    def a_write_will_fail(self, side: str, fault: str) -> None:
        sides: dict[str, Any] = {"intigriti": self.intigriti, "jira": self.jira}
        sides[side].faults.queue.append(fault)

    @rule(
        field=st.sampled_from(("severity", "status")),
        direction=st.sampled_from(("both", "to_jira", "to_intigriti", "off")),
        policy=st.sampled_from(("intigriti", "jira", "newest")),
    )
    def the_mapping_changes(self, field: str, direction: str, policy: str) -> None:
        self.directions[field], self.policies[field] = direction, policy
        self._restart()  # a new configuration means a restart

    @rule(cycle=st.sampled_from(("sweep", "poll_intigriti", "poll_jira")))
    def syncd_runs_a_cycle(self, cycle: str) -> None:
        self.clock.tick(2)
        self._run(cycle)

    @rule()
    def a_quiet_reconcile_converges(self) -> None:
        self.intigriti.faults.queue.clear()
        self.jira.faults.queue.clear()
        self.clock.tick(SETTLE.total_seconds() + 1)
        summary = self._run("sweep")
        for _ in range(6):
            if summary is not None and summary.ok and not summary.outcomes["pending"]:
                break
            self.clock.tick(SETTLE.total_seconds() + 1)  # let settle windows run out
            summary = self._run("sweep")
        assert summary is not None and summary.ok, summary and summary.as_dict()
        self._check_converged()
        event("a quiet reconcile converged")
        writes = self.intigriti.writes + self.jira.writes
        again = self._run("sweep")
        assert again is not None and again.ok
        assert self.intigriti.writes + self.jira.writes == writes, "a quiet pass wrote"

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def never_two_issues_for_one_submission(self) -> None:
        for code in self.intigriti.submissions:
            assert len(self.jira.tagged(code)) <= 1, code

    def _check_converged(self) -> None:
        assert self.repository is not None and self.engine is not None
        mapping = self.engine.executor.mapping
        for code, submission in self.intigriti.submissions.items():
            tagged = self.jira.tagged(code)
            if not mapping.should_create(submission.status) and not tagged:
                continue
            assert len(tagged) == 1, (code, tagged)
            issue = tagged[0]
            link = self.repository.get_link(code)
            assert link is not None and link.state == "linked", link
            assert link.issue_id == issue.id
            assert submission.internal_reference == issue.key
            current = plan(link_view(link), submission, issue, mapping, now=self.clock())
            assert current.actions == (), (code, current)
            if self.directions["severity"] != "off":
                i = mapping.canonical_severity_from_intigriti(submission.severity)
                j = mapping.canonical_severity_from_jira(issue.priority)
                assert i == j == link.base_severity, (code, "severity", i, j, link)
            if self.directions["status"] != "off":
                i = mapping.canonical_status_from_intigriti(
                    submission.status, submission.close_reason
                )
                j = mapping.canonical_status_from_jira(issue.status)
                no_target = any("cannot be written" in note for note in current.notes)
                assert (i == j == link.base_status) or no_target, (code, "status", i, j, link)


_DIRECTORY: list[Path] = []
_COUNTER = itertools.count()


def _database_path() -> Path:
    return _DIRECTORY[0] / f"model-{next(_COUNTER)}.db"


@pytest.mark.slow
def test_the_sync_core_converges_under_edits_faults_crashes_and_mapping_changes(
    tmp_path: Path,
) -> None:
    _DIRECTORY[:] = [tmp_path]
    runner = SyncModel.TestCase
    runner.settings = settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    runner().runTest()
