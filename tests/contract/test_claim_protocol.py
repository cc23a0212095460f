"""A model test of the claim protocol: interleaved executors, crashes between any two steps.

Three executors (three "processes", each its own instance) sync one new submission over
one real database, the way three polls would. Every call an executor makes into the
repository, Intigriti or Jira is a step; Hypothesis chooses which executor takes the next
step, when an executor crashes (at any step: before a call, or after a call that took
effect but whose answer is lost, such as a committed create), and when time passes. A
crashed executor is replaced by a fresh one with a new instance id, as a restart would
be; its heartbeat stops, so after the instance timeout its claims are free.

Jira may also commit a create and lose its answer (``AmbiguousWrite``), after which the
same process must look the tag up, and wait out the settle window, before creating again.

After every step Jira must hold at most one issue tagged with the submission; at the end,
once the survivors have run to completion, exactly one, linked in the database and
written back to Intigriti. The fakes honour the adapters' contracts (ports.py): Jira's
tag search lags behind creates, as Jira Cloud's does.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncd.errors import AmbiguousWrite
from syncd.records import Issue, NewIssue, Submission
from syncd.store.instances import InstanceRegistry
from syncd.store.repository import ClaimTerms, Repository
from syncd.sync.executor import Executor, ExecutorOptions, Summary
from syncd.sync.mapping import default_mapping

CODE = "ACME-7"
SEARCH_LAG = timedelta(seconds=5)
SETTLE = timedelta(seconds=20)
TIMEOUT = timedelta(seconds=30)
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Crash(BaseException):
    """The process dies here (not an Exception: nothing in syncd may catch it)."""


class Clock:
    def __init__(self) -> None:
        self.now = START
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += timedelta(seconds=seconds)


class Conductor:
    """Lets exactly one actor thread run at a time, one gated step per ``step``."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._local = threading.local()
        self._waiting: dict[int, str] = {}
        self._arrivals: dict[int, int] = {}
        self._go: int | None = None
        self._crash: set[int] = set()
        self.done: set[int] = set()
        self.errors: list[BaseException] = []

    def gate(self, label: str) -> None:
        actor: int | None = getattr(self._local, "actor", None)
        if actor is None:
            return  # the test's own thread is never gated
        with self._cv:
            if actor in self._crash:
                # dead: no finally, no cleanup, nothing more reaches the database or a side
                raise Crash(label)
            self._waiting[actor] = label
            self._arrivals[actor] = self._arrivals.get(actor, 0) + 1
            self._cv.notify_all()
            self._cv.wait_for(lambda: self._go == actor)
            self._go = None
            del self._waiting[actor]
            crash = actor in self._crash
        if crash:
            raise Crash(label)

    def spawn(self, actor: int, body: Callable[[], None]) -> None:
        def run() -> None:
            self._local.actor = actor
            try:
                self.gate("start")
                body()
            except Crash:
                pass
            except BaseException as exc:  # an assertion inside the actor
                self.errors.append(exc)
            finally:
                with self._cv:
                    self.done.add(actor)
                    self._cv.notify_all()

        threading.Thread(target=run, daemon=True).start()
        with self._cv:
            assert self._cv.wait_for(lambda: actor in self._waiting or actor in self.done, 10)

    def waiting_at(self, actor: int) -> str | None:
        with self._cv:
            return self._waiting.get(actor)

    def step(self, actor: int, *, crash: bool = False) -> None:
        with self._cv:
            assert actor in self._waiting
            before = self._arrivals[actor]
            if crash:
                self._crash.add(actor)
            self._go = actor
            self._cv.notify_all()
            arrived = self._cv.wait_for(
                lambda: self._arrivals[actor] > before or actor in self.done, timeout=20
            )
            assert arrived, f"actor {actor} is stuck outside a gate"


class Gated:
    """Every public method call of ``target`` becomes two steps: before and after."""

    def __init__(self, target: Any, conductor: Conductor, name: str) -> None:
        self._target = target
        self._conductor = conductor
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._target, attr)
        if attr.startswith("_") or not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            self._conductor.gate(f"{self._name}.{attr}")
            result = value(*args, **kwargs)
            self._conductor.gate(f"{self._name}.{attr} done")
            return result

        return call


@dataclass
class _Stored:
    issue: Issue
    created_at: datetime


