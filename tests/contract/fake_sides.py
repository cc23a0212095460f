"""In-memory Intigriti and Jira that honour the adapters' contracts (syncd/sync/ports.py).

For model tests of the sync core that need thousands of steps: no HTTP, but the same
promises the real adapters make (direct reads are current, writes raise only
``syncd.errors``, a create either happens or raises ``AmbiguousWrite`` after happening).
Faults are armed per side: the next write fails transiently, or commits and loses its
answer, or the process dies (``Crash``) before or after the write takes effect.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from syncd.errors import AmbiguousWrite, NotFound, TransientError
from syncd.records import Issue, IssueBatch, NewIssue, Submission, SubmissionBatch
from syncd.sync.ports import BatchListing

Fault = Literal["transient", "ambiguous", "crash_before", "crash_after"]
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Crash(BaseException):
    """The syncd process dies here: nothing after this point of it runs."""


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 1.0) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@dataclass
class Faults:
    """Faults armed for the next writes of one side, in order."""

    queue: list[Fault] = field(default_factory=list)
    crashed: bool = False

    def before(self) -> Fault | None:
        if self.crashed:
            raise Crash("the process is dead")
        if not self.queue:
            return None
        fault = self.queue.pop(0)
        if fault == "transient":
            raise TransientError("503 Service Unavailable (injected)", system="fake")
        if fault == "crash_before":
            self.crashed = True
            raise Crash("killed before the write")
        return fault

    def after(self, fault: Fault | None) -> None:
        if fault == "ambiguous":
            raise AmbiguousWrite("connection dropped after sending (injected)", system="fake")
        if fault == "crash_after":
            self.crashed = True
            raise Crash("killed after the write took effect")


class FakeIntigriti:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.submissions: dict[str, Submission] = {}
        self.faults = Faults()
        self.writes = 0
        self._codes = itertools.count(1)

    def add(self, status: str, severity: str, close_reason: str | None = None) -> str:
        code = f"ACME-{next(self._codes)}"
        now = self.clock.tick()
        self.submissions[code] = Submission(
            code=code,
            program_id="prog",
            title=f"finding {code}",
            status=status,
            close_reason=close_reason,
            severity=severity,
            cvss_vector=None,
            cvss_score=None,
            internal_reference=None,
            internal_reference_url=None,
            created_at=now,
            updated_at=now,
        )
        return code

    def human_edit(self, code: str, **changes: object) -> None:
        self.submissions[code] = replace(
            self.submissions[code], updated_at=self.clock.tick(), **changes
        )

    # -- IntigritiSide -------------------------------------------------------------------

    def list_programs(self) -> list[object]:
        return []

    def changed_submissions(self, since: datetime | None) -> SubmissionBatch:
        if self.faults.crashed:
            raise Crash("the process is dead")
        found = tuple(
            s for s in self.submissions.values() if since is None or s.updated_at >= since
        )
        return SubmissionBatch(found, server_time=self.clock())

    def all_submissions(self) -> BatchListing:
        return BatchListing(self.changed_submissions(None))

    def get_submission(self, code: str) -> Submission:
        if self.faults.crashed:
            raise Crash("the process is dead")
        if code not in self.submissions:
            raise NotFound(f"no submission {code}", system="fake")
        return self.submissions[code]

    def _write(self, code: str, **changes: object) -> None:
        fault = self.faults.before()
        self.writes += 1
        self.submissions[code] = replace(
            self.submissions[code], updated_at=self.clock.tick(), **changes
        )
        self.faults.after(fault)

    def set_severity(self, code: str, severity: str, vector: str | None) -> None:
        self._write(code, severity=severity)

    def move_to_status(self, submission: Submission, status: str, close_reason: str | None) -> None:
        self._write(submission.code, status=status, close_reason=close_reason)

    def set_internal_reference(self, code: str, reference: str | None, url: str | None) -> None:
        self._write(code, internal_reference=reference, internal_reference_url=url)


class FakeJira:
    STATUSES = ("To Do", "In Progress", "In Review", "Done", "Won't Do", "Duplicate")

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.issues: dict[str, Issue] = {}
        self.faults = Faults()
        self.writes = 0
        self._ids = itertools.count(10001)

    def tagged(self, code: str) -> list[Issue]:
        return [i for i in self.issues.values() if i.submission_code == code]

    def human_edit(self, issue_id: str, **changes: object) -> None:
        self.issues[issue_id] = replace(
            self.issues[issue_id], updated_at=self.clock.tick(), **changes
        )

    def _alive(self) -> None:
        if self.faults.crashed:
            raise Crash("the process is dead")

    # -- JiraSide ------------------------------------------------------------------------

    def changed_issues(self, since: datetime | None) -> IssueBatch:
        self._alive()
        found = tuple(
            i for i in self.issues.values() if since is None or i.updated_at >= since
        )
        return IssueBatch(found, server_time=self.clock())

    def tagged_issues(self, codes: Sequence[str]) -> IssueBatch:
        self._alive()
        wanted = {code.casefold() for code in codes}
        found = tuple(
            i
            for i in self.issues.values()
            if i.submission_code is not None and i.submission_code.casefold() in wanted
        )
        return IssueBatch(found, server_time=self.clock())

    def get_issue(self, issue_id: str) -> Issue:
        self._alive()
        for issue in self.issues.values():
            if issue_id in (issue.id, issue.key):
                return issue
        raise NotFound(f"no issue {issue_id}", system="fake")

    def find_by_submission(self, code: str) -> Issue | None:
        self._alive()
        tagged = sorted(self.tagged(code), key=lambda i: int(i.id))
        return tagged[0] if tagged else None

    def create_issue(
        self, new: NewIssue, *, before_send: Callable[[], None] | None = None
    ) -> Issue:
        fault = self.faults.before()
        if before_send is not None:
            before_send()
        self.writes += 1
        number = next(self._ids)
        issue = Issue(
            id=str(number),
            key=f"{new.project}-{number - 10000}",
            project=new.project,
            status="To Do",
            priority=new.priority,
            resolution=None,
            updated_at=self.clock.tick(),
            submission_code=new.submission_code,
        )
        self.issues[issue.id] = issue
        self.faults.after(fault)
        return issue

    def _write(self, issue_id: str, **changes: object) -> None:
        fault = self.faults.before()
        self.writes += 1
        self.issues[issue_id] = replace(
            self.issues[issue_id], updated_at=self.clock.tick(), **changes
        )
        self.faults.after(fault)

    def set_priority(self, issue_id: str, priority: str, cvss: str | None) -> None:
        self._write(issue_id, priority=priority)

    def transition_to(self, issue_id: str, status: str, resolution: str | None) -> None:
        if self.issues[issue_id].status == status:
            return  # the contract: a no-op when already there
        self._write(issue_id, status=status, resolution=resolution)

    def browse_url(self, key: str) -> str:
        return f"https://jira.example/browse/{key}"
