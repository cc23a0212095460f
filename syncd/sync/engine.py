"""Cycles: the full reconcile pass and the two incremental polls.

* ``full_pass``: read every submission (one Intigriti request), then sync them a chunk
  at a time, each chunk with the issues tagged with its codes (one Jira search per chunk,
  see ``syncd.sync.sweep_issues``). Runs at backfill priority, so live polls running
  beside it get the quota first.
* ``poll_intigriti``: one ``UpdatedSince`` request from the watermark minus the overlap;
  a submission whose version was already reconciled costs nothing more; a changed one
  costs one direct GET of its issue.
* ``poll_jira``: one search from the watermark minus the overlap; a changed issue costs
  one GET of its submission.

While a sweep runs (the daemon starts with one), the polls keep going beside it: a poll
leaves the creation of submissions the sweep listed to the sweep, handles changes of linked
submissions before creating anything, and with no watermark yet starts from the sweep's
own read instead of listing everything again. So a live edit never waits for a backfill.

A side that failed to answer causes no writes to the other side: the cycle records the
error and ends. Watermarks move forward only, and only to timestamps the server gave.

Polls and sweeps, in this process or in others on the same database, never work on one
submission at once: the executor claims each link before writing (see
``syncd.sync.executor``). An item another process holds is *deferred*: the daemon's next
poll tries it again with fresh reads; the one-shot pass retries its deferred items at the
end for up to ``EngineOptions.deferred_wait``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import structlog

from syncd.errors import CredentialError, NotFound, RemoteError
from syncd.memory import release_memory
from syncd.quota import Priority, priority
from syncd.records import Issue, IssueBatch, ItemFailure, Submission, SubmissionBatch
from syncd.store.conversation import ConversationMark
from syncd.store.repository import LinkRecord, Repository
from syncd.sync.agreement import issue_agrees, nothing_to_do, submission_agrees
from syncd.sync.conversation_runner import ConversationRunner
from syncd.sync.executor import Executor, SeenMarks, Summary, link_view
from syncd.sync.ports import IntigritiSide, JiraSide, SubmissionListing
from syncd.sync.sweep_issues import IssueIndex, SweepIssues
from syncd.sync.watermark import WatermarkItems, advance, clock_went_back, trusted_seen

log = structlog.get_logger(__name__)

Progress = Callable[[int, int, str], None]
BatchT = TypeVar("BatchT", SubmissionBatch, IssueBatch)


#: submissions (and their link rows) reconciled per step of a sweep: what it holds at once
SWEEP_CHUNK = 500
#: a sweep over this many submissions gives its freed heap back to the system afterwards
#: (a full garbage collection: worth it after a large sweep, not after every small one)
RELEASE_MEMORY_AFTER = 5000


@dataclass(frozen=True)
class _Sweep:
    """What a running sweep has taken on: the submissions it listed, and when."""

    codes: frozenset[str]
    read_at: datetime


class ReadBook:
    """When each side's last cycle read it successfully, or failed to, in this process.

    Readiness asks it ("a successful cycle on each side within 3 poll intervals"); the
    database's cursors say the same across processes, but a restarted daemon must not
    look ready on the strength of its predecessor's cycles.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._success: dict[str, float] = {}
        self._failure: dict[str, float] = {}

    def succeeded(self, source: str) -> None:
        with self._lock:
            self._success[source] = self._clock()

    def failed(self, source: str) -> None:
        with self._lock:
            self._failure[source] = self._clock()

    def last_success(self, source: str) -> float | None:
        """Seconds since the epoch, or None before the first success."""
        with self._lock:
            return self._success.get(source)

    def last_failure(self, source: str) -> float | None:
        with self._lock:
            return self._failure.get(source)


