"""The simulated identity server, driven over HTTP as a browser and a client would."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
from intigriti_fixtures import (  # noqa: F401 - fixtures are registered by import
    api_client,
    authorize_params,
    browser_consent,
    code_from_redirect,
    fixture_control,
    fixture_intigriti_sim,
    pkce_pair,
    token_request,
)

from syncd.simulators.intigriti import (
    DEMO_REDIRECT_URI,
    IntigritiControl,
    IntigritiSimulator,
    IntigritiSimulatorOptions,
    RegisteredClient,
)


def _login(sim: IntigritiSimulator, *, basic: bool = False) -> dict[str, object]:
    verifier, challenge = pkce_pair()
    params = authorize_params(challenge)
    code, state = code_from_redirect(browser_consent(sim, params))
    assert state == params["state"]
    response = token_request(
        sim,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": DEMO_REDIRECT_URI,
            "code_verifier": verifier,
        },
        basic=basic,
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_browser_flow_yields_tokens_that_work_on_the_api(
    intigriti_sim: IntigritiSimulator, control: IntigritiControl
) -> None:
    control.seed_program(name="Acme")
    tokens = _login(intigriti_sim)
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert "refresh_token" in tokens
    assert set(str(tokens["scope"]).split()) >= {"company_external_api", "core_platform:read"}
    with api_client(intigriti_sim, str(tokens["access_token"])) as api:
        response = api.get("/programs")
    assert response.status_code == 200
    assert [p["name"] for p in response.json()] == ["Acme"]


def test_client_may_authenticate_with_http_basic(
    intigriti_sim: IntigritiSimulator, control: IntigritiControl
) -> None:
    assert "access_token" in _login(intigriti_sim, basic=True)


def test_wrong_client_secret_is_refused(
    intigriti_sim: IntigritiSimulator, control: IntigritiControl
) -> None:
    verifier, challenge = pkce_pair()
    code, _ = code_from_redirect(browser_consent(intigriti_sim, authorize_params(challenge)))
    response = token_request(
        intigriti_sim,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": DEMO_REDIRECT_URI,
            "code_verifier": verifier,
            "client_secret": "wrong",
        },
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_bad_pkce_verifier_is_refused_and_burns_the_code(
    intigriti_sim: IntigritiSimulator, control: IntigritiControl
) -> None:
    verifier, challenge = pkce_pair()
    code, _ = code_from_redirect(browser_consent(intigriti_sim, authorize_params(challenge)))
    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": DEMO_REDIRECT_URI,
    }
    bad = token_request(intigriti_sim, {**exchange, "code_verifier": verifier + "x"})
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_grant"
    # Codes are single-use: even the right verifier cannot use it now.
    again = token_request(intigriti_sim, {**exchange, "code_verifier": verifier})
    assert again.status_code == 400


def test_code_is_single_use_and_short_lived(
    intigriti_sim: IntigritiSimulator, control: IntigritiControl
) -> None:
    verifier, challenge = pkce_pair()
    exchange = {
        "grant_type": "authorization_code",
        "redirect_uri": DEMO_REDIRECT_URI,
        "code_verifier": verifier,
    }
    code, _ = code_from_redirect(browser_consent(intigriti_sim, authorize_params(challenge)))
    assert token_request(intigriti_sim, {**exchange, "code": code}).status_code == 200
    assert token_request(intigriti_sim, {**exchange, "code": code}).status_code == 400

    code, _ = code_from_redirect(browser_consent(intigriti_sim, authorize_params(challenge)))
    control.advance_clock(61)
    expired = token_request(intigriti_sim, {**exchange, "code": code})
    assert expired.status_code == 400
    assert expired.json()["error"] == "invalid_grant"


def test_unregistered_redirect_is_refused_without_redirecting(
    intigriti_sim: IntigritiSimulator, control: IntigritiControl
) -> None:
    _, challenge = pkce_pair()
    params = authorize_params(challenge, redirect_uri="https://evil.example/callback")
    response = httpx.get(intigriti_sim.authorize_url, params=params)
    assert response.status_code == 400
    assert "location" not in response.headers
    # The POST (consent) is checked the same way.
    posted = httpx.post(intigriti_sim.authorize_url, data={**params, "decision": "approve"})
    assert posted.status_code == 400
    assert "location" not in posted.headers


def test_localhost_redirect_refused_by_default_allowed_when_enabled(
    intigriti_sim: IntigritiSimulator, control: IntigritiControl
) -> None:
    local = "http://localhost:8765/callback"
    control.register_client("externalapi_demo_local", "s3cret", [local])
    _, challenge = pkce_pair()
    params = authorize_params(challenge, client_id="externalapi_demo_local", redirect_uri=local)
    refused = httpx.get(intigriti_sim.authorize_url, params=params)
    assert refused.status_code == 400
    assert "localhost" in refused.text

    options = IntigritiSimulatorOptions(
        clients=(RegisteredClient("externalapi_demo_local", "s3cret", (local,)),),
        allow_localhost_redirect=True,
    )
    with IntigritiSimulator(options) as permissive:
        page = httpx.get(permissive.authorize_url, params=params)
        assert page.status_code == 200
        consent = httpx.post(permissive.authorize_url, data={**params, "decision": "approve"})
        assert consent.status_code == 302
        assert consent.headers["location"].startswith(local + "?code=")


def test_non_http_redirect_is_refused(
    intigriti_sim: IntigritiSimulator, control: IntigritiControl
) -> None:
    odd = "ftp://syncd.example/callback"
    control.register_client("externalapi_demo_ftp", "s3cret", [odd])
    _, challenge = pkce_pair()
    params = authorize_params(challenge, client_id="externalapi_demo_ftp", redirect_uri=odd)
    response = httpx.get(intigriti_sim.authorize_url, params=params)
    assert response.status_code == 400


def test_denied_consent_redirects_with_access_denied(
    intigriti_sim: IntigritiSimulator, control: IntigritiControl
) -> None:
    _, challenge = pkce_pair()
    params = authorize_params(challenge)
    response = httpx.post(intigriti_sim.authorize_url, data={**params, "decision": "deny"})
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["error"] == ["access_denied"]
    assert query["state"] == [params["state"]]


def test_refresh_rotates_and_the_old_refresh_token_is_dead(
    intigriti_sim: IntigritiSimulator, control: IntigritiControl
) -> None:
    first = _login(intigriti_sim)
    refresh = {"grant_type": "refresh_token", "refresh_token": str(first["refresh_token"])}
    second = token_request(intigriti_sim, refresh)
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert rotated["access_token"] != first["access_token"]

    reused = token_request(intigriti_sim, refresh)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"

    third = token_request(
        intigriti_sim, {"grant_type": "refresh_token", "refresh_token": rotated["refresh_token"]}
    )
    assert third.status_code == 200


def test_scope_on_refresh_is_a_400(
    intigriti_sim: IntigritiSimulator, control: IntigritiControl
) -> None:
    tokens = control.mint_token()
    response = token_request(
        intigriti_sim,
        {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "scope": "company_external_api",
        },
    )
    assert response.status_code == 400
    # The refused request did not consume the refresh token.
    ok = token_request(
        intigriti_sim, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert ok.status_code == 200


def test_expired_token_is_401_and_refresh_recovers(
    intigriti_sim: IntigritiSimulator, control: IntigritiControl
) -> None:
    tokens = control.mint_token(expires_in=60)
    with api_client(intigriti_sim, tokens["access_token"]) as api:
        assert api.get("/programs").status_code == 200
        control.advance_clock(61)
        expired = api.get("/programs")
    assert expired.status_code == 401
    assert "invalid_token" in expired.headers["www-authenticate"]
    fresh = token_request(
        intigriti_sim, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert fresh.status_code == 200
    assert fresh.json()["expires_in"] == 60
    with api_client(intigriti_sim, fresh.json()["access_token"]) as api:
        assert api.get("/programs").status_code == 200


def test_missing_token_and_revoked_token_are_401(
    intigriti_sim: IntigritiSimulator, control: IntigritiControl
) -> None:
    assert httpx.get(intigriti_sim.api_url + "/programs").status_code == 401
    token = control.mint_token()["access_token"]
    with api_client(intigriti_sim, token) as api:
        assert api.get("/programs").status_code == 200
        assert control.revoke_token(token) == 1
        assert api.get("/programs").status_code == 401


def test_non_expiring_mode(control: IntigritiControl) -> None:
    options = IntigritiSimulatorOptions(access_token_ttl=None)
    with IntigritiSimulator(options) as sim:
        tokens = _login(sim)
        assert "expires_in" not in tokens
        sim.control.advance_clock(365 * 86400)
        with api_client(sim, str(tokens["access_token"])) as api:
            assert api.get("/programs").status_code == 200


def test_missing_scopes_are_403(
    intigriti_sim: IntigritiSimulator, control: IntigritiControl
) -> None:
    program = control.seed_program()
    code = control.seed_submission(program["id"])["code"]
    read_only = control.mint_token(scopes=["company_external_api", "core_platform:read"])
    with api_client(intigriti_sim, read_only["access_token"]) as api:
        assert api.get("/submissions").status_code == 200
        write = api.put(f"/submissions/{code}/severity", json={"id": 1})
        assert write.status_code == 403
        assert "core_platform:write" in write.json()["title"]
    no_api = control.mint_token(scopes=["core_platform:read", "core_platform:write"])
    with api_client(intigriti_sim, no_api["access_token"]) as api:
        assert api.get("/submissions").status_code == 403
    write_only = control.mint_token(scopes=["company_external_api", "core_platform:write"])
    with api_client(intigriti_sim, write_only["access_token"]) as api:
        assert api.get("/submissions").status_code == 403
        assert api.put(f"/submissions/{code}/severity", json={"id": 1}).status_code == 204
