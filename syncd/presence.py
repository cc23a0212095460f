"""This process among the others on one database: registration, heartbeat, leadership.

Every syncing command (the daemon, the one-shot reconcile) registers an instance row and
renews its heartbeat from a background thread; other processes treat the claims of an
instance silent for ``instance_timeout`` as free. The daemon also holds the leader lease:
``check_leading`` runs with every heartbeat and before every write, so a leader that lost its
lease (killed database session, replaced lock file) stops writing before its next action.

``may_write`` is False when the lease is lost, or when this process could not renew its
heartbeat for most of the timeout: the others may already consider it dead and take its
claims, so it must not send another write on their strength.
"""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import timedelta

import structlog

from syncd.errors import StoreError
from syncd.store.instances import InstanceRecord, InstanceRegistry, Role
from syncd.store.lease import LeaderLease
from syncd.store.repository import ClaimTerms, Repository

log = structlog.get_logger(__name__)

#: heartbeats per instance timeout
BEATS_PER_TIMEOUT = 6


class Presence:
    def __init__(
        self,
        repository: Repository,
        *,
        command: str,
        instance_timeout: timedelta,
        lease: LeaderLease | None = None,
    ) -> None:
        self.repository = repository
        self.registry = InstanceRegistry(repository, command=command)
        self.instance_timeout = instance_timeout
        self.claims = ClaimTerms(instance=self.registry.id, instance_timeout=instance_timeout)
        self._lease = lease
        self._leading = False
        self._last_beat = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def id(self) -> str:
        return self.registry.id

    @property
    def beat_interval(self) -> float:
        return self.instance_timeout.total_seconds() / BEATS_PER_TIMEOUT

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, role: Role) -> InstanceRecord:
        record = self.registry.register(role)
        self._last_beat = time.monotonic()
        self._thread = threading.Thread(target=self._beat_loop, name="heartbeat", daemon=True)
        self._thread.start()
        return record

    def stop(self) -> None:
        """Clean exit: claims released, row removed, lease let go (in that order)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with contextlib.suppress(StoreError):
            released = self.repository.release_claims_of(self.registry.id)
            if released:
                log.info("claims_released", count=released)
        with contextlib.suppress(StoreError):
            self.registry.unregister()
        if self._lease is not None:
            with self._lock:
                self._leading = False
                self._lease.release()

    def _beat_loop(self) -> None:
        while not self._stop.wait(self.beat_interval):
            try:
                if self.registry.heartbeat():
                    self._last_beat = time.monotonic()
                else:
                    # pruned while this process was frozen: register again
                    self.registry.register(self._role())
                    self._last_beat = time.monotonic()
            except StoreError as exc:
                log.warning("heartbeat_failed", error=str(exc))
            if self._lease is not None and self._leading:
                self.check_leading()  # notices a lost lease even while idle

    def _role(self) -> Role:
        if self._lease is None:
            return "oneshot"
        return "active" if self._leading else "standby"

    # -- leadership --------------------------------------------------------------------

    def try_lead(self) -> bool:
        """Take the leader lease if it is free (True also while already holding it)."""
        assert self._lease is not None
        with self._lock:
            got = self._lease.try_acquire()
            if got and not self._leading:
                self._leading = True
                self.registry.set_role("active")
            return got

    @property
    def leader(self) -> bool:
        """Whether this process held the lease when last checked (no database call)."""
        return self._leading

    def check_leading(self) -> bool:
        """Whether this process holds the leader lease, asked of the database now."""
        if self._lease is None:
            return False
        with self._lock:
            if not self._leading:
                return False
            if self._lease.holds():
                return True
            self._leading = False
        log.error("leader_lease_lost", lease=self._lease.describe())
        with contextlib.suppress(StoreError):
            self.registry.set_role("standby")
        return False

    def step_down(self) -> None:
        if self._lease is None:
            return
        with self._lock:
            self._leading = False
            self._lease.release()
        with contextlib.suppress(StoreError):
            self.registry.set_role("standby")

    # -- the write gate ----------------------------------------------------------------

    def heartbeat_fresh(self) -> bool:
        # a margin of two beats: act as dead before the others may think we are
        limit = self.instance_timeout.total_seconds() - 2 * self.beat_interval
        return time.monotonic() - self._last_beat < limit

    def may_write(self) -> bool:
        if not self.heartbeat_fresh():
            log.warning("writes_paused", reason="heartbeat could not be renewed")
            return False
        return self._lease is None or self.check_leading()

    def active_instance(self) -> InstanceRecord | None:
        return self.registry.active(self.instance_timeout)

    def others(self) -> list[InstanceRecord]:
        return self.registry.others(self.instance_timeout)
