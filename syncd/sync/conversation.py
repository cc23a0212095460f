"""Messages <-> comments: the pure half (what to copy, and what each copy says).

``plan_conversation`` decides, with no I/O, from one read of each side and the ledger of
copies already made; ``syncd.sync.conversation_runner`` reads, claims and sends.

The rules that keep internal text from a researcher:

* An Intigriti message becomes exactly one Jira comment: an internal note a
  *restricted* one (the configured role or group), an external message a public one.
* A Jira comment becomes an **internal** Intigriti message. It becomes an **external**
  one (the researcher reads it) only when it starts with the configured marker (any
  case) *and* is not restricted. The runner reads the comment again after the quota
  wait, right before the external message goes out, so a restriction added meanwhile
  still wins.
* syncd's own copies never come back: a comment written by syncd's Jira account, or
  whose id or reference (with the whole text as sent) is a copy in the ledger; a
  message whose reference and whole text are a copy's. A reply that quotes a copy,
  reference and all, is someone's new text and is copied.
* Edits and deletions are not copied: a copy is made once, from the text first seen.
  The one exception is the marker: a comment copied as an internal note that later
  gains the marker (and is not restricted) is then sent to the researcher, once. A
  message deleted before syncd saw it is not copied.

Every copy carries a reference (``syncd ref <12 hex>``) that the ledger stores before the
copy is sent. After a lost answer or a crash, the copy is looked for by that reference;
only when it is not there once the settle time has passed is it sent again, unless its
source is gone or (for the researcher) no longer marked: then it is withdrawn.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from syncd.records import Comment, Message
from syncd.store.conversation import Audience, CopyRecord, Origin
from syncd.sync.content import (
    SAFE_URL,
    cap_utf16,
    link_text,
    sanitize_block,
    sanitize_line,
    utf16_len,
)

Escape = Callable[[str], str]

#: Jira's limit for a comment body, in UTF-16 units
COMMENT_LIMIT = 32_767
#: what syncd keeps of a comment's text in an Intigriti message (the API states no
#: limit; this bounds what one comment can put there)
MESSAGE_LIMIT = 20_000
#: attachments listed per copied message
ATTACHMENTS_SHOWN = 50
_REF = re.compile(r"syncd ref ([0-9a-f]{12})[_)\s]*$")


def new_ref() -> str:
    """A reference no researcher can guess (48 random bits)."""
    return secrets.token_hex(6)


def ref_of(text: str) -> str | None:
    """The reference a copy made by syncd ends with, if any."""
    match = _REF.search(text)
    return match.group(1) if match else None


@dataclass(frozen=True)
class ConversationOptions:
    to_jira: bool
    to_intigriti: bool
    marker: str
    #: a copy whose send may have arrived is looked for this long before it is resent
    settle: timedelta = timedelta(seconds=120)


# -- actions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CopyToJira:
    """Post ``message`` as a Jira comment (``restricted``: visible to the set role)."""

    message: Message
    audience: Audience
    #: an existing ledger row being sent again (its ref), or None for a new copy
    resend_ref: str | None = None


@dataclass(frozen=True)
class CopyToIntigriti:
    """Post ``comment`` as an Intigriti message, internal or (marker) external."""

    comment: Comment
    audience: Audience
    resend_ref: str | None = None


@dataclass(frozen=True)
class ConfirmCopy:
    """A copy whose answer was lost was found on the other side."""

    ref: str
    copy_id: str | None


@dataclass(frozen=True)
class WithdrawCopy:
    """A copy that did not arrive and is no longer to be sent (its source was deleted,
    or a comment is no longer meant for the researcher): closed, not sent."""

    ref: str
    reason: str


@dataclass(frozen=True)
class AwaitCopy:
    """A copy that may have arrived is not visible yet: wait before deciding."""

    ref: str
    origin: Origin


ConversationAction = CopyToJira | CopyToIntigriti | ConfirmCopy | WithdrawCopy | AwaitCopy


@dataclass(frozen=True)
class ConversationPlan:
    actions: tuple[ConversationAction, ...]
    #: the newest message every earlier one of which is handled (for ``CreatedSince``)
    handled_until: datetime | None


# -- deciding --------------------------------------------------------------------------


def _marker_end(body: str, marker: str) -> int | None:
    """Where the marker ends when ``body`` starts with it (any case), else None."""
    text = body.lstrip()
    wanted = marker.strip().casefold()
    if not wanted:
        return None  # an empty marker marks nothing (settings refuse one anyway)
    for end in range(1, len(text) + 1):
        head = text[:end].casefold()
        if head == wanted:
            return len(body) - len(text) + end
        if not wanted.startswith(head):
            return None
    return None


def starts_with_marker(body: str, marker: str) -> bool:
    return _marker_end(body, marker) is not None


def without_marker(body: str, marker: str) -> str:
    end = _marker_end(body, marker)
    return body[end:].lstrip() if end is not None else body.lstrip()


def wants_external(comment: Comment, marker: str) -> bool:
    """Whether the team asked for this comment to reach the researcher."""
    return not comment.restricted and starts_with_marker(comment.body, marker)


def digest_of(text: str) -> str:
    """What identifies a copy's text (whitespace collapsed, as servers may re-wrap it)."""
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()


