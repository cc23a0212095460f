"""The executor: runs one submission's plan against both sides and records each outcome.

Each action is one unit: its write, then its new base and audit rows in one transaction.
A failed action stops that submission's remaining actions (they are re-planned next time
from fresh reads) and touches no other submission. Creation is idempotent and crash-safe:
an intent row is committed before any request, the moment of each create attempt is
committed before the request is sent, and an intent with an attempt on record always
looks the submission's tag up in Jira before creating again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, NoReturn

import structlog

from syncd.errors import (
    AmbiguousWrite,
    CredentialError,
    NotAllowed,
    NotFound,
    RemoteError,
    StoreError,
    SyncdError,
)
from syncd.records import Issue, NewIssue, Submission
from syncd.store.repository import AuditEntry, LinkRecord, Repository
from syncd.sync.describe import describe_plan
from syncd.sync.mapping import Mapping
from syncd.sync.plan import (
    Action,
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
from syncd.sync.ports import IntigritiSide, JiraSide

log = structlog.get_logger(__name__)

FIELD_WRITES = (
    SetJiraPriority,
    TransitionJira,
    SetIntigritiSeverity,
    MoveIntigritiStatus,
    SetIntigritiReference,
)
Outcome = Literal["converged", "changed", "failed", "blocked", "parked", "pending", "skipped"]
#: re-plans after a create or adopt, so one pass also writes the reference and the fields
MAX_ROUNDS = 4


@dataclass
class Summary:
    """What a pass or poll did, for the final report, `status` and the tests."""

    items: int = 0
    created: int = 0
    adopted: int = 0
    writes: Counter[str] = field(default_factory=Counter)
    conflicts: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)
    blocked: dict[str, str] = field(default_factory=dict)
    plan_lines: list[str] = field(default_factory=list)

    def count_write(self, field_name: str, direction: str) -> None:
        self.writes[f"{field_name}:{direction}"] += 1

    @property
    def total_writes(self) -> int:
        return self.created + self.adopted + sum(self.writes.values())

    @property
    def ok(self) -> bool:
        return not any(self.outcomes[o] for o in ("failed", "blocked", "parked"))

    def as_dict(self) -> dict[str, object]:
        return {
            "items": self.items,
            "created": self.created,
            "adopted": self.adopted,
            "writes": dict(sorted(self.writes.items())),
            "conflicts": self.conflicts,
            "outcomes": dict(sorted(self.outcomes.items())),
            "failed": sorted(self.failures),
            "blocked": sorted(self.blocked),
        }


@dataclass(frozen=True)
class ExecutorOptions:
    #: after a create whose outcome is unknown, how long to let Jira's search catch up
    #: before a lookup that finds nothing may lead to another create
    create_settle: timedelta = timedelta(seconds=120)
    #: a snapshot older than this is read again before a field write is based on it
    max_snapshot_age: timedelta = timedelta(seconds=30)
    dry_run: bool = False


def link_view(link: LinkRecord) -> LinkView:
    return LinkView(
        submission_code=link.submission_code,
        program_id=link.program_id,
        issue_id=link.issue_id,
        issue_key=link.issue_key,
        state=link.state,
        bases=Bases(
            severity=link.base_severity,
            status=link.base_status,
            internal_reference=link.base_internal_reference,
        ),
        blocked_signature=link.blocked_signature,
        create_attempted_at=link.create_attempted_at,
    )


class _StopItem(Exception):
    """Internal: stop this submission's remaining actions with this outcome."""

    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


