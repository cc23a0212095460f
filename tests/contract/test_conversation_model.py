"""Model tests of the conversation runner (messages <-> comments) over a real database.

The sides are in-memory fakes honouring the ports' contracts (conversation_fakes.py);
the ledger, the marks and the claims are syncd's own, on SQLite (and PostgreSQL in CI).

The property that matters most: under any sequence of comment creates, edits,
visibility changes and deletes on Jira (with or without the marker, restricted or not,
some of them landing between syncd's read and its send), no comment without the marker
and no restricted comment ever becomes an external Intigriti message; with the marker
and no restriction, exactly once.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncd.errors import AmbiguousWrite, Rejected, TransientError
from syncd.records import Comment, CommentVisibility
from syncd.store.conversation import ConversationLedger
from syncd.store.repository import ClaimTerms, Repository
from syncd.sync.content import fallback_escape
from syncd.sync.conversation import ConversationOptions
from syncd.sync.conversation_runner import ConversationRunner
from syncd.sync.executor import Summary
from tests.contract.conversation_fakes import Clock, FakeComment, FakeIntigriti, FakeJira

MARKER = "[to researcher]"
VISIBILITY = CommentVisibility("role", "Developers")
_REF = re.compile(r"syncd ref ([0-9a-f]{12})")
_codes = itertools.count(1)


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repository]:
    repo = Repository(f"sqlite:///{tmp_path_factory.mktemp('conv') / 'syncd.db'}")
    repo.upgrade()
    yield repo
    repo.close()


def _linked(repository: Repository, clock: Clock) -> str:
    number = next(_codes)
    code = f"ACME-{number}"
    terms = ClaimTerms("test-instance")
    repository.begin_create(code, "program", clock(), "tok", terms)
    repository.complete_link(code, str(10_000 + number), f"SEC-{number}")
    repository.release_claim(code, "tok")
    return code


def _runner(
    repository: Repository, intigriti: FakeIntigriti, jira: FakeJira, clock: Clock
) -> ConversationRunner:
    return ConversationRunner(
        repository,
        ConversationLedger(repository),
        intigriti,
        jira,
        ConversationOptions(to_jira=True, to_intigriti=True, marker=MARKER),
        visibility=VISIBILITY,
        escape=fallback_escape,
        claims=ClaimTerms("test-instance"),
        clock=clock,
    )


def _meant_for_researcher(comment: FakeComment) -> bool:
    """The oracle, written apart from syncd's own rule: marked and unrestricted."""
    return comment.body.lstrip().startswith(MARKER) and not comment.restricted


def _source_of(text: str, ledger: ConversationLedger, code: str) -> str:
    match = _REF.search(text)
    assert match, f"a copy without its reference: {text!r}"
    rows = [c for c in ledger.copies(code) if c.ref == match.group(1)]
    assert len(rows) == 1
    return rows[0].source_id


