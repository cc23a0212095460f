"""The one place where database failures become cause-naming ``StoreError``s.

SQLAlchemy wraps the driver's exception; the cause is read from the driver's own code:
``sqlite_errorname`` of the ``sqlite3`` error (``SQLITE_BUSY``, ``SQLITE_FULL``, ...) and
the SQLSTATE of the ``psycopg`` error (``55P03``, ``53100``, ...), never from message
text. An operator reads the result as is (``syncd: <message>``), so each message says what
happened and what to do, and never carries a row value (engines are built with
``hide_parameters``; the driver text is only quoted for a failed connection, which names
host and port but no password).
"""

from __future__ import annotations

import errno
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from syncd.errors import (
    DatabaseBusy,
    DatabaseReadOnly,
    DatabaseUnreachable,
    DiskFull,
    StoreError,
)

#: SQLSTATEs of PostgreSQL (Appendix A of its manual) that name a cause
_PG_LOCKED = {"55P03"}  # lock_not_available: lock_timeout expired
_PG_DISK_FULL = {"53100"}  # disk_full
_PG_READ_ONLY = {"25006"}  # read_only_sql_transaction (a standby, or the setting)
_PG_GONE = {
    "57P01": "the server terminated the session (pg_terminate_backend or a shutdown)",
    "57P02": "the server crashed",
    "57P03": "the server is starting up or shutting down",
    "53300": "the server has no connection slot left (too many clients)",
    "3D000": "the database does not exist",
    "28000": "the server refused the login",
    "28P01": "the server refused the password",
}


