"""SQLAlchemy table models. The schema itself is created only by Alembic (migrations/)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class LinkRow(Base):
    """One submission and its Jira issue, plus the three-way-merge bases per field.

    ``state``: ``creating`` (intent recorded, issue not confirmed yet), ``linked``,
    ``blocked`` (a move was refused; ``blocked_signature`` says which), ``parked`` (the
    submission's payload could not be parsed; ``error`` says why).
    """

    __tablename__ = "links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_code: Mapped[str] = mapped_column(String(100), unique=True)
    program_id: Mapped[str] = mapped_column(String(64))
    issue_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    issue_key: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), index=True)
    base_severity: Mapped[str | None] = mapped_column(String(64))
    base_status: Mapped[str | None] = mapped_column(String(64))
    base_internal_reference: Mapped[str | None] = mapped_column(String(255))
    base_cvss: Mapped[str | None] = mapped_column(String(255))
    #: the one-way fields: what syncd last wrote to Jira (see ``syncd.sync.plan.Bases``)
    base_duplicate: Mapped[str | None] = mapped_column(String(100))
    base_payouts: Mapped[str | None] = mapped_column(String(255))
    base_payout_total: Mapped[str | None] = mapped_column(String(32))
    base_description: Mapped[str | None] = mapped_column(String(80))
    base_attachments: Mapped[str | None] = mapped_column(Text)
    blocked_signature: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    create_attempted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: the ``updated_at`` of each side's version last reconciled: a change query that
    #: returns the same version again (overlap window) costs no further request
    intigriti_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    jira_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: the claim: which process (``claim_instance``, an ``instances.id``) may write this
    #: link's sides right now, under which one-time token, since when. Taken by
    #: compare-and-set (see ``Repository.claim``); free when the token is NULL or the
    #: holding instance stopped heartbeating
    claim_token: Mapped[str | None] = mapped_column(String(64))
    claim_instance: Mapped[str | None] = mapped_column(String(64))
    claim_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: values the mapping cannot place (field, side, raw value), "; "-joined; NULL: none
    unmapped: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WebhookDeliveryRow(Base):
    """A webhook delivery already taken (Jira's identifier, or a digest of an Intigriti
    event and body): a replay finds its row and is ignored."""

    __tablename__ = "webhook_deliveries"

    delivery_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class CursorRow(Base):
    """Change-detection watermark and health per source (``intigriti``, ``jira``, ``sweep``)."""

    __tablename__ = "cursors"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    watermark: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: JSON object: the last cycle's counters (requests per route, quota use, outcomes)
    last_stats: Mapped[str | None] = mapped_column(Text)


class OAuthTokenRow(Base):
    """The Intigriti OAuth token pair. One row per provider (``intigriti``)."""

    __tablename__ = "oauth_tokens"

    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    access_token: Mapped[str | None] = mapped_column(Text)
    refresh_token: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    scope: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditRow(Base):
    """Every write syncd makes and every conflict it resolves."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    submission_code: Mapped[str] = mapped_column(String(100), index=True)
    link_id: Mapped[int | None] = mapped_column(Integer)
    field: Mapped[str] = mapped_column(String(32))
    #: ``to_jira``, ``to_intigriti``, ``conflict`` or ``none``
    direction: Mapped[str] = mapped_column(String(16))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    #: ``ok``, ``failed``, ``blocked``, ``conflict:<winner>``
    outcome: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)


class InstanceRow(Base):
    """One running syncd process: who it is, what it does, and that it is alive.

    ``role``: ``active`` (the daemon holding the leader lease), ``standby`` (a daemon
    waiting for it), ``oneshot`` (``run --reconcile``). ``heartbeat_at`` is renewed every
    few seconds; a row whose heartbeat is older than the instance timeout belongs to a
    process that died, and its claims are free.
    """

    __tablename__ = "instances"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    command: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(16))
    version: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    role_since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TagDuplicateRow(Base):
    """A submission whose tag more than one Jira issue carries (found by the full sweep).

    syncd keeps syncing the linked issue and deletes nothing; `status` lists these and a
    reconcile fails until a human removes the extra issue's tag.
    """

    __tablename__ = "tag_duplicates"

    submission_code: Mapped[str] = mapped_column(String(100), primary_key=True)
    #: JSON list of the issue keys carrying the tag, lowest id first
    issue_keys: Mapped[str] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConversationCopyRow(Base):
    """One message or comment copied (or being copied) to the other side.

    ``origin`` ``intigriti`` (a message, ``source_id`` its key) goes to Jira as a
    ``restricted`` or ``public`` comment; origin ``jira`` (a comment id) goes to Intigriti
    as an ``internal`` or ``external`` message. The row is written *before* the copy is
    sent (``state`` ``sending``), with the ``ref`` the copy carries, so after a lost
    answer or a crash the copy is looked for by its ref before anything is sent again.
    """

    __tablename__ = "conversation_copies"
    __table_args__ = (
        UniqueConstraint(
            "submission_code", "origin", "source_id", "audience", name="uq_conversation_copy"
        ),
        UniqueConstraint("ref", name="uq_conversation_copy_ref"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_code: Mapped[str] = mapped_column(String(100), index=True)
    origin: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str] = mapped_column(String(128))
    audience: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(32))
    #: the copy's id on the other side (Jira comment id, Intigriti message id), once known
    copy_id: Mapped[str | None] = mapped_column(String(128))
    #: SHA-256 of the copy's text (whitespace collapsed): a reply that quotes the copy,
    #: reference and all, is not taken for the copy itself
    digest: Mapped[str | None] = mapped_column(String(64))
    #: ``sending`` (may or may not have arrived), ``sent``, ``withdrawn`` (not sent: it
    #: may be planned again) or ``rejected`` (the other side refused it: given up)
    state: Mapped[str] = mapped_column(String(16))
    attempted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConversationMarkRow(Base):
    """How far one link's conversation is synced: the version of each side whose
    messages or comments were all handled, and the newest message handled."""

    __tablename__ = "conversation_marks"

    submission_code: Mapped[str] = mapped_column(String(100), primary_key=True)
    intigriti_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    jira_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    messages_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