class FakeJira:
    """Jira as the contract describes it, in memory; search lags behind creates."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.issues: dict[str, _Stored] = {}
        self._ids = itertools.count(10001)
        self._lock = threading.Lock()
        #: the next create commits, then its answer is lost (the connection drops)
        self.drop_next_answer = False

    def tagged(self, code: str) -> list[Issue]:
        with self._lock:
            return [s.issue for s in self.issues.values() if s.issue.submission_code == code]

    def find_by_submission(self, code: str) -> Issue | None:
        now = self.clock()
        with self._lock:
            visible = [
                s.issue
                for s in self.issues.values()
                if s.issue.submission_code == code and now - s.created_at >= SEARCH_LAG
            ]
        return min(visible, key=lambda i: int(i.id)) if visible else None

    def create_issue(
        self, new: NewIssue, *, before_send: Callable[[], None] | None = None
    ) -> Issue:
        if before_send is not None:
            before_send()
        with self._lock:
            number = next(self._ids)
            issue = Issue(
                id=str(number),
                key=f"{new.project}-{number - 10000}",
                project=new.project,
                status="To Do",
                priority=new.priority,
                resolution=None,
                updated_at=self.clock(),
                submission_code=new.submission_code,
            )
            self.issues[issue.id] = _Stored(issue, self.clock())
            dropped, self.drop_next_answer = self.drop_next_answer, False
        if dropped:
            raise AmbiguousWrite("POST /issue: connection dropped after sending", system="jira")
        return issue

    def get_issue(self, issue_id: str) -> Issue:
        with self._lock:
            for stored in self.issues.values():
                if issue_id in (stored.issue.id, stored.issue.key):
                    return stored.issue
        raise AssertionError(f"no issue {issue_id}")

    def _edit(self, issue_id: str, **changes: Any) -> None:
        with self._lock:
            stored = self.issues[issue_id]
            stored.issue = replace(stored.issue, updated_at=self.clock(), **changes)

    def set_priority(self, issue_id: str, priority: str, cvss: str | None) -> None:
        self._edit(issue_id, priority=priority)

    def transition_to(self, issue_id: str, status: str, resolution: str | None) -> None:
        self._edit(issue_id, status=status, resolution=resolution)

    def browse_url(self, key: str) -> str:
        return f"https://jira.example/browse/{key}"


class FakeIntigriti:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.submission = Submission(
            code=CODE,
            program_id="prog",
            title="XSS in search",
            status="Accepted",
            close_reason=None,
            severity="High",
            cvss_vector=None,
            cvss_score=None,
            internal_reference=None,
            internal_reference_url=None,
            created_at=START - timedelta(days=1),
            updated_at=START - timedelta(hours=1),
        )
        self.reference_writes = 0

    def get_submission(self, code: str) -> Submission:
        return self.submission

    def set_internal_reference(self, code: str, reference: str | None, url: str | None) -> None:
        self.reference_writes += 1
        self.submission = replace(
            self.submission,
            internal_reference=reference,
            internal_reference_url=url,
            updated_at=self.clock(),
        )

    def set_severity(self, code: str, severity: str, vector: str | None) -> None:
        self.submission = replace(self.submission, severity=severity, updated_at=self.clock())

    def move_to_status(self, submission: Submission, status: str, reason: str | None) -> None:
        self.submission = replace(
            self.submission, status=status, close_reason=reason, updated_at=self.clock()
        )


@dataclass
class Actor:
    index: int
    registry: InstanceRegistry
    crashed: bool = False


class World:
    def __init__(self, url: str) -> None:
        self.clock = Clock()
        self.conductor = Conductor()
        self.repository = Repository(url)
        self.repository.upgrade()
        self.jira = FakeJira(self.clock)
        self.intigriti = FakeIntigriti(self.clock)
        self.actors: dict[int, Actor] = {}
        self._next = itertools.count()
        self.mapping = default_mapping(default_project="SEC")

    def close(self) -> None:
        self.repository.close()

    def spawn(self) -> int:
        index = next(self._next)
        registry = InstanceRegistry(
            self.repository, command="model", instance_id=f"instance-{index}", clock=self.clock
        )
        registry.register("oneshot")
        executor = Executor(
            Gated(self.repository, self.conductor, "db"),  # type: ignore[arg-type]
            Gated(self.intigriti, self.conductor, "intigriti"),  # type: ignore[arg-type]
            Gated(self.jira, self.conductor, "jira"),  # type: ignore[arg-type]
            self.mapping,
            escape=lambda text: text,
            claims=ClaimTerms(instance=registry.id, instance_timeout=TIMEOUT),
            options=ExecutorOptions(create_settle=SETTLE),
            clock=self.clock,
        )
        self.actors[index] = Actor(index, registry)

        def body() -> None:
            # first as a poll that found the submission new, then as the retries of
            # deferred or pending items (claim first, read both sides)
            outcome = executor.sync(CODE, self.intigriti.submission, None, Summary())
            while outcome not in ("converged", "changed"):
                assert outcome in ("deferred", "pending", "skipped", "failed"), outcome
                self.conductor.gate("retry")
                outcome = executor.refresh(CODE, Summary(), submission=self.intigriti.submission)

        self.conductor.spawn(index, body)
        return index

    def live(self) -> list[int]:
        return [i for i, a in self.actors.items() if not a.crashed and i not in self.conductor.done]

    def pass_time(self, seconds: float) -> None:
        """Time passes; the live processes' heartbeat threads keep beating."""
        self.clock.advance(seconds)
        for actor in self.actors.values():
            if not actor.crashed:
                actor.registry.heartbeat()

    def check(self) -> None:
        assert not self.conductor.errors, self.conductor.errors
        tagged = self.jira.tagged(CODE)
        assert len(tagged) <= 1, f"two issues for one submission: {[i.key for i in tagged]}"


