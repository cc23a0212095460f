"""The executor: runs one submission's plan against both sides and records each outcome.

Each action is one unit: its write, then its new base and audit rows in one transaction.
A failed action stops that submission's remaining actions (they are re-planned next time
from fresh reads) and touches no other submission.

Any number of syncd processes may share one database, so every write rests on a
**claim**: a compare-and-set on the link row (``Repository.claim``) that one process at a
time holds, for as long as its instance heartbeats (``ClaimTerms``). The rules:

* A plan made from a cycle's snapshot only decides whether anything needs doing. Before
  the first write the executor claims the link, re-reads the row under the claim (so it
  sees every base another process committed before letting go), reads both sides again
  directly (strongly consistent reads, made after that other process's writes) and plans
  anew. Right after syncd itself created or linked the issue, under the same claim,
  nothing older can exist, and no second read is needed.
* A submission with no link row is claimed by inserting its creation intent with the
  claim in it; the unique submission code lets one process win. The others find the row
  and claim it only once it is free, and then look the tag up before creating.
* The moment of each create attempt is a compare-and-set on the claim, committed from
  the Jira adapter's ``before_send`` hook, at the last moment before the request goes on
  the wire (after quota waits and retry pauses); before every other write the claim is
  checked the same way. A process whose claim was taken over (its heartbeat stopped, so
  the others counted it dead) therefore sends nothing more. A claimed intent with an
  attempt on record always looks the tag up first, and waits out the settle window.
* Not holding the claim means **deferred**: nothing is written, and the caller tries
  again later (the next poll, or the one-shot's retry round).
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal, NoReturn, Protocol

import structlog

from syncd.errors import (
    AmbiguousWrite,
    CredentialError,
    ItemError,
    NotAllowed,
    NotFound,
    Rejected,
    RemoteError,
    StoreError,
    SyncdError,
    TransientError,
    WriteWithdrawn,
)
from syncd.records import Issue, NewIssue, Submission
from syncd.store.repository import AuditEntry, ClaimTerms, LinkRecord, Repository, SeenMark
from syncd.sync.describe import describe_plan
from syncd.sync.mapping import Mapping as SyncMapping
from syncd.sync.mapping import creation_rules
from syncd.sync.plan import (
    AdoptIssue,
    Bases,
    CreateIssue,
    FieldWrite,
    LinkJiraDuplicate,
    LinkView,
    MoveIntigritiStatus,
    Plan,
    RecordBase,
    RecordConflict,
    RecordJiraPayouts,
    Related,
    ResumeCreate,
    SetIntigritiCvss,
    SetIntigritiReference,
    SetIntigritiSeverity,
    SetJiraCvss,
    SetJiraDescription,
    SetJiraPriority,
    TransitionJira,
    UploadAttachments,
    bases_after_adopt,
    bases_after_create,
    description_digest,
    new_issue_for,
    plan,
)
from syncd.sync.ports import IntigritiSide, JiraSide
from syncd.sync.watermark import FUTURE_TOLERANCE

log = structlog.get_logger(__name__)

#: every write a plan can hold (one field of one link each)
FieldAction = FieldWrite
#: the writes that go to Intigriti (all others go to Jira)
TO_INTIGRITI = (SetIntigritiSeverity, MoveIntigritiStatus, SetIntigritiReference, SetIntigritiCvss)


def _shown_value(action: FieldAction) -> str:
    """The new value as the audit log and the log lines show it."""
    match action:
        case SetJiraPriority(priority=value) | SetIntigritiSeverity(severity=value):
            return value
        case TransitionJira(status=status, resolution=resolution):
            return f"{status}/{resolution}" if resolution else status
        case MoveIntigritiStatus(status=status, close_reason=reason):
            return f"{status}/{reason}" if reason else status
        case SetIntigritiReference(reference=value):
            return value
        case SetJiraCvss(cvss=vector) | SetIntigritiCvss(vector=vector):
            return vector or "(cleared)"
        case LinkJiraDuplicate(original=original):
            return f"duplicates {original.issue_key} ({original.submission_code})"
        case RecordJiraPayouts(text=text):
            return text
        case SetJiraDescription(new_base=digest):
            return digest
        case UploadAttachments(attachments=attachments):
            return ", ".join(a.code for a in attachments)
    return "?"  # pragma: no cover - every FieldAction is matched above
Outcome = Literal[
    "converged",
    "changed",
    "failed",
    "blocked",
    "parked",
    "pending",
    "skipped",
    "deferred",
    "unmapped",
]
#: re-plans after a claim, a fresh read, a create or an adopt, so one pass also writes
#: the reference and the fields
MAX_ROUNDS = 6


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
    #: submissions another process held (code -> instance id of the holder)
    deferred: dict[str, str] = field(default_factory=dict)
    #: submissions whose tag several Jira issues carry (code -> issue keys)
    duplicates: dict[str, list[str]] = field(default_factory=dict)
    #: submissions with values the mapping cannot place (code -> what)
    unmapped: dict[str, str] = field(default_factory=dict)
    plan_lines: list[str] = field(default_factory=list)

    def count_write(self, field_name: str, direction: str) -> None:
        self.writes[f"{field_name}:{direction}"] += 1

    def undefer(self, code: str) -> None:
        """Forget a deferred outcome before the item is tried again (counted once)."""
        if self.deferred.pop(code, None) is not None:
            self.outcomes["deferred"] -= 1
            self.items -= 1

    @property
    def total_writes(self) -> int:
        return self.created + self.adopted + sum(self.writes.values())

    @property
    def ok(self) -> bool:
        return not self.duplicates and not any(
            self.outcomes[o] for o in ("failed", "blocked", "parked", "deferred", "unmapped")
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "items": self.items,
            "created": self.created,
            "adopted": self.adopted,
            "writes": dict(sorted(self.writes.items())),
            "conflicts": self.conflicts,
            "outcomes": {k: v for k, v in sorted(self.outcomes.items()) if v},
            "failed": sorted(self.failures),
            "blocked": sorted(self.blocked),
            "deferred": sorted(self.deferred),
            "unmapped": sorted(self.unmapped),
            "duplicates": dict(sorted(self.duplicates.items())),
        }


@dataclass(frozen=True)
class ExecutorOptions:
    #: after a create whose outcome is unknown, how long to let Jira's search catch up
    #: before a lookup that finds nothing may lead to another create
    create_settle: timedelta = timedelta(seconds=120)
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
            cvss=link.base_cvss,
            duplicate=link.base_duplicate,
            payouts=link.base_payouts,
            payout_total=link.base_payout_total,
            description=link.base_description,
            attachments=link.base_attachments,
        ),
        blocked_signature=link.blocked_signature,
        create_attempted_at=link.create_attempted_at,
        intigriti_seen_at=link.intigriti_seen_at,
    )


class _StopItem(Exception):
    """Internal: stop this submission's remaining actions with this outcome."""

    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


