"""Neutral, frozen records that both adapters translate into and out of.

Only the Intigriti adapter knows Intigriti JSON and only the Jira adapter knows Jira
JSON; the sync core sees these records. Values are *raw* names as each side spells them
(``"High"``, ``"Closed"``, ``"In Progress"``); turning them into canonical sync values is
the job of ``syncd.sync.mapping``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Program:
    """An Intigriti program visible to the API user."""

    id: str
    handle: str
    name: str


@dataclass(frozen=True)
class Attachment:
    """A file attached to a submission's report. The API lists only ``code`` and ``url``
    (reference §4.3); ``name`` and ``size`` are known once the file was fetched."""

    code: str
    url: str
    name: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class Payouts:
    """What a submission has paid out so far (detail read: ``reward``), one currency."""

    total: float
    bounty: float
    bonus: float
    currency: str | None = None

    def describe(self) -> str:
        """``EUR 550.00 (bounty 500.00, bonus 50.00)``: also the value compared for change."""
        unit = f"{self.currency} " if self.currency else ""
        return (
            f"{unit}{self.total:.2f} (bounty {self.bounty:.2f}, bonus {self.bonus:.2f})"
        )


@dataclass(frozen=True)
class SubmissionReport:
    """The researcher-written part of a submission (untrusted text)."""

    original_title: str | None = None
    type_name: str | None = None
    category: str | None = None
    cwe: str | None = None
    asset: str | None = None
    endpoint: str | None = None
    poc_description: str | None = None
    impact: str | None = None
    recommended_solution: str | None = None
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class Submission:
    """One Intigriti submission, as far as syncd cares.

    ``severity`` is the severity name (``Low`` .. ``Exceptional``) or None when unset;
    ``status`` the status name (``Triage``, ``Pending``, ``Accepted``, ``Closed``, ...);
    ``close_reason`` the close-reason name when closed. ``updated_at`` is timezone-aware
    UTC. ``report`` is only filled by a detail read.
    """

    code: str
    program_id: str
    title: str
    status: str
    close_reason: str | None
    severity: str | None
    cvss_vector: str | None
    cvss_score: float | None
    internal_reference: str | None
    internal_reference_url: str | None
    created_at: datetime
    updated_at: datetime
    web_url: str | None = None
    researcher: str | None = None
    #: the detail read's fields: None after a list read
    report: SubmissionReport | None = None
    payouts: Payouts | None = None
    #: the original's code when this submission was closed as its duplicate (detail only)
    duplicate_of: str | None = None
    #: ``totalPayout.value`` as the list shows it: a change means a payout happened
    total_payout: float | None = None
    #: True when read from the detail endpoint (report, payouts and duplicate_of are then
    #: what Intigriti says, not unknown)
    detail: bool = False


@dataclass(frozen=True)
class ItemFailure:
    """One item of a list response that could not be parsed (the rest still can)."""

    item: str
    field: str
    message: str


@dataclass(frozen=True)
class SubmissionBatch:
    """The result of a list read: parsed submissions plus per-item failures."""

    submissions: tuple[Submission, ...]
    failures: tuple[ItemFailure, ...] = ()
    #: the server's clock when it answered (its ``Date`` header), None when it gave none
    server_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class Issue:
    """One Jira issue, as far as syncd cares.

    ``id`` is stable; ``key`` changes when the issue moves to another project.
    ``submission_code`` is read from syncd's entity property or label, when present.
    ``updated_at`` is timezone-aware UTC.
    """

    id: str
    key: str
    project: str
    status: str
    priority: str | None
    resolution: str | None
    updated_at: datetime
    submission_code: str | None = None
    cvss: str | None = None
    url: str | None = None
    #: keys of the issues this one is linked to as their duplicate (the link type syncd
    #: uses for duplicates, outward "duplicates"); read so linking is never repeated
    duplicates: tuple[str, ...] = ()


@dataclass(frozen=True)
class NewIssue:
    """What syncd asks the Jira adapter to create for one submission."""

    project: str
    submission_code: str
    summary: str
    description: str
    priority: str | None
    labels: tuple[str, ...] = ()
    cvss: str | None = None
    issue_type: str = "Bug"
    #: report attachments to upload with the issue (only when uploading is switched on)
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class IssueBatch:
    """The result of a Jira search: parsed issues plus per-item failures."""

    issues: tuple[Issue, ...]
    failures: tuple[ItemFailure, ...] = field(default=())
    #: the server's clock when it answered the first page (``Date``), None when unknown
    server_time: datetime | None = None


@dataclass(frozen=True)
class OAuthToken:
    """An Intigriti OAuth token pair as stored in the database.

    ``expires_at`` is timezone-aware UTC, or None for a non-expiring access token.
    ``refresh_token`` is None when the grant gave none (non-expiring mode).
    """

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: datetime | None
    scope: str = ""


@dataclass(frozen=True)
class MessageAttachment:
    """A file attached to a message: linked from Jira, never copied."""

    name: str
    url: str


@dataclass(frozen=True)
class Message:
    """One message of a submission's conversation (an Intigriti "Message" event).

    ``key`` identifies it across reads: the API gives message events no id, so the
    adapter derives one from what never changes (see ``syncd.intigriti.messages``).
    ``text`` is written by a researcher or a triager: untrusted. ``internal`` messages
    are the company's notes, which a researcher never sees.
    """

    key: str
    created_at: datetime
    author: str
    author_role: str | None
    internal: bool
    text: str
    attachments: tuple[MessageAttachment, ...] = ()
    deleted: bool = False


@dataclass(frozen=True)
class Comment:
    """One comment of a Jira issue.

    ``restricted``: visible only to a role or group, or a Jira Service Management
    internal note. ``mine``: written by the account syncd uses.
    """

    id: str
    author: str
    created_at: datetime
    updated_at: datetime
    body: str
    restricted: bool
    mine: bool = False


@dataclass(frozen=True)
class CommentVisibility:
    """Who may read a Jira comment: ``type`` ``role`` or ``group``, ``value`` its name."""

    type: str
    value: str

    def as_json(self) -> dict[str, str]:
        return {"type": self.type, "value": self.value}