Move = tuple[str, int, float]
moves = st.lists(
    st.one_of(
        st.tuples(st.just("step"), st.integers(0, 5), st.just(0.0)),
        st.tuples(st.just("step"), st.integers(0, 5), st.just(0.0)),
        st.tuples(st.just("step"), st.integers(0, 5), st.just(0.0)),
        st.tuples(st.just("crash"), st.integers(0, 5), st.just(0.0)),
        st.tuples(st.just("time"), st.just(0), st.sampled_from([1.0, 6.0, 21.0, 31.0])),
        st.tuples(st.just("drop"), st.just(0), st.just(0.0)),
    ),
    min_size=10,
    max_size=120,
)


def _play(world: World, script: list[Move], max_crashes: int = 4) -> None:
    for _ in range(3):
        world.spawn()
    crashes = 0
    for kind, pick, seconds in script:
        live = world.live()
        if kind == "time":
            world.pass_time(seconds)
            continue
        if kind == "drop":
            world.jira.drop_next_answer = True
            continue
        if not live:
            break
        actor = live[pick % len(live)]
        if kind == "crash" and crashes < max_crashes:
            crashes += 1
            world.actors[actor].crashed = True
            world.conductor.step(actor, crash=True)
            world.spawn()  # the process is restarted
        else:
            world.conductor.step(actor)
        world.check()
    _drain(world)


def _drain(world: World) -> None:
    """Let the survivors finish, one at a time: each runs until it is done or waits to
    retry; when every one waits, time passes (settle windows, search lag)."""
    world.pass_time(TIMEOUT.total_seconds() + 1)  # the dead are now known to be dead
    for _ in range(50):
        live = world.live()
        if not live:
            break
        for actor in live:
            for _step in range(500):
                world.conductor.step(actor)
                world.check()
                if actor not in world.live() or world.conductor.waiting_at(actor) == "retry":
                    break
        world.pass_time(SETTLE.total_seconds())
    assert not world.live(), "the survivors did not converge"


@pytest.fixture
def world_factory(tmp_path: Path, database_url: str) -> Iterator[Callable[[], World]]:
    worlds: list[World] = []
    counter = itertools.count()

    def make() -> World:
        if database_url.startswith("sqlite"):
            url = f"sqlite:///{tmp_path / f'model-{next(counter)}.db'}"
        else:
            url = database_url
            _empty_tables(url)
        world = World(url)
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        world.close()


def _empty_tables(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            names = connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
            for name in list(names):
                if name != "alembic_version":
                    connection.execute(text(f'TRUNCATE "{name}" CASCADE'))
    finally:
        engine.dispose()


EXAMPLES = {"sqlite": 150, "postgresql": 40}


@pytest.mark.slow
def test_interleaved_executors_with_crashes_never_both_create(
    world_factory: Callable[[], World], database_url: str
) -> None:
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"

    @settings(
        max_examples=EXAMPLES[backend],
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(script=moves)
    def run(script: list[Move]) -> None:
        world = world_factory()
        _play(world, script)
        tagged = world.jira.tagged(CODE)
        assert len(tagged) == 1
        link = world.repository.get_link(CODE)
        assert link is not None and link.state == "linked" and link.issue_id == tagged[0].id
        assert world.intigriti.submission.internal_reference == tagged[0].key
        assert link.claim_instance is None, "a finished item holds no claim"

    run()
