"""Liveness and readiness: the rules /healthz, /readyz and the systemd watchdog share.

*Alive* means the process's loop turns and, while active, its scheduler runs and work
moves: a request went out (every poll sends one), or a call waits for quota. A poll that
handles a large burst may run for many minutes; it is alive as long as it sends requests.
*Ready* means this instance syncs right now: the database answers, the Intigriti token is
usable, this instance is the active one, and each side's last successful read is within
``READY_WITHIN_INTERVALS`` poll intervals.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["starting", "standby", "active", "stopping"]

#: a side whose last successful read is older than this many poll intervals is not ready
READY_WITHIN_INTERVALS = 3
#: work that has not moved for this long (and at least 10 poll intervals) is stuck
MIN_STALL_SECONDS = 600.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class ServiceState:
    """What the daemon's loops report, for the probes. Thread-safe."""

    poll_intervals: dict[str, float]
    #: the longest the process loop may stay silent (a standby waits between lease tries)
    tick_limit: float
    clock: Callable[[], float] = time.monotonic
    role: Role = "starting"
    _scheduler_running: Callable[[], bool] | None = None
    _last_tick: float = field(default_factory=time.monotonic)
    _term_started: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def stall_limit(self) -> float:
        return max(MIN_STALL_SECONDS, 10 * max(self.poll_intervals.values()))

    def tick(self, role: Role) -> None:
        with self._lock:
            self.role = role
            self._last_tick = self.clock()

    def term_started(self, scheduler_running: Callable[[], bool]) -> None:
        with self._lock:
            self.role = "active"
            self._scheduler_running = scheduler_running
            self._term_started = self.clock()
            self._last_tick = self._term_started

    def term_ended(self, role: Role) -> None:
        with self._lock:
            self.role = role
            self._scheduler_running = None

    def liveness(self, last_activity: Callable[[], float], waiting: Callable[[], bool]) -> Check:
        """``last_activity``: monotonic time of the last request sent;
        ``waiting``: whether a call is waiting for quota right now (alive, not stuck)."""
        with self._lock:
            now = self.clock()
            silent = now - self._last_tick
            role = self.role
            running = self._scheduler_running
            term_started = self._term_started
        if role in ("starting", "stopping"):
            # start-up may wait out a Jira outage for as long as it lasts (systemd bounds
            # it with TimeoutStartSec); a stop ends within seconds
            return Check("alive", True, role)
        if silent > self.tick_limit:
            return Check("alive", False, f"the main loop has been silent for {silent:.0f} s")
        if role != "active" or running is None:
            return Check("alive", True, role)
        if not running():
            return Check("alive", False, "the scheduler is not running")
        idle = now - max(last_activity(), term_started)
        if idle > self.stall_limit and not waiting():
            return Check(
                "alive",
                False,
                f"no request sent for {idle:.0f} s"
                f" (limit {self.stall_limit:.0f} s)",
            )
        return Check("alive", True, "active")

    def cycles_check(self, last_success: Callable[[str], float | None]) -> list[Check]:
        """Each side read successfully within its READY_WITHIN_INTERVALS poll intervals
        (``last_success`` gives seconds since the epoch, in this process)."""
        checks = []
        now = time.time()
        for side, interval in sorted(self.poll_intervals.items()):
            at = last_success(side)
            limit = READY_WITHIN_INTERVALS * interval
            if at is None:
                checks.append(Check(f"{side}_cycle", False, f"no successful {side} cycle yet"))
            elif now - at > limit:
                checks.append(
                    Check(
                        f"{side}_cycle",
                        False,
                        f"the last successful {side} cycle was {now - at:.0f} s ago"
                        f" (limit {limit:.0f} s: {READY_WITHIN_INTERVALS} poll intervals)",
                    )
                )
            else:
                checks.append(Check(f"{side}_cycle", True, f"{now - at:.0f} s ago"))
        return checks
