"""The planner: every sync decision for one submission, as a pure function.

``plan(link, submission, issue, mapping, now=...)`` compares the two sides of one link
field by field with a three-way merge against the stored base (DESIGN.md §2) and returns
the actions that bring them together. It does no I/O and never raises; the executor runs
the actions and stores each action's ``new_base`` once its write succeeded, which makes
syncd echo-free: its own writes come back equal to the base and plan nothing.

Per field, with Intigriti value ``i``, Jira value ``j`` and base ``b`` (canonical values):

* ``i == j``: converged (``RecordBase`` only when ``b`` differs, so a steady state plans
  nothing);
* ``j == b``: Intigriti changed, write ``i`` to Jira; ``i == b``: write ``j`` to Intigriti;
* otherwise a conflict, settled by the field's policy and recorded (``RecordConflict``).

Directions ``to_jira`` / ``to_intigriti`` make one side follow the other whenever they
differ; ``off`` leaves the field alone. A ``None`` canonical value (unmapped or unset)
means that side has no opinion: nothing is written, and a note says why. A side that was
not read this cycle (``None`` record) never causes a write to the other side.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import ClassVar, Literal

from syncd.records import Attachment, Issue, NewIssue, Submission
from syncd.sync.content import build_description, build_new_issue, fallback_escape
from syncd.sync.mapping import (
    FieldName,
    FieldRule,
    Mapping,
    Policy,
    canonical_cvss,
    canonical_issue_key,
    canonical_reference,
)

LinkState = Literal["creating", "linked", "blocked", "parked", "orphaned"]
Winner = Literal["intigriti", "jira"]
SIGNATURE_LIMIT = 255


# -- inputs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bases:
    """Per field, the canonical value both sides last agreed on (None: never agreed).

    For the one-way fields: the value last written to Jira (``duplicate``: the original's
    submission code; ``payouts``: ``Payouts.describe()``; ``description``: a digest of the
    description; ``attachments``: the codes uploaded, sorted, comma-separated), and
    ``payout_total`` the list's total at that time, to notice a payout without a detail
    read.
    """

    severity: str | None = None
    status: str | None = None
    internal_reference: str | None = None
    cvss: str | None = None
    duplicate: str | None = None
    payouts: str | None = None
    payout_total: str | None = None
    description: str | None = None
    attachments: str | None = None

    def get(self, field: FieldName) -> str | None:
        value: str | None = getattr(self, field)
        return value


@dataclass(frozen=True)
class LinkView:
    """What the planner needs of a link row."""

    submission_code: str
    program_id: str
    issue_id: str | None
    issue_key: str | None
    state: LinkState
    bases: Bases
    #: set while a write is parked as blocked; see :func:`block_signature`
    blocked_signature: str | None = None
    create_attempted_at: datetime | None = None
    #: the version of the submission last reconciled (``updated_at``), None if none yet
    intigriti_seen_at: datetime | None = None


@dataclass(frozen=True)
class Related:
    """The issue an original submission is linked to (for a duplicate's link)."""

    submission_code: str
    issue_id: str
    issue_key: str


# -- actions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateIssue:
    """Create the Jira issue for an unlinked submission (intent row first)."""

    project: str
    new_issue: NewIssue
    field: ClassVar[str] = "creation"


@dataclass(frozen=True)
class ResumeCreate:
    """A creation intent exists: look the tag up first, create only if nothing is found.

    ``new_issue`` is None when the submission was not read this cycle (look up only).
    """

    code: str
    new_issue: NewIssue | None
    attempted_at: datetime | None
    field: ClassVar[str] = "creation"


@dataclass(frozen=True)
class AdoptIssue:
    """Link the submission to an existing issue a human named (instead of creating)."""

    issue_key: str
    reason: str
    #: for parking a failed adoption as blocked (see :func:`block_signature`)
    signature: str = ""
    field: ClassVar[str] = "internal_reference"


@dataclass(frozen=True)
class SetJiraPriority:
    issue_id: str
    priority: str
    cvss: str | None
    new_base: str
    previous: str | None = None
    signature: str = ""
    field: ClassVar[FieldName] = "severity"


@dataclass(frozen=True)
class TransitionJira:
    issue_id: str
    status: str
    resolution: str | None
    new_base: str
    previous: str | None = None
    signature: str = ""
    field: ClassVar[FieldName] = "status"


@dataclass(frozen=True)
class SetIntigritiSeverity:
    code: str
    severity: str
    #: the submission's current vector, kept as it is
    vector: str | None
    new_base: str
    previous: str | None = None
    signature: str = ""
    field: ClassVar[FieldName] = "severity"


@dataclass(frozen=True)
class MoveIntigritiStatus:
    code: str
    status: str
    close_reason: str | None
    new_base: str
    previous: str | None = None
    signature: str = ""
    field: ClassVar[FieldName] = "status"


@dataclass(frozen=True)
class SetIntigritiReference:
    code: str
    reference: str
    #: None: the executor fills in the issue's browse URL
    url: str | None
    new_base: str
    previous: str | None = None
    signature: str = ""
    field: ClassVar[FieldName] = "internal_reference"


@dataclass(frozen=True)
class SetJiraCvss:
    """The vector into the configured Jira field ("" clears it)."""

    issue_id: str
    cvss: str
    new_base: str
    previous: str | None = None
    signature: str = ""
    field: ClassVar[FieldName] = "cvss"


@dataclass(frozen=True)
class SetIntigritiCvss:
    """A new vector ("" clears it) for the submission, its severity kept as it is (one PUT
    carries both)."""

    code: str
    severity: str | None
    vector: str
    new_base: str
    previous: str | None = None
    signature: str = ""
    field: ClassVar[FieldName] = "cvss"


@dataclass(frozen=True)
class LinkJiraDuplicate:
    """Link the issue as a duplicate of the original's issue (Intigriti's relation)."""

    issue_id: str
    original: Related
    new_base: str
    previous: str | None = None
    signature: str = ""
    field: ClassVar[FieldName] = "duplicate"


@dataclass(frozen=True)
class RecordJiraPayouts:
    """Put the payout totals in the configured field, or add them as a comment."""

    issue_id: str
    text: str
    target: str
    new_base: str
    total: str
    previous: str | None = None
    signature: str = ""
    field: ClassVar[FieldName] = "payouts"


@dataclass(frozen=True)
class SetJiraDescription:
    """Rewrite the description from the changed report (only when switched on)."""

    issue_id: str
    description: str
    new_base: str
    previous: str | None = None
    signature: str = ""
    field: ClassVar[FieldName] = "description"


@dataclass(frozen=True)
class UploadAttachments:
    """Upload the report's attachments the issue does not have yet."""

    issue_id: str
    code: str
    attachments: tuple[Attachment, ...]
    max_bytes: int
    #: every code uploaded once this is done, sorted, comma-separated
    new_base: str
    previous: str | None = None
    signature: str = ""
    field: ClassVar[str] = "attachments"


@dataclass(frozen=True)
class RecordBase:
    """The sides agree without a write: base := value."""

    field: FieldName | Literal["payout_total", "attachments"]
    value: str


@dataclass(frozen=True)
class RecordConflict:
    """Both sides changed since the base; ``winner`` was chosen by ``policy``.

    Always paired with the winning write in the same plan.
    """

    field: FieldName
    intigriti_value: str
    jira_value: str
    base: str | None
    winner: Winner
    policy: Policy


FieldWrite = (
    SetJiraPriority
    | TransitionJira
    | SetIntigritiSeverity
    | MoveIntigritiStatus
    | SetIntigritiReference
    | SetJiraCvss
    | SetIntigritiCvss
    | LinkJiraDuplicate
    | RecordJiraPayouts
    | SetJiraDescription
    | UploadAttachments
)
Action = (
    CreateIssue
    | ResumeCreate
    | AdoptIssue
    | SetJiraPriority
    | TransitionJira
    | SetIntigritiSeverity
    | MoveIntigritiStatus
    | SetIntigritiReference
    | SetJiraCvss
    | SetIntigritiCvss
    | LinkJiraDuplicate
    | RecordJiraPayouts
    | SetJiraDescription
    | UploadAttachments
    | RecordBase
    | RecordConflict
)
WRITE_TYPES: tuple[type, ...] = (
    CreateIssue,
    ResumeCreate,
    AdoptIssue,
    SetJiraPriority,
    TransitionJira,
    SetIntigritiSeverity,
    MoveIntigritiStatus,
    SetIntigritiReference,
    SetJiraCvss,
    SetIntigritiCvss,
    LinkJiraDuplicate,
    RecordJiraPayouts,
    SetJiraDescription,
    UploadAttachments,
)


def is_write(action: Action) -> bool:
    """Whether the action changes Intigriti or Jira (as opposed to syncd's own records)."""
    return isinstance(action, WRITE_TYPES)


@dataclass(frozen=True)
class Unmapped:
    """A value the mapping cannot place: that field is left alone until the mapping (or
    a human) changes; reported, never silent."""

    field: FieldName
    side: Literal["Intigriti", "Jira"]
    what: str
    value: str

    def describe(self) -> str:
        shown = repr(self.value)
        if self.what == "status" and "/" in self.value:
            # a "Status/Resolution" (or "Status/Close reason") pair, said in words
            status, _slash, reason = self.value.partition("/")
            second = "resolution" if self.side == "Jira" else "close reason"
            shown = f"{status!r} with {second} {reason!r}"
        return f"{self.field}: {self.side} {self.what} {shown} is not in the mapping"


@dataclass(frozen=True)
class Plan:
    code: str
    actions: tuple[Action, ...] = ()
    notes: tuple[str, ...] = ()
    #: fields skipped because the link's blocked signature still matches (the block holds)
    blocked_fields: tuple[FieldName, ...] = ()
    unmapped: tuple[Unmapped, ...] = ()
    #: a decision needs the submission's detail read (report, payouts, duplicate), and
    #: the submission given was from a list: read it, then plan again
    needs_detail: bool = False

    @property
    def writes(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if is_write(a))

    @property
    def is_empty(self) -> bool:
        return not self.actions


# -- helpers for the executor ------------------------------------------------------------------


def block_signature(field: str, intigriti_value: str | None, jira_value: str | None) -> str:
    """What a blocked write was blocked on: the field and both sides' raw values.

    Raw values (not canonical ones), so any human move on either side, even inside one
    class (Triage to Pending), unblocks the field. At most 255 characters.
    """
    text = f"{field}:{intigriti_value or ''}|{jira_value or ''}"
    if len(text) <= SIGNATURE_LIMIT:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{field}:sha256:{digest}"


def bases_after_create(issue: Issue, mapping: Mapping) -> Bases:
    """Bases for a link whose issue syncd just created (or found by its tag).

    Jira's values then are syncd's writes or Jira's defaults, never a human decision, so
    they count as agreed: Intigriti's values then flow to Jira (an Accepted submission
    moves its new issue out of To Do). The reference base stays None so the key is
    written to Intigriti next.
    """
    cvss = None
    if mapping.rule("cvss").direction != "off":
        cvss = canonical_cvss(issue.cvss) or ""
    return Bases(
        severity=mapping.canonical_severity_from_jira(issue.priority),
        status=mapping.canonical_status_from_jira(issue.status, issue.resolution),
        internal_reference=None,
        cvss=cvss,
    )


def bases_after_adopt(issue_key: str) -> Bases:
    """Bases for a link to an issue a human named: nothing agreed yet but the reference.

    Pass the key the :class:`AdoptIssue` asked for (``action.issue_key``), not the key the
    issue reports: when a human typed an old key of a moved issue, Jira resolves it to the
    new key, and the next plan then writes the current key to Intigriti (a key move)
    instead of adopting the old key again every cycle.
    """
    return Bases(internal_reference=canonical_issue_key(issue_key))


# -- the planner -----------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _intigriti_newer_or_same(submission: Submission, issue: Issue) -> bool:
    return _utc(submission.updated_at) >= _utc(issue.updated_at)


def _winner(policy: Policy, submission: Submission, issue: Issue) -> Winner:
    if policy == "jira":
        return "jira"
    if policy == "newest" and not _intigriti_newer_or_same(submission, issue):
        return "jira"
    return "intigriti"  # policy "intigriti", a newest tie, or an unknown policy string


@dataclass(frozen=True)
class _Decision:
    """The outcome of the three-way merge for one field, before it becomes actions."""

    kind: Literal["none", "base", "to_jira", "to_intigriti"]
    value: str | None = None
    conflict: RecordConflict | None = None


def _merge(
    field: FieldName,
    i: str,
    j: str,
    b: str | None,
    *,
    rule: FieldRule,
    submission: Submission,
    issue: Issue,
) -> _Decision:
    if rule.direction == "off":
        return _Decision("none")
    if i == j:
        return _Decision("base", i) if b != i else _Decision("none")
    if rule.direction == "to_jira":
        return _Decision("to_jira", i)
    if rule.direction == "to_intigriti":
        return _Decision("to_intigriti", j)
    if j == b:
        return _Decision("to_jira", i)
    if i == b:
        return _Decision("to_intigriti", j)
    winner = _winner(rule.policy, submission, issue)
    conflict = RecordConflict(field, i, j, b, winner, rule.policy)
    if winner == "intigriti":
        return _Decision("to_jira", i, conflict)
    return _Decision("to_intigriti", j, conflict)


class _Planner:
    """Builds one plan; holds the inputs so the per-field steps stay short."""

    def __init__(
        self,
        link: LinkView,
        submission: Submission,
        issue: Issue,
        mapping: Mapping,
        *,
        original: Related | None,
        escape: Callable[[str], str],
    ) -> None:
        self.link = link
        self.code = link.submission_code
        self.submission = submission
        self.issue = issue
        self.mapping = mapping
        self.original = original
        self.escape = escape
        self.actions: list[Action] = []
        self.notes: list[str] = []
        self.blocked_fields: list[FieldName] = []
        self.unmapped: list[Unmapped] = []
        self.needs_detail = False

    def note(self, field: str, text: str) -> None:
        self.notes.append(f"{field}: {text}")

    def blocked(self, field: FieldName, signature: str) -> bool:
        if self.link.blocked_signature is not None and self.link.blocked_signature == signature:
            self.note(field, "blocked until a human changes either side; not retried")
            self.blocked_fields.append(field)
            return True
        return False

    def emit(self, decision: _Decision, write: FieldWrite | None, field: FieldName) -> None:
        if decision.kind == "base" and decision.value is not None:
            self.actions.append(RecordBase(field, decision.value))
            return
        if decision.kind not in ("to_jira", "to_intigriti"):
            return
        if write is None:
            side = "Jira" if decision.kind == "to_jira" else "Intigriti"
            self.note(
                field,
                f"{decision.value!r} cannot be written to {side} (no target in the mapping); "
                "left as it is",
            )
            return
        if decision.conflict is not None:
            self.actions.append(decision.conflict)
        self.actions.append(write)

    # -- severity ---------------------------------------------------------------------------

    def severity(self) -> None:
        field: FieldName = "severity"
        rule = self.mapping.rule(field)
        if rule.direction == "off":
            return
        raw_i, raw_j = self.submission.severity, self.issue.priority
        i = self.mapping.canonical_severity_from_intigriti(raw_i)
        j = self.mapping.canonical_severity_from_jira(raw_j)
        if i is None or j is None:
            self._no_opinion(
                field, raw_i=raw_i, i=i, raw_j=raw_j, j=j, i_what="severity", j_what="priority"
            )
            return
        signature = block_signature(field, raw_i, raw_j)
        if self.blocked(field, signature):
            return
        decision = _merge(
            field,
            i,
            j,
            self.link.bases.severity,
            rule=rule,
            submission=self.submission,
            issue=self.issue,
        )
        write: FieldWrite | None = None
        if decision.kind == "to_jira" and decision.value is not None:
            priority = self.mapping.priority_for(decision.value)
            if priority is not None:
                # the vector is its own field (cvss); it rides along only when both change
                write = SetJiraPriority(
                    self.issue.id,
                    priority,
                    None,
                    decision.value,
                    previous=raw_j,
                    signature=signature,
                )
        elif decision.kind == "to_intigriti" and decision.value is not None:
            severity = self.mapping.severity_for(decision.value)
            if severity is not None:
                write = SetIntigritiSeverity(
                    self.code,
                    severity,
                    self.submission.cvss_vector,
                    decision.value,
                    previous=raw_i,
                    signature=signature,
                )
        self.emit(decision, write, field)

    # -- status -----------------------------------------------------------------------------

    def status(self) -> None:
        field: FieldName = "status"
        rule = self.mapping.rule(field)
        if rule.direction == "off":
            return
        sub = self.submission
        raw_i = f"{sub.status}/{sub.close_reason}" if sub.close_reason else sub.status
        resolution = self.issue.resolution
        raw_j = f"{self.issue.status}/{resolution}" if resolution else self.issue.status
        i = self.mapping.canonical_status_from_intigriti(sub.status, sub.close_reason)
        j = self.mapping.canonical_status_from_jira(self.issue.status, resolution)
        if i is None or j is None:
            self._no_opinion(
                field, raw_i=raw_i, i=i, raw_j=raw_j, j=j, i_what="status", j_what="status"
            )
            return
        signature = block_signature(field, raw_i, raw_j)
        if self.blocked(field, signature):
            return
        decision = _merge(
            field, i, j, self.link.bases.status, rule=rule, submission=sub, issue=self.issue
        )
        write: FieldWrite | None = None
        if decision.kind == "to_jira" and decision.value is not None:
            jira_target = self.mapping.jira_target(decision.value)
            if jira_target is not None:
                write = TransitionJira(
                    self.issue.id,
                    jira_target[0],
                    jira_target[1],
                    decision.value,
                    previous=raw_j,
                    signature=signature,
                )
        elif decision.kind == "to_intigriti" and decision.value is not None:
            intigriti_target = self.mapping.intigriti_target(decision.value)
            if intigriti_target is not None:
                write = MoveIntigritiStatus(
                    self.code,
                    intigriti_target[0],
                    intigriti_target[1],
                    decision.value,
                    previous=raw_i,
                    signature=signature,
                )
        self.emit(decision, write, field)

    def _no_opinion(
        self,
        field: FieldName,
        *,
        raw_i: str | None,
        i: str | None,
        raw_j: str | None,
        j: str | None,
        i_what: str,
        j_what: str,
    ) -> None:
        if i is None and raw_i is not None:
            self.note(field, f"Intigriti {i_what} {raw_i!r} is not mapped; field left alone")
            self.unmapped.append(Unmapped(field, "Intigriti", i_what, raw_i))
        if j is None and raw_j is not None:
            self.note(field, f"Jira {j_what} {raw_j!r} is not mapped; field left alone")
            self.unmapped.append(Unmapped(field, "Jira", j_what, raw_j))
        if i is None and raw_i is None and j is not None:
            self.note(field, f"Intigriti {i_what} is not set; field left alone")
        if j is None and raw_j is None and i is not None:
            self.note(field, f"Jira {j_what} is not set; field left alone")

    # -- internal reference -----------------------------------------------------------------

    def reference(self) -> None:
        field: FieldName = "internal_reference"
        rule = self.mapping.rule(field)
        if rule.direction == "off":
            return
        raw_i = self.submission.internal_reference
        i = canonical_reference(raw_i)
        j = canonical_issue_key(self.issue.key)
        b = self.link.bases.internal_reference
        if j is None:
            self.note(field, "the Jira issue has no key; field left alone")
            return
        signature = block_signature(field, raw_i, self.issue.key)
        if self.blocked(field, signature):
            return
        if i is None:
            # Cleared, or something that names no issue: the reference is syncd's to keep.
            # (A fresh link, empty reference and no base, is the normal first write.)
            if (raw_i or "").strip():
                self.note(field, f"Intigriti reference {raw_i!r} is not an issue key")
            elif b is not None:
                self.note(field, "Intigriti reference was cleared")
            if rule.direction in ("both", "to_intigriti"):
                self._write_reference(j, raw_i, signature, None)
            else:
                self.note(field, "direction to_jira: Intigriti reference left as it is")
            return
        decision = _merge(field, i, j, b, rule=rule, submission=self.submission, issue=self.issue)
        if decision.kind == "base" and decision.value is not None:
            self.actions.append(RecordBase(field, decision.value))
        elif decision.kind == "to_intigriti":
            self._write_reference(j, raw_i, signature, decision.conflict)
        elif decision.kind == "to_jira":
            # A Jira key cannot be written: Intigriti naming another issue means relinking,
            # but only when a human changed Intigriti's reference. (Under to_jira a moved
            # Jira key would otherwise send syncd after the old key forever.)
            if i == b:
                self.note(field, f"Jira key is now {j}; direction to_jira leaves Intigriti alone")
                return
            reason = f"Intigriti internal reference names {i}, the link is to {j}"
            self.note(field, f"{reason}; relinking to {i}")
            if decision.conflict is not None:
                self.actions.append(decision.conflict)
            self.actions.append(AdoptIssue(i, reason, signature))

    def _write_reference(
        self, key: str, previous: str | None, signature: str, conflict: RecordConflict | None
    ) -> None:
        if conflict is not None:
            self.actions.append(conflict)
        self.actions.append(
            SetIntigritiReference(self.code, key, None, key, previous=previous, signature=signature)
        )

    # -- CVSS -------------------------------------------------------------------------------

    def cvss(self) -> None:
        """The vector as a field of its own. No vector on a side counts as the value ""
        (so clearing it is a change like any other, and is synced)."""
        field: FieldName = "cvss"
        rule = self.mapping.rule(field)
        if rule.direction == "off":
            return
        raw_i, raw_j = self.submission.cvss_vector, self.issue.cvss
        i, j = canonical_cvss(raw_i) or "", canonical_cvss(raw_j) or ""
        if not i and not j and self.link.bases.cvss is None:
            return  # neither side ever had a vector
        signature = block_signature(field, raw_i, raw_j)
        if self.blocked(field, signature):
            return
        base = self.link.bases.cvss
        decision = _merge(
            field, i, j, base, rule=rule, submission=self.submission, issue=self.issue
        )
        value, conflict = decision.value, decision.conflict
        if decision.kind == "base" and value is not None:
            self.actions.append(RecordBase(field, value))
        elif decision.kind == "to_jira" and value is not None:
            if conflict is not None:
                self.actions.append(conflict)
            self.actions.append(SetJiraCvss(self.issue.id, raw_i or "", value, raw_j, signature))
        elif decision.kind == "to_intigriti" and value is not None:
            self._cvss_to_intigriti(raw_j or "", value, raw_i, signature, conflict)

    def _cvss_to_intigriti(
        self,
        vector: str,
        base: str,
        previous: str | None,
        signature: str,
        conflict: RecordConflict | None,
    ) -> None:
        if self.submission.severity is None:
            self.note("cvss", "Intigriti takes a vector only with a severity; left as it is")
            return
        if conflict is not None:
            self.actions.append(conflict)
        self.actions.append(
            SetIntigritiCvss(
                self.code, self.submission.severity, vector, base, previous, signature
            )
        )

    def _combine_severity_and_cvss(self) -> None:
        """One write per side when severity and vector change together: the vector rides
        on the severity write, and its base is recorded right after that write."""
        combined: list[Action] = []
        priority = next((a for a in self.actions if isinstance(a, SetJiraPriority)), None)
        severity = next((a for a in self.actions if isinstance(a, SetIntigritiSeverity)), None)
        for action in self.actions:
            if isinstance(action, SetJiraCvss) and priority is not None:
                continue
            if isinstance(action, SetIntigritiCvss) and severity is not None:
                continue
            if isinstance(action, SetJiraPriority):
                cvss = next((a for a in self.actions if isinstance(a, SetJiraCvss)), None)
                if cvss is not None:
                    combined.append(replace(action, cvss=cvss.cvss))
                    combined.append(RecordBase("cvss", cvss.new_base))
                    continue
            if isinstance(action, SetIntigritiSeverity):
                moved = next((a for a in self.actions if isinstance(a, SetIntigritiCvss)), None)
                if moved is not None:
                    combined.append(replace(action, vector=moved.vector))
                    combined.append(RecordBase("cvss", moved.new_base))
                    continue
            combined.append(action)
        self.actions = combined

    # -- duplicate relation ---------------------------------------------------------------

    def duplicate(self) -> None:
        field: FieldName = "duplicate"
        if self.mapping.rule(field).direction == "off":
            return
        sub = self.submission
        if not sub.detail:
            closed_as_duplicate = (sub.close_reason or "").strip().casefold() == "duplicate"
            if closed_as_duplicate and self.link.bases.duplicate is None:
                self.needs_detail = True  # the original is named in the detail only
            return
        parent = sub.duplicate_of
        if parent is None or _same_code(parent, self.link.bases.duplicate):
            removed = self.original is not None and self.original.issue_key not in (
                self.issue.duplicates
            )
            if parent is not None and removed:
                self.note(field, "the duplicate link was removed in Jira; left as it is")
            return
        if self.original is None:
            self.note(field, f"the original {parent!r} has no Jira issue yet; linked later")
            return
        if self.original.issue_key in self.issue.duplicates:
            self.actions.append(RecordBase(field, parent))
            return
        self.actions.append(
            LinkJiraDuplicate(
                self.issue.id,
                self.original,
                parent,
                previous=self.link.bases.duplicate,
                signature=block_signature(field, parent, self.issue.key),
            )
        )

    # -- payouts ----------------------------------------------------------------------------

    def payouts(self) -> None:
        field: FieldName = "payouts"
        target = self.mapping.payout_target
        if self.mapping.rule(field).direction == "off" or target is None:
            return
        sub = self.submission
        bases = self.link.bases
        if not sub.detail:
            listed = _money(sub.total_payout)
            if listed is not None and listed != bases.payout_total:
                self.needs_detail = True  # the split into bounty and bonus is detail-only
            return
        if sub.payouts is None:
            return
        text = sub.payouts.describe()
        total = _money(sub.payouts.total) or "0.00"
        if text == bases.payouts:
            if total != bases.payout_total:
                self.actions.append(RecordBase("payout_total", total))
            return
        if bases.payouts is None and sub.payouts.total == 0:
            # nothing paid yet: nothing to tell; remember the zero so a first payout shows
            self.actions.append(RecordBase(field, text))
            self.actions.append(RecordBase("payout_total", total))
            return
        self.actions.append(
            RecordJiraPayouts(
                self.issue.id,
                text,
                target,
                text,
                total,
                previous=bases.payouts,
                signature=block_signature(field, text, self.issue.key),
            )
        )

    # -- description ------------------------------------------------------------------------

    def description(self) -> None:
        field: FieldName = "description"
        if self.mapping.rule(field).direction == "off":
            return
        sub = self.submission
        if not sub.detail:
            seen = self.link.intigriti_seen_at
            if seen is None or _utc(sub.updated_at) > _utc(seen):
                self.needs_detail = True  # the report may have changed; only the detail says
            return
        text = build_description(
            sub, self.mapping, include_report=self.mapping.include_report, escape=self.escape
        )
        digest = description_digest(text)
        if digest == self.link.bases.description:
            return
        self.actions.append(
            SetJiraDescription(
                self.issue.id,
                text,
                digest,
                previous=self.link.bases.description,
                signature=block_signature(field, digest, self.issue.key),
            )
        )

    # -- attachments ------------------------------------------------------------------------

    def attachments(self) -> None:
        if not self.mapping.upload_attachments or not self.submission.detail:
            return
        report = self.submission.report
        found = report.attachments if report is not None else ()
        done = set(filter(None, (self.link.bases.attachments or "").split(",")))
        missing = tuple(a for a in found if a.code not in done)
        if not missing:
            return
        every = ",".join(sorted(done | {a.code for a in missing}))
        self.actions.append(
            UploadAttachments(
                self.issue.id,
                self.code,
                missing,
                self.mapping.attachment_max_bytes,
                every,
                previous=self.link.bases.attachments,
            )
        )

    def build(self) -> Plan:
        self.reference()
        if any(isinstance(a, AdoptIssue) for a in self.actions):
            # Relinking: the other fields will be compared with the adopted issue.
            kept = [a for a in self.actions if isinstance(a, AdoptIssue | RecordConflict)]
            return Plan(self.code, tuple(kept), tuple(self.notes), tuple(self.blocked_fields))
        self.severity()
        self.status()
        self.cvss()
        self._combine_severity_and_cvss()
        self.duplicate()
        self.payouts()
        self.description()
        self.attachments()
        return Plan(
            self.code,
            tuple(self.actions),
            tuple(self.notes),
            tuple(self.blocked_fields),
            tuple(self.unmapped),
            needs_detail=self.needs_detail,
        )


def _money(value: float | None) -> str | None:
    if value is None or not math.isfinite(value):
        return None
    return f"{value:.2f}"


def description_digest(text: str) -> str:
    """What the description base stores: a digest, not the (large) text."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _same_code(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.strip().casefold() == b.strip().casefold()


def new_issue_for(
    submission: Submission, mapping: Mapping, escape: Callable[[str], str]
) -> tuple[NewIssue | None, str | None]:
    project = mapping.project_for(submission.program_id)
    if project is None:
        return None, f"no Jira project for program {submission.program_id!r}"
    new = build_new_issue(
        submission,
        mapping,
        project=project,
        include_report=mapping.include_report,
        label=mapping.label,
        escape=escape,
    )
    return new, None


def _plan_unlinked(
    submission: Submission | None,
    issue: Issue | None,
    mapping: Mapping,
    escape: Callable[[str], str],
) -> Plan:
    if submission is None:
        code = issue.submission_code if issue is not None and issue.submission_code else ""
        return Plan(code, (), ("creation: submission not read; nothing to do",))
    code = submission.code
    if issue is not None and _same_code(issue.submission_code, code):
        # An issue already carries this submission's tag (say, a restored database): link
        # it whatever the status, never create a second one.
        reason = f"issue {issue.key} is already tagged with this submission"
        signature = block_signature("internal_reference", None, issue.key)
        return Plan(code, (AdoptIssue(issue.key, reason, signature),), (f"creation: {reason}",))
    if not mapping.should_create(submission.status):
        return Plan(code)
    key = canonical_reference(submission.internal_reference)
    if key is not None:
        reason = f"Intigriti internal reference names existing issue {key}"
        signature = block_signature("internal_reference", submission.internal_reference, None)
        return Plan(
            code, (AdoptIssue(key, reason, signature),), (f"creation: {reason}; not creating",)
        )
    new, problem = new_issue_for(submission, mapping, escape)
    if new is None:
        return Plan(code, (), (f"creation: {problem}; not creating",))
    return Plan(code, (CreateIssue(new.project, new),))


def plan(
    link: LinkView | None,
    submission: Submission | None,
    issue: Issue | None,
    mapping: Mapping,
    *,
    now: datetime,
    escape: Callable[[str], str] = fallback_escape,
    original: Related | None = None,
) -> Plan:
    """Every action needed for one submission; pure, deterministic and total.

    ``submission`` / ``issue`` are None when that side was not read (or failed) this
    cycle. ``escape`` renders researcher text literally in Jira wiki markup (production
    passes the Jira adapter's escaper). ``now`` is only used to describe pending intents.
    ``original``: when the submission is a duplicate, the original's issue (if linked).
    """
    if link is None:
        return _plan_unlinked(submission, issue, mapping, escape)
    code = link.submission_code
    if link.state == "parked":
        return Plan(code, (), ("link is parked (unreadable data); no actions",))
    if link.state == "orphaned":
        # Jira confirmed the issue deleted: nothing to sync to; Intigriti is left as it is
        return Plan(code, (), ("the Jira issue was deleted (orphaned link); no actions",))
    if link.state == "creating":
        notes: list[str] = []
        new: NewIssue | None = None
        if submission is not None and _same_code(submission.code, code):
            new, problem = new_issue_for(submission, mapping, escape)
            if problem is not None:
                notes.append(f"creation: {problem}")
        else:
            notes.append("creation: submission not read; will only look the tag up")
        if link.create_attempted_at is not None:
            age = max(0, int((_utc(now) - _utc(link.create_attempted_at)).total_seconds()))
            notes.append(f"creation: intent recorded {age}s ago; looking the tag up first")
        return Plan(code, (ResumeCreate(code, new, link.create_attempted_at),), tuple(notes))
    if link.issue_id is None:
        return Plan(code, (), ("link has no issue id; nothing to compare",))
    if submission is None or issue is None:
        missing = " and ".join(
            side
            for side, record in (("submission", submission), ("issue", issue))
            if record is None
        )
        return Plan(code, (), (f"{missing} not read this cycle; nothing written",))
    if not _same_code(submission.code, code):
        return Plan(code, (), (f"submission read is {submission.code!r}, not this link's",))
    if issue.id != link.issue_id:
        return Plan(code, (), (f"issue read is {issue.id!r}, not this link's",))
    if issue.submission_code and not _same_code(issue.submission_code, code):
        return Plan(
            code,
            (),
            (
                f"issue {issue.key} is tagged with submission {issue.submission_code!r}; "
                "nothing written",
            ),
        )
    return _Planner(link, submission, issue, mapping, original=original, escape=escape).build()