def _is_copy(text: str, copy: CopyRecord | None, origin: Origin) -> bool:
    """Whether ``text`` is syncd's copy ``copy``: its reference at the very end, and the
    whole text as sent (a reply quoting the copy, reference and all, is not)."""
    return (
        copy is not None
        and copy.origin == origin
        and (copy.digest is None or copy.digest == digest_of(text))
    )


def _recover(
    copy: CopyRecord,
    messages: Sequence[Message] | None,
    comments: Sequence[Comment] | None,
    now: datetime,
    settle: timedelta,
) -> ConversationAction | None:
    """What to do about a copy that may or may not have arrived (None: resend it)."""
    if copy.origin == "intigriti":
        if comments is None:
            return AwaitCopy(copy.ref, copy.origin)  # the side it went to was not read
        for comment in comments:
            if ref_of(comment.body) == copy.ref:
                return ConfirmCopy(copy.ref, comment.id)
    else:
        if messages is None:
            return AwaitCopy(copy.ref, copy.origin)
        for message in messages:
            if ref_of(message.text) == copy.ref and _is_copy(message.text, copy, "jira"):
                return ConfirmCopy(copy.ref, None)
    if copy.attempted_at is not None and now - copy.attempted_at < settle:
        return AwaitCopy(copy.ref, copy.origin)
    return None


def plan_conversation(
    messages: Sequence[Message] | None,
    comments: Sequence[Comment] | None,
    copies: Sequence[CopyRecord],
    options: ConversationOptions,
    now: datetime,
) -> ConversationPlan:
    """Every copy to make, in order per direction. ``None`` for a side not read: nothing
    is copied from it, and nothing that would need its read to be safe is done."""
    by_ref = {c.ref: c for c in copies}
    #: withdrawn rows were never sent: not made (planning them again takes the row up)
    made = {(c.origin, c.source_id, c.audience) for c in copies if c.state != "withdrawn"}
    copy_ids = {c.copy_id for c in copies if c.origin == "intigriti" and c.copy_id}
    messages_by_key = {m.key: m for m in messages or ()}
    comments_by_id = {c.id: c for c in comments or ()}
    actions: list[ConversationAction] = []
    waiting: set[str] = set()  # directions (by origin) stopped behind an unsettled copy
    for copy in copies:
        if copy.state != "sending":
            continue
        decision = _recover(copy, messages, comments, now, options.settle)
        if isinstance(decision, AwaitCopy):
            waiting.add(copy.origin)
            actions.append(decision)
        elif decision is not None:
            actions.append(decision)
        elif copy.origin == "intigriti" and messages is not None:
            message = messages_by_key.get(copy.source_id)
            if message is None or message.deleted:
                actions.append(WithdrawCopy(copy.ref, "the message is gone"))
            else:
                actions.append(CopyToJira(message, copy.audience, resend_ref=copy.ref))
        elif copy.origin == "jira" and comments is not None:
            comment = comments_by_id.get(copy.source_id)
            if comment is None:
                actions.append(WithdrawCopy(copy.ref, "the comment was deleted"))
            elif copy.audience == "external" and not wants_external(comment, options.marker):
                # no longer meant for the researcher: never resent there
                actions.append(WithdrawCopy(copy.ref, "no longer meant for the researcher"))
            else:
                actions.append(CopyToIntigriti(comment, copy.audience, resend_ref=copy.ref))
        else:
            waiting.add(copy.origin)  # the side the source lives on was not read
            actions.append(AwaitCopy(copy.ref, copy.origin))
    resending = {
        (a.message.key if isinstance(a, CopyToJira) else a.comment.id)
        for a in actions
        if isinstance(a, CopyToJira | CopyToIntigriti)
    }

    handled_until: datetime | None = None
    if options.to_jira and messages is not None and "intigriti" not in waiting:
        for message in messages:
            handled_until = message.created_at
            ref = ref_of(message.text)
            if message.deleted or (ref and _is_copy(message.text, by_ref.get(ref), "jira")):
                continue
            if message.key in resending or any(
                ("intigriti", message.key, a) in made for a in ("restricted", "public")
            ):
                continue
            audience: Audience = "restricted" if message.internal else "public"
            actions.append(CopyToJira(message, audience))
    if options.to_intigriti and comments is not None and "jira" not in waiting:
        for comment in comments:
            ref = ref_of(comment.body)
            if (
                comment.mine
                or comment.id in copy_ids
                or (ref and _is_copy(comment.body, by_ref.get(ref), "intigriti"))
            ):
                continue  # syncd's own copy, whoever Jira says wrote it now
            if comment.id in resending:
                continue
            external = ("jira", comment.id, "external") in made
            internal = ("jira", comment.id, "internal") in made
            if wants_external(comment, options.marker):
                if not external:
                    actions.append(CopyToIntigriti(comment, "external"))
            elif not external and not internal:
                actions.append(CopyToIntigriti(comment, "internal"))
    return ConversationPlan(tuple(actions), handled_until)


