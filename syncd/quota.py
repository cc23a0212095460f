"""Token buckets that pace requests before a server has to refuse them.

One bucket per quota (Intigriti reads, Intigriti writes, Jira). ``acquire`` blocks until
a token is free. Callers of ``Priority.LIVE`` are served before ``Priority.BACKFILL`` ones
whenever both wait, so a backfill never starves live sync. A 429 still reaches us
sometimes (another client on the same integration, a server with a different clock):
``pause`` then stops the whole bucket for the time the server asked.
"""

from __future__ import annotations

import contextlib
import enum
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass


class Priority(enum.IntEnum):
    LIVE = 0
    BACKFILL = 1


#: the priority of the work running in this thread/context; adapters need not pass it on
_current_priority: ContextVar[Priority] = ContextVar("syncd_priority", default=Priority.LIVE)


@contextlib.contextmanager
def priority(level: Priority) -> Iterator[None]:
    """Run a block (e.g. a backfill sweep) at ``level``: every bucket acquire inside uses it."""
    token = _current_priority.set(level)
    try:
        yield
    finally:
        _current_priority.reset(token)


def current_priority() -> Priority:
    return _current_priority.get()


@dataclass(frozen=True)
class BucketStats:
    name: str
    rate_per_minute: float
    granted: int
    waited_seconds: float
    paused_by_server: int
    #: tokens in the bucket now (0 while the server asked for a pause)
    available: float = 0.0


class TokenBucket:
    """A thread-safe token bucket refilled continuously at ``rate_per_minute``.

    ``burst`` is the bucket size: how many requests may go back to back after an idle
    spell. It defaults to one second's worth (at least 1). Any 60-second window then
    holds at most ``rate + burst`` grants, so a caller facing a strict sliding window (as
    the Intigriti client does) uses ``burst=1`` and a rate a little under the quota.
    """

    def __init__(
        self,
        name: str,
        rate_per_minute: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_minute <= 0:
            raise ValueError(f"{name}: rate_per_minute must be positive, got {rate_per_minute}")
        self.name = name
        self.rate_per_minute = float(rate_per_minute)
        self._per_second = rate_per_minute / 60.0
        self._capacity = burst if burst is not None else max(1.0, self._per_second)
        self._tokens = self._capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self._waiting = {Priority.LIVE: 0, Priority.BACKFILL: 0}
        self._granted = 0
        self._waited = 0.0
        self._server_pauses = 0

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self._capacity, self._tokens + elapsed * self._per_second)
        self._updated = now

    def acquire(self, priority: Priority | None = None) -> float:
        """Take one token, waiting as needed; returns the seconds waited.

        Without an explicit ``priority`` the caller's context decides (see ``priority()``).
        """
        if priority is None:
            priority = current_priority()
        started = self._clock()
        with self._lock:
            self._waiting[priority] += 1
        try:
            while True:
                with self._lock:
                    now = self._clock()
                    self._refill(now)
                    yield_to_live = priority is Priority.BACKFILL and self._waiting[Priority.LIVE]
                    if now >= self._paused_until and self._tokens >= 1.0 and not yield_to_live:
                        self._tokens -= 1.0
                        self._granted += 1
                        waited = now - started
                        self._waited += waited
                        return waited
                    if now < self._paused_until:
                        delay = self._paused_until - now
                    else:
                        delay = max((1.0 - self._tokens) / self._per_second, 0.001)
                self._sleep(min(delay, 0.25))
        finally:
            with self._lock:
                self._waiting[priority] -= 1

    def pause(self, seconds: float) -> None:
        """Stop granting tokens for ``seconds`` (the server said Retry-After)."""
        with self._lock:
            now = self._clock()
            self._paused_until = max(self._paused_until, now + max(0.0, seconds))
            self._tokens = 0.0
            self._updated = now
            self._server_pauses += 1

    def waiting(self, priority: Priority) -> int:
        """How many callers of this priority are waiting for a token now."""
        with self._lock:
            return self._waiting[priority]

    def stats(self) -> BucketStats:
        with self._lock:
            now = self._clock()
            self._refill(now)
            return BucketStats(
                name=self.name,
                rate_per_minute=self.rate_per_minute,
                granted=self._granted,
                waited_seconds=round(self._waited, 3),
                paused_by_server=self._server_pauses,
                available=0.0 if now < self._paused_until else round(self._tokens, 3),
            )