@dataclass
class _Hold:
    """The claim token of one sync call, and whether the link is claimed with it now."""

    token: str
    held: bool = False


def _newer(value: datetime | None, known: datetime | None, latest: datetime) -> datetime | None:
    """``value`` if it is newer than ``known`` and not after ``latest`` (else None)."""
    if value is None or value > latest or (known is not None and value <= known):
        return None
    return value


class SeenMarksStore(Protocol):
    """Where seen marks are written (``Repository``)."""

    def mark_seen_many(self, marks: Sequence[SeenMark]) -> None: ...


class SeenMarks:
    """Versions a sweep found in agreement, written in bulk every ``size`` marks.

    A mark only spares a later poll a look; marks lost to a crash before the flush cost
    that look and nothing else, so they need not be written one commit per link.
    """

    def __init__(self, repository: SeenMarksStore, size: int = 500) -> None:
        self._repository = repository
        self._size = size
        self._marks: list[SeenMark] = []

    def add(self, code: str, intigriti: datetime | None, jira: datetime | None) -> None:
        self._marks.append((code, intigriti, jira))
        if len(self._marks) >= self._size:
            self.flush()

    def flush(self) -> None:
        marks, self._marks = self._marks, []
        if not marks:
            return
        try:
            self._repository.mark_seen_many(marks)
        except StoreError as exc:
            # never a reason to fail an item or the sweep: the next polls look again
            log.warning("seen_marks_not_saved", count=len(marks), error=str(exc))


#: ``links`` argument meaning "read the link row yourself"
_READ = None