# a step of the Jira side, or of syncd
create = st.tuples(st.just("create"), st.booleans(), st.booleans())
edit = st.tuples(st.just("edit"), st.integers(0, 7), st.booleans())
restrict = st.tuples(st.just("restrict"), st.integers(0, 7), st.booleans())
delete = st.tuples(st.just("delete"), st.integers(0, 7), st.just(False))
sync = st.tuples(st.just("sync"), st.just(0), st.just(False))
# a human acts between syncd's read and its send: restricts (odd) or unmarks (even)
racing = st.tuples(st.just("race"), st.integers(0, 15), st.booleans())
say = st.tuples(st.just("say"), st.just(0), st.booleans())  # a message, internal or not
# the next copy's answer is lost after it landed (Intigriti; Jira too when flagged)
lose = st.tuples(st.just("lose"), st.just(0), st.booleans())
wait = st.tuples(st.just("wait"), st.just(0), st.just(False))  # past the settle time
steps = st.lists(
    st.one_of(create, edit, restrict, delete, sync, racing, lose, wait, say), max_size=30
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps)
def test_only_marked_unrestricted_comments_reach_the_researcher_and_each_once(
    repository: Repository, steps: list[tuple[str, int, bool]]
) -> None:
    clock = Clock()
    code = _linked(repository, clock)
    jira = FakeJira(clock)
    intigriti = FakeIntigriti(clock)
    ledger = ConversationLedger(repository)
    leaks: list[str] = []

    def guard(text: str) -> None:
        # the moment an external message goes out: its comment must say so, right now
        comment = jira.items[_source_of(text, ledger, code)]
        if comment.deleted or not _meant_for_researcher(comment):
            leaks.append(f"{comment.id}: {comment.body!r}, restricted={comment.restricted}")

    intigriti.guard = guard
    runner = _runner(repository, intigriti, jira, clock)

    def human_comments() -> list[str]:
        return [c.id for c in jira.items.values() if not c.mine]

    def act(kind: str, index: int, flag: bool) -> None:
        ids = human_comments()
        if kind == "create":
            body = f"{MARKER} fixed in 1.2" if flag else "looking into it"
            jira.add(body, restricted=index % 2 == 1)
            return
        if not ids:
            return
        target = jira.items[ids[index % len(ids)]]
        if kind == "edit":
            plain = target.body.replace(MARKER, "").strip()
            target.body = f"{MARKER} {plain}" if flag else plain
        elif kind == "restrict":
            target.restricted = flag
        elif kind == "delete":
            target.deleted = True

    for kind, index, flag in steps:
        clock.tick(5)
        if kind == "sync":
            runner.sync(code, Summary())
        elif kind == "lose":
            intigriti.lose_next_answer = True
            jira.lose_next_answer = flag
        elif kind == "wait":
            clock.tick(200)
        elif kind == "say":
            intigriti.say(f"message {len(intigriti.human)}", internal=flag)
        elif kind == "race":
            # a human acts between syncd's read and its send
            move, value = ("restrict", flag) if index % 2 else ("edit", not flag)
            jira.after_read.append(lambda m=move, i=index // 2, v=value: act(m, i, v))
        else:
            act(kind, index, flag)
        assert not leaks, leaks
    jira.after_read.clear()
    intigriti.lose_next_answer = jira.lose_next_answer = False
    for _ in range(3):  # past the settle time: everything in flight is settled
        clock.tick(200)
        runner.sync(code, Summary())
    assert not leaks, leaks
    assert {c.state for c in ledger.copies(code)} <= {"sent", "withdrawn"}
    # every message copied to Jira once, and nothing syncd wrote came back
    jira_copies = Counter(_source_of(c.body, ledger, code) for c in jira.items.values() if c.mine)
    assert all(n == 1 for n in jira_copies.values()), jira_copies
    assert set(jira_copies) == {m.key for m in intigriti.human}

    external = Counter(_source_of(p.text, ledger, code) for p in intigriti.posted if p.external)
    internal = Counter(_source_of(p.text, ledger, code) for p in intigriti.posted if not p.external)
    assert all(n == 1 for n in external.values()), external
    assert all(n == 1 for n in internal.values()), internal
    for comment in jira.items.values():
        if comment.mine:
            assert comment.id not in external and comment.id not in internal
            continue
        if not comment.deleted and _meant_for_researcher(comment):
            assert external[comment.id] == 1, f"{comment} was never sent to the researcher"
        if not comment.deleted:
            # every comment reaches Intigriti, as an internal note unless it went out
            assert external[comment.id] + internal[comment.id] >= 1
    for posted in intigriti.posted:
        if posted.external:
            assert MARKER not in posted.text  # the marker is removed before sending


def test_an_internal_note_lands_in_jira_only_as_a_restricted_comment(
    repository: Repository,
) -> None:
    clock = Clock()
    code = _linked(repository, clock)
    jira, intigriti = FakeJira(clock), FakeIntigriti(clock)
    intigriti.say("triager: do not pay yet, dupe of ACME-2?", internal=True, author="Tom")
    intigriti.say("here is a *bold* {color:red}PoC{color} [x|javascript:alert(1)]")
    runner = _runner(repository, intigriti, jira, clock)

    runner.sync(code, Summary())

    copies = [c for c in jira.items.values() if c.mine]
    assert len(copies) == 2
    note, public = copies
    assert note.restricted and note.visibility == VISIBILITY
    assert "do not pay yet" in note.body and "Tom" in note.body
    assert not public.restricted and public.visibility is None
    # the researcher's markup is rendered literally: every special character escaped
    assert "\\*bold\\*" in public.body and "\\{color" in public.body
    assert "[x|javascript" not in public.body


def test_a_lost_answer_is_found_by_its_reference_and_never_sent_twice(
    repository: Repository,
) -> None:
    clock = Clock()
    code = _linked(repository, clock)
    jira, intigriti = FakeJira(clock), FakeIntigriti(clock)
    intigriti.say("first")
    jira.add("a note for the triagers")
    jira.lose_next_answer = True
    intigriti.lose_next_answer = True
    runner = _runner(repository, intigriti, jira, clock)

    first = Summary()
    assert runner.sync(code, first) == "pending"
    # both copies went out; their answers were lost, so the ledger rows wait
    assert [c.state for c in ConversationLedger(repository).copies(code)] == ["sending"] * 2

    clock.tick(1)
    runner.sync(code, Summary())
    clock.tick(600)
    runner.sync(code, Summary())

    assert len([c for c in jira.items.values() if c.mine]) == 1
    assert len(intigriti.posted) == 1
    assert {c.state for c in ConversationLedger(repository).copies(code)} == {"sent"}


def test_a_copy_that_never_arrived_is_resent_after_the_settle_time(
    repository: Repository,
) -> None:
    clock = Clock()
    code = _linked(repository, clock)
    jira, intigriti = FakeJira(clock), FakeIntigriti(clock)
    intigriti.say("one")
    intigriti.say("two")
    runner = _runner(repository, intigriti, jira, clock)
    real_post = jira.post_comment
    calls = 0

    def lost_on_the_way(
        issue_id: str,
        body: str,
        visibility: CommentVisibility | None = None,
        *,
        before_send: Callable[[], None] | None = None,
    ) -> Comment:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise AmbiguousWrite("connection dropped before Jira read it", system="jira")
        return real_post(issue_id, body, visibility, before_send=before_send)

    jira.post_comment = lost_on_the_way  # type: ignore[method-assign]
    runner.sync(code, Summary())
    assert not [c for c in jira.items.values() if c.mine]  # "two" waits behind "one"
    clock.tick(30)
    runner.sync(code, Summary())
    assert not [c for c in jira.items.values() if c.mine]  # still settling
    clock.tick(300)
    runner.sync(code, Summary())

    bodies = [c.body for c in jira.items.values() if c.mine]
    assert len(bodies) == 2
    assert "one" in bodies[0] and "two" in bodies[1]  # in order


def test_twenty_messages_each_way_once_in_order_then_nothing(repository: Repository) -> None:
    clock = Clock()
    code = _linked(repository, clock)
    jira, intigriti = FakeJira(clock), FakeIntigriti(clock)
    for n in range(20):
        clock.tick(1)
        intigriti.say(f"researcher message {n}")
        jira.add(f"developer comment {n}")
    runner = _runner(repository, intigriti, jira, clock)

    summary = Summary()
    assert runner.sync(code, summary) == "changed"
    assert summary.total_writes == 40
    copies = [c.body for c in jira.items.values() if c.mine]
    assert [int(re.search(r"researcher message (\d+)", b).group(1)) for b in copies] == list(
        range(20)
    )
    notes = [p.text for p in intigriti.posted]
    assert [int(re.search(r"developer comment (\d+)", t).group(1)) for t in notes] == list(
        range(20)
    )
    assert not any(p.external for p in intigriti.posted)

    again = Summary()
    clock.tick(timedelta(minutes=5).total_seconds())
    assert runner.sync(code, again) == "converged"
    assert again.total_writes == 0


@pytest.mark.parametrize("meanwhile", ["restricted", "unmarked", "deleted"])
def test_a_comment_changed_between_read_and_send_is_not_sent_to_the_researcher(
    repository: Repository, meanwhile: str
) -> None:
    clock = Clock()
    code = _linked(repository, clock)
    jira, intigriti = FakeJira(clock), FakeIntigriti(clock)
    comment = jira.add(f"{MARKER} the fix ships on Monday")

    def change() -> None:
        if meanwhile == "restricted":
            comment.restricted = True
        elif meanwhile == "unmarked":
            comment.body = "the fix ships on Monday (do not tell them yet)"
        else:
            comment.deleted = True

    jira.after_read.append(change)
    runner = _runner(repository, intigriti, jira, clock)
    runner.sync(code, Summary(), read_intigriti=False)
    assert not [p for p in intigriti.posted if p.external]

    clock.tick(5)
    runner.sync(code, Summary(), read_intigriti=False)
    assert not [p for p in intigriti.posted if p.external]
    if meanwhile != "deleted":
        assert len(intigriti.posted) == 1  # an internal note, as any other comment


def test_a_refused_copy_is_reported_and_the_next_ones_go_on(repository: Repository) -> None:
    clock = Clock()
    code = _linked(repository, clock)
    jira, intigriti = FakeJira(clock), FakeIntigriti(clock)
    intigriti.say("one")
    intigriti.say("two")
    real_post = jira.post_comment
    calls = 0

    def refuse_the_first(
        issue_id: str,
        body: str,
        visibility: CommentVisibility | None = None,
        *,
        before_send: Callable[[], None] | None = None,
    ) -> Comment:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise Rejected("400 comment: too long", system="jira", status=400)
        return real_post(issue_id, body, visibility, before_send=before_send)

    jira.post_comment = refuse_the_first  # type: ignore[method-assign]
    summary = Summary()
    assert _runner(repository, intigriti, jira, clock).sync(code, summary) == "failed"
    assert "refused" in summary.failures[code]
    assert not summary.ok  # `run --reconcile` exits 1
    bodies = [c.body for c in jira.items.values() if c.mine]
    assert len(bodies) == 1 and "two" in bodies[0]
    states = sorted(c.state for c in ConversationLedger(repository).copies(code))
    assert states == ["rejected", "sent"]

    clock.tick(600)  # not retried: the refusal is final, and reported once
    again = Summary()
    assert _runner(repository, intigriti, jira, clock).sync(code, again) == "converged"
    assert calls == 2


def test_a_transient_failure_sends_nothing_and_is_planned_again(repository: Repository) -> None:
    clock = Clock()
    code = _linked(repository, clock)
    jira, intigriti = FakeJira(clock), FakeIntigriti(clock)
    jira.add("a developer note")
    jira.add("a second one")
    real_note = intigriti.add_internal_note
    calls = 0

    def busy_once(code: str, text: str, *, before_send: Callable[[], None] | None = None) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TransientError("503 (retries used up)", system="intigriti", status=503)
        return real_note(code, text, before_send=before_send)

    intigriti.add_internal_note = busy_once  # type: ignore[method-assign]
    runner = _runner(repository, intigriti, jira, clock)
    assert runner.sync(code, Summary()) == "pending"
    assert intigriti.posted == []  # the second waits behind the first: order is kept
    clock.tick(1)  # no settle wait: nothing can have arrived
    assert runner.sync(code, Summary()) == "changed"
    texts = [p.text for p in intigriti.posted]
    assert "a developer note" in texts[0] and "a second one" in texts[1]


def test_a_one_way_conversation_marks_the_other_side_without_reading_it(
    repository: Repository,
) -> None:
    clock = Clock()
    code = _linked(repository, clock)
    jira, intigriti = FakeJira(clock), FakeIntigriti(clock)
    intigriti.say("hello")
    runner = ConversationRunner(
        repository,
        ConversationLedger(repository),
        intigriti,
        jira,
        ConversationOptions(to_jira=True, to_intigriti=False, marker=MARKER),
        visibility=VISIBILITY,
        escape=fallback_escape,
        claims=ClaimTerms("test-instance"),
        clock=clock,
    )
    seen = clock()
    runner.sync(code, Summary(), intigriti_version=seen, jira_version=seen)
    assert jira.reads == 0
    mark = ConversationLedger(repository).marks([code])[code]
    assert mark.intigriti_seen_at == seen and mark.jira_seen_at == seen
