"""The repository: the only code that opens database sessions.

Everything goes in and out as frozen records, never ORM objects, so no caller can hold a
session open by accident. Each public method is one short transaction; a failure rolls
back only that method's work. Timestamps are timezone-aware UTC on the way out, whatever
the database kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar, cast

from sqlalchemy import Engine, Row, Table, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from syncd.errors import StoreError
from syncd.store import migrate
from syncd.store.engine import DEFAULT_BUSY_TIMEOUT_SECONDS, make_engine
from syncd.store.errors import ErrorTranslator
from syncd.store.reserve import SpaceReserve
from syncd.store.sealing import TokenSealer
from syncd.store.tables import (
    AuditRow,
    CursorRow,
    InstanceRow,
    LinkRow,
    TagDuplicateRow,
    WebhookDeliveryRow,
)
from syncd.store.tokens import DatabaseTokenStore

_T = TypeVar("_T")

LinkState = Literal["creating", "linked", "blocked", "parked", "orphaned"]
Field = Literal[
    "severity",
    "status",
    "internal_reference",
    "cvss",
    "duplicate",
    "payouts",
    "payout_total",
    "description",
    "attachments",
]
_BASE_COLUMNS: dict[str, str] = {
    "severity": "base_severity",
    "status": "base_status",
    "internal_reference": "base_internal_reference",
    "cvss": "base_cvss",
    "duplicate": "base_duplicate",
    "payouts": "base_payouts",
    "payout_total": "base_payout_total",
    "description": "base_description",
    "attachments": "base_attachments",
}


class StoreConflict(StoreError):
    """A database constraint refused a write (e.g. one issue linked to two submissions)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class LinkRecord:
    id: int
    submission_code: str
    program_id: str
    issue_id: str | None
    issue_key: str | None
    state: LinkState
    base_severity: str | None
    base_status: str | None
    base_internal_reference: str | None
    blocked_signature: str | None
    error: str | None
    attempts: int
    create_attempted_at: datetime | None
    created_at: datetime
    updated_at: datetime
    intigriti_seen_at: datetime | None = None
    jira_seen_at: datetime | None = None
    claim_instance: str | None = None
    claim_since: datetime | None = None
    unmapped: str | None = None
    base_cvss: str | None = None
    base_duplicate: str | None = None
    base_payouts: str | None = None
    base_payout_total: str | None = None
    base_description: str | None = None
    base_attachments: str | None = None


#: (submission code, Intigriti version seen or None, Jira version seen or None)
SeenMark = tuple[str, datetime | None, datetime | None]


@dataclass(frozen=True)
class ClaimTerms:
    """How this process claims links: its ``instances.id`` and when a holder counts as dead.

    A claim belongs to an instance until it is released or that instance stops
    heartbeating for ``instance_timeout`` (it died: kill -9, lost host, frozen VM). The
    heartbeat is the claim's lease, renewed every few seconds for all of an instance's
    claims at once; a live instance's claim is never taken, however long its item takes
    (a quota wait, a slow Jira), because a write it is about to send may still go out.
    Heartbeats are compared with the claiming process's clock, so hosts sharing one
    database keep their clocks in step (NTP) to well within ``instance_timeout``.
    """

    instance: str
    instance_timeout: timedelta = timedelta(seconds=30)


@dataclass(frozen=True)
class ClaimOutcome:
    """The result of a claim attempt: the link (now ours), or who holds it."""

    link: LinkRecord | None
    held_by: str | None = None

    @property
    def claimed(self) -> bool:
        return self.link is not None


@dataclass(frozen=True)
class DuplicateTag:
    submission_code: str
    issue_keys: tuple[str, ...]
    first_seen_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class CursorRecord:
    source: str
    watermark: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    last_stats: dict[str, Any] | None


@dataclass(frozen=True)
class AuditEntry:
    submission_code: str
    field: str
    direction: str
    old_value: str | None
    new_value: str | None
    outcome: str
    detail: str | None = None


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    submission_code: str
    field: str
    direction: str
    old_value: str | None
    new_value: str | None
    outcome: str
    detail: str | None


