"""Engine creation: SQLite (WAL, file created 0600) or PostgreSQL by URL."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from syncd.errors import ConfigError


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


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except Exception:
        raise ConfigError("database.url: not a valid SQLAlchemy URL") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        _prepare_sqlite_file(parsed.database)
        # hide_parameters: SQL errors must never print row values (tokens) into a log
        engine = create_engine(url, connect_args={"timeout": 60}, hide_parameters=True)
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True, hide_parameters=True)
    raise ConfigError(f"database.url: unsupported database {backend!r} (use sqlite or postgresql)")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # let us emit BEGIN ourselves (pysqlite's implicit transactions are too late)
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Every transaction takes the write lock up front. A deferred transaction that
        # reads and then writes fails at once with "database is locked" when another
        # thread wrote in between (SQLite cannot upgrade a stale snapshot); IMMEDIATE
        # makes it wait (busy_timeout) instead. syncd's transactions are short.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
