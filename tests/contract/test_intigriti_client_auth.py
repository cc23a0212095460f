"""The Intigriti adapter's OAuth against the simulator: login, refresh, rotation, 401s."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from intigriti_client_fixtures import (
    FailingSaveStore,
    ScriptedServer,
    make_adapter,
    options_for,
    token_from_response,
)

from syncd.errors import CredentialError, MalformedResponse, TransientError
from syncd.intigriti.adapter import IntigritiAdapter
from syncd.intigriti.oauth import OAuthSession
from syncd.intigriti.tokens import MemoryTokenStore
from syncd.records import OAuthToken
from syncd.simulators.intigriti.browser import browser_consent
from syncd.simulators.intigriti.options import DEMO_REDIRECT_URI, IntigritiSimulatorOptions
from syncd.simulators.intigriti.simulator import IntigritiSimulator

TOKEN = ("POST", "/connect/token")


@pytest.fixture(scope="module")
def sim() -> Iterator[IntigritiSimulator]:
    with IntigritiSimulator(IntigritiSimulatorOptions(require_pkce=True)) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def clean(sim: IntigritiSimulator) -> None:
    sim.control.reset()


def token_requests(sim: IntigritiSimulator, status: int | None = None) -> int:
    return sim.control.count(*TOKEN, status=status)


def test_authorization_code_flow_as_a_browser_drives_it(sim: IntigritiSimulator) -> None:
    program = sim.control.seed_program(name="Acme")
    store = MemoryTokenStore()
    with make_adapter(sim, store=store) as adapter:
        request = adapter.begin_login()
        redirected = browser_consent(request.authorize_url)
        assert redirected.startswith(DEMO_REDIRECT_URI + "?")

        token = adapter.complete_login(request, redirected)

        assert store.load() == token
        assert token.refresh_token is not None
        assert token.expires_at is not None and token.expires_at > datetime.now(UTC)
        assert "core_platform:write" in token.scope.split()
        assert [p.id for p in adapter.list_programs()] == [program["id"]]
        status = adapter.token_status()
        assert status.has_token and status.has_refresh_token
        assert status.seconds_left is not None and status.seconds_left > 3000
    assert token_requests(sim, 200) == 1


def test_a_denied_consent_is_a_clear_credential_error(sim: IntigritiSimulator) -> None:
    with make_adapter(sim, store=MemoryTokenStore()) as adapter:
        request = adapter.begin_login()
        redirected = browser_consent(request.authorize_url, decision="deny")
        with pytest.raises(CredentialError, match="access_denied"):
            adapter.complete_login(request, redirected)
    assert token_requests(sim) == 0


def test_a_url_from_another_login_attempt_is_refused(sim: IntigritiSimulator) -> None:
    with make_adapter(sim, store=MemoryTokenStore()) as adapter:
        first = adapter.begin_login()
        second = adapter.begin_login()
        redirected = browser_consent(first.authorize_url)
        with pytest.raises(CredentialError, match="state mismatch"):
            adapter.complete_login(second, redirected)
    assert token_requests(sim) == 0


def test_refresh_ahead_of_expiry_rotates_and_the_old_refresh_token_dies(
    sim: IntigritiSimulator,
) -> None:
    minted = token_from_response(sim.control.mint_token(expires_in=3600))
    # The client believes the token has 30 s left: inside its 60 s refresh margin.
    old = dataclasses.replace(minted, expires_at=datetime.now(UTC) + timedelta(seconds=30))
    store = MemoryTokenStore(old)
    with make_adapter(sim, store=store) as adapter:
        adapter.list_programs()
        rotated = store.load()
        assert rotated is not None
        assert rotated.access_token != old.access_token
        assert rotated.refresh_token not in (None, old.refresh_token)
        adapter.list_programs()  # the fresh token is reused, no second refresh
    assert token_requests(sim, 200) == 1
    assert sim.control.count("GET", "/programs", 200) == 2

    # Another client still holding the pre-rotation pair is told to log in again.
    stale = OAuthToken(old.access_token, old.refresh_token, datetime.now(UTC), old.scope)
    other = make_adapter(sim, store=MemoryTokenStore(stale))
    with other, pytest.raises(CredentialError, match="syncd auth login") as info:
        other.list_programs()
    assert "invalid_grant" in str(info.value)
    assert old.refresh_token is not None and old.refresh_token not in str(info.value)


def test_a_rotation_that_was_never_saved_tells_the_operator_to_log_in(
    sim: IntigritiSimulator,
) -> None:
    old = token_from_response(sim.control.mint_token(expires_in=10))
    crashing = FailingSaveStore(old)
    with make_adapter(sim, store=crashing) as adapter, pytest.raises(RuntimeError):
        adapter.list_programs()
    assert crashing.failed_saves == 1
    assert token_requests(sim, 200) == 1  # the server did rotate

    # After the restart, the database still holds the old (now dead) pair.
    restarted = make_adapter(sim, store=MemoryTokenStore(old))
    with restarted, pytest.raises(CredentialError) as info:
        restarted.list_programs()
    message = str(info.value)
    assert "Run `syncd auth login`" in message
    assert "already used" in message
    assert sim.control.count("GET", "/programs") == 0


def test_bootstrap_from_a_configured_refresh_token(sim: IntigritiSimulator) -> None:
    minted = sim.control.mint_token()
    store = MemoryTokenStore()
    with make_adapter(sim, store=store, refresh_token=minted["refresh_token"]) as adapter:
        adapter.list_programs()
        adapter.list_programs()
    stored = store.load()
    assert stored is not None
    assert stored.refresh_token not in (None, minted["refresh_token"])
    assert token_requests(sim, 200) == 1


def test_static_token_is_never_refreshed_and_a_401_is_final(sim: IntigritiSimulator) -> None:
    minted = sim.control.mint_token(non_expiring=True)
    store = MemoryTokenStore()
    with make_adapter(sim, store=store, access_token=minted["access_token"]) as adapter:
        assert adapter.list_programs() == []
        sim.control.revoke_all()
        with pytest.raises(CredentialError, match=r"intigriti\.access_token"):
            adapter.list_programs()
    assert store.load() is None
    assert token_requests(sim) == 0
    assert sim.control.count("GET", "/programs", 401) == 1


def test_a_401_refreshes_once_and_retries_once(sim: IntigritiSimulator) -> None:
    minted = sim.control.mint_token(expires_in=3600)
    store = MemoryTokenStore(token_from_response(minted))
    with make_adapter(sim, store=store) as adapter:
        sim.control.revoke_token(minted["access_token"])
        assert adapter.list_programs() == []
    assert sim.control.count("GET", "/programs", 401) == 1
    assert sim.control.count("GET", "/programs", 200) == 1
    assert token_requests(sim, 200) == 1


def test_a_401_whose_refresh_is_refused_asks_for_login(sim: IntigritiSimulator) -> None:
    with make_adapter(sim) as adapter:
        sim.control.revoke_all()  # the integration was deactivated
        with pytest.raises(CredentialError, match="syncd auth login"):
            adapter.list_programs()
    assert sim.control.count("GET", "/programs", 401) == 1
    assert token_requests(sim, 400) == 1


def test_a_second_401_after_a_successful_refresh_is_a_credential_error() -> None:
    # The simulator cannot reject a token it just issued; a scripted server can.
    server = ScriptedServer().start()
    try:
        server.then(401).then(401)
        token = OAuthToken("first-access", "first-refresh", datetime.now(UTC) + timedelta(hours=1))
        adapter = IntigritiAdapter(options_for(server.base_url), MemoryTokenStore(token))
        with adapter, pytest.raises(CredentialError, match="freshly refreshed"):
            adapter.list_programs()
        methods = [(m, auth) for m, _, auth in server.requests]
        assert methods == [
            ("GET", "Bearer first-access"),
            ("POST", ""),
            ("GET", "Bearer scripted-access-1"),
        ]
    finally:
        server.stop()


def test_concurrent_callers_share_one_refresh(sim: IntigritiSimulator) -> None:
    store = MemoryTokenStore(token_from_response(sim.control.mint_token(expires_in=5)))
    errors: list[BaseException] = []
    with make_adapter(sim, store=store) as adapter:
        start = threading.Barrier(6)

        def work() -> None:
            start.wait()
            try:
                adapter.list_programs()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert token_requests(sim) == 1
    assert sim.control.count("GET", "/programs", 200) == 6


def test_a_429_from_the_token_endpoint_is_named_and_pauses_token_calls(
    sim: IntigritiSimulator,
) -> None:
    old = token_from_response(sim.control.mint_token(expires_in=10))  # due for refresh
    store = MemoryTokenStore(old)
    now = [datetime.now(UTC)]
    session = OAuthSession(options_for(sim.base_url), store, clock=lambda: now[0])
    sim.control.rate_limit_storm(1, retry_after=30, route="POST /connect/token")
    with structlog.testing.capture_logs() as logs, pytest.raises(TransientError) as first:
        session.access_token()
    assert first.value.status == 429
    assert str(first.value).startswith("the Intigriti token endpoint is rate limiting syncd")
    assert "did not use the refresh token" in str(first.value)
    assert [e["pause_s"] for e in logs if e["event"] == "intigriti_token_rate_limited"] == [30]
    assert store.load() == old

    # within the pause no request is sent at all
    now[0] += timedelta(seconds=20)
    with pytest.raises(TransientError, match="for 10 s more"):
        session.access_token()
    assert token_requests(sim) == 1

    now[0] += timedelta(seconds=11)
    assert session.access_token() != old.access_token
    assert token_requests(sim, 200) == 1


def test_a_token_endpoint_refusal_without_an_oauth_error_names_the_status(
    sim: IntigritiSimulator,
) -> None:
    old = token_from_response(sim.control.mint_token(expires_in=10))
    session = OAuthSession(options_for(sim.base_url), MemoryTokenStore(old))
    sim.control.fail_next(1, route="POST /connect/token", status=403)
    with pytest.raises(MalformedResponse, match="answered HTTP 403"):
        session.access_token()
