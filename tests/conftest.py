"""Shared fixtures: database URLs for SQLite and (when available) PostgreSQL."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

POSTGRES_ENV = "SYNCD_TEST_POSTGRES_URL"
POSTGRES_SKIP_REASON = (
    f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1/test);"
    " .ci/run sets it"
)


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


@functools.cache
def _postgres_problem(url: str) -> str | None:
    """Why the PostgreSQL server at ``url`` cannot be used (asked once per session)."""
    engine = create_engine(url)
    try:
        with engine.connect():
            return None
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        parsed = make_url(url)
        if "does not exist" in reason and parsed.database:
            host = parsed.host or "127.0.0.1"
            user = f" -U {parsed.username}" if parsed.username else ""
            return (
                f"{POSTGRES_ENV} names database {parsed.database!r}, which does not exist:"
                f" create it with `createdb -h {host}{user} {parsed.database}`"
            )
        return f"cannot connect to {POSTGRES_ENV} ({reason})"
    finally:
        engine.dispose()


def _postgres_or_skip() -> str:
    """The server URL, or skip (fail where SYNCD_REQUIRE_POSTGRES is set) saying why."""
    base = postgres_url()
    problem = POSTGRES_SKIP_REASON if base is None else _postgres_problem(base)
    if problem is not None:
        if os.environ.get("SYNCD_REQUIRE_POSTGRES"):
            pytest.fail(f"SYNCD_REQUIRE_POSTGRES is set, but: {problem}")
        pytest.skip(problem)
    assert base is not None
    return base


@pytest.fixture
def postgres_server() -> str:
    """The URL of a reachable PostgreSQL server (its database exists)."""
    return _postgres_or_skip()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'syncd.db'}"


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    url = make_url(_postgres_or_skip())
    name = f"syncd_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'syncd.db'}"
    url: str = request.getfixturevalue("postgres_database")
    return url