def _link(row: LinkRow | Row[Any]) -> LinkRecord:
    """The record of an ORM row, or of a plain row of the links table (bulk reads)."""
    created = _aware(row.created_at)
    updated = _aware(row.updated_at)
    assert created is not None and updated is not None
    return LinkRecord(
        id=row.id,
        submission_code=row.submission_code,
        program_id=row.program_id,
        issue_id=row.issue_id,
        issue_key=row.issue_key,
        state=row.state,  # type: ignore[arg-type]  # constrained by the writers below
        base_severity=row.base_severity,
        base_status=row.base_status,
        base_internal_reference=row.base_internal_reference,
        blocked_signature=row.blocked_signature,
        error=row.error,
        attempts=row.attempts,
        create_attempted_at=_aware(row.create_attempted_at),
        created_at=created,
        updated_at=updated,
        intigriti_seen_at=_aware(row.intigriti_seen_at),
        jira_seen_at=_aware(row.jira_seen_at),
        claim_instance=row.claim_instance if row.claim_token else None,
        claim_since=_aware(row.claim_since) if row.claim_token else None,
        unmapped=row.unmapped,
        base_cvss=row.base_cvss,
        base_duplicate=row.base_duplicate,
        base_payouts=row.base_payouts,
        base_payout_total=row.base_payout_total,
        base_description=row.base_description,
        base_attachments=row.base_attachments,
    )


def _claim_free(
    session: Session, row: LinkRow, token: str, terms: ClaimTerms, now: datetime
) -> bool:
    """Whether ``token`` may take (or already holds) the claim on ``row``.

    Called with the row locked (FOR UPDATE on PostgreSQL, the write lock on SQLite), so
    the holder's instance row is read after any commit that could have claimed it.
    """
    if row.claim_token is None or row.claim_token == token:
        return True
    holder = session.get(InstanceRow, row.claim_instance) if row.claim_instance else None
    if holder is None:
        return True  # its process ended cleanly (after releasing) or was pruned long ago
    heartbeat = _aware(holder.heartbeat_at)
    return heartbeat is None or heartbeat < now - terms.instance_timeout


def _take_claim(row: LinkRow, token: str, terms: ClaimTerms, now: datetime) -> None:
    row.claim_token = token
    row.claim_instance = terms.instance
    row.claim_since = now


