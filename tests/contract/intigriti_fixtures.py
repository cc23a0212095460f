"""Fixtures and helpers shared by the Intigriti simulator tests (import them explicitly).

Kept out of conftest.py on purpose: other test packages own that file.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from syncd.simulators.intigriti import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_REDIRECT_URI,
    IntigritiControl,
    IntigritiSimulator,
    IntigritiSimulatorOptions,
)

API_SCOPES = "company_external_api core_platform:read core_platform:write offline_access"


@pytest.fixture(scope="module", name="intigriti_sim")
def fixture_intigriti_sim() -> Iterator[IntigritiSimulator]:
    """One simulator per test module (default options)."""
    with IntigritiSimulator(IntigritiSimulatorOptions()) as sim:
        yield sim


@pytest.fixture(name="control")
def fixture_control(intigriti_sim: IntigritiSimulator) -> IntigritiControl:
    """The control API of a freshly reset simulator."""
    intigriti_sim.control.reset()
    return intigriti_sim.control


@pytest.fixture(name="seeded")
def fixture_seeded(control: IntigritiControl) -> dict[str, Any]:
    """One program with three submissions in Triage, Pending and Accepted."""
    program = control.seed_program(name="Acme", handle="acme")
    subs = {
        status: control.seed_submission(program["id"], status=status)
        for status in ("Triage", "Pending", "Accepted")
    }
    return {"program": program, "subs": subs}


def api_client(sim: IntigritiSimulator, token: str, *, version: str = "v2.0") -> httpx.Client:
    base = sim.base_url + f"/external/company/{version}"
    return httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10.0
    )


@pytest.fixture(name="api")
def fixture_api(
    intigriti_sim: IntigritiSimulator, control: IntigritiControl
) -> Iterator[httpx.Client]:
    """An httpx client on /v2.0 with a freshly minted, fully scoped token."""
    token = control.mint_token()["access_token"]
    with api_client(intigriti_sim, token) as client:
        yield client


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params(challenge: str, **overrides: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": DEMO_CLIENT_ID,
        "redirect_uri": DEMO_REDIRECT_URI,
        "scope": API_SCOPES,
        "state": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return params


def browser_consent(sim: IntigritiSimulator, params: dict[str, str]) -> httpx.Response:
    """What a browser does: GET the authorize page, submit its form, stop at the redirect.

    The form fields are read back from the page (hidden inputs), as a browser would post
    them, rather than re-sent from ``params``.
    """
    with httpx.Client(base_url=sim.base_url, follow_redirects=False, timeout=10.0) as browser:
        page = browser.get("/connect/authorize", params=params)
        assert page.status_code == 200, page.text
        fields = _hidden_inputs(page.text)
        fields["decision"] = "approve"
        return browser.post("/connect/authorize", data=fields)


def _hidden_inputs(html_text: str) -> dict[str, str]:
    pattern = r'<input type="hidden" name="([^"]+)" value="([^"]*)">'
    return {name: html.unescape(value) for name, value in re.findall(pattern, html_text)}


def code_from_redirect(response: httpx.Response) -> tuple[str, str]:
    """(code, state) from the consent POST's 302 to the registered redirect URL."""
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(DEMO_REDIRECT_URI + "?")
    query = parse_qs(urlsplit(location).query)
    return query["code"][0], query["state"][0]


def token_request(
    sim: IntigritiSimulator, data: dict[str, str], *, basic: bool = False
) -> httpx.Response:
    form = dict(data)
    auth: tuple[str, str] | None = None
    if basic:
        auth = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    else:
        form.setdefault("client_id", DEMO_CLIENT_ID)
        form.setdefault("client_secret", DEMO_CLIENT_SECRET)
    return httpx.post(sim.token_url, data=form, auth=auth, timeout=10.0)