# -- what a copy says ------------------------------------------------------------------


def _plain(text: str | None, limit: int) -> str:
    """A name safe inline in wiki markup with no escaping: letters, digits, spaces and
    dots only (a researcher picks their own user name)."""
    kept = "".join(ch if ch.isalnum() or ch in " ." else " " for ch in sanitize_line(text))
    return " ".join(kept.split())[:limit]


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def jira_comment_body(message: Message, ref: str, escape: Escape) -> str:
    """The Jira comment for one Intigriti message: attributed, the researcher's text
    rendered literally (escaped, as in the description), attachments as links."""
    author = _plain(message.author, 100) or "someone"
    role = _plain(message.author_role, 50)
    kind = "internal note" if message.internal else "message"
    who = f"*{author}* ({role})" if role else f"*{author}*"
    head = f"{who} on Intigriti, {_when(message.created_at)}, {kind}:"
    tail_lines: list[str] = []
    if message.attachments:
        tail_lines.append("Attachments:")
        for attachment in message.attachments[:ATTACHMENTS_SHOWN]:
            label = cap_utf16(sanitize_line(attachment.name), 200)
            url = attachment.url.strip()
            if SAFE_URL.match(url) and url.startswith("https://"):
                tail_lines.append(f"* [{link_text(label)}|{url}]")
            else:
                tail_lines.append(f"* {escape(label)}")
        if len(message.attachments) > ATTACHMENTS_SHOWN:
            tail_lines.append(f"* and {len(message.attachments) - ATTACHMENTS_SHOWN} more")
    tail_lines.append(f"_syncd ref {ref}_")
    tail = "\n".join(tail_lines)
    text = sanitize_block(message.text)
    note = "\n" + escape("(cut here: the full message is on Intigriti)")
    # Jira counts UTF-16 units, after escaping (which may add characters): cut the text
    # until the whole body fits, so a long message is shortened, never refused
    shown = text
    while True:
        cut = note if len(shown) < len(text) else ""
        body = f"{head}\n{escape(shown)}{cut}\n\n{tail}"
        over = utf16_len(body) - COMMENT_LIMIT
        if over <= 0 or not shown:
            return body
        shown = shown[: max(0, len(shown) - max(over, len(shown) // 20))]


def intigriti_text(
    comment: Comment, audience: Audience, issue_key: str, ref: str, marker: str
) -> str:
    """The Intigriti message for one Jira comment.

    An external message goes to the researcher: the marker is removed, and syncd adds
    no Jira user name or issue key. An internal note says who wrote it, where and when.
    """
    external = audience == "external"
    text = sanitize_block(without_marker(comment.body, marker) if external else comment.body)
    if len(text) > MESSAGE_LIMIT:
        text = text[:MESSAGE_LIMIT] + "\n(cut here: the full comment is in Jira)"
    if external:
        # syncd adds no Jira user name or issue key (the team's own text is theirs)
        return f"{text}\n\n(syncd ref {ref})"
    author = sanitize_line(comment.author)
    return (
        f"{author} on Jira ({sanitize_line(issue_key)}), {_when(comment.created_at)}:\n"
        f"{text}\n\n(syncd ref {ref})"
    )
