"""Messages <-> comments: the acting half. One link at a time, under its claim.

For one link: claim it (the same compare-and-set the field sync uses, so no two
processes copy one conversation at once), read what is needed (the submission's message
events from the link's mark on, the issue's comments), plan (``plan_conversation``),
then send each copy in order: ledger row first, then the POST, then the row marked
sent. A send whose answer was lost leaves its row ``sending``: the next run looks for
the copy by its reference before sending anything of that direction again.

Reads are incremental: a poll asks for a link's conversation only when that side's
version is newer than the link's mark, so an idle link costs nothing, and a change costs
one read of the side that changed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, NoReturn

import structlog

from syncd.errors import (
    AmbiguousWrite,
    CredentialError,
    NotFound,
    RemoteError,
    StoreError,
)
from syncd.records import Comment, CommentVisibility, Message
from syncd.store.conversation import Audience, ConversationLedger, CopyRecord, Origin
from syncd.store.repository import ClaimTerms, LinkRecord, Repository, StoreConflict
from syncd.sync.conversation import (
    AwaitCopy,
    ConfirmCopy,
    ConversationOptions,
    CopyToIntigriti,
    CopyToJira,
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


@dataclass
class _Run:
    code: str
    token: str
    link: LinkRecord
    wrote: int = 0
    stopped: set[str] | None = None

    def stop(self, origin: str) -> None:
        if self.stopped is None:
            self.stopped = set()
        self.stopped.add(origin)

    def is_stopped(self, origin: str) -> bool:
        return self.stopped is not None and origin in self.stopped


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
                if outcome.held_by is not None:
                    # the engine tries again at its next poll (not the field retry list)
                    return "deferred"
                return "skipped"
            held = True
            link = outcome.link
            if link is None or link.issue_id is None or link.state not in ("linked", "blocked"):
                return "skipped"
            run = _Run(code, token, link)
            return self._sync(
                run, summary, read_intigriti, read_jira, intigriti_version, jira_version
            )
        except CredentialError:
            raise
        except StoreError as exc:
            log.error("conversation_store_error", submission=code, error=str(exc))
            summary.failures[code] = f"conversation: {exc}"
            return "failed"
        finally:
            if held:
                try:
                    self.repository.release_claim(code, token)
                except StoreError as exc:
                    log.warning("claim_release_failed", submission=code, error=str(exc))

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
        want_messages = (self.options.to_jira and read_intigriti) or any(
            c.origin == "jira" for c in pending
        )
        want_comments = (self.options.to_intigriti and read_jira) or any(
            c.origin == "intigriti" for c in pending
        )
        since = self._since(mark.messages_since if mark else None, pending)
        messages = self._read_messages(code, since, summary) if want_messages else None
        comments = self._read_comments(run.link, summary) if want_comments else None
        now = self.clock()
        plan = plan_conversation(messages, comments, copies, self.options, now)
        unsent_from: datetime | None = None
        for action in plan.actions:
            try:
                match action:
                    case ConfirmCopy(ref=ref, copy_id=copy_id):
                        self.ledger.copy_sent(ref, copy_id)
                        log.info("conversation_copy_found", submission=code, ref=ref)
                    case AwaitCopy(ref=ref, origin=origin):
                        run.stop(origin)
                        log.info("conversation_copy_unsettled", submission=code, ref=ref)
                    case CopyToJira() if not run.is_stopped("intigriti"):
                        self._copy_to_jira(run, action, summary)
                    case CopyToIntigriti() if not run.is_stopped("jira"):
                        self._copy_to_intigriti(run, action, summary)
            except _Stop:
                pass
            if isinstance(action, CopyToJira) and run.is_stopped("intigriti"):
                unsent_from = _earliest(unsent_from, action.message.created_at)
        failed = code in summary.failures
        # the marks move only over what is fully handled (read, and every copy landed)
        messages_done = messages is not None and not run.is_stopped("intigriti")
        comments_done = comments is not None and not run.is_stopped("jira")
        self.ledger.advance(
            code,
            intigriti_seen_at=intigriti_version if messages_done else None,
            jira_seen_at=jira_version if comments_done else None,
            messages_since=unsent_from or (plan.handled_until if messages is not None else None),
        )
        if failed:
            return "failed"
        if run.stopped:
            return "pending"
        return "changed" if run.wrote else "converged"

    def _since(
        self, messages_since: datetime | None, pending: list[CopyRecord]
    ) -> datetime | None:
        """Where the events read starts: the link's mark, or earlier when a copy sent to
        Intigriti must be found; the overlap covers the two clocks' skew."""
        if messages_since is None or any(c.origin == "intigriti" for c in pending):
            # never read, or a message whose copy must be resent may lie before the mark
            return None
        starts = [messages_since]
        starts += [c.attempted_at for c in pending if c.origin == "jira" and c.attempted_at]
        return min(starts) - self.overlap

    def _read_messages(
        self, code: str, since: datetime | None, summary: Summary
    ) -> list[Message] | None:
        try:
            return self.intigriti.messages(code, since)
        except CredentialError:
            raise
        except RemoteError as exc:
            # never infer from a failed read: nothing is copied from or to this side
            log.warning(
                "conversation_read_failed", submission=code, side="intigriti", error=str(exc)
            )
            summary.failures[code] = f"conversation: reading messages failed: {exc}"
            return None

    def _read_comments(self, link: LinkRecord, summary: Summary) -> list[Comment] | None:
        assert link.issue_id is not None
        try:
            return self.jira.comments(link.issue_id)
        except CredentialError:
            raise
        except RemoteError as exc:
            log.warning(
                "conversation_read_failed",
                submission=link.submission_code,
                side="jira",
                error=str(exc),
            )
            summary.failures[link.submission_code] = (
                f"conversation: reading comments failed: {exc}"
            )
            return None

    def _before_write(self, run: _Run, origin: str) -> None:
        if not self.may_write() or not self.repository.holds_claim(run.code, run.token):
            log.warning("claim_lost", submission=run.code)
            run.stop(origin)
            raise _Stop

    def _begin(
        self, run: _Run, origin: Origin, source_id: str, audience: Audience, resend: str | None
    ) -> str:
        now = self.clock()
        if resend is not None:
            self.ledger.attempt_again(resend, now)
            return resend
        ref = new_ref()
        try:
            self.ledger.begin_copy(run.code, origin, source_id, audience, ref, now)
        except StoreConflict:
            # recorded already (by a run that read the ledger before us): not ours to send
            run.stop(origin)
            raise _Stop from None
        return ref

    def _copy_to_jira(self, run: _Run, action: CopyToJira, summary: Summary) -> None:
        issue_id = run.link.issue_id
        assert issue_id is not None
        self._before_write(run, "intigriti")
        ref = self._begin(run, "intigriti", action.message.key, action.audience, action.resend_ref)
        body = jira_comment_body(action.message, ref, self.escape)
        visibility = self.visibility if action.audience == "restricted" else None
        try:
            comment = self.jira.post_comment(issue_id, body, visibility)
        except CredentialError:
            raise
        except RemoteError as exc:
            self._send_failed(run, "intigriti", ref, exc, summary)
        self.ledger.copy_sent(ref, comment.id)
        run.wrote += 1
        summary.count_write("conversation", "to_jira")
        log.info(
            "conversation_copied",
            submission=run.code,
            direction="to_jira",
            audience=action.audience,
            comment=comment.id,
            ref=ref,
        )

    def _copy_to_intigriti(self, run: _Run, action: CopyToIntigriti, summary: Summary) -> None:
        issue_id = run.link.issue_id
        assert issue_id is not None
        comment = action.comment
        if action.needs_recheck:
            # the researcher will read it: the comment's audience as it is right now
            try:
                comment = self.jira.get_comment(issue_id, comment.id)
            except NotFound:
                return  # deleted meanwhile: nothing to send
            except CredentialError:
                raise
            except RemoteError as exc:
                self._send_failed(run, "jira", None, exc, summary)
            if not wants_external(comment, self.options.marker):
                log.info(
                    "conversation_external_withdrawn", submission=run.code, comment=comment.id
                )
                return  # planned again from the next read
        self._before_write(run, "jira")
        ref = self._begin(run, "jira", comment.id, action.audience, action.resend_ref)
        key = run.link.issue_key or issue_id
        text = intigriti_text(comment, action.audience, key, ref, self.options.marker)
        try:
            if action.audience == "external":
                message_id = self.intigriti.message_researcher(run.code, text)
            else:
                message_id = self.intigriti.add_internal_note(run.code, text)
        except CredentialError:
            raise
        except RemoteError as exc:
            self._send_failed(run, "jira", ref, exc, summary)
        self.ledger.copy_sent(ref, message_id)
        run.wrote += 1
        summary.count_write("conversation", "to_intigriti")
        log.info(
            "conversation_copied",
            submission=run.code,
            direction="to_intigriti",
            audience=action.audience,
            comment=comment.id,
            ref=ref,
        )

    def _send_failed(
        self, run: _Run, origin: str, ref: str | None, exc: RemoteError, summary: Summary
    ) -> NoReturn:
        """The direction stops; the row stays ``sending``, so the next run looks for the
        copy by its ref (a lost answer) before it sends again after the settle time."""
        run.stop(origin)
        ambiguous = isinstance(exc, AmbiguousWrite)
        log.warning(
            "conversation_copy_failed",
            submission=run.code,
            ref=ref,
            ambiguous=ambiguous,
            error=str(exc),
            error_type=type(exc).__name__,
        )
        if not ambiguous:
            summary.failures[run.code] = f"conversation: {type(exc).__name__}: {exc}"
        raise _Stop


def _earliest(a: datetime | None, b: datetime) -> datetime:
    return b if a is None else min(a, b)
