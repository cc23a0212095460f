"""The two small interfaces the sync core needs from the outside world.

The core is written against these Protocols; ``syncd.intigriti`` and ``syncd.tracker``
implement them over real HTTP, and tests may pass fakes that honour the same contract.
Every method raises only ``syncd.errors`` exceptions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from syncd.records import (
    Attachment,
    Comment,
    CommentVisibility,
    Issue,
    IssueBatch,
    Message,
    NewIssue,
    Program,
    Submission,
    SubmissionBatch,
)


class SubmissionListing(Protocol):
    """Every submission of one full read, handed out a chunk at a time, so that a sweep
    never holds them all. Close it when done (it may own a temporary file)."""

    #: the server's clock when it answered, None when it gave none
    server_time: datetime | None
    #: the code of every item listed (the polls leave their creation to the sweep)
    codes: frozenset[str]
    #: how many items the listing holds (parsable or not)
    count: int

    def chunks(self, size: int) -> Iterator[SubmissionBatch]:
        """The listing in order, ``size`` items at a time, each chunk parsed."""
        ...

    def close(self) -> None: ...


class BatchListing:
    """A listing over a batch already in memory (small reads, and test fakes)."""

    def __init__(self, batch: SubmissionBatch) -> None:
        self._batch = batch
        self.server_time = batch.server_time
        self.codes = frozenset(s.code for s in batch.submissions) | frozenset(
            f.item for f in batch.failures
        )
        self.count = len(batch.submissions) + len(batch.failures)

    def chunks(self, size: int) -> Iterator[SubmissionBatch]:
        submissions = self._batch.submissions
        yield SubmissionBatch(submissions=submissions[:size], failures=self._batch.failures)
        for start in range(size, len(submissions), size):
            yield SubmissionBatch(submissions=submissions[start : start + size])

    def close(self) -> None:
        pass


class IntigritiSide(Protocol):
    """What the sync core asks of Intigriti."""

    def list_programs(self) -> list[Program]:
        """Every program visible to the API user."""
        ...

    def changed_submissions(self, since: datetime | None) -> SubmissionBatch:
        """Submissions updated at or after ``since`` (all when None), in one request."""
        ...

    def all_submissions(self) -> SubmissionListing:
        """Every submission, in one request, read as a stream (the full sweep's read)."""
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

    def download_attachment(self, attachment: Attachment, max_bytes: int) -> DownloadedFile:
        """Fetch one report attachment. Rejected when it is larger than ``max_bytes``
        (checked before reading more than that)."""
        ...


@dataclass(frozen=True)
class DownloadedFile:
    name: str
    content: bytes
    content_type: str | None = None


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
    #: names of the site's issue link types (``Duplicate``, ``Blocks``, ...)
    link_types: frozenset[str] = frozenset()
    #: ids and names of the fields an issue of the configured type can have (create or
    #: edit screen), ``customfield_10050`` and ``CVSS`` alike
    fields: frozenset[str] = frozenset()


class JiraSide(Protocol):
    """What the sync core asks of Jira."""

    def changed_issues(self, since: datetime | None) -> IssueBatch:
        """Issues carrying syncd's tag updated at or after ``since`` (all when None).

        The adapter applies the API user's time zone and minute precision; the caller
        passes a timezone-aware UTC instant that already includes its overlap.
        """
        ...

    def tagged_issues(self, codes: Sequence[str]) -> IssueBatch:
        """Every issue carrying syncd's tag for any of these submission codes (what the
        full search finds of them): a sweep asks one chunk of its listing at a time, so
        it never holds every issue. ``server_time`` as in ``changed_issues``."""
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

    def set_cvss(self, issue_id: str, cvss: str | None) -> None:
        """Set (None: clear) the configured CVSS custom field alone."""
        ...

    def transition_to(self, issue_id: str, status: str, resolution: str | None) -> None:
        """Reach ``status`` along the shortest transition path, setting ``resolution`` on
        the way in. Already in ``status``: a no-op when ``resolution`` is None or already
        set; otherwise the resolution alone is changed (an edit, or a transition from the
        status to itself)."""
        ...

    def link_duplicate(self, issue_id: str, original_issue_id: str) -> None:
        """Link ``issue_id`` as a duplicate of ``original_issue_id`` (the configured link
        type); nothing when that link exists already."""
        ...

    def set_text_field(self, issue_id: str, field_id: str, value: str) -> None:
        """Set one custom field (text or number field: the adapter converts)."""
        ...

    def set_description(self, issue_id: str, description: str) -> None:
        """Replace the description (wiki markup, already escaped by the caller)."""
        ...

    def add_comment(self, issue_id: str, body: str) -> str:
        """Add a comment (wiki markup, already escaped by the caller); returns its id."""
        ...

    def attach_file(self, issue_id: str, name: str, content: bytes) -> None:
        """Upload one attachment; nothing when the issue holds one of that name already."""
        ...

    def browse_url(self, key: str) -> str:
        """The human URL of an issue key."""
        ...

    def describe_project(self, key: str) -> ProjectSchema:
        """Statuses, priorities, resolutions and workflow reachability of one project."""
        ...


class ConversationIntigriti(Protocol):
    """What the conversation sync asks of Intigriti (``syncd.sync.conversation_runner``)."""

    def messages(self, code: str, since: datetime | None = None) -> list[Message]:
        """The submission's messages created at or after ``since``, oldest first."""
        ...

    def add_internal_note(
        self, code: str, text: str, *, before_send: Callable[[], None] | None = None
    ) -> str:
        """Post a company-internal message; its id. Never resent (AmbiguousWrite)."""
        ...

    def message_researcher(
        self, code: str, text: str, *, before_send: Callable[[], None] | None = None
    ) -> str:
        """Post a message the researcher reads; its id. Never resent (AmbiguousWrite).

        ``before_send`` runs after the quota wait, right before the request is sent;
        ``WriteWithdrawn`` raised there sends nothing."""
        ...


class ConversationJira(Protocol):
    """What the conversation sync asks of Jira."""

    def comments(self, issue_id: str) -> list[Comment]:
        """Every comment of the issue, oldest first, read directly."""
        ...

    def get_comment(self, issue_id: str, comment_id: str) -> Comment:
        """One comment as it is now (NotFound once deleted)."""
        ...

    def post_comment(
        self,
        issue_id: str,
        body: str,
        visibility: CommentVisibility | None = None,
        *,
        before_send: Callable[[], None] | None = None,
    ) -> Comment:
        """Add a comment (wiki markup, escaped by the caller); never resent.
        ``before_send`` as for ``ConversationIntigriti.message_researcher``."""
        ...
