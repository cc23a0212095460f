"""Cycles: the full reconcile pass and the two incremental polls.

* ``full_pass``: read every submission (one Intigriti request) and every tagged issue (one
  paged Jira search), then sync each submission. Runs at backfill priority, so live polls
  running beside it get the quota first.
* ``poll_intigriti``: one ``UpdatedSince`` request from the watermark minus the overlap;
  a submission whose version was already reconciled costs nothing more; a changed one
  costs one direct GET of its issue.
* ``poll_jira``: one search from the watermark minus the overlap; a changed issue costs
  one GET of its submission.

A side that failed to answer causes no writes to the other side: the cycle records the
error and ends. Watermarks move forward only, and only to timestamps the server gave.
Per-submission locks keep a poll and a sweep from working on one submission at once.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from syncd.errors import CredentialError, ItemError, NotFound, RemoteError
from syncd.quota import Priority, priority
from syncd.records import Issue, ItemFailure, Submission
from syncd.store.repository import LinkRecord, Repository
from syncd.sync.executor import Executor, Summary
from syncd.sync.mapping import FIELDS, FieldName, canonical_issue_key, canonical_reference
from syncd.sync.ports import IntigritiSide, JiraSide

log = structlog.get_logger(__name__)

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class EngineOptions:
    overlap: timedelta = timedelta(seconds=120)
    #: links that failed this many times in a row are left to the full sweep
    max_attempts: int = 5


def utcnow() -> datetime:
    return datetime.now(UTC)


class _KeyedLocks:
    """One lock per submission code, created on demand."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)

    def __call__(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks[key]


def _max_time(values: Iterable[datetime], current: datetime | None) -> datetime | None:
    latest = current
    for value in values:
        if latest is None or value > latest:
            latest = value
    return latest


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
    ) -> None:
        self.repository = repository
        self.intigriti = intigriti
        self.jira = jira
        self.executor = executor
        self.options = options
        self._stats = stats
        self._should_stop = should_stop
        self._locks = _KeyedLocks()
        self._mapping = executor.mapping
        self._dry_run = executor.options.dry_run

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
            self.repository.park(failure.item, program, reason)
            summary.outcomes["parked"] += 1
            summary.failures[failure.item] = f"parked: {reason}"
            log.warning("submission_parked", submission=failure.item, reason=reason)

    def _sync_one(
        self,
        code: str,
        submission: Submission | None,
        issue: Issue | None,
        summary: Summary,
        read_at: datetime | None,
    ) -> None:
        with self._locks(code):
            self.executor.sync(code, submission, issue, summary, read_at=read_at)

    def _agrees_with_bases(
        self, link: LinkRecord, *, submission: Submission | None = None, issue: Issue | None = None
    ) -> bool:
        """Whether one side says nothing new: every synced field equals the link's base.

        Then the other side need not be read: a change there is found by that side's own
        poll. The echo of syncd's own writes lands here, and costs no further request.
        """
        if link.state != "linked":
            return False
        mapping = self._mapping
        values: dict[FieldName, str | None]
        if submission is not None:
            values = {
                "severity": mapping.canonical_severity_from_intigriti(submission.severity),
                "status": mapping.canonical_status_from_intigriti(
                    submission.status, submission.close_reason
                ),
                "internal_reference": canonical_reference(submission.internal_reference),
            }
        elif issue is not None:
            values = {
                "severity": mapping.canonical_severity_from_jira(issue.priority),
                "status": mapping.canonical_status_from_jira(issue.status),
                "internal_reference": canonical_issue_key(issue.key),
            }
        else:
            return False
        bases: dict[FieldName, str | None] = {
            "severity": link.base_severity,
            "status": link.base_status,
            "internal_reference": link.base_internal_reference,
        }
        return all(
            values[name] == bases[name] for name in FIELDS if mapping.rule(name).direction != "off"
        )

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

    def _record(self, source: str, summary: Summary, watermark: datetime | None) -> None:
        if self._dry_run:
            return
        stats = {"summary": summary.as_dict(), **self._stats()}
        self.repository.cycle_succeeded(source, watermark=watermark, stats=stats)

    def _read_failed(self, source: str, exc: RemoteError) -> None:
        log.warning("read_failed", source=source, error=str(exc), error_type=type(exc).__name__)
        if self._dry_run:
            return
        self.repository.cycle_failed(source, f"{type(exc).__name__}: {exc}")

    # -- full pass --------------------------------------------------------------------

    def full_pass(self, progress: Progress | None = None) -> Summary:
        """Backfill and reconcile everything. Reads both sides completely first."""
        summary = Summary()
        with priority(Priority.BACKFILL):
            read_at = utcnow()
            try:
                batch = self.intigriti.changed_submissions(None)
            except CredentialError:
                raise
            except RemoteError as exc:
                self._read_failed("intigriti", exc)
                summary.failures["*intigriti*"] = str(exc)
                summary.outcomes["failed"] += 1
                return summary
            try:
                issues = self.jira.changed_issues(None)
                jira_ok = True
            except CredentialError:
                raise
            except RemoteError as exc:
                self._read_failed("jira", exc)
                jira_ok = False
                issues = None
                # the pass cannot vouch for anything it could not compare
                summary.failures["*jira*"] = f"Jira search failed: {exc}"
                summary.outcomes["failed"] += 1
            self._park(batch.failures, summary)
            by_id: dict[str, Issue] = {}
            by_code: dict[str, Issue] = {}
            if issues is not None:
                for found in issues.issues:
                    by_id[found.id] = found
                    if found.submission_code:
                        by_code.setdefault(found.submission_code.casefold(), found)
            links = self.repository.links([s.code for s in batch.submissions])
            total = len(batch.submissions)
            for index, submission in enumerate(batch.submissions, start=1):
                if self._should_stop():
                    break
                link = links.get(submission.code)
                issue: Issue | None
                if link is not None and link.issue_id is not None:
                    issue = by_id.get(link.issue_id)
                    if issue is None and jira_ok:
                        # moved out of the search's reach, or search lag: read it directly
                        issue = self._issue_for(link)
                elif jira_ok:
                    issue = by_code.get(submission.code.casefold())
                else:
                    issue = None
                if not jira_ok and (link is None or link.state == "creating"):
                    # never create while Jira cannot be searched: the issue may exist
                    summary.outcomes["skipped"] += 1
                else:
                    self._sync_one(submission.code, submission, issue, summary, read_at)
                if progress is not None:
                    progress(index, total, submission.code)
            if not self._should_stop():
                watermark = _max_time((s.updated_at for s in batch.submissions), None)
                self._record("intigriti", summary, watermark)
                if issues is not None:
                    self._record(
                        "jira", summary, _max_time((i.updated_at for i in issues.issues), read_at)
                    )
                self._record("sweep", summary, None)
        return summary

    # -- incremental polls ------------------------------------------------------------

    def _since(self, source: str) -> datetime | None:
        watermark = self.repository.cursor(source).watermark
        return watermark - self.options.overlap if watermark is not None else None

    def poll_intigriti(self) -> Summary:
        summary = Summary()
        read_at = utcnow()
        try:
            batch = self.intigriti.changed_submissions(self._since("intigriti"))
        except CredentialError:
            raise
        except RemoteError as exc:
            self._read_failed("intigriti", exc)
            return summary
        self._park(batch.failures, summary)
        links = self.repository.links([s.code for s in batch.submissions])
        for submission in batch.submissions:
            if self._should_stop():
                return summary
            link = links.get(submission.code)
            if link is not None:
                if link.attempts >= self.options.max_attempts:
                    continue  # left to the full sweep
                seen = link.intigriti_seen_at
                if (
                    link.state in ("linked", "blocked")
                    and seen is not None
                    and submission.updated_at <= seen
                ):
                    continue  # this version was reconciled already
                if self._agrees_with_bases(link, submission=submission):
                    continue  # nothing new from Intigriti
                issue = self._issue_for(link) if link.issue_id else None
                if link.issue_id is not None and issue is None:
                    continue  # never infer from a failed read
            else:
                if not self._mapping.should_create(submission.status):
                    continue
                issue = None
            self._sync_one(submission.code, submission, issue, summary, read_at)
        self._retry_failing(summary, skip={s.code for s in batch.submissions})
        watermark = _max_time((s.updated_at for s in batch.submissions), None)
        self._record("intigriti", summary, watermark)
        return summary

    def poll_jira(self) -> Summary:
        summary = Summary()
        read_at = utcnow()
        try:
            batch = self.jira.changed_issues(self._since("jira"))
        except CredentialError:
            raise
        except RemoteError as exc:
            self._read_failed("jira", exc)
            return summary
        for issue in batch.issues:
            if self._should_stop():
                return summary
            link = self.repository.link_by_issue_id(issue.id)
            code = link.submission_code if link is not None else issue.submission_code
            if code is None:
                continue
            if link is None:
                link = self.repository.get_link(code)
                if link is None or link.state != "creating":
                    continue  # not ours to link here; the sweep adopts tagged issues
            if link.attempts >= self.options.max_attempts:
                continue
            seen = link.jira_seen_at
            if (
                link.state in ("linked", "blocked")
                and seen is not None
                and issue.updated_at <= seen
            ):
                continue
            if self._agrees_with_bases(link, issue=issue):
                continue  # nothing new from Jira
            submission = self._submission(code)
            if submission is None and link.state != "creating":
                continue
            # the issue came from /search/jql, which lags: a write based on it is preceded
            # by a direct read of both sides (read_at=None)
            self._sync_one(code, submission, issue, summary, None)
        # Jira's change query pages through everything in its window, so the watermark
        # follows the clock even when nothing changed (an idle poll then finds nothing);
        # the overlap covers search lag and clock skew, the full sweep anything beyond
        self._record("jira", summary, _max_time((i.updated_at for i in batch.issues), read_at))
        return summary

    def _submission(self, code: str) -> Submission | None:
        try:
            return self.intigriti.get_submission(code)
        except CredentialError:
            raise
        except RemoteError as exc:
            if isinstance(exc, ItemError) and not self._dry_run:
                self.repository.park(code, "", f"field {exc.field!r}: {exc}")
            elif not self._dry_run:
                self.repository.record_failure(code, f"reading the submission failed: {exc}")
            log.warning("submission_read_failed", submission=code, error=str(exc))
            return None

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
            submission = self._submission(code)
            if submission is None:
                continue
            issue = self._issue_for(link) if link.issue_id else None
            if link.issue_id is not None and issue is None:
                continue
            self._sync_one(code, submission, issue, summary, utcnow())
