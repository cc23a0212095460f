"""Engine creation: SQLite (WAL, file created 0600) or PostgreSQL by URL.

``busy_timeout_seconds`` (``[database] busy_timeout_seconds``) bounds how long a statement
waits for a lock another process or session holds: SQLite's busy timeout, PostgreSQL's
``lock_timeout``. Past it the statement fails with ``DatabaseBusy`` ("the database is
locked"), instead of waiting without end (PostgreSQL's default) or failing with a bare
``OperationalError``.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from syncd.errors import ConfigError
from syncd.store.errors import ErrorTranslator

DEFAULT_BUSY_TIMEOUT_SECONDS = 60.0


def _prepare_sqlite_file(database: str | None) -> None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # create the file ourselves so it is never world-readable, whatever the umask
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(fd)


def parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except Exception:
        raise ConfigError("database.url: not a valid SQLAlchemy URL") from None


def display_url(url: str) -> str:
    """The database URL as it may be shown: without its password."""
    return parse_url(url).render_as_string(hide_password=True)


def missing_database(url: str) -> str | None:
    """Why the database at ``url`` cannot be opened without creating it; None if it can.

    Read-only commands ask first, because opening a SQLite URL creates an empty file.
    """
    parsed = parse_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        if not database or database == ":memory:":
            return "an in-memory SQLite database holds nothing"
        if database.startswith("file:"):
            return None  # a SQLite URI: the driver decides
        path = Path(database)
        return None if path.is_file() else f"there is no database file {path.absolute()}"
    engine = make_engine(url)
    try:
        with engine.connect():
            return None
    except SQLAlchemyError as exc:
        # the driver's first line ("database \"x\" does not exist", "connection refused")
        reason = str(getattr(exc, "orig", None) or type(exc).__name__).strip().splitlines()[0]
        return f"cannot open {display_url(url)}: {reason}"
    finally:
        engine.dispose()


def make_engine(url: str, *, busy_timeout_seconds: float = DEFAULT_BUSY_TIMEOUT_SECONDS) -> Engine:
    parsed = parse_url(url)
    backend = parsed.get_backend_name()
    timeout_ms = max(1, round(busy_timeout_seconds * 1000))
    if backend == "sqlite":
        try:
            _prepare_sqlite_file(parsed.database)
        except OSError as exc:
            translator = ErrorTranslator.for_url(parsed, busy_timeout_seconds)
            raise translator.os_error(exc, "creating the SQLite database file") from exc
        # hide_parameters: SQL errors must never print row values (tokens) into a log
        engine = create_engine(
            url, connect_args={"timeout": busy_timeout_seconds}, hide_parameters=True
        )
        _configure_sqlite(engine, timeout_ms)
        return engine
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        # libpq "options" sets lock_timeout for every session of the pool; options already
        # in the URL are kept
        given = parsed.query.get("options")
        options = f"-c lock_timeout={timeout_ms}"
        if isinstance(given, str) and given:
            options = f"{given} {options}"
        return create_engine(
            parsed,
            pool_pre_ping=True,
            hide_parameters=True,
            connect_args={"options": options},
        )
    raise ConfigError(f"database.url: unsupported database {backend!r} (use sqlite or postgresql)")


def _configure_sqlite(engine: Engine, timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # let us emit BEGIN ourselves (pysqlite's implicit transactions are too late)
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={timeout_ms}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Every transaction takes the write lock up front. A deferred transaction that
        # reads and then writes fails at once with "database is locked" when another
        # thread wrote in between (SQLite cannot upgrade a stale snapshot); IMMEDIATE
        # makes it wait (busy_timeout) instead. syncd's transactions are short.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