@dataclass(frozen=True)
class EngineOptions:
    overlap: timedelta = timedelta(seconds=120)
    #: links that failed this many times in a row are left to the full sweep
    max_attempts: int = 5
    #: the one-shot pass: how long to keep retrying items another process holds before
    #: reporting them (0: leave them to the next poll, as the daemon does)
    deferred_wait: timedelta = timedelta(0)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Engine:
    def __init__(
        self,
        repository: Repository,
        intigriti: IntigritiSide,
        jira: JiraSide,
        executor: Executor,
        *,
        options: EngineOptions = EngineOptions(),
        stats: Callable[[], dict[str, Any]] = dict,
        should_stop: Callable[[], bool] = lambda: False,
        conversation: ConversationRunner | None = None,
    ) -> None:
        self.repository = repository
        self.intigriti = intigriti
        self.jira = jira
        self.executor = executor
        self.options = options
        self._stats = stats
        self._should_stop = should_stop
        #: when each side's reads last worked, for readiness and metrics
        self.reads = ReadBook()
        #: items a cycle found held by another claim: the next Intigriti poll retries them
        self._deferred: set[str] = set()
        self._deferred_lock = threading.Lock()
        self._future_logged: set[str] = set()
        #: the sweep under way in this process, if any (polls run beside it)
        self._sweep: _Sweep | None = None
        self._mapping = executor.mapping
        self._dry_run = executor.options.dry_run
        #: messages <-> comments, when turned on (and never in a dry run)
        self.conversation = None if self._dry_run else conversation
        #: links whose conversation could not be finished: the next poll tries again
        self._conversation_retry: set[str] = set()

    # -- shared steps -------------------------------------------------------------------

    def _park(self, failures: Iterable[ItemFailure], summary: Summary) -> None:
        for failure in failures:
            reason = f"field {failure.field!r}: {failure.message}"
            if self._dry_run:
                summary.plan_lines.append(f"{failure.item}  parked: {reason}")
                summary.outcomes["parked"] += 1
                continue
            link = self.repository.get_link(failure.item)
            program = link.program_id if link is not None else ""
            if not self.repository.park(
                failure.item, program, reason, self.executor.claims, utcnow()
            ):
                continue  # another process holds it right now; the next cycle looks again
            summary.outcomes["parked"] += 1
            summary.failures[failure.item] = f"parked: {reason}"
            log.warning("submission_parked", submission=failure.item, reason=reason)

    def _remember_deferred(self, summary: Summary) -> None:
        if summary.deferred:
            with self._deferred_lock:
                self._deferred.update(summary.deferred)

    def _take_deferred(self) -> list[str]:
        with self._deferred_lock:
            codes = sorted(self._deferred)
            self._deferred.clear()
        return codes

    def _agrees_with_bases(
        self, link: LinkRecord, *, submission: Submission | None = None, issue: Issue | None = None
    ) -> bool:
        """Whether one side says nothing new: every synced field equals the link's base.

        Then the other side need not be read: a change there is found by that side's own
        poll. The echo of syncd's own writes lands here, and costs no further request.
        """
        if submission is not None:
            return submission_agrees(link_view(link), submission, self._mapping)
        if issue is not None:
            return issue_agrees(link_view(link), issue, self._mapping)
        return False

    def _issue_for(self, link: LinkRecord) -> Issue | None:
        """The link's issue by a direct (strongly consistent) GET; None if unreadable."""
        if link.issue_id is None:
            return None
        try:
            return self.jira.get_issue(link.issue_id)
        except NotFound:
            log.warning("issue_missing", submission=link.submission_code, issue=link.issue_key)
            if self._dry_run:
                return None
            self.repository.record_failure(
                link.submission_code, f"Jira issue {link.issue_key} not found (deleted?)"
            )
            return None
        except CredentialError:
            raise
        except RemoteError as exc:
            log.warning("issue_read_failed", submission=link.submission_code, error=str(exc))
            if not self._dry_run:
                # counted as a failure, so the next polls retry it (not only the sweep)
                self.repository.record_failure(
                    link.submission_code, f"reading the Jira issue failed: {exc}"
                )
            return None

    def _record(
        self,
        source: str,
        summary: Summary,
        items: Iterable[tuple[str, datetime]] = (),
        *,
        read_at: datetime | None = None,
        follow_clock: bool = False,
    ) -> None:
        """Record a successful cycle of ``source``, its watermark moved by ``items``
        (key, updated) as seen by a read at ``read_at`` (None: no watermark to move)."""
        if self._dry_run:
            return
        watermark: datetime | None = None
        backwards = False
        future: tuple[tuple[str, datetime], ...] = ()
        if read_at is not None:
            current = self.repository.cursor(source).watermark
            moved = advance(current, items, read_at, follow_clock=follow_clock)
            watermark, backwards, future = moved.watermark, moved.clock_went_back, moved.future
            if backwards:
                log.warning(
                    "watermark_reset",
                    source=source,
                    stored=current.isoformat() if current else None,
                    server_time=read_at.isoformat(),
                    reason="the server's clock is earlier than the stored watermark",
                )
            self._report_future(source, future, read_at)
        stats = {"summary": summary.as_dict(), **self._stats()}
        if read_at is not None:
            stats["future_timestamps"] = {
                "count": len(future),
                "items": sorted(key for key, _ in future)[:20],
            }
        self.repository.cycle_succeeded(
            source, watermark=watermark, stats=stats, allow_backwards=backwards
        )
        self.reads.succeeded(source)

    def _report_future(
        self, source: str, future: tuple[tuple[str, datetime], ...], read_at: datetime
    ) -> None:
        """Log each item dated after the read once (per process), as a warning."""
        for key, updated in future:
            mark = f"{source}:{key}:{updated.isoformat()}"
            if mark in self._future_logged:
                continue
            self._future_logged.add(mark)
            log.warning(
                "future_timestamp",
                source=source,
                item=key,
                updated=updated.isoformat(),
                server_time=read_at.isoformat(),
                effect="synced, but does not move the watermark",
            )

    def _read_failed(self, source: str, exc: RemoteError) -> None:
        log.warning("read_failed", source=source, error=str(exc), error_type=type(exc).__name__)
        self.reads.failed(source)
        if self._dry_run:
            return
        self.repository.cycle_failed(source, f"{type(exc).__name__}: {exc}")

    # -- full pass --------------------------------------------------------------------

    def full_pass(self, progress: Progress | None = None) -> Summary:
        """Backfill and reconcile everything: every submission (one Intigriti request,
        read as a stream), a chunk of submissions at a time with their link rows and
        the issues tagged with them (one Jira search per chunk)."""
        summary = Summary()
        if self.conversation is not None:
            # before the first link of this pass is made: links made from now on get
            # their whole conversation (see _sweep_conversation)
            self.conversation.enabled_since()
            # copies whose send may have arrived (a process killed mid-copy): settled
            # by this pass or the next polls, not left to the link's next change
            with self._deferred_lock:
                self._conversation_retry.update(self.conversation.ledger.waiting_codes())
        with priority(Priority.BACKFILL):
            read_at = utcnow()
            try:
                listing = self.intigriti.all_submissions()
            except CredentialError:
                raise
            except RemoteError as exc:
                self._read_failed("intigriti", exc)
                summary.failures["*intigriti*"] = str(exc)
                summary.outcomes["failed"] += 1
                return summary
            with contextlib.closing(listing):

                def jira_failed(exc: RemoteError) -> None:
                    self._read_failed("jira", exc)
                    # the pass cannot vouch for anything it could not compare
                    summary.failures["*jira*"] = f"Jira search failed: {exc}"
                    summary.outcomes["failed"] += 1

                jira = SweepIssues(self.jira, utcnow(), jira_failed)
                self._sweep = _Sweep(listing.codes, listing.server_time or read_at)
                try:
                    self._sweep_items(listing, jira, summary, read_at, progress)
                finally:
                    self._sweep = None
            listed = listing.count
            del listing, jira
        if listed >= RELEASE_MEMORY_AFTER:
            # the daemon idles for hours after a large sweep: not at the sweep's peak RSS
            release_memory()
        return summary

    def _sweep_items(
        self,
        listing: SubmissionListing,
        jira: SweepIssues,
        summary: Summary,
        read_at: datetime,
        progress: Progress | None,
    ) -> None:
        intigriti_read_at = listing.server_time or read_at
        listed = WatermarkItems(intigriti_read_at)
        #: the submissions whose items were deferred, to retry them with their snapshot
        deferred: dict[str, Submission] = {}
        seen = SeenMarks(self.repository)
        done = 0
        listed_so_far = 0
        try:
            for chunk in listing.chunks(SWEEP_CHUNK):
                # items of other programs and unparsable ones count as done too, so the
                # progress reaches the listing's total
                listed_so_far = min(listed_so_far + SWEEP_CHUNK, listing.count)
                if self._should_stop():
                    break
                self._park(chunk.failures, summary)
                codes = [s.code for s in chunk.submissions]
                # Jira first, then the link rows, in the order the whole search had
                index = jira.chunk(codes)
                links = self.repository.links(codes)
                talks = self._conversation_marks(links)
                for submission in chunk.submissions:
                    if self._should_stop():
                        break
                    listed.add(submission.code, submission.updated_at)
                    issue = self._sweep_one(submission, links, index, jira.ok, summary, seen)
                    self._sweep_conversation(submission, issue, links, talks, summary)
                    if submission.code in summary.deferred:
                        deferred[submission.code] = submission
                    done += 1
                    if progress is not None:
                        progress(done, listing.count, submission.code)
                if progress is not None and done < listed_so_far and not self._should_stop():
                    done = listed_so_far
                    progress(done, listing.count, "")
        finally:
            if not self._dry_run:
                seen.flush()
        if jira.ok and not self._should_stop():
            self._report_duplicates(jira.duplicates, summary)
        self._retry_deferred(summary, deferred)
        self._finish_conversations(summary)
        if not self._should_stop():
            self._record("intigriti", summary, listed, read_at=intigriti_read_at)
            if jira.ok:
                items = jira.watermark_items()
                if items is None:
                    # nothing listed, so nothing searched: no server time to move it to
                    self._record("jira", summary)
                else:
                    self._record("jira", summary, items, read_at=jira.read_at, follow_clock=True)
            self._record("sweep", summary)

    def _sweep_one(
        self,
        submission: Submission,
        links: dict[str, LinkRecord],
        index: IssueIndex,
        jira_ok: bool,
        summary: Summary,
        seen: SeenMarks,
    ) -> Issue | None:
        """Sync one listed submission's fields; the issue it was compared with."""
        link = links.get(submission.code)
        issue: Issue | None
        if link is not None and link.issue_id is not None:
            issue = index.by_id.get(link.issue_id)
            if issue is None and jira_ok:
                # moved out of the search's reach, or search lag: read it directly
                issue = self._issue_for(link)
        elif jira_ok:
            issue = index.first_tagged(submission.code)
        else:
            issue = None
        if not jira_ok and (link is None or link.state == "creating"):
            # never create while Jira cannot be searched: the issue may exist
            summary.outcomes["skipped"] += 1
            return None
        if (
            link is not None
            and issue is not None
            and not link.attempts
            and link.unmapped is None
            and nothing_to_do(link_view(link), submission, issue, self._mapping)
        ):
            # the common case of a sweep: both sides as last agreed, so no plan to build
            self.executor.converged(link, submission, issue, summary, seen)
            return issue
        self.executor.sync(submission.code, submission, issue, summary, links=links, seen=seen)
        return issue

    def _conversation_marks(self, links: Mapping[str, LinkRecord]) -> dict[str, ConversationMark]:
        if self.conversation is None:
            return {}
        return self.conversation.ledger.marks(sorted(links))

    def _sweep_conversation(
        self,
        submission: Submission,
        issue: Issue | None,
        links: Mapping[str, LinkRecord],
        marks: Mapping[str, ConversationMark],
        summary: Summary,
    ) -> None:
        """The sweep brings over the conversation of an issue it just created, and
        catches up any link whose conversation fell behind (a missed poll). A link whose
        conversation was never synced is left to its next change: reading every link's
        conversation on each sweep would cost two reads per link."""
        runner = self.conversation
        if runner is None:
            return
        code = submission.code
        before = links.get(code)
        mark = marks.get(code)
        # a link syncd made while the conversation sync was on gets its history even when
        # the process that made it died before copying (mark None: never synced)
        created = (
            before is None
            or before.state == "creating"
            or (mark is None and before.created_at >= runner.enabled_since())
        )
        options = runner.options
        behind = mark is not None and (
            (options.to_jira and _newer_than(submission.updated_at, mark.intigriti_seen_at))
            or (
                options.to_intigriti
                and issue is not None
                and _newer_than(issue.updated_at, mark.jira_seen_at)
            )
        )
        if not (created or behind) or code in summary.failures:
            return
        # an issue this pass just made has no comments to read yet
        just_made = before is None and issue is None
        outcome = runner.sync(
            code,
            summary,
            read_jira=not just_made,
            intigriti_version=submission.updated_at,
            jira_version=issue.updated_at if issue is not None and not created else None,
        )
        if outcome in ("failed", "deferred", "pending"):
            with self._deferred_lock:
                self._conversation_retry.add(code)

    def _report_duplicates(self, by_code: dict[str, list[Issue]], summary: Summary) -> None:
        """Several issues tagged with one submission: never silent, never deleted."""
        found: dict[str, list[str]] = {}
        for tagged in by_code.values():
            if len(tagged) > 1:
                code = tagged[0].submission_code or ""
                found[code] = [issue.key for issue in tagged]
                log.warning("duplicate_issues", submission=code, issues=found[code])
        summary.duplicates.update(found)
        if not self._dry_run:
            self.repository.record_duplicate_tags(found, utcnow())

    def _retry_deferred(self, summary: Summary, snapshots: dict[str, Submission]) -> None:
        """Items another process held: the one-shot waits for them; the daemon hands
        them to its next poll."""
        wait = self.options.deferred_wait
        deadline = time.monotonic() + wait.total_seconds()
        while summary.deferred and time.monotonic() < deadline and not self._should_stop():
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            for code in sorted(summary.deferred):
                if self._should_stop():
                    break
                summary.undefer(code)
                self.executor.refresh(code, summary, submission=snapshots.get(code))
        if summary.deferred:
            log.info("items_deferred", count=len(summary.deferred))
            self._remember_deferred(summary)

    # -- incremental polls ------------------------------------------------------------

    def _since(self, source: str) -> datetime | None:
        watermark = self.repository.cursor(source).watermark
        sweep = self._sweep
        if watermark is None and source == "intigriti" and sweep is not None:
            # a first start: the sweep's own read covers everything older; listing it all
            # again here would make this poll a second sweep
            watermark = sweep.read_at
        return watermark - self.options.overlap if watermark is not None else None

    def _read_changes(
        self, source: str, read: Callable[[datetime | None], BatchT]
    ) -> tuple[BatchT, datetime]:
        """One change query from the watermark; asked again at once, from the server's
        own "now", when its clock turns out to be behind the watermark (it went back):
        the first answer then missed what changed since the jump."""
        since = self._since(source)
        local_read_at = utcnow()
        batch = read(since)
        read_at = batch.server_time or local_read_at
        if since is not None and clock_went_back(since + self.options.overlap, read_at):
            log.warning(
                "clock_went_back",
                source=source,
                watermark=(since + self.options.overlap).isoformat(),
                server_time=read_at.isoformat(),
                action="asking again from the server's time",
            )
            local_read_at = utcnow()
            batch = read(read_at - self.options.overlap)
            read_at = batch.server_time or local_read_at
        return batch, read_at

    def poll_intigriti(self) -> Summary:
        summary = Summary()
        try:
            batch, read_at = self._read_changes("intigriti", self.intigriti.changed_submissions)
        except CredentialError:
            raise
        except RemoteError as exc:
            self._read_failed("intigriti", exc)
            return summary
        self._park(batch.failures, summary)
        links = self.repository.links([s.code for s in batch.submissions])
        talks = self._conversations_due(
            ((s.code, s.updated_at) for s in batch.submissions), links, side="intigriti"
        )
        sweep = self._sweep
        creations: list[Submission] = []
        for submission in batch.submissions:
            if self._should_stop():
                return summary
            link = links.get(submission.code)
            if link is None:
                if not self._mapping.should_create(submission.status):
                    continue
                if sweep is not None and submission.code in sweep.codes:
                    continue  # the running sweep creates it (the poll would trail it)
                creations.append(submission)  # after the changes of linked submissions
                continue
            if link is not None:
                if link.attempts >= self.options.max_attempts:
                    continue  # left to the full sweep
                seen = trusted_seen(link.intigriti_seen_at, read_at)
                if (
                    link.state in ("linked", "blocked")
                    and seen is not None
                    and submission.updated_at <= seen
                ):
                    continue  # this version was reconciled already
                if self._agrees_with_bases(link, submission=submission):
                    continue  # nothing new from Intigriti
                if link.issue_id is not None:
                    # something changed: claim, read both sides directly, then decide
                    self.executor.refresh(submission.code, summary)
                    continue
            self.executor.sync(submission.code, submission, None, summary, links=links)
        for submission in creations:
            if self._should_stop():
                return summary
            self.executor.sync(submission.code, submission, None, summary, links=links)
        handled = {s.code for s in batch.submissions}
        self._retry_listed(self._take_deferred(), summary, skip=handled)
        self._retry_failing(summary, skip=handled | set(summary.deferred))
        self._talk(talks, summary, side="intigriti")
        self._remember_deferred(summary)
        self._record(
            "intigriti",
            summary,
            ((s.code, s.updated_at) for s in batch.submissions),
            read_at=read_at,
        )
        return summary

    def poll_jira(self) -> Summary:
        summary = Summary()
        try:
            batch, server_read_at = self._read_changes("jira", self.jira.changed_issues)
        except CredentialError:
            raise
        except RemoteError as exc:
            self._read_failed("jira", exc)
            return summary
        talks: dict[str, datetime] = {}
        for issue in batch.issues:
            if self._should_stop():
                return summary
            link = self.repository.link_by_issue_id(issue.id)
            code = link.submission_code if link is not None else issue.submission_code
            if code is None:
                continue
            if link is not None and self.conversation is not None:
                talks[code] = max(issue.updated_at, talks.get(code, issue.updated_at))
            if link is None:
                link = self.repository.get_link(code)
                if link is None or link.state != "creating":
                    continue  # not ours to link here; the sweep adopts tagged issues
            if link.attempts >= self.options.max_attempts:
                continue
            seen = trusted_seen(link.jira_seen_at, server_read_at)
            if (
                link.state in ("linked", "blocked")
                and seen is not None
                and issue.updated_at <= seen
            ):
                continue
            if self._agrees_with_bases(link, issue=issue):
                continue  # nothing new from Jira
            # the issue came from /search/jql, which lags: claim, then read both sides
            # directly (one read each) before deciding anything
            self.executor.refresh(code, summary)
        if talks:
            linked = self.repository.links(sorted(talks))
            self._talk(self._conversations_due(talks.items(), linked, side="jira"), summary, "jira")
        self._remember_deferred(summary)
        # Jira's change query pages through everything in its window, so the watermark
        # follows the clock even when nothing changed (an idle poll then finds nothing);
        # the overlap covers search lag and clock skew, the full sweep anything beyond
        self._record(
            "jira",
            summary,
            ((i.key, i.updated_at) for i in batch.issues),
            read_at=server_read_at,
            follow_clock=True,
        )
        return summary

    # -- conversation (messages <-> comments) -------------------------------------------

    def _conversations_due(
        self,
        versions: Iterable[tuple[str, datetime]],
        links: Mapping[str, LinkRecord],
        *,
        side: str,
    ) -> dict[str, tuple[datetime | None, bool]]:
        """The linked items whose conversation on ``side`` may hold something new: their
        version is newer than the link's conversation mark (a link never synced has
        none, and gets both sides read). code -> (version, read the other side too)."""
        runner = self.conversation
        if runner is None:
            return {}
        if not (runner.options.to_jira if side == "intigriti" else runner.options.to_intigriti):
            return {}  # nothing is copied from that side: its changes need no read
        runner.enabled_since()
        candidates = {
            code: updated
            for code, updated in versions
            if (link := links.get(code)) is not None
            and link.issue_id is not None
            and link.state in ("linked", "blocked")
        }
        marks = runner.ledger.marks(sorted(candidates))
        due: dict[str, tuple[datetime | None, bool]] = {}
        for code, updated in candidates.items():
            mark = marks.get(code)
            seen = None
            if mark is not None:
                seen = mark.intigriti_seen_at if side == "intigriti" else mark.jira_seen_at
            if seen is None or updated > seen:
                due[code] = (updated, mark is None)
        return due

    def _talk(
        self, due: dict[str, tuple[datetime | None, bool]], summary: Summary, side: str
    ) -> None:
        """Copy the new messages/comments of these links (after their field changes, so
        a live status move never waits behind a conversation)."""
        runner = self.conversation
        if runner is None:
            return
        retry = self._take_conversation_retry() if side == "intigriti" else set()
        for code in sorted(retry - set(due)):
            due[code] = (None, True)  # unfinished last time: both sides, no version
        for code, (version, both) in due.items():
            if self._should_stop():
                return
            outcome = runner.sync(
                code,
                summary,
                read_intigriti=side == "intigriti" or both,
                read_jira=side == "jira" or both,
                intigriti_version=version if side == "intigriti" else None,
                jira_version=version if side == "jira" else None,
            )
            if outcome in ("failed", "deferred", "pending"):
                # tried again at the next poll (a failed read costs one more look; a
                # refused copy is not retried, the ledger closed it)
                with self._deferred_lock:
                    self._conversation_retry.add(code)

    def _finish_conversations(self, summary: Summary) -> None:
        """The one-shot pass waits (``deferred_wait``) for conversations another process
        held or whose copy was still settling, looking again after growing pauses; what
        is still unfinished then counts as pending (exit 1). The daemon leaves them to
        its next poll."""
        runner = self.conversation
        wait = self.options.deferred_wait.total_seconds()
        if runner is None or wait <= 0:
            return
        deadline = time.monotonic() + wait
        pause = 1.0
        while time.monotonic() < deadline and not self._should_stop():
            with self._deferred_lock:
                if not self._conversation_retry:
                    return
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 30.0)
            for code in sorted(self._take_conversation_retry()):
                if runner.sync(code, summary) in ("deferred", "pending"):
                    with self._deferred_lock:
                        self._conversation_retry.add(code)
        with self._deferred_lock:
            unfinished = sorted(self._conversation_retry)
        if unfinished:
            summary.outcomes["pending"] += len(unfinished)
            log.info("conversations_unfinished", count=len(unfinished), items=unfinished[:20])

    def _take_conversation_retry(self) -> set[str]:
        with self._deferred_lock:
            codes = set(self._conversation_retry)
            self._conversation_retry.clear()
        return codes

    def _retry_listed(self, codes: Iterable[str], summary: Summary, skip: set[str]) -> None:
        for code in codes:
            if self._should_stop():
                return
            if code not in skip:
                self.executor.refresh(code, summary)

    def _retry_failing(self, summary: Summary, skip: set[str]) -> None:
        """Links that failed last time get another go (bounded by max_attempts)."""
        for link in self.repository.failing_links(limit=50, max_attempts=self.options.max_attempts):
            if self._should_stop():
                return
            code = link.submission_code
            if code in skip or link.attempts >= self.options.max_attempts:
                continue
            if link.state in ("parked", "blocked"):
                continue
            self.executor.refresh(code, summary)


def _newer_than(version: datetime, mark: datetime | None) -> bool:
    return mark is None or version > mark
