"""The queue between webhook deliveries and their targeted reconciles.

Bounded and coalescing: it holds each submission or issue once, however many events
name it, so a burst of events for one item costs one reconcile, and a flood of
deliveries costs memory for ``capacity`` items at most. An event for an item being
reconciled right now queues it once more (the running reconcile may have read before
the change). A full queue refuses (the listener answers 503 with Retry-After and the
sender delivers again). One worker thread drains it while this instance is active; a
standby keeps nothing (the listener refuses deliveries while not active).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Literal

import structlog

from syncd.service.webhooks import Source

log = structlog.get_logger(__name__)

Offer = Literal["queued", "coalesced", "full"]
Key = tuple[Source, str]
Handler = Callable[[Source, str, bool], None]


class Inbox:
    def __init__(self, capacity: int, handle: Handler, *, active: Callable[[], bool]) -> None:
        self.capacity = capacity
        self._handle = handle
        self._active = active
        self._pending: OrderedDict[Key, bool] = OrderedDict()  # key -> deleted
        self._busy: Key | None = None
        self._again: dict[Key, bool] = {}
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.counts: Counter[str] = Counter()
        #: time.monotonic() of the last accepted delivery per source
        self.last_delivery: dict[str, float] = {}

    def offer(self, source: Source, item: str, *, deleted: bool = False) -> Offer:
        key: Key = (source, item)
        with self._cond:
            self.last_delivery[source] = time.monotonic()
            if key in self._pending:
                self._pending[key] = self._pending[key] or deleted
                self.counts["coalesced"] += 1
                return "coalesced"
            if key == self._busy:
                self._again[key] = self._again.get(key, False) or deleted
                self.counts["coalesced"] += 1
                return "coalesced"
            if len(self._pending) >= self.capacity:
                self.counts["full"] += 1
                return "full"
            self._pending[key] = deleted
            self.counts["queued"] += 1
            self._cond.notify()
            return "queued"

    def has_room(self) -> bool:
        with self._cond:
            return len(self._pending) < self.capacity

    def depth(self) -> int:
        with self._cond:
            return len(self._pending)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="webhook-inbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _next(self) -> tuple[Key, bool] | None:
        with self._cond:
            while not self._stop and (not self._pending or not self._active()):
                # not active: wait for the lease (the items stay; a poll covers them too)
                self._cond.wait(0.5)
            if self._stop:
                return None
            key, deleted = self._pending.popitem(last=False)
            self._busy = key
            return key, deleted

    def _loop(self) -> None:
        while True:
            taken = self._next()
            if taken is None:
                return
            (source, item), deleted = taken
            try:
                self._handle(source, item, deleted)
                self.counts["reconciled"] += 1
            except Exception as exc:
                # the item's next poll or the sweep reconciles it anyway
                self.counts["failed"] += 1
                log.warning(
                    "webhook_reconcile_failed",
                    source=source,
                    item=item,
                    error=str(exc),
                    error_type=type(exc).__name__,
                )
            finally:
                with self._cond:
                    key: Key = (source, item)
                    self._busy = None
                    if key in self._again:
                        again = self._again.pop(key)
                        if key not in self._pending:
                            self._pending[key] = again
                            self._pending.move_to_end(key, last=False)
