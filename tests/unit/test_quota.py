"""Token buckets on a fake clock: pacing, pauses and live-before-backfill."""

from __future__ import annotations

import threading

import pytest

from syncd.quota import Priority, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def test_rejects_non_positive_rate() -> None:
    with pytest.raises(ValueError, match="writes: rate_per_minute"):
        TokenBucket("writes", 0)


def test_never_exceeds_rate_over_a_minute() -> None:
    clock = FakeClock()
    bucket = TokenBucket("writes", 200, clock=clock, sleep=clock.sleep)
    grants = []
    while clock() < 60.0:
        bucket.acquire()
        grants.append(clock())
    in_first_minute = [t for t in grants if t < 60.0]
    # 200/min with a burst of ceil(200/60) tokens: never more than rate + burst
    assert len(in_first_minute) <= 200 + 4
    assert len(in_first_minute) >= 195
    assert bucket.stats().granted == len(grants)


def test_pause_stops_grants_for_the_requested_time() -> None:
    clock = FakeClock()
    bucket = TokenBucket("reads", 600, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    bucket.pause(5.0)
    bucket.acquire()
    assert clock() >= 5.0
    assert bucket.stats().paused_by_server == 1


def test_backfill_yields_while_live_work_waits() -> None:
    bucket = TokenBucket("writes", 600, burst=1)
    bucket.pause(0.5)  # nobody gets a token for a moment: both callers queue up
    order: list[str] = []

    def take(priority: Priority) -> None:
        bucket.acquire(priority)
        order.append(priority.name)

    backfill = threading.Thread(target=take, args=(Priority.BACKFILL,))
    backfill.start()
    while bucket.waiting(Priority.BACKFILL) == 0:
        threading.Event().wait(0.001)
    live = threading.Thread(target=take, args=(Priority.LIVE,))
    live.start()
    for thread in (backfill, live):
        thread.join(timeout=10)
    # the backfill caller came first but the live one was served first
    assert order == ["LIVE", "BACKFILL"]


def test_priority_context_applies_to_acquire_without_argument() -> None:
    from syncd.quota import current_priority, priority

    bucket = TokenBucket("writes", 600, burst=1)
    bucket.pause(0.5)
    seen: list[int] = []

    def backfill_work() -> None:
        with priority(Priority.BACKFILL):
            assert current_priority() is Priority.BACKFILL
            seen.append(0)
            bucket.acquire()

    thread = threading.Thread(target=backfill_work)
    thread.start()
    while bucket.waiting(Priority.BACKFILL) == 0:
        threading.Event().wait(0.001)
    assert bucket.waiting(Priority.LIVE) == 0
    thread.join(timeout=10)
    assert current_priority() is Priority.LIVE
