"""A submission's conversation: the "Message" events of ``GET /submissions/{code}/events``.

The API has no list of messages; they are events (reference §3.2), and the events carry
the message fields (``message``, ``attachments``, ``lastEditedAt``, ``deletedAt``) beside
the declared base (``type``, ``createdAt``, ``visibility``, ``user``; reference §4.5).

CHOSEN: a message event has no id in the reference. Its key is derived from what never
changes once it is written: the second it was created, its author's user id, and its
place among that author's messages of that second (events are append-only, and a
``CreatedSince`` read at or before that second returns all of them). An ``id`` or
``messageId`` field, if the real API sends one, is used instead. If the real API turned
out to order the events of one second differently between reads, or to drop the event
of a destroyed message, later keys of that second would shift: correct it here.

CHOSEN: a message whose visibility is not plainly "External" is internal, so an unclear
audience can only narrow who sees its copy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from syncd.errors import ItemError
from syncd.intigriti import enums
from syncd.records import Message, MessageAttachment

SYSTEM = "intigriti"
MESSAGE_TYPE = "Message"


class _Bad(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _epoch(value: object, field: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(field, f"expected epoch seconds, got {type(value).__name__}")
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise _Bad(field, "epoch seconds out of range") from None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _is_message(event: Mapping[str, Any]) -> bool:
    kind = _mapping(event.get("type"))
    value = kind.get("value")
    if isinstance(value, str):
        return value.strip().casefold() == MESSAGE_TYPE.casefold()
    ident = kind.get("id")
    return isinstance(ident, int) and ident == enums.EVENT_TYPE.id(MESSAGE_TYPE)


def _external(event: Mapping[str, Any]) -> bool:
    visibility = _mapping(event.get("visibility"))
    value = visibility.get("value")
    if isinstance(value, str):
        return value.strip().casefold() == "external"
    ident = visibility.get("id")
    return isinstance(ident, int) and ident == enums.EVENT_VISIBILITY.id("External")


def _attachments(raw: object) -> tuple[MessageAttachment, ...]:
    if not isinstance(raw, list):
        return ()
    found: list[MessageAttachment] = []
    for item in raw:
        entry = _mapping(item)
        url = entry.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            continue  # a link to nowhere (or a javascript: one) is not shown
        name = entry.get("name")
        found.append(MessageAttachment(name if isinstance(name, str) and name else url, url))
    return tuple(found)


def messages(body: object, code: str, route: str) -> list[Message]:
    """The message events of one events answer, oldest first.

    A malformed message event fails the read (``ItemError``): skipping it would lose
    that message for good, since later reads start after it.
    """
    if not isinstance(body, list):
        raise ItemError(f"{route}: expected a JSON array", item=code, field="$", system=SYSTEM)
    ordinal: Counter[tuple[int, str]] = Counter()
    found: list[Message] = []
    for index, raw in enumerate(body):
        event = _mapping(raw)
        if not _is_message(event):
            continue
        try:
            created = _epoch(event.get("createdAt"), "createdAt")
            user = _mapping(event.get("user"))
            user_id = user.get("userId") or user.get("userName") or "unknown"
            second = int(created.timestamp())
            place = ordinal[(second, str(user_id))]
            ordinal[(second, str(user_id))] += 1
            given = event.get("messageId") or event.get("id")
            key = str(given) if isinstance(given, str) and given else f"{second}.{user_id}.{place}"
            deleted = event.get("deletedAt") is not None
            text = event.get("message")
            if text is not None and not isinstance(text, str):
                raise _Bad("message", f"expected text, got {type(text).__name__}")
            if text is None and not deleted:
                raise _Bad("message", "a message event without its text")
            name = user.get("userName")
            role = user.get("role")
            found.append(
                Message(
                    key=key,
                    created_at=created,
                    author=name if isinstance(name, str) and name else "someone",
                    author_role=role if isinstance(role, str) and role else None,
                    internal=not _external(event),
                    text=text or "",
                    attachments=() if deleted else _attachments(event.get("attachments")),
                    deleted=deleted,
                )
            )
        except _Bad as exc:
            raise ItemError(
                exc.message, item=f"{code} event {index}", field=exc.field, system=SYSTEM
            ) from None
    found.sort(key=lambda m: m.created_at)
    return found
