"""A token rotation never loses the rotated refresh token (syncd/store/tokens.py).

Real databases and real faults: a second connection holding the lock, a read-only
database, a tmpfs that fills up while the token request is in flight, a PostgreSQL
session terminated or refused at the commit. The refresh callback stands in for the token
endpoint: these tests are about what the store does with the answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from conftest import SmallDisk, lock_held
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from syncd.errors import (
    DatabaseBusy,
    DatabaseReadOnly,
    DiskFull,
    TokenNotSaved,
)
from syncd.records import OAuthToken
from syncd.store.repository import Repository
from syncd.store.sealing import TokenSealer
from syncd.store.tokens import DatabaseTokenStore

NOT_SPENT = "the stored refresh token is still valid: nothing is lost"


def _token(n: int) -> OAuthToken:
    return OAuthToken(f"access-{n}", f"refresh-{n}", datetime(2030, 1, 1, tzinfo=UTC), "s")


class Endpoint:
    """A stand-in token endpoint: answers refresh N with pair N+1, and can run a fault
    (``during``) while the answer is 'in flight', after the store took its lock."""

    def __init__(self, during: Callable[[], None] | None = None) -> None:
        self.spent: list[str | None] = []
        self.during = during

    def __call__(self, current: OAuthToken | None) -> OAuthToken:
        self.spent.append(current.refresh_token if current else None)
        number = int((current.refresh_token or "refresh-0").split("-")[1]) if current else 0
        if self.during is not None:
            during, self.during = self.during, None
            during()
        return _token(number + 1)


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def _stored(url: str) -> OAuthToken | None:
    """What another process opening the database would read."""
    other = Repository(url)
    try:
        return other.token_store().load()
    finally:
        other.close()


@pytest.fixture
def small_sqlite(small_disk: SmallDisk) -> Iterator[tuple[str, SmallDisk]]:
    url = f"sqlite:///{small_disk.path / 'syncd.db'}"
    Repository(url).upgrade()
    yield url, small_disk


def _events(logs: list[dict[str, object]], name: str) -> list[dict[str, object]]:
    return [e for e in logs if e["event"] == name]


# -- failures before the refresh: nothing is spent ----------------------------------------


def test_a_locked_database_fails_before_the_refresh(database_url: str) -> None:
    repository = Repository(database_url, busy_timeout_seconds=0.3)
    repository.upgrade()
    store = repository.token_store()
    store.save(_token(1))
    endpoint = Endpoint()
    try:
        with lock_held(database_url), pytest.raises(DatabaseBusy) as error:
            store.rotate(endpoint)
    finally:
        repository.close()
    assert endpoint.spent == []
    assert str(error.value).startswith("the database is locked")
    assert NOT_SPENT in str(error.value)
    assert _stored(database_url) == _token(1)


def test_a_read_only_database_fails_before_the_refresh(database_url: str) -> None:
    writable = Repository(database_url)
    writable.upgrade()
    writable.token_store().save(_token(1))
    writable.close()
    if database_url.startswith("sqlite"):
        read_only_url = f"sqlite:///file:{make_url(database_url).database}?mode=ro&uri=true"
    else:
        name = make_url(database_url).database
        admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(
                text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
            )
        admin.dispose()
        read_only_url = database_url
    repository = Repository(read_only_url)
    endpoint = Endpoint()
    try:
        with pytest.raises(DatabaseReadOnly) as error:
            repository.token_store().rotate(endpoint)
    finally:
        repository.close()
    assert endpoint.spent == []
    assert NOT_SPENT in str(error.value)


def test_a_disk_too_full_for_the_reserve_fails_before_the_refresh(
    small_sqlite: tuple[str, SmallDisk],
) -> None:
    url, disk = small_sqlite
    repository = Repository(url)
    store = repository.token_store()
    store.save(_token(1))  # a login: no rotation yet, so no reserve yet
    disk.fill()
    endpoint = Endpoint()
    with pytest.raises(DiskFull) as error:
        store.rotate(endpoint)
    assert endpoint.spent == []
    message = str(error.value)
    assert message.startswith(f"the disk is full: no space left in {disk.path}")
    assert "reserving space for the Intigriti token rotation" in message
    assert NOT_SPENT in message

    disk.free()
    assert store.rotate(endpoint) == _token(2)
    assert (disk.path / "syncd.db.token-reserve").stat().st_size == 1024 * 1024
    repository.close()
    assert _stored(url) == _token(2)


# -- failures after the refresh: the new pair is not lost --------------------------------


def test_a_disk_that_fills_during_the_refresh_is_bridged_by_the_reserve(
    small_sqlite: tuple[str, SmallDisk],
) -> None:
    url, disk = small_sqlite
    repository = Repository(url)
    store = repository.token_store()
    store.save(_token(1))
    store.rotate(Endpoint())  # makes the reserve
    reserve = disk.path / "syncd.db.token-reserve"
    assert reserve.exists()

    with structlog.testing.capture_logs() as logs:
        fresh = store.rotate(Endpoint(during=disk.fill))
    assert fresh == _token(3)
    assert not store.holds_unsaved_token
    assert not reserve.exists()
    released = _events(logs, "token_space_reserve_released")
    assert [e["cause"] for e in released] == ["DiskFull"]
    saved = _events(logs, "oauth_token_saved_from_reserve")
    assert len(saved) == 1 and "Free space before the next token refresh" in str(
        saved[0]["message"]
    )
    assert _stored(url) == _token(3)

    # still full: the reserve cannot be made again, so the next refresh does not happen
    endpoint = Endpoint()
    with pytest.raises(DiskFull, match="reserving space"):
        store.rotate(endpoint)
    assert endpoint.spent == []
    disk.free()
    assert store.rotate(endpoint) == _token(4)
    assert reserve.exists()
    repository.close()


def _store_without_reserve(repository: Repository, budget: float = 2.0) -> DatabaseTokenStore:
    # the third layer alone: a disk that filled beyond what the reserve frees
    return DatabaseTokenStore(
        repository, "intigriti", TokenSealer(None), reserve=None, save_budget_seconds=budget
    )


def test_an_unsaved_pair_is_kept_in_memory_used_and_saved_when_space_returns(
    small_sqlite: tuple[str, SmallDisk],
) -> None:
    url, disk = small_sqlite
    repository = Repository(url)
    store = _store_without_reserve(repository)
    store.save(_token(1))
    with structlog.testing.capture_logs() as logs:
        assert store.rotate(Endpoint(during=disk.fill)) == _token(2)
        assert store.holds_unsaved_token
        assert store.load() == _token(2)  # this process goes on with the new pair
        assert _stored(url) == _token(1)  # the database still holds the spent one

        # the next refresh starts from the pair in memory, never from the spent one
        endpoint = Endpoint()
        assert store.rotate(endpoint) == _token(3)
        assert endpoint.spent == ["refresh-2"]

        disk.free()
        wait_for(lambda: not store.holds_unsaved_token, timeout=30, what="the retried save")
    repository.close()
    assert _stored(url) == _token(3)
    not_saved = _events(logs, "oauth_token_not_saved")
    assert [e["cause"] for e in not_saved] == ["DiskFull"]
    assert "keeps the new pair in memory" in str(not_saved[0]["message"])
    assert [e["outcome"] for e in _events(logs, "oauth_token_saved")] == ["saved"]


def test_an_unsaved_pair_that_outlives_its_budget_is_reported_lost(
    small_sqlite: tuple[str, SmallDisk],
) -> None:
    url, disk = small_sqlite
    repository = Repository(url)
    store = _store_without_reserve(repository, budget=1.0)
    store.save(_token(1))
    store.rotate(Endpoint(during=disk.fill))
    with structlog.testing.capture_logs() as logs, pytest.raises(TokenNotSaved) as error:
        store.close()
    repository.engine.dispose()
    message = str(error.value)
    assert "could not be saved (the disk is full" in message
    assert "run `syncd auth login`" in message
    assert "refresh-2" not in message and "access-2" not in message
    assert [e["cause"] for e in _events(logs, "oauth_token_lost")] == ["DiskFull"]


def test_a_login_while_a_pair_waits_in_memory_wins(small_sqlite: tuple[str, SmallDisk]) -> None:
    url, disk = small_sqlite
    repository = Repository(url)
    store = _store_without_reserve(repository)
    store.save(_token(1))
    with structlog.testing.capture_logs() as logs:
        store.rotate(Endpoint(during=disk.fill))
        disk.free()
        # an operator logs in from another process before the first retry (1 s later)
        other = Repository(url)
        other.token_store().save(_token(50))
        other.close()
        wait_for(lambda: not store.holds_unsaved_token, timeout=30, what="the retried save")
    repository.close()
    assert _stored(url) == _token(50)
    assert len(_events(logs, "oauth_token_superseded")) == 1


# -- PostgreSQL: the session dies at the commit ------------------------------------------


def _advisory_holder(admin_url: str, database: str) -> int:
    engine = create_engine(admin_url)
    try:
        with engine.connect() as connection:
            pid: int = connection.execute(
                text(
                    "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE l.locktype = 'advisory' AND l.granted AND a.datname = :db"
                ),
                {"db": database},
            ).scalar_one()
            return pid
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_session_terminated_at_the_commit_is_saved_again_at_once(
    postgres_database: str,
) -> None:
    repository = Repository(postgres_database)
    repository.upgrade()
    store = repository.token_store()
    store.save(_token(1))
    admin = create_engine(postgres_database, isolation_level="AUTOCOMMIT")
    name = make_url(postgres_database).database or ""

    def terminate_the_rotation() -> None:
        pid = _advisory_holder(postgres_database, name)
        with admin.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    with structlog.testing.capture_logs() as logs:
        assert store.rotate(Endpoint(during=terminate_the_rotation)) == _token(2)
    admin.dispose()
    assert not store.holds_unsaved_token
    repository.close()
    assert _stored(postgres_database) == _token(2)
    saved = _events(logs, "oauth_token_saved")
    assert len(saved) == 1 and "the database is unreachable" in str(saved[0]["after"])


@pytest.mark.postgres
def test_a_database_that_refuses_connections_gets_the_pair_once_it_is_back(
    postgres_database: str,
) -> None:
    repository = Repository(postgres_database)
    repository.upgrade()
    store = repository.token_store()
    store.save(_token(1))
    admin = create_engine(postgres_database.rsplit("/", 1)[0] + "/postgres")
    admin = admin.execution_options(isolation_level="AUTOCOMMIT")
    name = make_url(postgres_database).database or ""

    def database_goes_away() -> None:
        pid = _advisory_holder(postgres_database, name)
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    try:
        with structlog.testing.capture_logs() as logs:
            assert store.rotate(Endpoint(during=database_goes_away)) == _token(2)
            assert store.holds_unsaved_token
            with admin.connect() as connection:
                connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            wait_for(lambda: not store.holds_unsaved_token, timeout=30, what="the retried save")
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    repository.close()
    assert _stored(postgres_database) == _token(2)
    assert [e["cause"] for e in _events(logs, "oauth_token_not_saved")] == [
        "DatabaseUnreachable"
    ]
    assert len(_events(logs, "oauth_token_saved")) == 1


def test_threads_of_one_process_share_the_pair_held_in_memory(
    small_sqlite: tuple[str, SmallDisk],
) -> None:
    url, disk = small_sqlite
    repository = Repository(url)
    store = _store_without_reserve(repository)
    store.save(_token(1))
    store.rotate(Endpoint(during=disk.fill))
    seen: list[OAuthToken | None] = []
    reader = threading.Thread(target=lambda: seen.append(store.load()))
    reader.start()
    reader.join()
    assert seen == [_token(2)]
    disk.free()
    wait_for(lambda: not store.holds_unsaved_token, timeout=30, what="the retried save")
    repository.close()


def test_a_reserve_that_cannot_be_made_for_another_reason_does_not_block_rotation(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'syncd.db'}"
    repository = Repository(url)
    repository.upgrade()
    (tmp_path / "syncd.db.token-reserve").mkdir()  # in the way, but the disk has room
    store = repository.token_store()
    store.save(_token(1))
    with structlog.testing.capture_logs() as logs:
        assert store.rotate(Endpoint()) == _token(2)
    repository.close()
    assert _stored(url) == _token(2)
    assert len(_events(logs, "token_space_reserve_unavailable")) == 1


def test_a_pair_whose_refresh_token_did_not_rotate_is_saved_too(
    small_sqlite: tuple[str, SmallDisk],
) -> None:
    """A server that keeps the refresh token: the retry must still write the new access
    token, not mistake the unchanged row for an already landed commit."""
    url, disk = small_sqlite
    repository = Repository(url)
    store = _store_without_reserve(repository)
    store.save(_token(1))

    def same_refresh(current: OAuthToken | None) -> OAuthToken:
        disk.fill()
        return OAuthToken("access-new", "refresh-1", datetime(2030, 1, 1, tzinfo=UTC), "s")

    with structlog.testing.capture_logs() as logs:
        store.rotate(same_refresh)
        assert store.holds_unsaved_token
        disk.free()
        wait_for(lambda: not store.holds_unsaved_token, timeout=30, what="the retried save")
    repository.close()
    stored = _stored(url)
    assert stored is not None and stored.access_token == "access-new"
    assert [e["outcome"] for e in _events(logs, "oauth_token_saved")] == ["saved"]
