"""Shared fixtures: database URLs for SQLite and (when available) PostgreSQL; a small disk."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

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
    # no pool: each use gets a new session, so one terminated meanwhile (tests of
    # pg_terminate_backend run on this server) cannot break the clean-up
    admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
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


@dataclass
class SmallDisk:
    """A tmpfs of a few MiB mounted for one test: a real filesystem that really fills up.

    ``fill()`` writes a filler file until the kernel answers ENOSPC; ``free()`` deletes it.
    """

    path: Path

    @property
    def filler(self) -> Path:
        return self.path / "filler"

    def fill(self) -> None:
        chunk = b"\0" * 65536
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while True:
                try:
                    os.write(fd, chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    if len(chunk) == 512:
                        return
                    chunk = chunk[: len(chunk) // 2]  # top up the last pages
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def remount(self, *, read_only: bool) -> None:
        mode = "ro" if read_only else "rw"
        subprocess.run(["mount", "-o", f"remount,{mode}", str(self.path)], check=True)


def _mount_tmpfs(path: Path, size: str) -> str | None:
    """Mount a tmpfs at ``path``; the reason when this machine does not allow it."""
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        return f"cannot run mount: {exc.strerror}"
    if done.returncode != 0:
        return f"mounting a tmpfs needs root or CAP_SYS_ADMIN: {done.stderr.strip()}"
    return None


@pytest.fixture
def small_disk() -> Iterator[SmallDisk]:
    """An 8 MiB tmpfs under /tmp (world-traversable, so a local PostgreSQL can use it for a
    tablespace). Skips, saying why, where the machine does not allow mounting one."""
    mount_point = Path(tempfile.mkdtemp(prefix="syncd-disk-", dir="/tmp"))
    mount_point.chmod(0o755)
    reason = _mount_tmpfs(mount_point, "8m")
    if reason is not None:
        mount_point.rmdir()
        pytest.skip(reason)
    try:
        yield SmallDisk(mount_point)
    finally:
        # lazy: a killed syncd may still hold a file open for a moment
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
        mount_point.rmdir()


@contextlib.contextmanager
def lock_held(database_url: str) -> Iterator[None]:
    """Another connection (not syncd's) holds SQLite's write lock, or PostgreSQL locks on
    the tables syncd reads first (links, alembic_version, oauth_tokens)."""
    if database_url.startswith("sqlite"):
        connection = sqlite3.connect(make_url(database_url).database or "", isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            connection.execute(
                text("LOCK TABLE links, alembic_version, oauth_tokens IN ACCESS EXCLUSIVE MODE")
            )
            yield
            connection.rollback()
    finally:
        engine.dispose()
