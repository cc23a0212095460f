"""The conversation ledger: which messages and comments were copied, and how far each
link's conversation is synced (tables ``conversation_copies``, ``conversation_marks``).

Copies are written by the process holding the link's claim (``Repository.claim``), so
two processes never copy one conversation at once; the unique key of a copy row is the
last guard: a second row for one source and audience cannot exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from syncd.store.repository import AuditEntry, Repository, StoreConflict
from syncd.store.tables import AuditRow, ConversationCopyRow, ConversationMarkRow, CursorRow

#: the ``cursors`` row whose watermark says when the conversation sync was turned on
ENABLED_CURSOR = "conversation"

Origin = Literal["intigriti", "jira"]
#: to Jira: ``restricted`` / ``public`` comments; to Intigriti: ``internal`` / ``external``
Audience = Literal["restricted", "public", "internal", "external"]


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every instant syncd stores is UTC
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


CopyState = Literal["sending", "sent", "withdrawn", "rejected"]


@dataclass(frozen=True)
class CopyRecord:
    submission_code: str
    origin: Origin
    source_id: str
    audience: Audience
    ref: str
    copy_id: str | None
    state: CopyState
    attempted_at: datetime | None
    digest: str | None = None


@dataclass(frozen=True)
class ConversationMark:
    intigriti_seen_at: datetime | None = None
    jira_seen_at: datetime | None = None
    messages_since: datetime | None = None


def _copy(row: ConversationCopyRow) -> CopyRecord:
    return CopyRecord(
        submission_code=row.submission_code,
        origin=row.origin,  # type: ignore[arg-type]  # written only from Origin
        source_id=row.source_id,
        audience=row.audience,  # type: ignore[arg-type]  # written only from Audience
        ref=row.ref,
        copy_id=row.copy_id,
        state=row.state,  # type: ignore[arg-type]  # written only from CopyState
        attempted_at=_aware(row.attempted_at),
        digest=row.digest,
    )


def _later(old: datetime | None, new: datetime | None) -> datetime | None:
    if new is None:
        return old
    if old is None:
        return new
    return max(_aware(old) or new, new)


class ConversationLedger:
    def __init__(self, repository: Repository) -> None:
        self._repository = repository

    def copies(self, code: str) -> list[CopyRecord]:
        def work(session: Session) -> list[CopyRecord]:
            rows = session.scalars(
                select(ConversationCopyRow)
                .where(ConversationCopyRow.submission_code == code)
                .order_by(ConversationCopyRow.id)
            )
            return [_copy(row) for row in rows]

        return self._repository.transaction(work, what=f"reading the conversation of {code}")

    def begin_copy(
        self,
        code: str,
        origin: Origin,
        source_id: str,
        audience: Audience,
        ref: str,
        digest: str,
        now: datetime,
    ) -> CopyRecord:
        """Record the intent to copy, before sending. A row withdrawn earlier (never
        sent) is taken up again under the new ref; any other row for this source and
        audience means it is copied or being copied: StoreConflict."""

        def work(session: Session) -> CopyRecord:
            row = session.scalar(
                select(ConversationCopyRow)
                .where(
                    ConversationCopyRow.submission_code == code,
                    ConversationCopyRow.origin == origin,
                    ConversationCopyRow.source_id == source_id,
                    ConversationCopyRow.audience == audience,
                )
                .with_for_update()
            )
            if row is not None and row.state != "withdrawn":
                raise StoreConflict(f"{code}: {origin} {source_id} is copied already")
            if row is None:
                row = ConversationCopyRow(
                    submission_code=code,
                    origin=origin,
                    source_id=source_id,
                    audience=audience,
                    created_at=now,
                )
                session.add(row)
            row.ref = ref
            row.digest = digest
            row.copy_id = None
            row.state = "sending"
            row.attempted_at = now
            session.flush()
            return _copy(row)

        return self._repository.transaction(work, what=f"recording a copy for {code}")

    def attempt_again(self, ref: str, digest: str, now: datetime) -> bool:
        """A copy not found on the other side is sent again (same ref): when, for the
        settle rule. False when the row is no longer waiting (another run settled it)."""

        def work(session: Session) -> bool:
            result = session.execute(
                update(ConversationCopyRow)
                .where(ConversationCopyRow.ref == ref, ConversationCopyRow.state == "sending")
                .values(attempted_at=now, digest=digest)
            )
            return bool(getattr(result, "rowcount", 0))

        return self._repository.transaction(work, what="recording a copy attempt")

    def copy_sent(self, ref: str, copy_id: str | None, audit: AuditEntry | None = None) -> None:
        self.close(ref, "sent", copy_id, audit)

    def close(
        self,
        ref: str,
        state: CopyState,
        copy_id: str | None = None,
        audit: AuditEntry | None = None,
    ) -> None:
        """The copy's outcome: ``sent``, ``withdrawn`` (not sent) or ``rejected``, with
        its audit row in the same transaction."""

        def work(session: Session) -> None:
            session.execute(
                update(ConversationCopyRow)
                .where(ConversationCopyRow.ref == ref)
                .values(state=state, copy_id=copy_id)
            )
            if audit is not None:
                session.add(
                    AuditRow(
                        at=datetime.now(UTC),
                        submission_code=audit.submission_code,
                        link_id=None,
                        field=audit.field,
                        direction=audit.direction,
                        old_value=audit.old_value,
                        new_value=audit.new_value,
                        outcome=audit.outcome,
                        detail=audit.detail,
                    )
                )

        self._repository.transaction(work, what=f"recording a copy as {state}")

    def waiting_codes(self) -> list[str]:
        """Links with a copy whose send may or may not have arrived (a restarted process
        looks at them first)."""

        def work(session: Session) -> list[str]:
            return list(
                session.scalars(
                    select(ConversationCopyRow.submission_code)
                    .where(ConversationCopyRow.state == "sending")
                    .distinct()
                )
            )

        return self._repository.transaction(work, what="reading copies in flight")

    def marks(self, codes: Sequence[str]) -> dict[str, ConversationMark]:
        """The marks of these links (one query); a link never synced has none."""
        if not codes:
            return {}

        def work(session: Session) -> dict[str, ConversationMark]:
            found: dict[str, ConversationMark] = {}
            for start in range(0, len(codes), 500):
                rows = session.scalars(
                    select(ConversationMarkRow).where(
                        ConversationMarkRow.submission_code.in_(codes[start : start + 500])
                    )
                )
                for row in rows:
                    found[row.submission_code] = ConversationMark(
                        _aware(row.intigriti_seen_at),
                        _aware(row.jira_seen_at),
                        _aware(row.messages_since),
                    )
            return found

        return self._repository.transaction(work, what="reading conversation marks")

    def advance(
        self,
        code: str,
        *,
        intigriti_seen_at: datetime | None = None,
        jira_seen_at: datetime | None = None,
        messages_since: datetime | None = None,
    ) -> None:
        """Move the link's marks forward (never back)."""

        def work(session: Session) -> None:
            row = session.get(ConversationMarkRow, code, with_for_update=True)
            if row is None:
                row = ConversationMarkRow(submission_code=code)
                session.add(row)
            row.intigriti_seen_at = _later(row.intigriti_seen_at, intigriti_seen_at)
            row.jira_seen_at = _later(row.jira_seen_at, jira_seen_at)
            row.messages_since = _later(row.messages_since, messages_since)

        self._repository.transaction(work, what=f"moving the conversation marks of {code}")

    def counts(self) -> dict[str, int]:
        """Copies by direction and state, for `syncd status`: ``to_jira:sent``, ..."""

        def work(session: Session) -> dict[str, int]:
            rows = session.execute(
                select(
                    ConversationCopyRow.origin, ConversationCopyRow.state, func.count()
                ).group_by(ConversationCopyRow.origin, ConversationCopyRow.state)
            )
            return {
                f"{'to_jira' if origin == 'intigriti' else 'to_intigriti'}:{state}": int(n)
                for origin, state, n in rows
            }

        return self._repository.transaction(work, what="counting conversation copies")

    def enabled_since(self, now: datetime) -> datetime:
        """When the conversation sync was first turned on for this database (recorded by
        the first process to ask). Links created since then get their whole conversation
        copied; older ones get it at their next change."""

        def work(session: Session) -> datetime:
            row = session.get(CursorRow, ENABLED_CURSOR, with_for_update=True)
            if row is None:
                row = CursorRow(source=ENABLED_CURSOR, watermark=now)
                session.add(row)
            elif row.watermark is None:
                row.watermark = now
            return _aware(row.watermark) or now

        return self._repository.transaction(work, what="reading when the conversation began")
