"""The leader lease: at most one active daemon per database.

* PostgreSQL: a session-level advisory lock held on a dedicated connection. The server
  drops it the moment that session ends (process killed, connection terminated by
  ``pg_terminate_backend``, network gone), so a standby's next try succeeds.
* SQLite: an exclusive ``flock`` on a file beside the database (``<db>.lock``). The kernel
  drops it when the process dies, however it dies.

``holds()`` asks again (one round trip on PostgreSQL), so a leader notices a lost lease
before its next action rather than at its next start. Claims on links keep the data
correct even while two processes briefly both believe they lead; the lease keeps the
work (and the quota) with one of them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from pathlib import Path
from typing import IO, Protocol

import structlog
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

log = structlog.get_logger(__name__)

#: advisory lock key of the leader lease ("sync" in ASCII): below 2**31, so pg_locks shows
#: it as classid 0, objid LEADER_KEY, objsubid 1
LEADER_KEY = 0x73796E63


class LeaderLease(Protocol):
    def try_acquire(self) -> bool:
        """Take the lease if it is free; True while this process holds it."""
        ...

    def holds(self) -> bool:
        """Whether this process still holds the lease (checked now, not remembered)."""
        ...

    def release(self) -> None: ...

    def describe(self) -> str: ...


class PostgresLease:
    def __init__(self, url: str) -> None:
        # its own engine without a pool: the lock lives exactly as long as this connection
        self._engine = create_engine(
            make_url(url), poolclass=NullPool, hide_parameters=True, pool_pre_ping=False
        )
        self._connection: Connection | None = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"PostgreSQL advisory lock {LEADER_KEY}"

    def try_acquire(self) -> bool:
        with self._lock:
            if self._connection is not None and self._check():
                return True
            self._drop()
            try:
                connection = self._engine.connect()
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                got = connection.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_KEY}
                ).scalar()
            except SQLAlchemyError as exc:
                log.warning("leader_lease_unavailable", error=type(exc).__name__)
                return False
            if not got:
                connection.close()
                return False
            self._connection = connection
            return True

    def holds(self) -> bool:
        with self._lock:
            if self._connection is None:
                return False
            if self._check():
                return True
            self._drop()
            return False

    def _check(self) -> bool:
        assert self._connection is not None
        try:
            held = self._connection.execute(
                text(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
                    " AND granted AND pid = pg_backend_pid() AND classid = 0"
                    " AND objid = :key AND objsubid = 1)"
                ),
                {"key": LEADER_KEY},
            ).scalar()
        except SQLAlchemyError:
            return False  # the session is gone, and the lock with it
        return bool(held)

    def _drop(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None

    def release(self) -> None:
        with self._lock:
            if self._connection is not None:
                with contextlib.suppress(SQLAlchemyError):
                    self._connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": LEADER_KEY}
                    )
            self._drop()
        self._engine.dispose()


class FileLease:
    """``flock`` on ``path``; the file itself is only a name to lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"file lock {self.path}"

    def try_acquire(self) -> bool:
        with self._lock:
            if self._file is not None and self._same_file():
                return True
            self._close()
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            handle = os.fdopen(fd, "r+b")
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                return False
            self._file = handle
            return True

    def holds(self) -> bool:
        with self._lock:
            return self._file is not None and self._same_file()

    def _same_file(self) -> bool:
        # someone deleting or replacing the lock file would let a second process lock a
        # new file of the same name: then neither may count as the leader
        assert self._file is not None
        try:
            return os.fstat(self._file.fileno()).st_ino == os.stat(self.path).st_ino
        except OSError:
            return False

    def _close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def release(self) -> None:
        with self._lock:
            self._close()


class NoLease:
    """An in-memory SQLite database: one process by definition."""

    def describe(self) -> str:
        return "in-memory database (no lease needed)"

    def try_acquire(self) -> bool:
        return True

    def holds(self) -> bool:
        return True

    def release(self) -> None:
        return None


def leader_lease(url: str) -> LeaderLease:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return PostgresLease(parsed.render_as_string(hide_password=False))
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return NoLease()
    return FileLease(Path(f"{database}.lock"))