class Executor:
    def __init__(
        self,
        repository: Repository,
        intigriti: IntigritiSide,
        jira: JiraSide,
        mapping: Mapping,
        *,
        escape: Callable[[str], str],
        options: ExecutorOptions = ExecutorOptions(),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.repository = repository
        self.intigriti = intigriti
        self.jira = jira
        self.mapping = mapping
        self.escape = escape
        self.options = options
        self.clock = clock

    # -- one submission ----------------------------------------------------------------

    def sync(
        self,
        code: str,
        submission: Submission | None,
        issue: Issue | None,
        summary: Summary,
        *,
        read_at: datetime | None = None,
    ) -> Outcome:
        """Plan and execute for one submission until it converges (or cannot progress).

        ``read_at`` is when ``submission`` and ``issue`` were read. Before any field write,
        a snapshot that is older than ``max_snapshot_age``, or older than syncd's own last
        change to this link (another cycle wrote meanwhile), is read again directly, so a
        write never rests on a value that has since changed.
        """
        summary.items += 1
        try:
            outcome = self._sync(code, submission, issue, summary, read_at)
        except CredentialError:
            raise
        except _StopItem as stop:
            outcome = stop.outcome
            if outcome == "failed":
                summary.failures[code] = stop.reason
            elif outcome == "blocked":
                summary.blocked[code] = stop.reason
        except StoreError as exc:
            # one item's database trouble (a constraint, a too-long value) fails that item;
            # the cycle goes on with the others
            outcome = "failed"
            summary.failures[code] = str(exc)
            log.error("item_store_error", submission=code, error=str(exc))
        except SyncdError as exc:  # pragma: no cover - every adapter error is handled below
            outcome = "failed"
            summary.failures[code] = str(exc)
        summary.outcomes[outcome] += 1
        return outcome

    def _sync(
        self,
        code: str,
        submission: Submission | None,
        issue: Issue | None,
        summary: Summary,
        read_at: datetime | None,
    ) -> Outcome:
        link = self.repository.get_link(code)
        fresh = False
        if link is not None and link.state == "parked":
            if submission is None or self.options.dry_run:
                return "parked"
            link = self.repository.unpark(code)
        changed = False
        for _round in range(MAX_ROUNDS):
            view = link_view(link) if link is not None else None
            current = plan(
                view, submission, issue, self.mapping, now=self.clock(), escape=self.escape
            )
            if self.options.dry_run:
                summary.plan_lines.extend(describe_plan(current))
                return "changed" if current.writes else "converged"
            if not current.actions:
                if link is not None and link.issue_id and (submission is None or issue is None):
                    # a side was not read: nothing is known to agree, nothing is marked
                    return "changed" if changed else "skipped"
                self._mark_seen(link, submission, issue)
                self._clear_failure(link)
                return "changed" if changed else "converged"
            for note in current.notes:
                log.debug("plan_note", submission=code, note=note)
            if not fresh and link is not None and self._needs_fresh_read(current, link, read_at):
                submission, issue = self._read_fresh(link)
                fresh = True
                continue
            result = self._execute(current, link, submission, issue, summary)
            changed = changed or result.wrote
            if result.pending:
                return "pending"
            if not result.replan:
                self._mark_seen(result.link, submission, result.issue)
                self._clear_failure(result.link)
                return "changed" if changed else "converged"
            link, issue = result.link, result.issue
            fresh = True  # syncd just created or linked the issue: nothing older to lose
        raise _StopItem("failed", f"did not converge in {MAX_ROUNDS} rounds")

    def _clear_failure(self, link: LinkRecord | None) -> None:
        if link is not None and link.attempts and link.state in ("linked", "blocked"):
            self.repository.clear_failure(link.submission_code)

    def _needs_fresh_read(self, current: Plan, link: LinkRecord, read_at: datetime | None) -> bool:
        # anything that moves a base counts, RecordBase included: a stale "they agree"
        # would overwrite the base a newer cycle stored
        if all(isinstance(a, CreateIssue | ResumeCreate | AdoptIssue) for a in current.actions):
            return False
        if read_at is None:
            return True
        too_old = self.clock() - read_at > self.options.max_snapshot_age
        return too_old or link.updated_at >= read_at

    def _read_fresh(self, link: LinkRecord) -> tuple[Submission, Issue]:
        """Both sides read directly (strong consistency); a failed read stops the item."""
        code = link.submission_code
        try:
            submission = self.intigriti.get_submission(code)
            issue = self.jira.get_issue(link.issue_id) if link.issue_id else None
        except CredentialError:
            raise
        except RemoteError as exc:
            reason = f"fresh read before writing failed: {type(exc).__name__}: {exc}"
            self.repository.record_failure(code, reason)
            raise _StopItem("failed", reason) from None
        if issue is None:  # pragma: no cover - field writes are planned only for linked items
            raise _StopItem("failed", "no issue to read before writing")
        return submission, issue

    def _mark_seen(
        self,
        link: LinkRecord | None,
        submission: Submission | None,
        issue: Issue | None,
    ) -> None:
        """Remember which version of each side is reconciled, so polls skip it for free.

        Only versions that were read count: the echo of syncd's own write is a newer
        version, which a poll still looks at (and finds in agreement with the bases).
        """
        if link is None or link.state not in ("linked", "blocked"):
            return
        if submission is None and issue is None:
            return
        intigriti_seen = submission.updated_at if submission is not None else None
        jira_seen = issue.updated_at if issue is not None else None
        if intigriti_seen == link.intigriti_seen_at and jira_seen == link.jira_seen_at:
            return
        self.repository.apply_field_result(
            link.submission_code, intigriti_seen_at=intigriti_seen, jira_seen_at=jira_seen
        )

    # -- actions -----------------------------------------------------------------------

    @dataclass
    class _Result:
        link: LinkRecord | None
        issue: Issue | None
        wrote: bool = False
        replan: bool = False
        pending: bool = False

    def _execute(
        self,
        current: Plan,
        link: LinkRecord | None,
        submission: Submission | None,
        issue: Issue | None,
        summary: Summary,
    ) -> _Result:
        result = self._Result(link=link, issue=issue)
        conflicts: list[RecordConflict] = []
        for action in current.actions:
            if isinstance(action, RecordConflict):
                conflicts.append(action)
                summary.conflicts += 1
                continue
            if isinstance(action, CreateIssue | ResumeCreate):
                new = action.new_issue
                created = self._create(current.code, submission, new, result.link, summary)
                if created is None:
                    result.pending = True
                    return result
                result.link, result.issue = created
                result.wrote = result.replan = True
                return result
            if isinstance(action, AdoptIssue):
                result.link, result.issue = self._adopt(
                    current.code, submission, action, result.link, conflicts, summary
                )
                result.wrote = result.replan = True
                return result
            assert result.link is not None
            if isinstance(action, RecordBase):
                result.link = self.repository.apply_field_result(
                    current.code, bases={action.field: action.value}
                )
                continue
            field_conflicts = [c for c in conflicts if c.field == action.field]
            result.link = self._write_field(
                action, result.link, submission, field_conflicts, summary
            )
            result.wrote = True
        return result

    def _conflict_entries(self, code: str, conflicts: list[RecordConflict]) -> list[AuditEntry]:
        return [
            AuditEntry(
                submission_code=code,
                field=c.field,
                direction="conflict",
                old_value=c.intigriti_value,
                new_value=c.jira_value,
                outcome=f"conflict:{c.winner}",
                detail=f"policy {c.policy}; base {c.base!r}",
            )
            for c in conflicts
        ]

    def _write_field(
        self,
        action: Action,
        link: LinkRecord,
        submission: Submission | None,
        conflicts: list[RecordConflict],
        summary: Summary,
    ) -> LinkRecord:
        code = link.submission_code
        assert isinstance(
            action,
            SetJiraPriority
            | TransitionJira
            | SetIntigritiSeverity
            | MoveIntigritiStatus
            | SetIntigritiReference,
        )
        direction = (
            "to_jira" if isinstance(action, SetJiraPriority | TransitionJira) else "to_intigriti"
        )
        new_value: str
        try:
            if isinstance(action, SetJiraPriority):
                new_value = action.priority
                self.jira.set_priority(action.issue_id, action.priority, action.cvss)
            elif isinstance(action, TransitionJira):
                new_value = action.status
                self.jira.transition_to(action.issue_id, action.status, action.resolution)
            elif isinstance(action, SetIntigritiSeverity):
                new_value = action.severity
                self.intigriti.set_severity(action.code, action.severity, action.vector)
            elif isinstance(action, MoveIntigritiStatus):
                new_value = (
                    f"{action.status}/{action.close_reason}"
                    if action.close_reason
                    else action.status
                )
                if submission is None:  # the planner moves only what it read
                    raise _StopItem("failed", "status move planned without the submission")
                self.intigriti.move_to_status(submission, action.status, action.close_reason)
            else:
                key = action.reference
                url = action.url or self.jira.browse_url(key)
                new_value = key
                self.intigriti.set_internal_reference(action.code, key, url)
        except NotAllowed as exc:
            reason = f"{action.field}: {exc}"
            entries = [
                *self._conflict_entries(code, conflicts),
                AuditEntry(
                    code, action.field, direction, action.previous, new_value, "blocked", str(exc)
                ),
            ]
            self.repository.block(code, action.signature, reason, entries)
            log.warning("write_blocked", submission=code, field=action.field, reason=str(exc))
            raise _StopItem("blocked", reason) from None
        except CredentialError:
            raise
        except RemoteError as exc:
            self._fail(code, action.field, direction, action.previous, new_value, exc, conflicts)
        entries = [
            *self._conflict_entries(code, conflicts),
            AuditEntry(code, action.field, direction, action.previous, new_value, "ok"),
        ]
        clear = link.state == "blocked" and (link.blocked_signature or "").startswith(
            f"{action.field}:"
        )
        updated = self.repository.apply_field_result(
            code, bases={action.field: action.new_base}, audit=entries, clear_block=clear
        )
        summary.count_write(action.field, direction)
        log.info(
            "field_written",
            submission=code,
            field=action.field,
            direction=direction,
            old=action.previous,
            new=new_value,
        )
        return updated

    def _fail(
        self,
        code: str,
        field_name: str,
        direction: str,
        old: str | None,
        new: str | None,
        exc: RemoteError,
        conflicts: Sequence[RecordConflict] = (),
    ) -> NoReturn:
        reason = f"{field_name}: {type(exc).__name__}: {exc}"
        self.repository.audit(
            [
                *self._conflict_entries(code, list(conflicts)),
                AuditEntry(code, field_name, direction, old, new, "failed", str(exc)),
            ]
        )
        self.repository.record_failure(code, reason)
        log.warning("write_failed", submission=code, field=field_name, error=reason)
        raise _StopItem("failed", reason)

    # -- creation ------------------------------------------------------------------------

    def _create(
        self,
        code: str,
        submission: Submission | None,
        new: NewIssue | None,
        link: LinkRecord | None,
        summary: Summary,
    ) -> tuple[LinkRecord, Issue] | None:
        """Find or create the issue of ``code``; None when it must wait (settle window)."""
        program_id = submission.program_id if submission is not None else ""
        if link is None:
            link = self.repository.begin_create(code, program_id, self.clock())
            # begin_create returns an existing row when another process got there first
            resuming = link.create_attempted_at is not None or link.state != "creating"
        else:
            # an intent row from an earlier run: whatever happened then, look the tag up
            resuming = True
        if resuming:
            try:
                found = self.jira.find_by_submission(code)
            except RemoteError as exc:
                self._fail(code, "creation", "to_jira", None, None, exc)
            if found is not None:
                return self._link_created(code, found, summary, created=False), found
            attempted = link.create_attempted_at
            if attempted is not None and self.clock() - attempted < self.options.create_settle:
                log.info("create_deferred", submission=code, reason="waiting for search to settle")
                return None
        if new is None:
            raise _StopItem("pending", "submission not read; cannot create yet")
        self.repository.mark_create_attempt(code, self.clock())
        try:
            issue = self.jira.create_issue(new)
        except AmbiguousWrite as exc:
            self.repository.record_failure(code, f"creation: outcome unknown: {exc}")
            log.warning("create_ambiguous", submission=code, error=str(exc))
            raise _StopItem("failed", f"creation outcome unknown: {exc}") from None
        except CredentialError:
            raise
        except RemoteError as exc:
            self._fail(code, "creation", "to_jira", None, new.project, exc)
        return self._link_created(code, issue, summary, created=True), issue

    def _link_created(
        self, code: str, issue: Issue, summary: Summary, *, created: bool
    ) -> LinkRecord:
        outcome = "ok" if created else "ok:found-by-tag"
        bases = bases_after_create(issue, self.mapping)
        linked = self.repository.complete_link(
            code,
            issue.id,
            issue.key,
            [AuditEntry(code, "creation", "to_jira", None, issue.key, outcome)],
            bases={"severity": bases.severity, "status": bases.status},
        )
        if created:
            summary.created += 1
            log.info("issue_created", submission=code, issue=issue.key)
        else:
            summary.adopted += 1
            log.info("issue_found_by_tag", submission=code, issue=issue.key)
        return linked

    def _adopt(
        self,
        code: str,
        submission: Submission | None,
        action: AdoptIssue,
        link: LinkRecord | None,
        conflicts: list[RecordConflict],
        summary: Summary,
    ) -> tuple[LinkRecord, Issue]:
        try:
            issue = self.jira.get_issue(action.issue_key)
        except NotFound:
            reason = f"internal reference names {action.issue_key}, which does not exist in Jira"
            if link is None:
                raise _StopItem("failed", reason) from None
            # keep the link; the planner will write the linked key back next time
            self.repository.apply_field_result(
                code,
                bases={"internal_reference": None},
                audit=[
                    AuditEntry(
                        code,
                        "internal_reference",
                        "none",
                        action.issue_key,
                        link.issue_key,
                        "rejected",
                        reason,
                    )
                ],
            )
            raise _StopItem("failed", reason) from None
        except RemoteError as exc:
            self._fail(code, "internal_reference", "none", None, action.issue_key, exc)
        other = self.repository.link_by_issue_id(issue.id)
        refusal = None
        if other is not None and other.submission_code != code:
            refusal = f"{issue.key} is already linked to {other.submission_code}"
        elif issue.submission_code and issue.submission_code.casefold() != code.casefold():
            refusal = f"{issue.key} is tagged for submission {issue.submission_code}"
        if refusal is not None:
            if link is not None and link.issue_id is not None:
                # parked until a human changes the reference again: not retried each cycle
                self.repository.block(code, action.signature, f"internal_reference: {refusal}", [])
                raise _StopItem("blocked", refusal)
            raise _StopItem("failed", refusal)
        entries = [
            *self._conflict_entries(code, conflicts),
            AuditEntry(
                code,
                "link",
                "none",
                link.issue_key if link else None,
                issue.key,
                "ok",
                action.reason,
            ),
        ]
        program_id = (
            submission.program_id if submission is not None else (link.program_id if link else "")
        )
        # the key the human typed, even when Jira resolved it to a moved issue's new key:
        # the next plan then writes the current key back instead of adopting again
        bases = bases_after_adopt(action.issue_key)
        linked = self.repository.adopt(
            code,
            program_id,
            issue.id,
            issue.key,
            entries,
            bases={
                "severity": bases.severity,
                "status": bases.status,
                "internal_reference": bases.internal_reference,
            },
        )
        summary.adopted += 1
        log.info("issue_adopted", submission=code, issue=issue.key, reason=action.reason)
        return linked, issue
