"""The repository and migrations against real SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from syncd.records import OAuthToken
from syncd.store.repository import AuditEntry, Repository, StoreConflict
from syncd.store.tables import Base


@pytest.fixture
def repository(database_url: str) -> Repository:
    repo = Repository(database_url)
    repo.upgrade()
    yield repo
    repo.close()


def test_migrations_match_models(repository: Repository) -> None:
    with repository.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_upgrade_is_idempotent_and_current(repository: Repository) -> None:
    repository.upgrade()
    assert repository.is_current()


def test_intent_row_is_unique_per_submission(repository: Repository) -> None:
    now = datetime.now(UTC)
    first = repository.begin_create("ACME-1", "prog", now)
    second = repository.begin_create("ACME-1", "prog", now)
    assert first.id == second.id
    assert first.state == "creating"
    assert repository.link_counts() == {"creating": 1}


def test_link_lifecycle_and_audit(repository: Repository) -> None:
    now = datetime.now(UTC)
    repository.begin_create("ACME-2", "prog", now)
    attempted = repository.mark_create_attempt("ACME-2", now)
    assert attempted.attempts == 1
    assert attempted.create_attempted_at is not None
    assert attempted.create_attempted_at.tzinfo is not None
    linked = repository.complete_link(
        "ACME-2",
        "10001",
        "SEC-1",
        [AuditEntry("ACME-2", "creation", "to_jira", None, "SEC-1", "ok")],
    )
    assert (linked.state, linked.issue_id, linked.issue_key, linked.attempts) == (
        "linked",
        "10001",
        "SEC-1",
        0,
    )
    updated = repository.apply_field_result(
        "ACME-2",
        bases={"severity": "High", "status": "accepted"},
        audit=[AuditEntry("ACME-2", "severity", "to_jira", None, "High", "ok")],
    )
    assert (updated.base_severity, updated.base_status) == ("High", "accepted")
    assert repository.link_by_issue_id("10001") == repository.get_link("ACME-2")
    entries = repository.recent_audit()
    assert [e.field for e in entries] == ["severity", "creation"]


def test_issue_id_is_unique_across_links(repository: Repository) -> None:
    now = datetime.now(UTC)
    repository.begin_create("A-1", "p", now)
    repository.begin_create("A-2", "p", now)
    repository.complete_link("A-1", "10001", "SEC-1")
    with pytest.raises(StoreConflict):
        repository.complete_link("A-2", "10001", "SEC-1")


def test_block_and_park_show_in_state_queries(repository: Repository) -> None:
    now = datetime.now(UTC)
    repository.begin_create("B-1", "p", now)
    repository.complete_link("B-1", "1", "SEC-1")
    repository.block("B-1", "status:new->closed", "Intigriti refused Reject (403)", [])
    repository.park("B-2", "p", "field 'severity.id': unknown value 99")
    assert [link.submission_code for link in repository.links_in_state("blocked")] == ["B-1"]
    parked = repository.links_in_state("parked")
    assert parked[0].error == "field 'severity.id': unknown value 99"
    unblocked = repository.apply_field_result("B-1", bases={"status": "new"}, clear_block=True)
    assert unblocked.state == "linked" and unblocked.blocked_signature is None


def test_cursor_watermark_only_moves_forward(repository: Repository) -> None:
    later = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    repository.cycle_succeeded("intigriti", watermark=later, stats={"requests": 1})
    repository.cycle_succeeded("intigriti", watermark=later - timedelta(hours=1))
    cursor = repository.cursor("intigriti")
    assert cursor.watermark == later
    assert cursor.last_stats == {"requests": 1}
    repository.cycle_failed("intigriti", "TransientError: 503")
    assert repository.cursor("intigriti").last_error == "TransientError: 503"


def test_iter_links_reads_everything_in_batches(repository: Repository) -> None:
    now = datetime.now(UTC)
    for index in range(23):
        repository.begin_create(f"C-{index}", "p", now)
    codes = [link.submission_code for link in repository.iter_links(batch=5)]
    assert codes == [f"C-{index}" for index in range(23)]


def _token(n: int) -> OAuthToken:
    return OAuthToken(f"access-{n}", f"refresh-{n}", datetime(2030, 1, 1, tzinfo=UTC), "s")


def test_token_rotation_is_exclusive_across_threads(repository: Repository) -> None:
    """Concurrent refreshers each see the token the previous one committed."""
    store = repository.token_store()
    store.save(_token(0))
    spent: list[str] = []
    lock = threading.Lock()

    def refresh(current: OAuthToken | None) -> OAuthToken:
        assert current is not None
        with lock:
            spent.append(current.refresh_token or "")
        number = int((current.refresh_token or "refresh-0").split("-")[1])
        return _token(number + 1)

    threads = [threading.Thread(target=store.rotate, args=(refresh,)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # every refresh token was spent exactly once
    assert sorted(spent) == sorted(f"refresh-{n}" for n in range(6))
    assert store.load() == _token(6)


def test_rotate_keeps_stored_token_when_refresh_declines(repository: Repository) -> None:
    store = repository.token_store()
    assert store.rotate(lambda current: None) is None
    store.save(_token(1))
    assert store.rotate(lambda current: None) == _token(1)


def test_rotate_commits_nothing_when_refresh_fails(repository: Repository) -> None:
    store = repository.token_store()
    store.save(_token(1))

    def failing(current: OAuthToken | None) -> OAuthToken:
        raise RuntimeError("token endpoint down")

    with pytest.raises(RuntimeError):
        store.rotate(failing)
    assert store.load() == _token(1)


def test_tokens_are_sealed_at_rest_with_a_key(database_url: str) -> None:
    from sqlalchemy import text

    from syncd.errors import ConfigError

    sealed = Repository(database_url, token_key="correct horse battery staple")
    sealed.upgrade()
    try:
        sealed.token_store().save(_token(7))
        with sealed.engine.connect() as connection:
            stored = connection.execute(
                text("SELECT access_token, refresh_token FROM oauth_tokens")
            ).one()
        assert stored.access_token.startswith("fernet:")
        assert "access-7" not in stored.access_token
        assert "refresh-7" not in stored.refresh_token
        assert sealed.token_store().load() == _token(7)
    finally:
        sealed.close()
    for key, message in ((None, "set database.token_key"), ("wrong", "wrong key")):
        other = Repository(database_url, token_key=key)
        try:
            with pytest.raises(ConfigError, match=message):
                other.token_store().load()
        finally:
            other.close()


def test_plain_tokens_are_read_and_sealed_on_the_next_save(database_url: str) -> None:
    plain = Repository(database_url)
    plain.upgrade()
    plain.token_store().save(_token(1))
    plain.close()
    keyed = Repository(database_url, token_key="k")
    try:
        store = keyed.token_store()
        assert store.load() == _token(1)
        store.rotate(lambda current: _token(2))
        assert store.load() == _token(2)
    finally:
        keyed.close()