@dataclass(frozen=True)
class ErrorTranslator:
    """Builds the StoreError for one database (its kind, its file, its busy timeout)."""

    dialect: str
    busy_timeout_seconds: float
    #: the SQLite file, when the database is one
    path: Path | None = None
    #: scrubbed from any driver text quoted in a message
    password: str | None = field(default=None, repr=False)

    @classmethod
    def for_url(cls, url: URL, busy_timeout_seconds: float) -> ErrorTranslator:
        database = url.database
        path = None
        if url.get_backend_name() == "sqlite" and database and database != ":memory:":
            path = Path(database.removeprefix("file:").split("?", 1)[0])
        password = url.password if isinstance(url.password, str) else None
        return cls(url.get_backend_name(), busy_timeout_seconds, path, password or None)

    def store_error(self, exc: SQLAlchemyError, what: str) -> StoreError:
        """The StoreError for ``exc``, raised while ``what`` (e.g. "reading links")."""
        orig = exc.orig if isinstance(exc, DBAPIError) else None
        if self.dialect == "sqlite":
            name = getattr(orig, "sqlite_errorname", None)
            if isinstance(name, str):
                return self._sqlite(name, what)
        elif self.dialect == "postgresql":
            state = getattr(orig, "sqlstate", None)
            if isinstance(state, str):
                found = self._postgres(state, what)
                if found is not None:
                    return found
            if state is None and (
                _is_connection_failure(orig)
                or (isinstance(exc, DBAPIError) and exc.connection_invalidated)
            ):
                return self._pg_unreachable(self._quote(orig), what)
        detail = getattr(orig, "sqlite_errorname", None) or getattr(orig, "sqlstate", None)
        suffix = f" ({detail})" if detail else ""
        return StoreError(f"database error while {what}: {type(exc).__name__}{suffix}")

    def os_error(self, exc: OSError, what: str) -> StoreError:
        """A filesystem error next to a SQLite database (creating it, the space reserve)."""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return self._disk_full(what)
        if exc.errno == errno.EROFS:
            return self._read_only(what)
        if exc.errno in (errno.EACCES, errno.EPERM):
            return DatabaseReadOnly(
                f"the database is read-only: permission denied on {self._where()} while"
                f" {what}. The user syncd runs as must be able to write the database file"
                " and its directory."
            )
        return StoreError(f"file system error on {self._where()} while {what}: {exc.strerror}")

    # -- SQLite ------------------------------------------------------------------------

    def _sqlite(self, name: str, what: str) -> StoreError:
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return DatabaseBusy(
                f"the database is locked: another process or connection kept {self._where()}"
                f" locked for longer than busy_timeout_seconds ({self.busy_timeout_seconds:g}"
                f" s) while {what}. Another syncd, or a tool holding a write transaction open"
                " on the file (e.g. the sqlite3 shell), is writing: let it finish or stop it,"
                " or raise [database] busy_timeout_seconds."
            )
        if name == "SQLITE_FULL":
            return self._disk_full(what)
        if name.startswith("SQLITE_READONLY") or (
            name.startswith("SQLITE_CANTOPEN") and self._on_read_only_mount()
        ):
            return self._read_only(what)
        if name.startswith("SQLITE_CANTOPEN"):
            return DatabaseUnreachable(
                f"cannot open the SQLite database {self._where()} while {what}. Check that the"
                " path names a file in an existing directory that the user syncd runs as may"
                " write (SQLite also creates the -wal and -shm files beside it)."
            )
        if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
            return StoreError(
                f"the SQLite database {self._where()} is damaged or not a database"
                f" ({name}) while {what}. Restore it from a backup."
            )
        if name.startswith("SQLITE_IOERR"):
            return StoreError(
                f"disk I/O error ({name}) on {self._where()} while {what}. The disk may be"
                " failing or full: check the system log and the free space."
            )
        return StoreError(f"database error while {what}: {name}")

    def _on_read_only_mount(self) -> bool:
        if self.path is None:
            return False
        try:
            return bool(os.statvfs(self.path.parent).f_flag & os.ST_RDONLY)
        except OSError:
            return False

    def _where(self) -> str:
        return str(self.path) if self.path is not None else "the database"

    def _disk_full(self, what: str) -> DiskFull:
        if self.dialect == "postgresql":
            return DiskFull(
                f"the disk is full: the PostgreSQL server has no space left (SQLSTATE 53100)"
                f" while {what}. Free space in its data directory or tablespace."
            )
        where = self.path.parent if self.path is not None else "the database's directory"
        return DiskFull(
            f"the disk is full: no space left in {where} while {what}. Free space on that"
            " filesystem, or move the database to a larger one."
        )

    def _read_only(self, what: str) -> DatabaseReadOnly:
        if self.dialect == "postgresql":
            return DatabaseReadOnly(
                f"the database is read-only: the PostgreSQL server refused a write (SQLSTATE"
                f" 25006) while {what}. It is a standby, or default_transaction_read_only is"
                " on for this user or database: point database.url at the primary or allow"
                " writes."
            )
        return DatabaseReadOnly(
            f"the database is read-only: {self._where()} cannot be written while {what}."
            " Check that its filesystem is not mounted read-only and that the user syncd"
            " runs as may write the file and its directory."
        )

    # -- PostgreSQL --------------------------------------------------------------------

    def _postgres(self, state: str, what: str) -> StoreError | None:
        if state in _PG_LOCKED:
            return DatabaseBusy(
                f"the database is locked: another session held a lock needed while {what}"
                f" for longer than busy_timeout_seconds ({self.busy_timeout_seconds:g} s,"
                " applied as lock_timeout). Find the blocker with pg_blocking_pids() and"
                " pg_stat_activity, let it finish or end it, or raise"
                " [database] busy_timeout_seconds."
            )
        if state in _PG_DISK_FULL:
            return self._disk_full(what)
        if state in _PG_READ_ONLY:
            return self._read_only(what)
        reason = _PG_GONE.get(state)
        if reason is not None or state.startswith("08"):
            return self._pg_unreachable(reason or f"connection error, SQLSTATE {state}", what)
        return None

    def _quote(self, orig: BaseException | None) -> str:
        lines = str(orig).strip().splitlines() if orig is not None else []
        text = lines[0][:200] if lines else "the connection failed"
        return text.replace(self.password, "***") if self.password else text

    @staticmethod
    def _pg_unreachable(reason: str, what: str) -> DatabaseUnreachable:
        return DatabaseUnreachable(
            f"the database is unreachable while {what}: {reason}. Check that the PostgreSQL"
            " server is running and reachable and that database.url points at it."
        )


def _is_connection_failure(orig: BaseException | None) -> bool:
    # psycopg raises OperationalError without a SQLSTATE when no server answered at all
    # (refused, reset, closed unexpectedly, DNS). psycopg is looked up, not imported: a
    # process on SQLite never loads the driver, and then no error can be psycopg's
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(orig, psycopg.OperationalError)
