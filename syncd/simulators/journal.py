"""Every mutating API request a simulator served, in order: what a test or benchmark
needs to prove that no write was applied twice (the route counters only count)."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

#: a benchmark's worth of writes; older entries fall off the front
DEFAULT_CAPACITY = 200_000


class WriteJournal:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def record(self, method: str, path: str, status: int) -> None:
        if method in ("GET", "HEAD", "OPTIONS"):
            return
        with self._lock:
            self._entries.append(
                {"at": time.time(), "method": method, "path": path, "status": status}
            )

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()
