"""The simulator's in-memory records: programs, submissions, events, users, the clock."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


class ApiError(Exception):
    """A refusal the HTTP layer turns into an ``ErrorModel``-shaped response."""

    def __init__(self, status: int, code: str, title: str) -> None:
        super().__init__(title)
        self.status = status
        self.code = code
        self.title = title


class Clock:
    """Wall-clock seconds plus an adjustable offset, so tests can move time forward."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def epoch(self) -> int:
        return int(self.now())

    @property
    def offset(self) -> float:
        with self._lock:
            return self._offset

    def set_offset(self, seconds: float) -> None:
        with self._lock:
            self._offset = float(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += float(seconds)


@dataclass(frozen=True)
class User:
    user_id: str
    user_name: str
    role: str
    email: str | None = None


@dataclass
class Program:
    id: str
    handle: str
    name: str
    company_id: str
    company_handle: str
    created_at: int
    last_updated_at: int
    description: str


@dataclass(frozen=True)
class Attachment:
    """A file of a report or of a message. Codes are numbered 1, 2, ... per submission,
    one sequence for both (CHOSEN), so one file route serves them all."""

    code: int
    name: str
    content: bytes
    content_type: str


@dataclass
class Message:
    """One message of the conversation. Edits and deletes change it in place: its event
    is rendered from it, so the event shows the live text (reference §4.5)."""

    message_id: str
    text: str
    external: bool
    created_at: int
    user: User
    attachments: list[Attachment] = field(default_factory=list)
    edited_at: int | None = None
    deleted_at: int | None = None


@dataclass
class Event:
    type_id: int
    created_at: int
    visibility_id: int
    user: User
    # Set on "Message" events only: the message the event shows.
    message: Message | None = None


@dataclass(frozen=True)
class Payout:
    """One payout: ``kind`` is "bounty" or "bonus"; amounts are EUR (CHOSEN)."""

    kind: str
    amount: float
    created_at: int


@dataclass
class Transition:
    """One status move made by a trigger, kept so Undo can revert it."""

    trigger: str
    from_status: str
    from_close_reason: str | None
    from_duplicate_of: str | None
    stamp: str | None
    stamp_before: int | None


@dataclass
class Report:
    type_name: str
    category: str
    cwe: str
    asset_id: str
    asset_name: str
    endpoint: str
    poc: str
    impact: str
    recommended_solution: str
    ip: str | None = None


@dataclass
class Submission:
    code: str
    program_id: str
    title: str
    status: str
    close_reason: str | None
    severity_id: int | None
    vector: str | None
    score: float | None
    internal_reference: str | None
    internal_reference_url: str | None
    created_at: int
    last_updated_at: int
    last_updater: User
    submitter: User
    report: Report
    awaiting_feedback: bool = False
    tags: list[str] = field(default_factory=list)
    duplicate_of: str | None = None
    duplicate_children: list[str] = field(default_factory=list)
    stamps: dict[str, int | None] = field(
        default_factory=lambda: {
            "validatedAt": None,
            "acceptedAt": None,
            "closedAt": None,
            "archivedAt": None,
        }
    )
    history: list[Transition] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    payouts: list[Payout] = field(default_factory=list)
    # A fault injected by the control API: None, "unknown_enum", "bad_shape", "invalid_json".
    malformed: str | None = None
    # The status and severity as the last event announced them: a webhook's "from" side.
    announced_status: tuple[str, str | None] | None = None
    announced_severity: tuple[int | None, str | None, float | None] | None = None


# Which timestamp of `state` a status sets when a submission enters it (reference §4.3).
STATUS_STAMPS: dict[str, str] = {
    "Pending": "validatedAt",
    "Accepted": "acceptedAt",
    "Closed": "closedAt",
    "Archived": "archivedAt",
}