class Repository:
    """All database access of syncd."""

    def __init__(
        self,
        url: str,
        *,
        token_key: str | None = None,
        busy_timeout_seconds: float = DEFAULT_BUSY_TIMEOUT_SECONDS,
    ) -> None:
        self.engine: Engine = make_engine(url, busy_timeout_seconds=busy_timeout_seconds)
        #: turns driver errors into cause-naming StoreErrors (syncd/store/errors.py)
        self.errors = ErrorTranslator.for_url(self.engine.url, busy_timeout_seconds)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._sealer = TokenSealer(token_key)
        self._token_stores: dict[str, DatabaseTokenStore] = {}

    # -- lifecycle -------------------------------------------------------------------

    def upgrade(self) -> None:
        try:
            migrate.upgrade(self.engine)
        except SQLAlchemyError as exc:
            raise self.errors.store_error(exc, "upgrading the database schema") from exc

    def ping(self) -> None:
        """One round trip (SELECT 1); StoreError when the database does not answer."""
        self._run(lambda session: session.execute(select(1)), what="checking the database")

    def is_current(self) -> bool:
        try:
            return migrate.current_revision(self.engine) == migrate.head_revision()
        except SQLAlchemyError as exc:
            raise self.errors.store_error(exc, "reading the schema version") from exc

    def close(self) -> None:
        """Close the engine; a rotated token not saved yet gets its last retries first
        (raises TokenNotSaved when they fail)."""
        try:
            for store in self._token_stores.values():
                store.close()
        finally:
            self.engine.dispose()

    def _session(self) -> Session:
        return self._sessions()

    def _run(self, work: Callable[[Session], Any], *, what: str) -> Any:
        try:
            with self._session() as session, session.begin():
                return work(session)
        except IntegrityError as exc:
            raise StoreConflict(f"database constraint refused {what}") from exc
        except SQLAlchemyError as exc:
            raise self.errors.store_error(exc, what) from exc

    def transaction(self, work: Callable[[Session], _T], *, what: str) -> _T:
        """Run ``work`` in one transaction, errors translated as everywhere here (for
        the store's other modules: ``syncd.store.conversation``)."""
        result: _T = self._run(work, what=what)
        return result

    # -- links -----------------------------------------------------------------------

    def get_link(self, code: str) -> LinkRecord | None:
        def work(session: Session) -> LinkRecord | None:
            row = session.scalar(select(LinkRow).where(LinkRow.submission_code == code))
            return _link(row) if row else None

        result: LinkRecord | None = self._run(work, what=f"reading link {code}")
        return result

    def link_by_issue_id(self, issue_id: str) -> LinkRecord | None:
        def work(session: Session) -> LinkRecord | None:
            row = session.scalar(select(LinkRow).where(LinkRow.issue_id == issue_id))
            return _link(row) if row else None

        result: LinkRecord | None = self._run(work, what=f"reading link of issue {issue_id}")
        return result

    def links(self, codes: Sequence[str] | None = None) -> dict[str, LinkRecord]:
        """Links by submission code (all of them when ``codes`` is None)."""

        def work(session: Session) -> dict[str, LinkRecord]:
            # plain rows, not ORM objects: a sweep reads every link, and the identity map
            # and instance state cost more than the records made from them
            table = cast(Table, LinkRow.__table__)
            query = select(table)
            if codes is not None:
                query = query.where(table.c.submission_code.in_(list(codes)))
            return {row.submission_code: _link(row) for row in session.execute(query)}

        if codes is not None and len(codes) > 500:
            merged: dict[str, LinkRecord] = {}
            for start in range(0, len(codes), 500):
                merged.update(self.links(codes[start : start + 500]))
            return merged
        result: dict[str, LinkRecord] = self._run(work, what="reading links")
        return result

    def iter_links(self, batch: int = 500) -> Iterator[LinkRecord]:
        """Every link in id order, read in batches (bounded memory)."""
        last = 0
        while True:

            def work(session: Session, after: int = last) -> list[LinkRecord]:
                query = select(LinkRow).where(LinkRow.id > after).order_by(LinkRow.id)
                return [_link(row) for row in session.scalars(query.limit(batch))]

            rows: list[LinkRecord] = self._run(work, what="reading links")
            if not rows:
                return
            yield from rows
            last = rows[-1].id

    def begin_create(
        self, code: str, program_id: str, now: datetime, token: str, terms: ClaimTerms
    ) -> tuple[ClaimOutcome, bool]:
        """Record the intent to create an issue (before any request), claimed by ``token``.

        Returns the outcome and whether this call inserted the row. When a row exists
        already (another process, or an earlier run, got there first), it is claimed by
        compare-and-set instead: a live holder's claim is never taken, so two processes
        never both go on to create.
        """

        def work(session: Session) -> LinkRecord:
            row = LinkRow(
                submission_code=code,
                program_id=program_id,
                state="creating",
                attempts=0,
                create_attempted_at=None,
                created_at=now,
                updated_at=now,
            )
            _take_claim(row, token, terms, now)
            session.add(row)
            session.flush()
            return _link(row)

        try:
            inserted: LinkRecord = self._run(work, what=f"recording intent for {code}")
            return ClaimOutcome(inserted), True
        except StoreConflict:
            return self.claim(code, token, terms, now), False

    def claim(self, code: str, token: str, terms: ClaimTerms, now: datetime) -> ClaimOutcome:
        """Claim the link of ``code`` for ``token`` (compare-and-set under the row lock).

        Succeeds when the claim is free, expired, held by a dead instance, or already
        ours; the link returned is read under the lock, so it carries every base another
        process committed before letting go.
        """

        def work(session: Session) -> ClaimOutcome:
            row = session.scalar(
                select(LinkRow).where(LinkRow.submission_code == code).with_for_update()
            )
            if row is None:
                return ClaimOutcome(None)
            if not _claim_free(session, row, token, terms, now):
                return ClaimOutcome(None, held_by=row.claim_instance)
            _take_claim(row, token, terms, now)
            session.flush()
            return ClaimOutcome(_link(row))

        result: ClaimOutcome = self._run(work, what=f"claiming {code}")
        return result

    def holds_claim(self, code: str, token: str) -> bool:
        """Whether ``token`` still holds the claim: asked right before an outside write,
        since a claim is taken over when its holder was silent long enough to seem dead."""

        def work(session: Session) -> bool:
            held = session.scalar(
                select(func.count())
                .select_from(LinkRow)
                .where(LinkRow.submission_code == code, LinkRow.claim_token == token)
            )
            return bool(held)

        result: bool = self._run(work, what=f"checking the claim on {code}")
        return result

    def release_claim(self, code: str, token: str) -> None:
        def work(session: Session) -> None:
            session.execute(
                update(LinkRow)
                .where(LinkRow.submission_code == code, LinkRow.claim_token == token)
                .values(claim_token=None, claim_instance=None, claim_since=None)
            )

        self._run(work, what=f"releasing the claim on {code}")

    def release_claims_of(self, instance: str) -> int:
        """Every claim an instance still holds (a clean exit after an interrupted item)."""

        def work(session: Session) -> int:
            result = session.execute(
                update(LinkRow)
                .where(LinkRow.claim_instance == instance)
                .values(claim_token=None, claim_instance=None, claim_since=None)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

        released: int = self._run(work, what="releasing claims")
        return released

    def _update(self, code: str, values: dict[str, Any], *, what: str) -> LinkRecord:
        def work(session: Session) -> LinkRecord:
            row = _locked_link(session, code)
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = values.get("updated_at", utcnow())
            session.flush()
            return _link(row)

        result: LinkRecord = self._run(work, what=what)
        return result

    def mark_create_attempt(self, code: str, token: str, now: datetime) -> bool:
        """Stamp the moment a create request is about to be sent (before sending it).

        A compare-and-set on our claim: False (and nothing stamped) when the claim is no
        longer ours, and then no create may be sent.
        """

        def work(session: Session) -> bool:
            result = session.execute(
                update(LinkRow)
                .where(LinkRow.submission_code == code, LinkRow.claim_token == token)
                .values(
                    create_attempted_at=now,
                    attempts=LinkRow.attempts + 1,
                    updated_at=now,
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

        marked: bool = self._run(work, what=f"marking create attempt for {code}")
        return marked

    def create_outcome_unknown(self, code: str, token: str, now: datetime, error: str) -> None:
        """A create was sent but its answer lost: restart the settle window from now.

        The issue, if Jira made it, was made before this moment; Jira's search may take a
        while to show it. Dating the window from the stamp taken before sending would let
        a slow send (a process paused between stamp and send) look settled too early.
        """

        def work(session: Session) -> None:
            session.execute(
                update(LinkRow)
                .where(LinkRow.submission_code == code, LinkRow.claim_token == token)
                .values(create_attempted_at=now, error=error, updated_at=now)
            )

        self._run(work, what=f"recording the unknown outcome of {code}'s create")

    def complete_link(
        self,
        code: str,
        issue_id: str,
        issue_key: str,
        audit: Sequence[AuditEntry] = (),
        *,
        bases: dict[str, str | None] | None = None,
    ) -> LinkRecord:
        """The issue exists: the link becomes ``linked``, with its bases and audit rows in
        the same transaction (a crash leaves either the intent or the whole link)."""

        def work(session: Session) -> LinkRecord:
            row = _locked_link(session, code)
            for field, value in (bases or {}).items():
                setattr(row, _BASE_COLUMNS[field], value)
            row.issue_id = issue_id
            row.issue_key = issue_key
            row.state = "linked"
            row.error = None
            row.attempts = 0
            row.blocked_signature = None
            row.updated_at = utcnow()
            _add_audit(session, audit, row.id)
            session.flush()
            return _link(row)

        result: LinkRecord = self._run(work, what=f"linking {code} to {issue_key}")
        return result

    def adopt(
        self,
        code: str,
        program_id: str,
        issue_id: str,
        issue_key: str,
        audit: Sequence[AuditEntry],
        bases: dict[str, str | None],
        *,
        token: str,
        terms: ClaimTerms,
    ) -> LinkRecord | None:
        """Link a submission to an existing issue (new link, or relink of an existing one),
        issue, bases and audit in one transaction, under our claim.

        A new row is inserted claimed by ``token``; an existing one is taken only when
        its claim is free or ours. None when another live process holds it (or inserted
        it meanwhile): nothing was written, and the caller defers.
        """

        def work(session: Session) -> LinkRecord | None:
            now = utcnow()
            row = session.scalar(
                select(LinkRow).where(LinkRow.submission_code == code).with_for_update()
            )
            if row is None:
                row = LinkRow(
                    submission_code=code,
                    program_id=program_id,
                    attempts=0,
                    created_at=now,
                )
                session.add(row)
            elif not _claim_free(session, row, token, terms, now):
                return None
            _take_claim(row, token, terms, now)
            row.issue_id = issue_id
            row.issue_key = issue_key
            row.state = "linked"
            row.error = None
            row.attempts = 0
            row.blocked_signature = None
            row.intigriti_seen_at = None
            row.jira_seen_at = None
            # another issue: nothing agreed with the old one carries over
            for column in _BASE_COLUMNS.values():
                setattr(row, column, None)
            for field, value in bases.items():
                setattr(row, _BASE_COLUMNS[field], value)
            row.updated_at = now
            session.flush()
            _add_audit(session, audit, row.id)
            return _link(row)

        try:
            adopted: LinkRecord | None = self._run(work, what=f"linking {code} to {issue_key}")
        except StoreConflict:
            # PostgreSQL: another process inserted the row between our look and our
            # insert (SQLite serialises the two). Not ours to write now: defer.
            if self.get_link(code) is not None:
                return None
            raise
        return adopted

    def apply_field_result(
        self,
        code: str,
        *,
        bases: dict[str, str | None] | None = None,
        issue_key: str | None = None,
        audit: Sequence[AuditEntry] = (),
        clear_block: bool = False,
        intigriti_seen_at: datetime | None = None,
        jira_seen_at: datetime | None = None,
    ) -> LinkRecord:
        """Commit the outcome of one action: new bases, key, audit rows, together."""

        def work(session: Session) -> LinkRecord:
            row = _locked_link(session, code)
            for field, value in (bases or {}).items():
                setattr(row, _BASE_COLUMNS[field], value)
            if issue_key is not None:
                row.issue_key = issue_key
            if intigriti_seen_at is not None:
                row.intigriti_seen_at = intigriti_seen_at
            if jira_seen_at is not None:
                row.jira_seen_at = jira_seen_at
            if clear_block and row.state in ("blocked", "parked"):
                row.state = "linked" if row.issue_id else "creating"
                row.blocked_signature = None
                row.error = None
                row.attempts = 0
            row.updated_at = utcnow()
            _add_audit(session, audit, row.id)
            session.flush()
            return _link(row)

        result: LinkRecord = self._run(work, what=f"recording result for {code}")
        return result

    def block(self, code: str, signature: str, reason: str, audit: Sequence[AuditEntry]) -> None:
        def work(session: Session) -> None:
            row = _locked_link(session, code)
            row.state = "blocked"
            row.blocked_signature = signature
            row.error = reason
            row.updated_at = utcnow()
            _add_audit(session, audit, row.id)

        self._run(work, what=f"blocking {code}")

    def record_failure(self, code: str, error: str) -> LinkRecord | None:
        """Count a failed attempt on a link (the link keeps its state and bases)."""

        def work(session: Session) -> LinkRecord | None:
            row = session.scalar(
                select(LinkRow).where(LinkRow.submission_code == code).with_for_update()
            )
            if row is None:
                return None
            row.attempts += 1
            row.error = error
            row.updated_at = utcnow()
            return _link(row)

        result: LinkRecord | None = self._run(work, what=f"recording failure for {code}")
        return result

    def release(self, code: str, audit: Sequence[AuditEntry]) -> LinkRecord | None:
        """An operator's ``syncd resync``: a blocked link goes back to linked (its refused
        write is planned again), a failing one forgets its attempts. A parked link stays
        parked until its submission parses again; its attempts are forgotten too."""

        def work(session: Session) -> LinkRecord | None:
            row = session.scalar(
                select(LinkRow).where(LinkRow.submission_code == code).with_for_update()
            )
            if row is None:
                return None
            if row.state == "blocked":
                row.state = "linked" if row.issue_id else "creating"
                row.blocked_signature = None
            row.error = None
            row.attempts = 0
            row.updated_at = utcnow()
            _add_audit(session, audit, row.id)
            session.flush()
            return _link(row)

        result: LinkRecord | None = self._run(work, what=f"releasing {code}")
        return result

    def orphan(self, code: str, reason: str, audit: Sequence[AuditEntry]) -> None:
        """The link's Jira issue is gone (Jira said so): keep the row for the record and
        sync it no more."""

        def work(session: Session) -> None:
            row = _locked_link(session, code)
            row.state = "orphaned"
            row.error = reason
            row.updated_at = utcnow()
            _add_audit(session, audit, row.id)

        self._run(work, what=f"orphaning {code}")

    def clear_failure(self, code: str) -> None:
        """The submission converged: forget earlier failed attempts."""
        self._update(code, {"attempts": 0, "error": None}, what=f"clearing failure of {code}")

    def park(
        self,
        code: str,
        program_id: str,
        error: str,
        terms: ClaimTerms,
        now: datetime,
        *,
        token: str = "",
    ) -> bool:
        """Park a submission whose payload could not be parsed (creating a row if needed).

        Never parks a link another live process holds (it is mid-write with a version it
        could read); False then, and the next cycle looks again.
        """

        def work(session: Session) -> bool:
            row = session.scalar(
                select(LinkRow).where(LinkRow.submission_code == code).with_for_update()
            )
            if row is None:
                session.add(
                    LinkRow(
                        submission_code=code,
                        program_id=program_id,
                        state="parked",
                        error=error,
                        attempts=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
                return True
            if not _claim_free(session, row, token, terms, now):
                return False
            row.state = "parked"
            row.error = error
            row.updated_at = now
            return True

        try:
            parked: bool = self._run(work, what=f"parking {code}")
        except StoreConflict:  # inserted by another process meanwhile: look again next time
            return False
        return parked

    def unpark(self, code: str) -> LinkRecord | None:
        """A parked submission parsed again: back to linked (or creating); a row that never
        got as far as a create attempt goes (it only held the parking), so the submission
        is planned as new, with every check. Call it holding the link's claim."""
        link = self.get_link(code)
        if link is None or link.state != "parked":
            return link
        if link.issue_id is None and link.create_attempted_at is None:

            def work(session: Session) -> None:
                session.delete(_locked_link(session, code))

            self._run(work, what=f"unparking {code}")
            return None
        # an intent with an attempt on record stays an intent: its tag is looked up
        # before any create, as after a crash
        state = "linked" if link.issue_id is not None else "creating"
        return self._update(code, {"state": state, "error": None}, what=f"unparking {code}")

    def set_unmapped(self, code: str, unmapped: str | None) -> None:
        """Record (or with None clear) the values of a link the mapping cannot place."""

        def work(session: Session) -> None:
            session.execute(
                update(LinkRow).where(LinkRow.submission_code == code).values(unmapped=unmapped)
            )

        self._run(work, what=f"recording unmapped values of {code}")

    def unmapped_links(self, limit: int = 100) -> list[LinkRecord]:
        def work(session: Session) -> list[LinkRecord]:
            query = select(LinkRow).where(LinkRow.unmapped.is_not(None)).order_by(LinkRow.id)
            return [_link(row) for row in session.scalars(query.limit(limit))]

        result: list[LinkRecord] = self._run(work, what="reading unmapped links")
        return result

    def count_unmapped(self) -> int:
        def work(session: Session) -> int:
            query = select(func.count()).select_from(LinkRow).where(LinkRow.unmapped.is_not(None))
            return int(session.scalar(query) or 0)

        result: int = self._run(work, what="counting unmapped links")
        return result

    def mark_seen(
        self, code: str, *, intigriti_seen_at: datetime | None, jira_seen_at: datetime | None
    ) -> None:
        """Remember the newest version of each side reconciled (only ever forward).

        Needs no claim: a slower process marking an older version moves nothing back.
        """

        def work(session: Session) -> None:
            for column, value in (
                (LinkRow.intigriti_seen_at, intigriti_seen_at),
                (LinkRow.jira_seen_at, jira_seen_at),
            ):
                if value is None:
                    continue
                session.execute(
                    update(LinkRow)
                    .where(
                        LinkRow.submission_code == code,
                        (column.is_(None)) | (column < value),
                    )
                    .values({column.key: value})
                )

        self._run(work, what=f"marking {code} seen")

    def mark_seen_many(self, marks: Sequence[SeenMark]) -> None:
        """:meth:`mark_seen` for many links in one transaction (a sweep's marks).

        Two executemany UPDATEs instead of a session and commit per link: on a no-change
        pass these marks were most of the pass's cost.
        """
        if not marks:
            return
        table = cast(Table, LinkRow.__table__)

        def work(session: Session) -> None:
            connection = session.connection()
            for column_name, pick in (("intigriti_seen_at", 1), ("jira_seen_at", 2)):
                column = table.c[column_name]
                rows = [
                    {"b_code": mark[0], "b_value": mark[pick]}
                    for mark in marks
                    if mark[pick] is not None
                ]
                if not rows:
                    continue
                statement = (
                    update(table)
                    .where(
                        table.c.submission_code == bindparam("b_code"),
                        column.is_(None) | (column < bindparam("b_value")),
                    )
                    .values({column_name: bindparam("b_value")})
                )
                connection.execute(statement, rows)

        self._run(work, what=f"marking {len(marks)} links seen")

    # -- duplicate tags ----------------------------------------------------------------

    def record_duplicate_tags(
        self, found: Mapping[str, Sequence[str]], now: datetime
    ) -> None:
        """The full set of submissions whose tag several issues carry, as a complete
        search just saw it: new ones are added, ones no longer seen are dropped."""

        def work(session: Session) -> None:
            rows = session.scalars(select(TagDuplicateRow))
            existing = {row.submission_code: row for row in rows}
            for code in set(existing) - set(found):
                session.delete(existing[code])
            for code, keys in found.items():
                row = existing.get(code)
                if row is None:
                    row = TagDuplicateRow(submission_code=code, first_seen_at=now)
                    session.add(row)
                row.issue_keys = json.dumps(list(keys))
                row.last_seen_at = now

        self._run(work, what="recording duplicate tags")

    def duplicate_tags(self) -> list[DuplicateTag]:
        def work(session: Session) -> list[DuplicateTag]:
            query = select(TagDuplicateRow).order_by(TagDuplicateRow.submission_code)
            return [
                DuplicateTag(
                    submission_code=row.submission_code,
                    issue_keys=tuple(json.loads(row.issue_keys)),
                    first_seen_at=_aware(row.first_seen_at) or utcnow(),
                    last_seen_at=_aware(row.last_seen_at) or utcnow(),
                )
                for row in session.scalars(query)
            ]

        result: list[DuplicateTag] = self._run(work, what="reading duplicate tags")
        return result

    def link_counts(self) -> dict[str, int]:
        def work(session: Session) -> dict[str, int]:
            query = select(LinkRow.state, func.count()).group_by(LinkRow.state)
            return {state: count for state, count in session.execute(query)}

        result: dict[str, int] = self._run(work, what="counting links")
        return result

    def links_in_state(self, state: LinkState, limit: int = 100) -> list[LinkRecord]:
        def work(session: Session) -> list[LinkRecord]:
            query = select(LinkRow).where(LinkRow.state == state).order_by(LinkRow.id)
            return [_link(row) for row in session.scalars(query.limit(limit))]

        result: list[LinkRecord] = self._run(work, what=f"reading {state} links")
        return result

    def failing_links(self, limit: int = 100, max_attempts: int | None = None) -> list[LinkRecord]:
        """Links whose last attempt failed (below ``max_attempts``), parked/blocked excluded."""

        def work(session: Session) -> list[LinkRecord]:
            query = select(LinkRow).where(
                LinkRow.attempts > 0, LinkRow.state.in_(("linked", "creating"))
            )
            if max_attempts is not None:
                query = query.where(LinkRow.attempts < max_attempts)
            query = query.order_by(LinkRow.id)
            return [_link(row) for row in session.scalars(query.limit(limit))]

        result: list[LinkRecord] = self._run(work, what="reading failing links")
        return result

    # -- audit -----------------------------------------------------------------------

    def audit(self, entries: Sequence[AuditEntry]) -> None:
        self._run(lambda session: _add_audit(session, entries, None), what="writing audit log")

    def recent_audit(
        self,
        *,
        outcome_prefix: str | None = None,
        submission: str | None = None,
        limit: int = 20,
    ) -> list[AuditRecord]:
        """The newest entries first; ``submission`` keeps one submission's only."""

        def work(session: Session) -> list[AuditRecord]:
            query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
            if outcome_prefix is not None:
                query = query.where(AuditRow.outcome.startswith(outcome_prefix))
            if submission is not None:
                query = query.where(AuditRow.submission_code == submission)
            return [
                AuditRecord(
                    id=row.id,
                    at=_aware(row.at) or utcnow(),
                    submission_code=row.submission_code,
                    field=row.field,
                    direction=row.direction,
                    old_value=row.old_value,
                    new_value=row.new_value,
                    outcome=row.outcome,
                    detail=row.detail,
                )
                for row in session.scalars(query)
            ]

        result: list[AuditRecord] = self._run(work, what="reading audit log")
        return result

    # -- webhook deliveries ------------------------------------------------------------

    def take_delivery(self, delivery_id: str, source: str, now: datetime) -> bool:
        """Record a webhook delivery; False when it was taken before (a replay). Safe
        between processes: the primary key decides, not a read."""

        def work(session: Session) -> None:
            session.add(WebhookDeliveryRow(delivery_id=delivery_id, source=source, received_at=now))

        try:
            self._run(work, what="recording a webhook delivery")
        except StoreConflict:
            return False
        return True

    def forget_deliveries(self, before: datetime) -> int:
        """Drop delivery records older than ``before`` (past the replay window)."""

        def work(session: Session) -> int:
            result = session.execute(
                delete(WebhookDeliveryRow).where(WebhookDeliveryRow.received_at < before)
            )
            return int(getattr(result, "rowcount", 0) or 0)

        removed: int = self._run(work, what="forgetting old webhook deliveries")
        return removed

    # -- cursors ---------------------------------------------------------------------

    def cursor(self, source: str) -> CursorRecord:
        def work(session: Session) -> CursorRecord:
            row = session.get(CursorRow, source)
            if row is None:
                return CursorRecord(source, None, None, None, None, None)
            return CursorRecord(
                source=row.source,
                watermark=_aware(row.watermark),
                last_success_at=_aware(row.last_success_at),
                last_error=row.last_error,
                last_error_at=_aware(row.last_error_at),
                last_stats=json.loads(row.last_stats) if row.last_stats else None,
            )

        result: CursorRecord = self._run(work, what=f"reading cursor {source}")
        return result

    def cursors(self) -> list[CursorRecord]:
        def work(session: Session) -> list[str]:
            return list(session.scalars(select(CursorRow.source).order_by(CursorRow.source)))

        sources: list[str] = self._run(work, what="reading cursors")
        return [self.cursor(source) for source in sources]

    def _cursor_row(self, session: Session, source: str) -> CursorRow:
        row = session.get(CursorRow, source, with_for_update=True)
        if row is None:
            row = CursorRow(source=source)
            session.add(row)
        return row

    def cycle_succeeded(
        self,
        source: str,
        *,
        watermark: datetime | None,
        stats: dict[str, Any] | None = None,
        now: datetime | None = None,
        allow_backwards: bool = False,
    ) -> None:
        """Record a successful cycle; the watermark moves forward only, unless
        ``allow_backwards`` (the server's clock went back behind it)."""

        def work(session: Session) -> None:
            row = self._cursor_row(session, source)
            current = _aware(row.watermark)
            if watermark is not None and (
                current is None or watermark > current or allow_backwards
            ):
                row.watermark = watermark
            row.last_success_at = now or utcnow()
            if stats is not None:
                row.last_stats = json.dumps(stats, sort_keys=True, default=str)

        try:
            self._run(work, what=f"updating cursor {source}")
        except StoreConflict:  # two first cycles raced to insert the row: retry once
            self._run(work, what=f"updating cursor {source}")

    def cycle_failed(self, source: str, error: str, now: datetime | None = None) -> None:
        def work(session: Session) -> None:
            row = self._cursor_row(session, source)
            row.last_error = error
            row.last_error_at = now or utcnow()

        try:
            self._run(work, what=f"updating cursor {source}")
        except StoreConflict:
            self._run(work, what=f"updating cursor {source}")

    # -- OAuth tokens (implements syncd.intigriti.tokens.TokenStore) -------------------

    def token_store(self, provider: str = "intigriti") -> DatabaseTokenStore:
        """The one token store of ``provider`` in this repository (it may hold a rotated
        pair in memory that every thread must see; see syncd/store/tokens.py)."""
        store = self._token_stores.get(provider)
        if store is None:
            path = self.errors.path
            store = DatabaseTokenStore(
                self,
                provider,
                self._sealer,
                reserve=SpaceReserve.beside(path) if path is not None else None,
            )
            self._token_stores[provider] = store
        return store


def _locked_link(session: Session, code: str) -> LinkRow:
    """The link row of ``code``, locked for this transaction (FOR UPDATE on PostgreSQL)."""
    row = session.scalar(select(LinkRow).where(LinkRow.submission_code == code).with_for_update())
    if row is None:
        raise StoreError(f"no link for submission {code}")
    return row


def _add_audit(session: Session, entries: Sequence[AuditEntry], link_id: int | None) -> None:
    now = utcnow()
    for entry in entries:
        session.add(
            AuditRow(
                at=now,
                submission_code=entry.submission_code,
                link_id=link_id,
                field=entry.field,
                direction=entry.direction,
                old_value=entry.old_value,
                new_value=entry.new_value,
                outcome=entry.outcome,
                detail=entry.detail,
            )
        )
