"""The instances registry: every syncd process on one database, its role and heartbeat.

Each process that syncs (the daemon, active or standby, and the one-shot reconcile)
registers a row at start, renews its heartbeat every few seconds and removes the row on a
clean exit. Two things rest on it: claims held by an instance whose heartbeat stopped are
free (its process died), and ``syncd status`` shows who is active and who stands by.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from syncd import __version__
from syncd.store.repository import Repository, _aware
from syncd.store.tables import InstanceRow

Role = Literal["starting", "active", "standby", "oneshot"]


@dataclass(frozen=True)
class InstanceRecord:
    id: str
    host: str
    pid: int
    command: str
    role: str
    version: str
    started_at: datetime
    role_since: datetime
    heartbeat_at: datetime

    def describe(self) -> str:
        since = self.role_since.isoformat(timespec="seconds")
        return f"{self.host} pid {self.pid} ({self.command}, {self.role} since {since})"


def _record(row: InstanceRow) -> InstanceRecord:
    return InstanceRecord(
        id=row.id,
        host=row.host,
        pid=row.pid,
        command=row.command,
        role=row.role,
        version=row.version,
        started_at=_aware(row.started_at) or datetime.now(UTC),
        role_since=_aware(row.role_since) or datetime.now(UTC),
        heartbeat_at=_aware(row.heartbeat_at) or datetime.now(UTC),
    )


def new_instance_id() -> str:
    return uuid.uuid4().hex


class InstanceRegistry:
    """This process's row in ``instances``, and a view of the others."""

    #: rows of instances silent for this long are removed by whoever registers next
    PRUNE_AFTER = timedelta(days=1)

    def __init__(
        self,
        repository: Repository,
        *,
        command: str,
        instance_id: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._repository = repository
        self.id = instance_id or new_instance_id()
        self.command = command
        self._clock = clock

    def register(self, role: Role) -> InstanceRecord:
        now = self._clock()

        def work(session: Session) -> InstanceRecord:
            session.execute(
                delete(InstanceRow).where(InstanceRow.heartbeat_at < now - self.PRUNE_AFTER)
            )
            row = session.get(InstanceRow, self.id)
            if row is None:
                row = InstanceRow(
                    id=self.id,
                    host=socket.gethostname()[:255],
                    pid=os.getpid(),
                    command=self.command,
                    version=__version__,
                    started_at=now,
                    role=role,
                    role_since=now,
                )
                session.add(row)
            elif row.role != role:
                row.role = role
                row.role_since = now
            row.heartbeat_at = now
            session.flush()
            return _record(row)

        record: InstanceRecord = self._repository._run(work, what="registering this instance")
        return record

    def set_role(self, role: Role) -> InstanceRecord:
        return self.register(role)

    def heartbeat(self) -> bool:
        """Renew the heartbeat; False if the row is gone (pruned while we were frozen)."""
        now = self._clock()

        def work(session: Session) -> bool:
            row = session.get(InstanceRow, self.id)
            if row is None:
                return False
            row.heartbeat_at = now
            return True

        alive: bool = self._repository._run(work, what="renewing the heartbeat")
        return alive

    def unregister(self) -> None:
        def work(session: Session) -> None:
            session.execute(delete(InstanceRow).where(InstanceRow.id == self.id))

        self._repository._run(work, what="unregistering this instance")

    def others(self, timeout: timedelta) -> list[InstanceRecord]:
        """Other instances whose heartbeat is recent (alive), active first."""
        alive = alive_instances(self._repository, timeout, self._clock())
        return [instance for instance in alive if instance.id != self.id]

    def active(self, timeout: timedelta) -> InstanceRecord | None:
        for instance in self.others(timeout):
            if instance.role == "active":
                return instance
        return None


def alive_instances(
    repository: Repository, timeout: timedelta, now: datetime
) -> list[InstanceRecord]:
    def work(session: Session) -> list[InstanceRecord]:
        query = (
            select(InstanceRow)
            .where(InstanceRow.heartbeat_at >= now - timeout)
            .order_by(InstanceRow.role, InstanceRow.started_at)
        )
        return [_record(row) for row in session.scalars(query)]

    records: list[InstanceRecord] = repository._run(work, what="reading instances")
    return records


def all_instances(repository: Repository) -> list[InstanceRecord]:
    def work(session: Session) -> list[InstanceRecord]:
        query = select(InstanceRow).order_by(InstanceRow.role, InstanceRow.started_at)
        return [_record(row) for row in session.scalars(query)]

    records: list[InstanceRecord] = repository._run(work, what="reading instances")
    return records
