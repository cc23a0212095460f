"""The one table of Intigriti numeric ids, shared by the client and the simulator.

Intigriti sends enumerations as ``{"id": int, "value": str}`` objects and accepts bare ids
in write bodies (``statusTrigger``, ``closeReason``, severity ``id``). Some ids are verified
in the reference, others are not published anywhere and were chosen here; each table says
which, pointing at the section of ``reference/intigriti-api.md`` it rests on. When a real
id turns out different, this module is the only place to correct it.

Name lookups are case-insensitive (Intigriti's own SDK compares lowercase status names)
and return the canonical spelling; unknown names or ids raise ``KeyError`` naming the table
and the known entries.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Final


class IdNameTable:
    """A frozen two-way mapping between Intigriti numeric ids and their names."""

    __slots__ = ("_by_id", "_by_lower_name", "kind")

    def __init__(self, kind: str, entries: Mapping[int, str]) -> None:
        self.kind = kind
        self._by_id: Mapping[int, str] = MappingProxyType(dict(entries))
        by_lower = {name.lower(): ident for ident, name in entries.items()}
        if len(by_lower) != len(entries):
            raise ValueError(f"duplicate names in {kind} table")
        self._by_lower_name: Mapping[str, int] = MappingProxyType(by_lower)

    def name(self, ident: int) -> str:
        """The canonical name for ``ident``; ``KeyError`` when unknown."""
        try:
            return self._by_id[ident]
        except KeyError:
            raise KeyError(
                f"unknown Intigriti {self.kind} id {ident!r}; known: {dict(self._by_id)}"
            ) from None

    def id(self, name: str) -> int:
        """The id for ``name`` (case-insensitive); ``KeyError`` when unknown."""
        try:
            return self._by_lower_name[name.lower()]
        except (KeyError, AttributeError):
            raise KeyError(
                f"unknown Intigriti {self.kind} name {name!r}; known: {list(self._by_id.values())}"
            ) from None

    def canonical(self, name: str) -> str:
        """The canonical spelling of ``name``; ``KeyError`` when unknown."""
        return self._by_id[self.id(name)]

    def __contains__(self, key: object) -> bool:
        if isinstance(key, bool):
            return False
        if isinstance(key, int):
            return key in self._by_id
        if isinstance(key, str):
            return key.lower() in self._by_lower_name
        return False

    def __iter__(self) -> Iterator[int]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def items(self) -> Iterator[tuple[int, str]]:
        return iter(self._by_id.items())

    def names(self) -> tuple[str, ...]:
        return tuple(self._by_id.values())

    def __repr__(self) -> str:
        return f"IdNameTable({self.kind!r}, {dict(self._by_id)!r})"


# Submission status (`state.status`). CHOSEN: the names are verified (reference §4.4, K3
# lifecycle order), the numeric ids are not published anywhere; chronological order chosen,
# as the reference suggests.
SUBMISSION_STATUS: Final = IdNameTable(
    "submission status",
    {1: "Draft", 2: "Triage", 3: "Pending", 4: "Accepted", 5: "Closed", 6: "Archived"},
)

# Status triggers (`statusTrigger` in PUT .../state). VERIFIED: reference §4.4 (S2).
STATUS_TRIGGER: Final = IdNameTable(
    "status trigger",
    {1: "Reject", 2: "Validate", 3: "Accept", 4: "Close", 5: "Archive", 6: "Undo"},
)

# Close reasons (`closeReason`). VERIFIED ids: reference §4.4 (S2). The exact `value`
# spellings the API returns are unknown; S2's spelling is used.
CLOSE_REASON: Final = IdNameTable(
    "close reason",
    {
        1: "Resolved",
        2: "Duplicate",
        3: "Accepted risk",
        4: "Informative",
        5: "Out of scope",
        6: "Spam",
        7: "Not applicable",
    },
)

# Severity (`severity.id` / `severity.value`). CHOSEN ids: reference §4.4 says the names are
# Low..Exceptional (X3) and the ids are unknown. 0 "None" is CHOSEN for an undecided
# severity (the CVSS 3.1 rating of a 0.0 score), so a set-but-undecided severity still has
# an id; a missing severity is JSON null.
SEVERITY: Final = IdNameTable(
    "severity",
    {0: "None", 1: "Low", 2: "Medium", 3: "High", 4: "Critical", 5: "Exceptional"},
)

# Submission event types (`type` of GET .../events items). CHOSEN: reference §4.5 says the
# spec declares only {type, createdAt, visibility, user} and the ids are unknown.
EVENT_TYPE: Final = IdNameTable(
    "event type",
    {
        1: "Submission created",
        2: "Status changed",
        3: "Severity changed",
        4: "Internal reference changed",
        5: "Message",
        6: "Submission edited",
        # CHOSEN: a payout (bounty or bonus) shows in the activity (reference §4.5 lists a
        # payout event's fields: amount, payoutType, payoutId); the id is unknown.
        7: "Payout",
    },
)

# Event visibility. CHOSEN: reference §4.5 infers that internal vs external messages are
# told apart by `visibility`; the ids are unknown.
EVENT_VISIBILITY: Final = IdNameTable("event visibility", {1: "Internal", 2: "External"})

REJECT: Final = "Reject"
VALIDATE: Final = "Validate"
ACCEPT: Final = "Accept"
CLOSE: Final = "Close"
ARCHIVE: Final = "Archive"
UNDO: Final = "Undo"

# Trigger state machine: (current status, trigger) -> next status. CHOSEN: reference §4.4
# gives this map as plausible ([I]); only "403 for a trigger not allowed in the current
# status" and "400 for Reject without closeReason" are verified (S2).
TRANSITIONS: Final[Mapping[tuple[str, str], str]] = MappingProxyType(
    {
        ("Triage", VALIDATE): "Pending",
        ("Triage", REJECT): "Closed",
        ("Pending", REJECT): "Closed",
        ("Pending", ACCEPT): "Accepted",
        ("Accepted", CLOSE): "Closed",
        ("Closed", ARCHIVE): "Archived",
    }
)

# Triggers that need a `closeReason` in the body. VERIFIED for Reject (reference §4.4, S2).
# Close is CHOSEN to take an optional reason, defaulting to CLOSE_DEFAULT_REASON.
REQUIRES_CLOSE_REASON: Final = frozenset({REJECT})
CLOSE_DEFAULT_REASON: Final = "Resolved"

# Transitions that Undo cannot revert. VERIFIED that Validate is "irreversible"
# (reference §4.4, S2). Undo reverts the last reversible transition (CHOSEN).
IRREVERSIBLE_TRIGGERS: Final = frozenset({VALIDATE})


def status_id(name: str) -> int:
    return SUBMISSION_STATUS.id(name)


def status_name(ident: int) -> str:
    return SUBMISSION_STATUS.name(ident)


def trigger_id(name: str) -> int:
    return STATUS_TRIGGER.id(name)


def trigger_name(ident: int) -> str:
    return STATUS_TRIGGER.name(ident)


def close_reason_id(name: str) -> int:
    return CLOSE_REASON.id(name)


def close_reason_name(ident: int) -> str:
    return CLOSE_REASON.name(ident)


def severity_id(name: str) -> int:
    return SEVERITY.id(name)


def severity_name(ident: int) -> str:
    return SEVERITY.name(ident)


def next_status(current_status: str, trigger: str) -> str | None:
    """Where ``trigger`` leads from ``current_status`` (not for Undo); None if not allowed."""
    status = SUBMISSION_STATUS.canonical(current_status)
    return TRANSITIONS.get((status, STATUS_TRIGGER.canonical(trigger)))


def allowed_triggers(current_status: str, *, can_undo: bool = False) -> list[str]:
    """Trigger names allowed from ``current_status``, in id order.

    Undo depends on history (is there a reversible transition to revert?), which only the
    holder of the submission knows, so the caller says so with ``can_undo``.
    """
    status = SUBMISSION_STATUS.canonical(current_status)
    allowed = [name for _, name in STATUS_TRIGGER.items() if (status, name) in TRANSITIONS]
    if can_undo:
        allowed.append(UNDO)
    return allowed


def trigger_path(current_status: str, target_status: str) -> list[str] | None:
    """Shortest list of trigger names from one status to another, or None if unreachable.

    Breadth-first over ``TRANSITIONS`` (Undo excluded: it depends on history), trying
    triggers in id order so the answer is deterministic. ``[]`` when already there.
    Raises ``KeyError`` for unknown status names.
    """
    start = SUBMISSION_STATUS.canonical(current_status)
    goal = SUBMISSION_STATUS.canonical(target_status)
    if start == goal:
        return []
    previous: dict[str, tuple[str, str]] = {}
    queue: deque[str] = deque([start])
    seen = {start}
    while queue:
        status = queue.popleft()
        for _, trigger in STATUS_TRIGGER.items():
            target = TRANSITIONS.get((status, trigger))
            if target is None or target in seen:
                continue
            seen.add(target)
            previous[target] = (status, trigger)
            if target == goal:
                path: list[str] = []
                node = goal
                while node != start:
                    node, step = previous[node]
                    path.append(step)
                path.reverse()
                return path
            queue.append(target)
    return None
