"""Counts of the requests each API client sent and retried, for `syncd status` and
/metrics. Thread-safe: the daemon's jobs share one client per side."""

from __future__ import annotations

import threading
import time
from collections import Counter


class RequestTally:
    """Requests by (route template, outcome) and retries by route, since the start."""

    def __init__(self) -> None:
        self._requests: Counter[tuple[str, str]] = Counter()
        self._retries: Counter[str] = Counter()
        self._lock = threading.Lock()
        #: time.monotonic() of the last attempt (0: none yet), for liveness
        self.last_at = 0.0

    def request(self, route: str, outcome: int | str) -> None:
        """One attempt sent; ``outcome`` is the HTTP status, or an error name when no
        status came back (a timeout, a refused connection)."""
        with self._lock:
            self._requests[(route, str(outcome))] += 1
            self.last_at = time.monotonic()

    def retry(self, route: str) -> None:
        with self._lock:
            self._retries[route] += 1

    def requests(self) -> Counter[tuple[str, str]]:
        with self._lock:
            return Counter(self._requests)

    def retries(self) -> Counter[str]:
        with self._lock:
            return Counter(self._retries)
