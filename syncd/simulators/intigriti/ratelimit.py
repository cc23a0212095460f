"""Per-integration read and write quotas, counted over a sliding 60-second window.

A request is allowed when fewer than ``limit`` requests of its kind were allowed in the
60 seconds before it (a request exactly 60 s old no longer counts). So a client pacing at
exactly the quota (one request every 60/limit seconds) is never refused, and any burst
that would put more than ``limit`` requests into one 60-second window is. Time comes from
the simulator clock, so tests can move it instead of sleeping.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int
    reset_at: float


class RateLimiter:
    def __init__(self, clock: Callable[[], float], *, read: int, write: int) -> None:
        self._clock = clock
        self._limits = {"read": read, "write": write}
        self._windows: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def configure(self, *, read: int | None = None, write: int | None = None) -> None:
        with self._lock:
            if read is not None:
                self._limits["read"] = read
            if write is not None:
                self._limits["write"] = write
            self._windows.clear()

    def limits(self) -> dict[str, int]:
        with self._lock:
            return dict(self._limits)

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()

    def check(self, key: str, kind: str) -> Decision:
        """Count one request of ``kind`` ("read"/"write") for ``key`` if it is allowed."""
        with self._lock:
            now = self._clock()
            limit = self._limits[kind]
            window = self._windows.setdefault((key, kind), deque())
            while window and window[0] <= now - WINDOW_SECONDS:
                window.popleft()
            if limit <= 0:
                return Decision(False, limit, 0, int(WINDOW_SECONDS), now + WINDOW_SECONDS)
            if len(window) < limit:
                window.append(now)
                reset_at = window[0] + WINDOW_SECONDS
                return Decision(True, limit, limit - len(window), 0, reset_at)
            reset_at = window[0] + WINDOW_SECONDS
            retry_after = max(1, math.ceil(reset_at - now))
            return Decision(False, limit, 0, retry_after, reset_at)
