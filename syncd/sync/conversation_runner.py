"""Messages <-> comments: the acting half. One link at a time, under its claim.

For one link: claim it (the same compare-and-set the field sync uses, so no two
processes copy one conversation at once), read what is needed (the submission's message
events from the link's mark on, the issue's comments), plan (``plan_conversation``),
then send each copy in order: ledger row first, then the POST, then the row closed. At
the last moment before each POST (after the quota wait) the claim is checked again, and
a message for the researcher re-reads its comment: a restriction added meanwhile wins.

What a failed send leaves:

* a lost answer (``AmbiguousWrite``): the row stays ``sending``; the next run looks for
  the copy by its reference, and sends again only once the settle time has passed with
  no copy found. The later copies of that direction wait (order is kept).
* a transient failure that surely sent nothing: the row is withdrawn, and planned again
  next time; the later copies of that direction wait.
* a refusal (4xx: too long, no permission, issue gone): the row is ``rejected``, the
  failure reported (log, summary, `syncd status`), and the next copies go on.

Reads are incremental: a poll asks for a link's conversation only when the side that
changed is newer than the link's mark for it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, NoReturn

import structlog

from syncd.errors import (
    AmbiguousWrite,
    CredentialError,
    NotFound,
    RemoteError,
    StoreError,
    TransientError,
    WriteWithdrawn,
)
from syncd.records import Comment, CommentVisibility, Message
from syncd.store.conversation import Audience, ConversationLedger, CopyRecord, Origin
from syncd.store.repository import (
    AuditEntry,
    ClaimTerms,
    LinkRecord,
    Repository,
    StoreConflict,
)
from syncd.sync.conversation import (
    AwaitCopy,
    ConfirmCopy,
    ConversationOptions,
    CopyToIntigriti,
    CopyToJira,
    WithdrawCopy,
    digest_of,
    intigriti_text,
    jira_comment_body,
    new_ref,
    plan_conversation,
    wants_external,
)
from syncd.sync.executor import Summary
from syncd.sync.ports import ConversationIntigriti, ConversationJira

log = structlog.get_logger(__name__)

Outcome = Literal["converged", "changed", "failed", "deferred", "skipped", "pending"]


class _Stop(Exception):
    """This direction stops here (its later copies wait: order is kept)."""


class _NotForResearcher(WriteWithdrawn):
    """The comment, read again right before sending, is no longer for the researcher."""


class _RecheckFailed(WriteWithdrawn):
    """The comment could not be read again right before sending: nothing is sent."""


@dataclass
class _Run:
    code: str
    token: str
    link: LinkRecord
    wrote: int = 0
    failed: bool = False
    stopped: set[Origin] = field(default_factory=set)


class ConversationRunner:
    def __init__(
        self,
        repository: Repository,
        ledger: ConversationLedger,
        intigriti: ConversationIntigriti,
        jira: ConversationJira,
        options: ConversationOptions,
        *,
        visibility: CommentVisibility,
        escape: Callable[[str], str],
        claims: ClaimTerms,
        overlap: timedelta = timedelta(seconds=120),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        may_write: Callable[[], bool] = lambda: True,
    ) -> None:
        self.repository = repository
        self.ledger = ledger
        self.intigriti = intigriti
        self.jira = jira
        self.options = options
        self.visibility = visibility
        self.escape = escape
        self.claims = claims
        self.overlap = overlap
        self.clock = clock
        self.may_write = may_write
        self._enabled_since: datetime | None = None

    def enabled_since(self) -> datetime:
        """When the conversation sync was turned on for this database (cached)."""
        if self._enabled_since is None:
            self._enabled_since = self.ledger.enabled_since(self.clock())
        return self._enabled_since

    def sync(
        self,
        code: str,
        summary: Summary,
        *,
        read_intigriti: bool = True,
        read_jira: bool = True,
        intigriti_version: datetime | None = None,
        jira_version: datetime | None = None,
    ) -> Outcome:
        """Copy what is new in this link's conversation. ``read_*``: which side changed
        (the other is read only when a copy to it needs finding); ``*_version``: the
        ``updated`` of the side as the caller saw it, marked once all of it is handled."""
        token = secrets.token_hex(16)
        held = False
        try:
            outcome = self.repository.claim(code, token, self.claims, self.clock())
            if not outcome.claimed:
                # held by another process: the engine tries again at its next poll
                return "deferred" if outcome.held_by is not None else "skipped"
            held = True
            link = outcome.link
            if link is None or link.issue_id is None or link.state not in ("linked", "blocked"):
                return "skipped"
            run = _Run(code, token, link)
            result = self._sync(
                run, summary, read_intigriti, read_jira, intigriti_version, jira_version
            )
        except CredentialError:
            raise
        except StoreError as exc:
            log.error("conversation_store_error", submission=code, error=str(exc))
            summary.failures[code] = f"conversation: {exc}"
            result = "failed"
        finally:
            if held:
                try:
                    self.repository.release_claim(code, token)
                except StoreError as exc:
                    log.warning("claim_release_failed", submission=code, error=str(exc))
        if result == "failed":
            summary.outcomes["failed"] += 1
        return result

    def _sync(
        self,
        run: _Run,
        summary: Summary,
        read_intigriti: bool,
        read_jira: bool,
        intigriti_version: datetime | None,
        jira_version: datetime | None,
    ) -> Outcome:
        code = run.code
        # the row exists from the first attempt on, so a sweep looks after this link
        self.ledger.advance(code)
        mark = self.ledger.marks([code]).get(code)
        copies = self.ledger.copies(code)
        pending = [c for c in copies if c.state == "sending"]
        to_jira, to_intigriti = self.options.to_jira, self.options.to_intigriti
        want_messages = (to_jira and read_intigriti) or any(c.origin == "jira" for c in pending)
        want_comments = (to_intigriti and read_jira) or any(
            c.origin == "intigriti" for c in pending
        )
        since = self._since(mark.messages_since if mark else None, pending)
        messages = self._read_messages(run, since, summary) if want_messages else None
        comments = self._read_comments(run, summary) if want_comments else None
        plan = plan_conversation(messages, comments, copies, self.options, self.clock())
        unsent_from: datetime | None = None
        for action in plan.actions:
            try:
                match action:
                    case ConfirmCopy(ref=ref, copy_id=copy_id):
                        self.ledger.copy_sent(ref, copy_id)
                        log.info("conversation_copy_found", submission=code, ref=ref)
                    case WithdrawCopy(ref=ref, reason=reason):
                        self.ledger.close(ref, "withdrawn")
                        log.info(
                            "conversation_copy_withdrawn", submission=code, ref=ref, reason=reason
                        )
                    case AwaitCopy(ref=ref, origin=origin):
                        run.stopped.add(origin)
                        log.info("conversation_copy_unsettled", submission=code, ref=ref)
                    case CopyToJira() if "intigriti" not in run.stopped:
                        self._copy_to_jira(run, action, summary)
                    case CopyToIntigriti() if "jira" not in run.stopped:
                        self._copy_to_intigriti(run, action, summary)
            except _Stop:
                pass
            if isinstance(action, CopyToJira) and "intigriti" in run.stopped:
                unsent_from = _earliest(unsent_from, action.message.created_at)
        # the marks move only over what is fully handled: read (or not wanted at all:
        # a direction that is off), and every copy of it landed
        messages_done = "intigriti" not in run.stopped and (
            messages is not None or (not to_jira and not want_messages)
        )
        comments_done = "jira" not in run.stopped and (
            comments is not None or (not to_intigriti and not want_comments)
        )
        self.ledger.advance(
            code,
            intigriti_seen_at=intigriti_version if messages_done else None,
            jira_seen_at=jira_version if comments_done else None,
            messages_since=unsent_from or (plan.handled_until if messages is not None else None),
        )
        if run.failed:
            return "failed"
        if run.stopped:
            return "pending"
        return "changed" if run.wrote else "converged"

    def _since(self, messages_since: datetime | None, pending: list[CopyRecord]) -> datetime | None:
        """Where the events read starts: the link's mark, or earlier when a copy sent to
        Intigriti must be found; the overlap covers the two clocks' skew."""
        if messages_since is None or any(c.origin == "intigriti" for c in pending):
            # never read, or a message whose copy must be resent may lie before the mark
            return None
        starts = [messages_since]
        starts += [c.attempted_at for c in pending if c.origin == "jira" and c.attempted_at]
        return min(starts) - self.overlap

    def _read_messages(
        self, run: _Run, since: datetime | None, summary: Summary
    ) -> list[Message] | None:
        try:
            return self.intigriti.messages(run.code, since)
        except CredentialError:
            raise
        except RemoteError as exc:
            # never infer from a failed read: nothing is copied from or to this side
            self._read_failed(run, "intigriti", exc, summary)
            return None

    def _read_comments(self, run: _Run, summary: Summary) -> list[Comment] | None:
        assert run.link.issue_id is not None
        try:
            return self.jira.comments(run.link.issue_id)
        except CredentialError:
            raise
        except RemoteError as exc:
            self._read_failed(run, "jira", exc, summary)
            return None

    def _read_failed(self, run: _Run, side: str, exc: RemoteError, summary: Summary) -> None:
        log.warning("conversation_read_failed", submission=run.code, side=side, error=str(exc))
        summary.failures[run.code] = f"conversation: reading {side} failed: {exc}"
        run.failed = True

    def _check_claim(self, run: _Run) -> None:
        """Asked right before each POST goes on the wire: still ours to write?"""
        if not self.may_write() or not self.repository.holds_claim(run.code, run.token):
            log.warning("claim_lost", submission=run.code)
            raise WriteWithdrawn(f"{run.code}: the claim was taken over")

    def _begin(
        self,
        run: _Run,
        origin: Origin,
        source_id: str,
        audience: Audience,
        ref: str,
        text: str,
        resend: bool,
    ) -> None:
        """The ledger row, before anything is sent: the copy's ref and what it says."""
        now = self.clock()
        if resend:
            if not self.ledger.attempt_again(ref, digest_of(text), now):
                run.stopped.add(origin)  # settled by another run meanwhile
                raise _Stop
            return
        try:
            self.ledger.begin_copy(run.code, origin, source_id, audience, ref, digest_of(text), now)
        except StoreConflict:
            # recorded already (by a run that read the ledger before us): not ours to send
            run.stopped.add(origin)
            raise _Stop from None

    def _copy_to_jira(self, run: _Run, action: CopyToJira, summary: Summary) -> None:
        issue_id = run.link.issue_id
        assert issue_id is not None
        ref = action.resend_ref or new_ref()
        body = jira_comment_body(action.message, ref, self.escape)
        self._begin(
            run,
            "intigriti",
            action.message.key,
            action.audience,
            ref,
            body,
            bool(action.resend_ref),
        )
        visibility = self.visibility if action.audience == "restricted" else None
        try:
            comment = self.jira.post_comment(
                issue_id, body, visibility, before_send=lambda: self._check_claim(run)
            )
        except CredentialError:
            raise
        except WriteWithdrawn:
            self._withdrawn(run, "intigriti", ref, "the claim was taken over")
        except RemoteError as exc:
            self._send_failed(run, "intigriti", ref, exc, summary)
        self.ledger.copy_sent(
            ref, comment.id, _audit(run, "to_jira", action.audience, f"comment {comment.id}", ref)
        )
        self._copied(run, summary, "to_jira", action.audience, comment.id, ref)

    def _copy_to_intigriti(self, run: _Run, action: CopyToIntigriti, summary: Summary) -> None:
        issue_id = run.link.issue_id
        assert issue_id is not None
        comment = action.comment
        ref = action.resend_ref or new_ref()
        key = run.link.issue_key or issue_id
        text = intigriti_text(comment, action.audience, key, ref, self.options.marker)
        self._begin(run, "jira", comment.id, action.audience, ref, text, bool(action.resend_ref))

        def still_for_the_researcher() -> None:
            # after the quota wait, at the last moment: the comment as it is now
            self._check_claim(run)
            try:
                now = self.jira.get_comment(issue_id, comment.id)
            except NotFound:
                raise _NotForResearcher(f"comment {comment.id} was deleted") from None
            except RemoteError as exc:
                # cannot tell: not sent now; the direction waits for the next run
                raise _RecheckFailed(f"reading comment {comment.id} again failed: {exc}") from None
            if not wants_external(now, self.options.marker):
                raise _NotForResearcher(f"comment {comment.id} is no longer for the researcher")

        try:
            if action.audience == "external":
                message_id = self.intigriti.message_researcher(
                    run.code, text, before_send=still_for_the_researcher
                )
            else:
                message_id = self.intigriti.add_internal_note(
                    run.code, text, before_send=lambda: self._check_claim(run)
                )
        except CredentialError:
            raise
        except _NotForResearcher as exc:
            # not a stop: the comment is planned again from the next read (as a note)
            self.ledger.close(ref, "withdrawn")
            log.info("conversation_external_withdrawn", submission=run.code, reason=str(exc))
            return
        except WriteWithdrawn as exc:
            self._withdrawn(run, "jira", ref, str(exc))
        except RemoteError as exc:
            self._send_failed(run, "jira", ref, exc, summary)
        self.ledger.copy_sent(
            ref,
            message_id,
            _audit(run, "to_intigriti", action.audience, f"message {message_id}", ref),
        )
        self._copied(run, summary, "to_intigriti", action.audience, comment.id, ref)

    def _copied(
        self, run: _Run, summary: Summary, direction: str, audience: str, comment: str, ref: str
    ) -> None:
        run.wrote += 1
        summary.count_write("conversation", direction)
        log.info(
            "conversation_copied",
            submission=run.code,
            direction=direction,
            audience=audience,
            comment=comment,
            ref=ref,
        )

    def _withdrawn(self, run: _Run, origin: Origin, ref: str, reason: str) -> NoReturn:
        self.ledger.close(ref, "withdrawn")
        run.stopped.add(origin)
        log.info("conversation_copy_withdrawn", submission=run.code, ref=ref, reason=reason)
        raise _Stop

    def _send_failed(
        self, run: _Run, origin: Origin, ref: str, exc: RemoteError, summary: Summary
    ) -> NoReturn:
        """See the module's docstring: lost answer, transient failure, refusal."""
        kind = type(exc).__name__
        if isinstance(exc, AmbiguousWrite):
            run.stopped.add(origin)  # the row stays "sending": looked for next time
            log.warning("conversation_copy_unknown", submission=run.code, ref=ref, error=str(exc))
            raise _Stop
        if isinstance(exc, TransientError):
            self.ledger.close(ref, "withdrawn")  # surely not sent: planned again next time
            run.stopped.add(origin)
            log.warning("conversation_copy_failed", submission=run.code, ref=ref, error=str(exc))
            raise _Stop
        # refused for good (too long, no permission, gone): reported, and the next copies
        # go on rather than wait behind it for ever
        direction = "to_jira" if origin == "intigriti" else "to_intigriti"
        audit = _audit(run, direction, "", None, ref, outcome="rejected", detail=f"{kind}: {exc}")
        self.ledger.close(ref, "rejected", audit=audit)
        run.failed = True
        summary.failures[run.code] = f"conversation: a copy was refused: {kind}: {exc}"
        log.error(
            "conversation_copy_rejected",
            submission=run.code,
            ref=ref,
            error=str(exc),
            error_type=kind,
        )
        raise _Stop


def _audit(
    run: _Run,
    direction: str,
    audience: str,
    copy: str | None,
    ref: str,
    *,
    outcome: str = "ok",
    detail: str | None = None,
) -> AuditEntry:
    """The audit row of one copy: ``conversation``, its direction, what was made."""
    made = f"{audience} {copy}" if audience and copy else copy
    return AuditEntry(
        run.code, "conversation", direction, None, made, outcome, detail or f"ref {ref}"
    )


def _earliest(a: datetime | None, b: datetime) -> datetime:
    return b if a is None else min(a, b)
