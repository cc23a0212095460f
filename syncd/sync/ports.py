"""The two small interfaces the sync core needs from the outside world.

The core is written against these Protocols; ``syncd.intigriti`` and ``syncd.tracker``
implement them over real HTTP, and tests may pass fakes that honour the same contract.
Every method raises only ``syncd.errors`` exceptions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from syncd.records import Issue, IssueBatch, NewIssue, Program, Submission, SubmissionBatch


class IntigritiSide(Protocol):
    """What the sync core asks of Intigriti."""

    def list_programs(self) -> list[Program]:
        """Every program visible to the API user."""
        ...

    def changed_submissions(self, since: datetime | None) -> SubmissionBatch:
        """Submissions updated at or after ``since`` (all when None), in one request."""
        ...

    def get_submission(self, code: str) -> Submission:
        """The full submission, including the report. Raises ItemError when unparsable."""
        ...

    def set_severity(self, code: str, severity: str, vector: str | None) -> None:
        """Set the severity by name (``Low`` .. ``Exceptional``) and optional CVSS vector."""
        ...

    def move_to_status(self, submission: Submission, status: str, close_reason: str | None) -> None:
        """Move the submission to ``status`` (and close reason) with the needed triggers.

        Raises NotAllowed when Intigriti refuses the move from the current status.
        """
        ...

    def set_internal_reference(self, code: str, reference: str | None, url: str | None) -> None:
        """Set (or with None, clear) the internal reference."""
        ...


@dataclass(frozen=True)
class ProjectSchema:
    """What validation at start needs to know about one Jira project."""

    key: str
    statuses: frozenset[str]
    priorities: frozenset[str]
    resolutions: frozenset[str]
    #: status name -> names of statuses reachable through the workflow from it
    reachable: dict[str, frozenset[str]]
    #: statuses whose outgoing transitions are known (Jira shows a workflow only through
    #: the transitions of existing issues); reachability from the others is unknown
    explored: frozenset[str] = frozenset()


class JiraSide(Protocol):
    """What the sync core asks of Jira."""

    def changed_issues(self, since: datetime | None) -> IssueBatch:
        """Issues carrying syncd's tag updated at or after ``since`` (all when None).

        The adapter applies the API user's time zone and minute precision; the caller
        passes a timezone-aware UTC instant that already includes its overlap.
        """
        ...

    def get_issue(self, issue_id: str) -> Issue:
        """One issue by id or key, read with strong consistency (direct GET)."""
        ...

    def find_by_submission(self, code: str) -> Issue | None:
        """The issue tagged with this submission code, if any exists."""
        ...

    def create_issue(
        self, new: NewIssue, *, before_send: Callable[[], None] | None = None
    ) -> Issue:
        """Create once, never retried blindly; AmbiguousWrite when the outcome is unknown.

        ``before_send`` is called right before each attempt is sent (after any waiting);
        if it raises ``WriteWithdrawn`` nothing is sent and the error propagates.
        """
        ...

    def set_priority(self, issue_id: str, priority: str, cvss: str | None) -> None:
        """Set the priority (and the CVSS custom field, when configured)."""
        ...

    def transition_to(self, issue_id: str, status: str, resolution: str | None) -> None:
        """Reach ``status`` along the shortest transition path; no-op when already there."""
        ...

    def browse_url(self, key: str) -> str:
        """The human URL of an issue key."""
        ...

    def describe_project(self, key: str) -> ProjectSchema:
        """Statuses, priorities, resolutions and workflow reachability of one project."""
        ...
