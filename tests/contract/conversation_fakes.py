"""In-memory Intigriti conversation and Jira comments that honour the ports' contracts
(``ConversationIntigriti``, ``ConversationJira`` in syncd/sync/ports.py), for model tests
of the conversation runner over a real database."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from syncd.errors import AmbiguousWrite, NotFound
from syncd.records import Comment, CommentVisibility, Message

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class FakeComment:
    id: str
    body: str
    restricted: bool
    mine: bool
    created_at: datetime
    author: str = "Dana Developer"
    deleted: bool = False
    visibility: CommentVisibility | None = None

    def record(self) -> Comment:
        return Comment(
            id=self.id,
            author=self.author,
            created_at=self.created_at,
            updated_at=self.created_at,
            body=self.body,
            restricted=self.restricted,
            mine=self.mine,
        )


class FakeJira:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.items: dict[str, FakeComment] = {}
        self._ids = itertools.count(10_000)
        #: run once right after the next ``comments`` read (a human acting meanwhile)
        self.after_read: list[Callable[[], None]] = []
        #: the next post commits and loses its answer
        self.lose_next_answer = False
        self.reads = 0

    def add(self, body: str, *, restricted: bool = False, mine: bool = False) -> FakeComment:
        comment = FakeComment(str(next(self._ids)), body, restricted, mine, self.clock())
        self.items[comment.id] = comment
        return comment

    def comments(self, issue_id: str) -> list[Comment]:
        self.reads += 1
        found = [c.record() for c in self.items.values() if not c.deleted]
        hooks, self.after_read = self.after_read, []
        for hook in hooks:
            hook()
        return found

    def get_comment(self, issue_id: str, comment_id: str) -> Comment:
        comment = self.items.get(comment_id)
        if comment is None or comment.deleted:
            raise NotFound(f"comment {comment_id}", system="jira")
        return comment.record()

    def post_comment(
        self,
        issue_id: str,
        body: str,
        visibility: CommentVisibility | None = None,
        *,
        before_send: Callable[[], None] | None = None,
    ) -> Comment:
        if before_send is not None:
            before_send()
        comment = self.add(body, restricted=visibility is not None, mine=True)
        comment.visibility = visibility
        if self.lose_next_answer:
            self.lose_next_answer = False
            raise AmbiguousWrite("answer lost (injected)", system="jira")
        return comment.record()


@dataclass
class Posted:
    message_id: str
    text: str
    external: bool
    created_at: datetime = START


@dataclass
class FakeIntigriti:
    clock: Clock
    human: list[Message] = field(default_factory=list)
    posted: list[Posted] = field(default_factory=list)
    #: asked before an external message is accepted: raises when it must not go out
    guard: Callable[[str], None] = lambda text: None
    lose_next_answer: bool = False
    reads: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def say(self, text: str, *, internal: bool = False, author: str = "researcher") -> Message:
        message = Message(
            key=f"m{len(self.human)}",
            created_at=self.clock(),
            author=author,
            author_role="researcher" if not internal else "companyAdmin",
            internal=internal,
            text=text,
        )
        self.human.append(message)
        return message

    def messages(self, code: str, since: datetime | None = None) -> list[Message]:
        self.reads += 1
        mine = [
            Message(
                key=f"p{p.message_id}",
                created_at=p.created_at,
                author="api",
                author_role="api",
                internal=not p.external,
                text=p.text,
            )
            for p in self.posted
        ]
        every = self.human + mine
        return [m for m in every if since is None or m.created_at >= since]

    def _post(self, text: str, external: bool, before_send: Callable[[], None] | None) -> str:
        if before_send is not None:
            before_send()  # may withdraw the write: nothing is posted then
        if external:
            self.guard(text)
        message_id = f"msg-{next(self._ids)}"
        self.posted.append(Posted(message_id, text, external, self.clock()))
        if self.lose_next_answer:
            self.lose_next_answer = False
            raise AmbiguousWrite("answer lost (injected)", system="intigriti")
        return message_id

    def add_internal_note(
        self, code: str, text: str, *, before_send: Callable[[], None] | None = None
    ) -> str:
        return self._post(text, False, before_send)

    def message_researcher(
        self, code: str, text: str, *, before_send: Callable[[], None] | None = None
    ) -> str:
        return self._post(text, True, before_send)
