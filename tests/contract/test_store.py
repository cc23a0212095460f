"""The repository and migrations against real SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from syncd.records import OAuthToken
from syncd.store import migrate
from syncd.store.instances import InstanceRegistry
from syncd.store.repository import AuditEntry, ClaimTerms, Repository, StoreConflict
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


def test_the_head_revision_constant_is_the_scripts_head(repository: Repository) -> None:
    # the fast "is it current?" check compares with the constant, without Alembic
    assert migrate.scripts_head_revision() == migrate.HEAD_REVISION
    with repository.engine.connect() as connection:
        alembic_says = MigrationContext.configure(connection).get_current_revision()
    assert migrate.current_revision(repository.engine) == alembic_says == migrate.HEAD_REVISION


def test_an_old_schema_is_migrated_and_a_new_one_is_not_current(database_url: str) -> None:
    repo = Repository(database_url)
    try:
        assert migrate.current_revision(repo.engine) is None
        assert not repo.is_current()
        repo.upgrade()
        assert repo.is_current()
    finally:
        repo.close()


NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _instance(repository: Repository, name: str, at: datetime = NOW) -> ClaimTerms:
    """A registered instance (heartbeat at ``at``) and its claim terms."""
    InstanceRegistry(repository, command="test", instance_id=name, clock=lambda: at).register(
        "oneshot"
    )
    return ClaimTerms(instance=name)


def _linked(repository: Repository, code: str, issue_id: str, key: str) -> None:
    terms = _instance(repository, "setup")
    outcome, _ = repository.begin_create(code, "p", NOW, "setup-token", terms)
    assert outcome.claimed
    repository.complete_link(code, issue_id, key)
    repository.release_claim(code, "setup-token")


def test_intent_row_is_unique_per_submission_and_claimed_by_one(repository: Repository) -> None:
    alpha, beta = _instance(repository, "alpha"), _instance(repository, "beta")
    first, inserted = repository.begin_create("ACME-1", "prog", NOW, "a", alpha)
    second, second_inserted = repository.begin_create("ACME-1", "prog", NOW, "b", beta)
    assert inserted and first.claimed and first.link is not None
    assert first.link.state == "creating" and first.link.claim_instance == "alpha"
    # the row exists and alpha is alive: beta gets neither a row of its own nor the claim
    assert not second_inserted and not second.claimed and second.held_by == "alpha"
    assert repository.link_counts() == {"creating": 1}
    repository.release_claim("ACME-1", "a")
    third, third_inserted = repository.begin_create("ACME-1", "prog", NOW, "b", beta)
    assert not third_inserted and third.claimed
    assert third.link is not None and third.link.id == first.link.id


def test_a_claim_is_free_only_once_its_holder_stops_heartbeating(
    repository: Repository,
) -> None:
    alpha, beta = _instance(repository, "alpha"), _instance(repository, "beta")
    _linked(repository, "ACME-3", "30001", "SEC-3")
    assert repository.claim("ACME-3", "a", alpha, NOW).claimed
    assert repository.claim("ACME-3", "a", alpha, NOW).claimed  # our own: still ours
    # however long alpha takes with it, a live alpha keeps its claim
    much_later = NOW + timedelta(hours=2)
    _instance(repository, "alpha", at=much_later)
    assert repository.claim("ACME-3", "b", beta, much_later).held_by == "alpha"
    # alpha's heartbeat is now older than the instance timeout: alpha is dead
    late = much_later + alpha.instance_timeout + timedelta(seconds=1)
    _instance(repository, "beta", at=late)
    taken = repository.claim("ACME-3", "b", beta, late)
    assert taken.claimed and taken.link is not None and taken.link.claim_instance == "beta"
    # alpha comes back from a freeze: every write it tries first fails its compare-and-set
    assert not repository.holds_claim("ACME-3", "a")
    assert repository.holds_claim("ACME-3", "b")
    assert not repository.mark_create_attempt("ACME-3", "a", late)
    assert repository.get_link("ACME-3").create_attempted_at is None  # type: ignore[union-attr]
    repository.release_claim("ACME-3", "b")
    assert repository.claim("ACME-3", "a2", alpha, late).claimed


def test_an_unregistered_holder_counts_as_gone(repository: Repository) -> None:
    ghost = ClaimTerms(instance="never-registered")
    beta = _instance(repository, "beta")
    _linked(repository, "ACME-4", "40001", "SEC-4")
    assert repository.claim("ACME-4", "g", ghost, NOW).claimed
    assert repository.claim("ACME-4", "b", beta, NOW).claimed


def test_release_claims_of_an_instance(repository: Repository) -> None:
    alpha, beta = _instance(repository, "alpha"), _instance(repository, "beta")
    for index in range(3):
        _linked(repository, f"R-{index}", f"5000{index}", f"SEC-5{index}")
        assert repository.claim(f"R-{index}", f"a{index}", alpha, NOW).claimed
    assert repository.release_claims_of("alpha") == 3
    assert all(repository.claim(f"R-{i}", "b", beta, NOW).claimed for i in range(3))


def test_link_lifecycle_and_audit(repository: Repository) -> None:
    alpha = _instance(repository, "alpha")
    repository.begin_create("ACME-2", "prog", NOW, "a", alpha)
    assert repository.mark_create_attempt("ACME-2", "a", NOW)
    attempted = repository.get_link("ACME-2")
    assert attempted is not None and attempted.attempts == 1
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
    alpha = _instance(repository, "alpha")
    repository.begin_create("A-1", "p", NOW, "a1", alpha)
    repository.begin_create("A-2", "p", NOW, "a2", alpha)
    repository.complete_link("A-1", "10001", "SEC-1")
    with pytest.raises(StoreConflict):
        repository.complete_link("A-2", "10001", "SEC-1")


def test_block_and_park_show_in_state_queries(repository: Repository) -> None:
    alpha = _instance(repository, "alpha")
    _linked(repository, "B-1", "1", "SEC-1")
    repository.block("B-1", "status:new->closed", "Intigriti refused Reject (403)", [])
    assert repository.park("B-2", "p", "field 'severity.id': unknown value 99", alpha, NOW)
    assert [link.submission_code for link in repository.links_in_state("blocked")] == ["B-1"]
    parked = repository.links_in_state("parked")
    assert parked[0].error == "field 'severity.id': unknown value 99"
    unblocked = repository.apply_field_result("B-1", bases={"status": "new"}, clear_block=True)
    assert unblocked.state == "linked" and unblocked.blocked_signature is None


def test_park_leaves_a_link_another_live_process_holds(repository: Repository) -> None:
    alpha, beta = _instance(repository, "alpha"), _instance(repository, "beta")
    repository.begin_create("P-1", "p", NOW, "a", alpha)
    assert not repository.park("P-1", "p", "unreadable", beta, NOW)
    assert repository.get_link("P-1").state == "creating"  # type: ignore[union-attr]
    assert repository.park("P-1", "p", "unreadable", alpha, NOW, token="a")
    assert repository.get_link("P-1").state == "parked"  # type: ignore[union-attr]


def test_unpark_keeps_an_intent_that_already_attempted_a_create(repository: Repository) -> None:
    alpha = _instance(repository, "alpha")
    repository.begin_create("U-1", "p", NOW, "a", alpha)
    assert repository.mark_create_attempt("U-1", "a", NOW)
    repository.park("U-1", "p", "unreadable", alpha, NOW, token="a")
    unparked = repository.unpark("U-1")
    # the create may have reached Jira: the tag is looked up before any other create
    assert unparked is not None and unparked.state == "creating"
    repository.begin_create("U-2", "p", NOW, "a2", alpha)
    repository.park("U-2", "p", "unreadable", alpha, NOW, token="a2")
    assert repository.unpark("U-2") is None  # never attempted: planned afresh


def test_mark_seen_only_moves_forward(repository: Repository) -> None:
    _linked(repository, "S-1", "60001", "SEC-60")
    later = NOW + timedelta(minutes=5)
    repository.mark_seen("S-1", intigriti_seen_at=later, jira_seen_at=later)
    repository.mark_seen("S-1", intigriti_seen_at=NOW, jira_seen_at=None)
    link = repository.get_link("S-1")
    assert link is not None and (link.intigriti_seen_at, link.jira_seen_at) == (later, later)


def test_mark_seen_many_marks_each_link_and_only_moves_forward(repository: Repository) -> None:
    for n in (1, 2, 3):
        _linked(repository, f"S-{n}", f"6000{n}", f"SEC-6{n}")
    later = NOW + timedelta(minutes=5)
    repository.mark_seen("S-1", intigriti_seen_at=later, jira_seen_at=later)
    repository.mark_seen_many(
        [("S-1", NOW, NOW), ("S-2", later, None), ("S-3", None, later), ("S-404", NOW, NOW)]
    )
    seen = {
        code: (link.intigriti_seen_at, link.jira_seen_at)
        for code, link in repository.links(["S-1", "S-2", "S-3"]).items()
    }
    assert seen == {"S-1": (later, later), "S-2": (later, None), "S-3": (None, later)}
    repository.mark_seen_many([])  # nothing to write is not an error


def test_duplicate_tags_are_replaced_by_each_complete_search(repository: Repository) -> None:
    repository.record_duplicate_tags({"D-1": ["SEC-1", "SEC-9"], "D-2": ["APP-2", "SEC-3"]}, NOW)
    later = NOW + timedelta(hours=1)
    repository.record_duplicate_tags({"D-1": ["SEC-1", "SEC-9"]}, later)
    found = repository.duplicate_tags()
    assert [(d.submission_code, d.issue_keys) for d in found] == [("D-1", ("SEC-1", "SEC-9"))]
    assert found[0].first_seen_at == NOW and found[0].last_seen_at == later


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
        repository.begin_create(f"C-{index}", "p", now, f"t{index}", ClaimTerms("x"))
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
        assert stored.access_token.startswith("scrypt1:")
        assert stored.refresh_token.startswith("scrypt1:")
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


def test_tokens_sealed_the_old_way_are_resealed_with_scrypt_on_rotation(
    database_url: str,
) -> None:
    """A database written by a version that keyed Fernet with SHA-256 of the passphrase."""
    import base64
    import hashlib

    from cryptography.fernet import Fernet
    from sqlalchemy import text

    key = "correct horse battery staple"
    legacy = Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))
    repository = Repository(database_url, token_key=key)
    repository.upgrade()
    try:
        with repository.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO oauth_tokens (provider, access_token, refresh_token,"
                    " expires_at, scope, updated_at) VALUES ('intigriti', :a, :r, :e, 's', :e)"
                ),
                {
                    "a": "fernet:" + legacy.encrypt(b"access-1").decode(),
                    "r": "fernet:" + legacy.encrypt(b"refresh-1").decode(),
                    "e": datetime(2030, 1, 1, tzinfo=UTC),
                },
            )
        store = repository.token_store()
        assert store.load() == _token(1)
        store.rotate(lambda current: _token(2))
        with repository.engine.connect() as connection:
            stored = connection.execute(
                text("SELECT access_token, refresh_token FROM oauth_tokens")
            ).one()
        assert stored.access_token.startswith("scrypt1:")
        assert stored.refresh_token.startswith("scrypt1:")
        assert store.load() == _token(2)
    finally:
        repository.close()
