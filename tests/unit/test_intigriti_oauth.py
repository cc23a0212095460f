"""OAuth session logic that needs no server: the login URL, paste checks, token choice.

The token URL points at a closed port, so any unexpected network call fails the test
with a TransientError instead of passing silently.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from syncd.errors import CredentialError
from syncd.intigriti.oauth import OAuthSession
from syncd.intigriti.options import DEFAULT_SCOPES, IntigritiOptions
from syncd.intigriti.tokens import MemoryTokenStore
from syncd.records import OAuthToken

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
OPTIONS = IntigritiOptions(
    api_url="http://127.0.0.1:9/external/company/v2.0",
    token_url="http://127.0.0.1:9/connect/token",
    authorize_url="https://login.example/connect/authorize",
    client_id="externalapi_acme_x",
    client_secret="client-secret-value",
    redirect_uri="https://syncd.example/callback",
)


def session(
    store: MemoryTokenStore | None = None, *, access_token: str | None = None
) -> OAuthSession:
    options = dataclasses.replace(OPTIONS, access_token=access_token)
    return OAuthSession(options, store or MemoryTokenStore(), clock=lambda: NOW)


def test_authorize_url_carries_pkce_s256_state_scopes_and_redirect() -> None:
    request = session().begin_login()
    parts = urlsplit(request.authorize_url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == OPTIONS.authorize_url
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == OPTIONS.client_id
    assert query["redirect_uri"] == OPTIONS.redirect_uri
    assert query["state"] == request.state
    assert query["scope"].split() == list(DEFAULT_SCOPES)
    assert query["code_challenge_method"] == "S256"
    digest = hashlib.sha256(request.code_verifier.encode()).digest()
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert "client_secret" not in query
    assert 43 <= len(request.code_verifier) <= 128


def test_each_login_gets_a_fresh_state_and_verifier() -> None:
    first, second = session().begin_login(), session().begin_login()
    assert first.state != second.state
    assert first.code_verifier != second.code_verifier
    assert first.code_verifier not in repr(first)


def test_state_mismatch_is_refused_before_any_exchange() -> None:
    oauth = session()
    request = oauth.begin_login()
    with pytest.raises(CredentialError, match="state mismatch"):
        oauth.complete_login(request, f"{OPTIONS.redirect_uri}?code=abc&state=other")


def test_error_in_the_redirect_is_reported() -> None:
    oauth = session()
    request = oauth.begin_login()
    url = f"{OPTIONS.redirect_uri}?error=access_denied&error_description=User+said+no"
    with pytest.raises(CredentialError, match=r"access_denied.*User said no"):
        oauth.complete_login(request, url)


def test_missing_code_is_reported() -> None:
    oauth = session()
    request = oauth.begin_login()
    with pytest.raises(CredentialError, match="no `code`"):
        oauth.complete_login(request, f"{OPTIONS.redirect_uri}?state={request.state}")


def test_static_access_token_is_used_as_is_and_never_refreshed() -> None:
    store = MemoryTokenStore()
    oauth = session(store, access_token="static-token-value")
    assert oauth.access_token() == "static-token-value"
    assert oauth.refreshable is False
    assert store.load() is None
    with pytest.raises(CredentialError, match=r"intigriti\.access_token"):
        oauth.refresh_after_unauthorized("static-token-value")
    status = oauth.token_status()
    assert (status.mode, status.has_token, status.expires_at) == ("static", True, None)


def test_no_token_and_no_bootstrap_asks_for_login() -> None:
    with pytest.raises(CredentialError, match="syncd auth login"):
        session().access_token()


def test_a_token_outside_the_margin_is_used_without_refreshing() -> None:
    fresh = OAuthToken("access-fresh", "refresh-1", NOW + timedelta(minutes=5), "a b")
    assert session(MemoryTokenStore(fresh)).access_token() == "access-fresh"


def test_a_non_expiring_stored_token_needs_no_refresh() -> None:
    forever = OAuthToken("access-forever", None, None)
    assert session(MemoryTokenStore(forever)).access_token() == "access-forever"


def test_expired_token_without_refresh_token_asks_for_login() -> None:
    dead = OAuthToken("access-dead", None, NOW - timedelta(seconds=1))
    with pytest.raises(CredentialError, match="syncd auth login"):
        session(MemoryTokenStore(dead)).access_token()


def test_token_status_reports_expiry_but_never_the_token() -> None:
    stored = OAuthToken("access-xyz", "refresh-xyz", NOW + timedelta(seconds=90), "scope-a")
    status = session(MemoryTokenStore(stored)).token_status()
    assert status.has_token and status.has_refresh_token
    assert status.seconds_left == 90.0
    assert status.scope == "scope-a"
    assert "access-xyz" not in repr(status) and "refresh-xyz" not in repr(status)
    empty = session().token_status()
    assert (empty.has_token, empty.has_refresh_token) == (False, False)


def test_options_repr_hides_secrets() -> None:
    options = IntigritiOptions(
        client_secret="s3cret-value", access_token="tok-value", refresh_token="ref-value"
    )
    text = repr(options)
    assert "s3cret-value" not in text and "tok-value" not in text and "ref-value" not in text
