"""Messages <-> comments: the pure half (what to copy, and what each copy says).

``plan_conversation`` decides, with no I/O, from one read of each side and the ledger of
copies already made; ``syncd.sync.conversation_runner`` reads, claims and sends.

The rules that keep internal text from a researcher:

* An Intigriti message becomes exactly one Jira comment: an internal note a
  *restricted* one (the configured role or group), an external message a public one.
* A Jira comment becomes an **internal** Intigriti message. It becomes an **external**
  one (the researcher reads it) only when it starts with the configured marker *and* is
  not restricted. A comment's audience is checked again right before an external
  message is sent (``needs_recheck``), so a restriction added meanwhile still wins.
* Comments written by syncd's own Jira account, and messages carrying the reference of
  a copy syncd made, are never copied back.
* Edits and deletions are not copied: a copy is made once, from the text first seen.
  The one exception is the marker: a comment copied as an internal note that later
  gains the marker (and is not restricted) is then sent to the researcher, once. A
  message deleted before syncd saw it is not copied.

Every copy carries a reference (``syncd ref <12 hex>``) that the ledger stores before the
copy is sent. After a lost answer or a crash, the copy is looked for by that reference;
only when it is not there once the settle time has passed is it sent again.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from syncd.records import Comment, Message
from syncd.store.conversation import Audience, CopyRecord
from syncd.sync.content import SAFE_URL, cap_utf16, link_text, sanitize_block, sanitize_line

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

    @property
    def needs_recheck(self) -> bool:
        """External messages reach the researcher: re-read the comment right before."""
        return self.audience == "external"


@dataclass(frozen=True)
class ConfirmCopy:
    """A copy whose answer was lost was found on the other side."""

    ref: str
    copy_id: str | None


@dataclass(frozen=True)
class AwaitCopy:
    """A copy that may have arrived is not visible yet: wait before deciding."""

    ref: str
    origin: str


ConversationAction = CopyToJira | CopyToIntigriti | ConfirmCopy | AwaitCopy


@dataclass(frozen=True)
class ConversationPlan:
    actions: tuple[ConversationAction, ...]
    #: the newest message every earlier one of which is handled (for ``CreatedSince``)
    handled_until: datetime | None


# -- deciding --------------------------------------------------------------------------


def starts_with_marker(body: str, marker: str) -> bool:
    return body.lstrip().casefold().startswith(marker.strip().casefold())


def without_marker(body: str, marker: str) -> str:
    text = body.lstrip()
    return text[len(marker.strip()) :].lstrip() if starts_with_marker(text, marker) else text


def wants_external(comment: Comment, marker: str) -> bool:
    """Whether the team asked for this comment to reach the researcher."""
    return not comment.restricted and starts_with_marker(comment.body, marker)


def _message_is_copy(message: Message, copies: dict[str, CopyRecord]) -> bool:
    ref = ref_of(message.text)
    copy = copies.get(ref) if ref else None
    return copy is not None and copy.origin == "jira"


def _recover(
    copy: CopyRecord,
    messages: Sequence[Message] | None,
    comments: Sequence[Comment] | None,
    now: datetime,
    settle: timedelta,
) -> ConversationAction | None:
    """What to do about a copy that may or may not have arrived (None: resend it)."""
    landed_in = comments if copy.origin == "intigriti" else messages
    if landed_in is None:
        return AwaitCopy(copy.ref, copy.origin)  # the side it went to was not read
    for item in landed_in:
        text = item.body if isinstance(item, Comment) else item.text
        if ref_of(text) == copy.ref:
            return ConfirmCopy(copy.ref, item.id if isinstance(item, Comment) else None)
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
    made = {(c.origin, c.source_id, c.audience): c for c in copies}
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
        elif copy.origin == "intigriti" and copy.source_id in messages_by_key:
            message = messages_by_key[copy.source_id]
            actions.append(CopyToJira(message, copy.audience, resend_ref=copy.ref))
        elif copy.origin == "jira" and copy.source_id in comments_by_id:
            comment = comments_by_id[copy.source_id]
            if copy.audience == "external" and not wants_external(comment, options.marker):
                # no longer meant for the researcher: never resend it there
                actions.append(ConfirmCopy(copy.ref, None))
            else:
                actions.append(CopyToIntigriti(comment, copy.audience, resend_ref=copy.ref))
        else:
            # the source is gone (deleted) or outside this read: wait for a read with it
            waiting.add(copy.origin)
            actions.append(AwaitCopy(copy.ref, copy.origin))

    handled_until: datetime | None = None
    if options.to_jira and messages is not None and "intigriti" not in waiting:
        for message in messages:
            handled_until = message.created_at
            if message.deleted or _message_is_copy(message, by_ref):
                continue
            if any(("intigriti", message.key, a) in made for a in ("restricted", "public")):
                continue
            audience: Audience = "restricted" if message.internal else "public"
            actions.append(CopyToJira(message, audience))
    if options.to_intigriti and comments is not None and "jira" not in waiting:
        for comment in comments:
            if comment.mine:
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
    budget = COMMENT_LIMIT - len(head) - len(tail) - 200
    shown = text if len(text) <= budget else text[:budget]
    cut = "\n" + escape("(cut here: the full message is on Intigriti)") if shown != text else ""
    return f"{head}\n{escape(shown)}{cut}\n\n{tail}"


def intigriti_text(
    comment: Comment, audience: Audience, issue_key: str, ref: str, marker: str
) -> str:
    """The Intigriti message for one Jira comment.

    An external message goes to the researcher: the marker is removed and no Jira user
    or issue key is named. An internal note says who wrote it, where and when.
    """
    external = audience == "external"
    text = sanitize_block(without_marker(comment.body, marker) if external else comment.body)
    if len(text) > MESSAGE_LIMIT:
        text = text[:MESSAGE_LIMIT] + "\n(cut here: the full comment is in Jira)"
    if external:
        return f"{text}\n\n(syncd ref {ref})"
    author = sanitize_line(comment.author)
    return (
        f"{author} on Jira ({sanitize_line(issue_key)}), {_when(comment.created_at)}:\n"
        f"{text}\n\n(syncd ref {ref})"
    )