class Executor:
    def __init__(
        self,
        repository: Repository,
        intigriti: IntigritiSide,
        jira: JiraSide,
        mapping: SyncMapping,
        *,
        escape: Callable[[str], str],
        claims: ClaimTerms,
        options: ExecutorOptions = ExecutorOptions(),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        may_write: Callable[[], bool] = lambda: True,
    ) -> None:
        """``may_write`` is asked before every outside write: the daemon answers whether
        it still holds the leader lease, so a leader that lost it stops at once."""
        self.repository = repository
        self.intigriti = intigriti
        self.jira = jira
        self.mapping = mapping
        self.escape = escape
        self.claims = claims
        self.options = options
        self.clock = clock
        self.may_write = may_write
        self._creation_mapping = replace(mapping, fields=creation_rules(mapping.fields))

    # -- one submission ----------------------------------------------------------------

    def sync(
        self,
        code: str,
        submission: Submission | None,
        issue: Issue | None,
        summary: Summary,
        *,
        links: Mapping[str, LinkRecord] | None = _READ,
        seen: SeenMarks | None = None,
    ) -> Outcome:
        """Plan from this snapshot and, if anything differs, claim, re-read and execute.

        ``links``: the cycle's bulk read of link rows, when it made one (a code missing
        from it has no link); otherwise the row is read here. ``seen``: where a sweep
        collects the versions found in agreement, to write them in bulk (otherwise each
        is written at once).
        """
        return self._run(code, submission, issue, summary, links=links, look=False, seen=seen)

    def converged(
        self,
        link: LinkRecord,
        submission: Submission,
        issue: Issue,
        summary: Summary,
        seen: SeenMarks | None = None,
    ) -> Outcome:
        """An item the caller found in agreement on both sides (``agreement.nothing_to_do``):
        counted, and its versions marked seen, without planning it."""
        summary.items += 1
        summary.outcomes["converged"] += 1
        if not self.options.dry_run:
            self._mark_seen(link, submission, issue, seen)
        return "converged"

    def refresh(
        self, code: str, summary: Summary, *, submission: Submission | None = None
    ) -> Outcome:
        """Claim the link first, read both sides directly, then plan and execute.

        For polls and retries, whose snapshot is partial or from a lagging search.
        ``submission`` is used only for a submission without a link (a new one).
        """
        return self._run(code, submission, None, summary, links=_READ, look=True)

    def _run(
        self,
        code: str,
        submission: Submission | None,
        issue: Issue | None,
        summary: Summary,
        *,
        links: Mapping[str, LinkRecord] | None,
        look: bool,
        seen: SeenMarks | None = None,
    ) -> Outcome:
        summary.items += 1
        hold = _Hold(secrets.token_hex(16))
        try:
            outcome = self._sync(code, submission, issue, summary, links, look, hold, seen)
        except CredentialError:
            raise
        except _StopItem as stop:
            outcome = stop.outcome
            if outcome == "failed":
                summary.failures[code] = stop.reason
            elif outcome == "blocked":
                summary.blocked[code] = stop.reason
            elif outcome == "deferred":
                summary.deferred[code] = stop.reason
        except StoreError as exc:
            # one item's database trouble (a constraint, a too-long value) fails that item;
            # the cycle goes on with the others
            outcome = "failed"
            summary.failures[code] = str(exc)
            log.error("item_store_error", submission=code, error=str(exc))
        except SyncdError as exc:  # pragma: no cover - every adapter error is handled below
            outcome = "failed"
            summary.failures[code] = str(exc)
        finally:
            if hold.held:
                self._release(code, hold)
        summary.outcomes[outcome] += 1
        return outcome

    def _release(self, code: str, hold: _Hold) -> None:
        try:
            self.repository.release_claim(code, hold.token)
        except StoreError as exc:
            # the claim is then freed with this instance's heartbeat (or its clean exit)
            log.warning("claim_release_failed", submission=code, error=str(exc))
        hold.held = False

    def _claim(self, code: str, hold: _Hold) -> LinkRecord | None:
        """Claim the existing link row; None if there is none (any more)."""
        outcome = self.repository.claim(code, hold.token, self.claims, self.clock())
        if outcome.claimed:
            hold.held = True
            return outcome.link
        if outcome.held_by is not None:
            log.info("submission_deferred", submission=code, held_by=outcome.held_by)
            raise _StopItem("deferred", f"being synced by instance {outcome.held_by}")
        return None

    def _sync(
        self,
        code: str,
        submission: Submission | None,
        issue: Issue | None,
        summary: Summary,
        links: Mapping[str, LinkRecord] | None,
        look: bool,
        hold: _Hold,
        seen: SeenMarks | None = None,
    ) -> Outcome:
        link = links.get(code) if links is not None else self.repository.get_link(code)
        if link is not None and link.state == "orphaned":
            return "skipped"  # its issue is gone; `syncd status` lists it
        dry_run = self.options.dry_run
        #: both sides were read under our claim (or syncd just made the link itself)
        fresh = False
        if look and link is not None and not dry_run:
            link = self._claim(code, hold)
            if link is not None and link.issue_id is not None:
                submission, issue = self._read_fresh(link, hold)
                fresh = True
            elif link is not None and submission is None:
                # an intent without an issue: the submission is needed to create it
                submission = self._read_submission(link, hold)
        if link is not None and link.state == "parked":
            if submission is None or dry_run:
                return "parked"
            if not hold.held:
                link = self._claim(code, hold)
            if link is not None and link.state == "parked":
                link = self.repository.unpark(code)
                if link is None:
                    hold.held = False  # the row that held the claim is gone
        changed = False
        just_created = False
        for _round in range(MAX_ROUNDS):
            view = link_view(link) if link is not None else None
            mapping = self._creation_mapping if just_created else self.mapping
            current = plan(
                view,
                submission,
                issue,
                mapping,
                now=self.clock(),
                escape=self.escape,
                original=self._original_of(submission),
            )
            if dry_run:
                summary.plan_lines.extend(describe_plan(current))
                if current.needs_detail:
                    summary.plan_lines.append(
                        f"{code}  note       would read the submission's detail to decide"
                        " (report, payouts or duplicate)"
                    )
                return "changed" if current.writes else "converged"
            if current.needs_detail and link is not None and link.issue_id and not fresh:
                # payouts, the duplicate relation, a changed report: only the detail says
                if not hold.held:
                    link = self._claim(code, hold)
                    if link is None:
                        continue
                submission, issue = self._read_fresh(link, hold)
                fresh = True
                continue
            if not current.actions:
                if link is not None and link.issue_id and (submission is None or issue is None):
                    # a side was not read: nothing is known to agree, nothing is marked
                    return "changed" if changed else "skipped"
                self._mark_seen(link, submission, issue, seen)
                self._clear_failure(link)
                return self._finish(link, current, summary, changed)
            for note in current.notes:
                log.debug("plan_note", submission=code, note=note)
            if link is not None and not hold.held:
                link = self._claim(code, hold)
                continue  # re-plan against the row as it is under our claim
            if link is not None and link.issue_id is not None and not fresh:
                submission, issue = self._read_fresh(link, hold)
                fresh = True
                continue
            result = self._execute(current, link, submission, issue, summary, hold)
            changed = changed or result.wrote
            if result.pending:
                return "pending"
            if not result.replan:
                self._mark_seen(result.link, submission, result.issue)
                self._clear_failure(result.link)
                return self._finish(result.link, current, summary, changed)
            link, issue = result.link, result.issue
            submission = result.submission or submission
            fresh = fresh or result.wrote  # syncd just created or linked the issue itself
            just_created = result.created
        raise _StopItem("failed", f"did not converge in {MAX_ROUNDS} rounds")

    def _finish(
        self, link: LinkRecord | None, current: Plan, summary: Summary, changed: bool
    ) -> Outcome:
        """The item's last plan is done: record what the mapping could not place (once
        per link and value: the row remembers it), and say how the item ended."""
        text = "; ".join(u.describe() for u in current.unmapped) or None
        if link is not None and link.state in ("linked", "blocked") and text != link.unmapped:
            self.repository.set_unmapped(link.submission_code, text)
            if text is not None:
                log.warning(
                    "value_unmapped",
                    submission=link.submission_code,
                    issue=link.issue_key,
                    unmapped=text,
                    fix="add the value to [mapping] (or set the field's direction to off)",
                )
            else:
                log.info("value_mapped_again", submission=link.submission_code)
        if text is not None:
            summary.unmapped[current.code] = text
            return "unmapped"
        return "changed" if changed else "converged"

    def _original_of(self, submission: Submission | None) -> Related | None:
        """The issue of the submission this one duplicates, when both are linked."""
        if submission is None or not submission.detail or not submission.duplicate_of:
            return None
        original = self.repository.get_link(submission.duplicate_of)
        if original is None or original.issue_id is None or original.issue_key is None:
            return None
        return Related(original.submission_code, original.issue_id, original.issue_key)

    def _clear_failure(self, link: LinkRecord | None) -> None:
        if link is not None and link.attempts and link.state in ("linked", "blocked"):
            self.repository.clear_failure(link.submission_code)

    def _read_fresh(self, link: LinkRecord, hold: _Hold) -> tuple[Submission, Issue]:
        """Both sides read directly (strong consistency); a failed read stops the item."""
        submission = self._read_submission(link, hold)
        try:
            issue = self.jira.get_issue(link.issue_id) if link.issue_id else None
        except CredentialError:
            raise
        except RemoteError as exc:
            self._read_failed(link, exc)
        if issue is None:  # pragma: no cover - called only for links with an issue
            raise _StopItem("failed", "no issue to read before writing")
        return submission, issue

    def _read_submission(self, link: LinkRecord, hold: _Hold) -> Submission:
        code = link.submission_code
        try:
            return self.intigriti.get_submission(code)
        except CredentialError:
            raise
        except ItemError as exc:
            reason = str(exc)
            self.repository.park(
                code, link.program_id, reason, self.claims, self.clock(), token=hold.token
            )
            log.warning("submission_parked", submission=code, reason=reason)
            raise _StopItem("parked", reason) from None
        except RemoteError as exc:
            self._read_failed(link, exc)

    def _read_failed(self, link: LinkRecord, exc: RemoteError) -> NoReturn:
        reason = f"fresh read before writing failed: {type(exc).__name__}: {exc}"
        self.repository.record_failure(link.submission_code, reason)
        log.warning("fresh_read_failed", submission=link.submission_code, error=reason)
        raise _StopItem("failed", reason) from None

    def _mark_seen(
        self,
        link: LinkRecord | None,
        submission: Submission | None,
        issue: Issue | None,
        seen: SeenMarks | None = None,
    ) -> None:
        """Remember which version of each side is reconciled, so polls skip it for free.

        Only versions that were read count: the echo of syncd's own write is a newer
        version, which a poll still looks at (and finds in agreement with the bases).
        """
        if link is None or link.state not in ("linked", "blocked"):
            return
        # a version dated in the future is never marked: the mark would hide real edits
        latest = self.clock() + FUTURE_TOLERANCE
        intigriti_seen = _newer(
            submission.updated_at if submission else None, link.intigriti_seen_at, latest
        )
        jira_seen = _newer(issue.updated_at if issue else None, link.jira_seen_at, latest)
        if intigriti_seen is None and jira_seen is None:
            return
        if seen is not None:
            seen.add(link.submission_code, intigriti_seen, jira_seen)
            return
        self.repository.mark_seen(
            link.submission_code, intigriti_seen_at=intigriti_seen, jira_seen_at=jira_seen
        )

    def _before_write(self, code: str, hold: _Hold) -> None:
        """The last check before any outside write: leader lease, then our claim."""
        if not self.may_write():
            raise _StopItem("deferred", "this instance lost the leader lease")
        if not self.repository.holds_claim(code, hold.token):
            hold.held = False
            log.warning("claim_lost", submission=code)
            raise _StopItem("deferred", "the claim on this submission was taken over")

    # -- actions -----------------------------------------------------------------------

    @dataclass
    class _Result:
        link: LinkRecord | None
        issue: Issue | None
        wrote: bool = False
        replan: bool = False
        pending: bool = False
        #: syncd created the issue just now: plan the next round with ``creation_rules``
        #: (not when found by its tag after a crash: a human may have edited it since)
        created: bool = False
        #: the submission as read for the create (the detail), for the next round
        submission: Submission | None = None

    def _execute(
        self,
        current: Plan,
        link: LinkRecord | None,
        submission: Submission | None,
        issue: Issue | None,
        summary: Summary,
        hold: _Hold,
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
                created = self._create(current.code, submission, new, result.link, summary, hold)
                if created is None:
                    result.pending = True
                    return result
                if isinstance(created, LinkRecord):
                    # another process's row, claimed now: plan again from it
                    result.link = created
                    result.replan = True
                    return result
                result.link, result.issue, result.created, result.submission = created
                result.wrote = result.replan = True
                return result
            if isinstance(action, AdoptIssue):
                result.link, result.issue = self._adopt(
                    current.code, submission, action, result.link, conflicts, summary, hold
                )
                result.wrote = result.replan = True
                return result
            assert result.link is not None
            if isinstance(action, RecordBase):
                result.link = self.repository.apply_field_result(
                    current.code, bases={action.field: action.value}
                )
                continue
            assert isinstance(action, FieldAction)
            field_conflicts = [c for c in conflicts if c.field == action.field]
            result.link = self._write_field(
                action, result.link, submission, field_conflicts, summary, hold
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
        action: FieldAction,
        link: LinkRecord,
        submission: Submission | None,
        conflicts: list[RecordConflict],
        summary: Summary,
        hold: _Hold,
    ) -> LinkRecord:
        code = link.submission_code
        self._before_write(code, hold)
        direction = "to_intigriti" if isinstance(action, TO_INTIGRITI) else "to_jira"
        new_value = _shown_value(action)
        outcome = "ok"
        try:
            self._send(action, submission)
        except AmbiguousWrite as exc:
            if not _is_payout_comment(action):
                self._fail(
                    code, action.field, direction, action.previous, new_value, exc, conflicts
                )
            # A comment has nothing to find it again by: sent again, it could show twice.
            # A payout note possibly missing is the lesser harm; the audit says "unknown".
            outcome = "unknown"
            log.warning("payout_comment_outcome_unknown", submission=code, error=str(exc))
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
            AuditEntry(code, action.field, direction, action.previous, new_value, outcome),
        ]
        clear = link.state == "blocked" and (link.blocked_signature or "").startswith(
            f"{action.field}:"
        )
        bases: dict[str, str | None] = {action.field: action.new_base}
        if isinstance(action, RecordJiraPayouts):
            bases["payout_total"] = action.total
        updated = self.repository.apply_field_result(
            code, bases=bases, audit=entries, clear_block=clear
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

    def _send(self, action: FieldAction, submission: Submission | None) -> None:
        """The one outside write an action stands for."""
        match action:
            case SetJiraPriority(issue_id=issue_id, priority=priority, cvss=cvss):
                self.jira.set_priority(issue_id, priority, cvss)
            case TransitionJira(issue_id=issue_id, status=status, resolution=resolution):
                self.jira.transition_to(issue_id, status, resolution)
            case SetIntigritiSeverity(code=code, severity=severity, vector=vector):
                self.intigriti.set_severity(code, severity, vector or None)
            case MoveIntigritiStatus(status=status, close_reason=reason):
                if submission is None:  # the planner moves only what it read
                    raise _StopItem("failed", "status move planned without the submission")
                self.intigriti.move_to_status(submission, status, reason)
            case SetIntigritiReference(code=code, reference=key, url=url):
                self.intigriti.set_internal_reference(code, key, url or self.jira.browse_url(key))
            case SetJiraCvss(issue_id=issue_id, cvss=cvss):
                self.jira.set_cvss(issue_id, cvss or None)
            case SetIntigritiCvss(code=code, severity=severity, vector=vector):
                if severity is None:  # pragma: no cover - the planner never plans it so
                    raise _StopItem("failed", "a vector cannot go to Intigriti without severity")
                self.intigriti.set_severity(code, severity, vector or None)
            case LinkJiraDuplicate(issue_id=issue_id, original=original):
                self.jira.link_duplicate(issue_id, original.issue_id)
            case RecordJiraPayouts(issue_id=issue_id, text=text, target=target):
                if target == "comment":
                    self.jira.add_comment(issue_id, self.escape(f"Payouts on Intigriti: {text}"))
                else:
                    self.jira.set_text_field(issue_id, target, text)
            case SetJiraDescription(issue_id=issue_id, description=description):
                self.jira.set_description(issue_id, description)
            case UploadAttachments():
                self._upload(action)

    def _upload(self, action: UploadAttachments) -> None:
        """Fetch each attachment (up to the size cap) and upload it; one too large is
        skipped with a warning (it stays listed as a link in the description)."""
        for attachment in action.attachments:
            try:
                downloaded = self.intigriti.download_attachment(attachment, action.max_bytes)
            except Rejected as exc:
                log.warning(
                    "attachment_not_uploaded",
                    submission=action.code,
                    attachment=attachment.code,
                    reason=str(exc),
                )
                continue
            self.jira.attach_file(action.issue_id, downloaded.name, downloaded.content)

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
        hold: _Hold,
    ) -> tuple[LinkRecord, Issue, bool, Submission | None] | LinkRecord | None:
        """Find or create the issue of ``code``.

        Returns the new link, its issue, whether syncd created it just now, and the
        submission as read for the create (its detail); or, when
        the intent row turned out to be another process's (now claimed by us), that row,
        to plan again from; or None when the create must wait for Jira's search to settle.
        """
        program_id = submission.program_id if submission is not None else ""
        if link is None:
            outcome, inserted = self.repository.begin_create(
                code, program_id, self.clock(), hold.token, self.claims
            )
            if outcome.link is None:
                reason = f"being synced by instance {outcome.held_by}"
                log.info("submission_deferred", submission=code, held_by=outcome.held_by)
                raise _StopItem("deferred", reason)
            hold.held = True
            if not inserted:
                return outcome.link
            link = outcome.link
            # our own fresh intent: nobody can have sent a create for it
            resuming = False
        else:
            # an intent row from an earlier run or another process: whatever happened
            # then, look the tag up
            resuming = True
        if resuming:
            try:
                found = self.jira.find_by_submission(code)
            except RemoteError as exc:
                self._fail(code, "creation", "to_jira", None, None, exc)
            if found is not None:
                linked = self._link_created(code, found, summary, created=False)
                return linked, found, False, submission
            attempted = link.create_attempted_at
            if attempted is not None and self.clock() - attempted < self.options.create_settle:
                log.info("create_deferred", submission=code, reason="waiting for search to settle")
                return None
        if new is None or (self.mapping.include_report and not (submission and submission.detail)):
            # the report (and its attachments) are in the detail only: read it before the
            # create, so the issue carries what the developers need
            submission = self._read_submission(link, hold)
            new, problem = new_issue_for(submission, self.mapping, self.escape)
            if new is None:
                raise _StopItem("failed", f"creation: {problem}")

        def confirm() -> None:
            # runs right before the request leaves, on each attempt: the stamp is then
            # never older than the send it announces
            if not self.may_write():
                raise WriteWithdrawn("this instance lost the leader lease")
            if not self.repository.mark_create_attempt(code, hold.token, self.clock()):
                hold.held = False
                log.warning("claim_lost", submission=code)
                raise WriteWithdrawn("the claim on this submission was taken over")

        try:
            issue = self.jira.create_issue(new, before_send=confirm)
        except WriteWithdrawn as exc:
            raise _StopItem("deferred", str(exc)) from None
        except AmbiguousWrite as exc:
            self.repository.create_outcome_unknown(
                code, hold.token, self.clock(), f"creation: outcome unknown: {exc}"
            )
            log.warning("create_ambiguous", submission=code, error=str(exc))
            raise _StopItem("failed", f"creation outcome unknown: {exc}") from None
        except CredentialError:
            raise
        except RemoteError as exc:
            if isinstance(exc, TransientError):
                # a 5xx may come after Jira committed the issue: settle from now as well
                self.repository.create_outcome_unknown(
                    code, hold.token, self.clock(), f"creation: {type(exc).__name__}: {exc}"
                )
            self._fail(code, "creation", "to_jira", None, new.project, exc)
        linked = self._link_created(
            code, issue, summary, created=True, description=new.description
        )
        return linked, issue, True, submission

    def _link_created(
        self,
        code: str,
        issue: Issue,
        summary: Summary,
        *,
        created: bool,
        description: str | None = None,
    ) -> LinkRecord:
        outcome = "ok" if created else "ok:found-by-tag"
        bases = bases_after_create(issue, self.mapping)
        linked = self.repository.complete_link(
            code,
            issue.id,
            issue.key,
            [AuditEntry(code, "creation", "to_jira", None, issue.key, outcome)],
            bases={
                "severity": bases.severity,
                "status": bases.status,
                "cvss": bases.cvss,
                # the description syncd wrote: a later report change is compared with it
                "description": description_digest(description) if description else None,
            },
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
        hold: _Hold,
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
        if not self.may_write():
            raise _StopItem("deferred", "this instance lost the leader lease")
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
            token=hold.token,
            terms=self.claims,
        )
        if linked is None:
            log.info("submission_deferred", submission=code, reason="claimed meanwhile")
            raise _StopItem("deferred", "being synced by another instance")
        hold.held = True
        summary.adopted += 1
        log.info("issue_adopted", submission=code, issue=issue.key, reason=action.reason)
        return linked, issue


def _is_payout_comment(action: FieldAction) -> bool:
    return isinstance(action, RecordJiraPayouts) and action.target == "comment"
