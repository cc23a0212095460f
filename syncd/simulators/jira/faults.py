"""Rate limits, injected faults and per-route request counters.

Rate limits follow Jira Cloud: a burst bucket per endpoint and HTTP method, and a write
bucket per issue; a refusal is a 429 with ``Retry-After`` (seconds), ``X-RateLimit-Limit``,
``X-RateLimit-Remaining``, ``X-RateLimit-Reset`` (``yyyy-MM-ddTHH:mmZ``),
``X-RateLimit-NearLimit`` and ``RateLimit-Reason``.

Faults are armed through the control API and match requests by a shell-style pattern
over ``"METHOD /route/template"`` or ``"METHOD /concrete/path"``.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase

from syncd.simulators.jira.timefmt import format_minute_utc
from syncd.simulators.journal import WriteJournal

# Jira Cloud sends X-RateLimit-NearLimit: true once less than 20% of a budget remains.
NEAR_LIMIT_SHARE = 0.2
FAULT_KINDS = ("error", "rate_limit", "stall", "drop_after_commit", "malformed")


@dataclass
class Bucket:
    capacity: int
    refill_per_second: float
    tokens: float
    stamp: float

    def take(self, now: float) -> float:
        """Take one token; return 0 when granted, else the seconds until one is free."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.refill_per_second)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        if self.refill_per_second <= 0:
            return 3600.0
        return (1 - self.tokens) / self.refill_per_second


@dataclass(frozen=True)
class RateLimitHit:
    reason: str
    limit: int
    retry_after: int
    fill_rate: float = 1.0

    def headers(self, *, cloud: bool = True) -> dict[str, str]:
        if not cloud:
            # Data Center's token bucket names (the jira library logs exactly these).
            return {
                "Retry-After": str(self.retry_after),
                "X-RateLimit-Limit": str(self.limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Interval-Seconds": "1",
                "X-RateLimit-FillRate": f"{self.fill_rate:g}",
            }
        reset = datetime.now(UTC) + timedelta(seconds=self.retry_after)
        return {
            "Retry-After": str(self.retry_after),
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": format_minute_utc(reset),
            "X-RateLimit-NearLimit": "true",
            "RateLimit-Reason": self.reason,
        }


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, ...], Bucket] = {}

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()

    def check(
        self, key: tuple[str, ...], capacity: int, refill: float, reason: str
    ) -> tuple[RateLimitHit | None, bool]:
        """Take a token: (the refusal or None, whether under 20% of the bucket is left)."""
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None or bucket.capacity != capacity or bucket.refill_per_second != refill:
                bucket = Bucket(capacity, refill, float(capacity), now)
                self._buckets[key] = bucket
            wait = bucket.take(now)
            near = bucket.tokens < NEAR_LIMIT_SHARE * capacity
            if wait <= 0:
                return None, near
            return RateLimitHit(reason, capacity, max(1, math.ceil(wait)), refill), near


@dataclass
class Fault:
    kind: str
    pattern: str
    remaining: int | None  # None: unlimited (rate-based faults)
    rate: float = 1.0
    status: int = 503
    retry_after: int | None = None
    seconds: float = 0.0
    reason: str = "jira-burst-based"
    fired: int = 0


@dataclass
class FaultBoard:
    lock: threading.Lock = field(default_factory=threading.Lock)
    faults: list[Fault] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)
    journal: WriteJournal = field(default_factory=WriteJournal)
    rng: random.Random = field(default_factory=lambda: random.Random(1234))

    def arm(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()

    def count(self, route: str) -> None:
        with self.lock:
            self.counters[route] += 1

    def snapshot_counters(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counters)

    def reset_counters(self) -> None:
        with self.lock:
            self.counters.clear()

    def take(self, route: str, concrete: str) -> list[Fault]:
        """The faults that fire for this request (at most one of each kind)."""
        fired: list[Fault] = []
        with self.lock:
            kinds: set[str] = set()
            for fault in self.faults:
                if fault.kind in kinds:
                    continue
                if not (fnmatchcase(route, fault.pattern) or fnmatchcase(concrete, fault.pattern)):
                    continue
                if fault.remaining is not None and fault.remaining <= 0:
                    continue
                if fault.rate < 1.0 and self.rng.random() >= fault.rate:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                fault.fired += 1
                kinds.add(fault.kind)
                fired.append(fault)
            self.faults = [f for f in self.faults if f.remaining is None or f.remaining > 0]
        return fired
