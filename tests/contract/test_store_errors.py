"""Database failures name their cause: locked, disk full, read-only, unreachable.

Every case is produced for real: a second connection holding the lock, a tmpfs that fills
up (for PostgreSQL: a tablespace on it), a read-only mount or session setting, a
terminated backend, a closed port.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SmallDisk, lock_held, postgres_url
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from syncd.errors import (
    DatabaseBusy,
    DatabaseReadOnly,
    DatabaseUnreachable,
    DiskFull,
)
from syncd.store.repository import AuditEntry, Repository


def _entry(detail: str = "") -> AuditEntry:
    return AuditEntry("ACME-1", "severity", "to_jira", None, "High", "ok", detail)


def _opened(url: str, **kwargs: float) -> Repository:
    repository = Repository(url, **kwargs)
    repository.upgrade()
    return repository


def test_a_lock_held_elsewhere_is_named_with_the_configured_timeout(database_url: str) -> None:
    repository = _opened(database_url, busy_timeout_seconds=0.3)
    try:
        with lock_held(database_url):
            with pytest.raises(DatabaseBusy) as reading:
                repository.link_counts()
            with pytest.raises(DatabaseBusy) as migrating:
                repository.upgrade()
    finally:
        repository.close()
    for error, what in ((reading, "counting links"), (migrating, "upgrading the database schema")):
        message = str(error.value)
        assert message.startswith("the database is locked")
        assert "busy_timeout_seconds (0.3 s" in message
        assert f"while {what}" in message
    # the lock is gone: the same repository works again
    repository = _opened(database_url, busy_timeout_seconds=0.3)
    try:
        assert repository.link_counts() == {}
    finally:
        repository.close()


# -- disk full ---------------------------------------------------------------------------


@pytest.fixture
def postgres_on_small_disk(small_disk: SmallDisk) -> Iterator[str]:
    """A fresh PostgreSQL database whose tables live in a tablespace on ``small_disk``."""
    base = postgres_url()
    if base is None:
        pytest.skip("PostgreSQL tests need SYNCD_TEST_POSTGRES_URL")
    location = small_disk.path / "tablespace"
    location.mkdir()
    try:
        shutil.chown(location, "postgres", "postgres")
    except (LookupError, PermissionError) as exc:
        pytest.skip(f"a tablespace on the small disk needs the local postgres user: {exc}")
    suffix = uuid.uuid4().hex[:10]
    tablespace, database = f"syncd_small_{suffix}", f"syncd_small_{suffix}"
    admin = create_engine(make_url(base), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            try:
                connection.execute(text(f"CREATE TABLESPACE {tablespace} LOCATION '{location}'"))
            except Exception as exc:  # a server on another host cannot see this mount
                pytest.skip(f"the PostgreSQL server cannot use {location}: {exc}")
            connection.execute(text(f"CREATE DATABASE {database} TABLESPACE {tablespace}"))
        yield make_url(base).set(database=database).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
            connection.execute(text(f"DROP TABLESPACE IF EXISTS {tablespace}"))
        admin.dispose()


def _write_until_full(repository: Repository) -> DiskFull:
    incompressible = os.urandom(96 * 1024).hex()
    for _ in range(200):
        try:
            repository.audit([_entry(incompressible)])
        except DiskFull as exc:
            return exc
    raise AssertionError("200 writes of 192 KB each never filled the disk")


def test_a_full_disk_is_named_on_sqlite(small_disk: SmallDisk) -> None:
    repository = _opened(f"sqlite:///{small_disk.path / 'syncd.db'}")
    try:
        small_disk.fill()
        error = _write_until_full(repository)
        assert str(error).startswith(f"the disk is full: no space left in {small_disk.path}")
        assert "while writing audit log" in str(error)
        small_disk.free()
        repository.audit([_entry()])  # space is back: writes work again
    finally:
        repository.close()


@pytest.mark.postgres
def test_a_full_disk_is_named_on_postgresql(
    postgres_on_small_disk: str, small_disk: SmallDisk
) -> None:
    repository = _opened(postgres_on_small_disk)
    try:
        small_disk.fill()
        error = _write_until_full(repository)
        assert str(error).startswith("the disk is full: the PostgreSQL server has no space left")
        assert "SQLSTATE 53100" in str(error)
        small_disk.free()
        repository.audit([_entry()])
    finally:
        repository.close()


# -- read-only ---------------------------------------------------------------------------


def test_a_read_only_mount_is_named_on_sqlite(small_disk: SmallDisk) -> None:
    url = f"sqlite:///{small_disk.path / 'syncd.db'}"
    _opened(url).close()
    small_disk.remount(read_only=True)
    try:
        repository = Repository(url)
        with pytest.raises(DatabaseReadOnly) as error:
            repository.audit([_entry()])
        repository.close()
    finally:
        small_disk.remount(read_only=False)
    assert str(error.value).startswith("the database is read-only")
    assert "mounted read-only" in str(error.value)


def test_a_database_opened_read_only_is_named_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "syncd.db"
    _opened(f"sqlite:///{path}").close()
    repository = Repository(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        with pytest.raises(DatabaseReadOnly, match=r"^the database is read-only"):
            repository.audit([_entry()])
    finally:
        repository.close()


@pytest.mark.postgres
def test_a_read_only_session_is_named_on_postgresql(postgres_database: str) -> None:
    _opened(postgres_database).close()
    name = make_url(postgres_database).database
    admin = create_engine(postgres_database, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
    admin.dispose()
    repository = Repository(postgres_database)
    try:
        with pytest.raises(DatabaseReadOnly) as error:
            repository.audit([_entry()])
    finally:
        repository.close()
    assert "SQLSTATE 25006" in str(error.value)
    assert "default_transaction_read_only" in str(error.value)


# -- unreachable -------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_terminated_backend_is_named(postgres_database: str) -> None:
    repository = _opened(postgres_database)
    admin = create_engine(postgres_database, isolation_level="AUTOCOMMIT")

    def terminated_mid_transaction(session: Session) -> None:
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with admin.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        session.execute(text("SELECT 1"))

    try:
        with pytest.raises(DatabaseUnreachable) as error:
            repository._run(terminated_mid_transaction, what="reading links")
        assert str(error.value).startswith("the database is unreachable while reading links")
        assert repository.link_counts() == {}  # a new connection is made afterwards
    finally:
        repository.close()
        admin.dispose()


@pytest.mark.postgres
def test_a_closed_port_is_named_and_the_password_is_not_repeated() -> None:
    if postgres_url() is None:
        pytest.skip("PostgreSQL tests need SYNCD_TEST_POSTGRES_URL")
    repository = Repository("postgresql+psycopg://syncd:s3cret-pw@127.0.0.1:1/syncd")
    try:
        with pytest.raises(DatabaseUnreachable) as error:
            repository.link_counts()
    finally:
        repository.close()
    message = str(error.value)
    assert message.startswith("the database is unreachable while counting links")
    assert "Connection refused" in message
    assert "s3cret-pw" not in message


def test_a_path_that_cannot_be_opened_is_named_on_sqlite(tmp_path: Path) -> None:
    directory = tmp_path / "a-directory"
    directory.mkdir()
    repository = Repository(f"sqlite:///{directory}")
    try:
        with pytest.raises(DatabaseUnreachable, match=r"^cannot open the SQLite database"):
            repository.upgrade()
    finally:
        repository.close()

