"""`syncd auth login` and `syncd auth status` as an operator runs them."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from harness import E2E, e2e_world

from syncd.simulators.intigriti.browser import browser_consent


@pytest.fixture
def e2e(tmp_path: Path, sqlite_url: str) -> Iterator[E2E]:
    yield from e2e_world(tmp_path, sqlite_url)


def without_bootstrap_token(e2e: E2E) -> None:
    e2e.rewrite_config({"intigriti": {"refresh_token": ""}})


def test_login_by_pasting_the_redirect_url_then_sync_works(e2e: E2E) -> None:
    without_bootstrap_token(e2e)
    before = e2e.syncd("auth", "status")
    assert before.returncode == 1
    assert "has_token: no" in before.stdout
    assert "syncd auth login" in before.stdout

    login = e2e.popen("auth", "login")
    assert login.stdout is not None and login.stdin is not None
    lines = []
    while not any("/connect/authorize?" in line for line in lines):
        line = login.stdout.readline()
        assert line, (
            f"no authorize URL printed; stderr: {login.stderr.read() if login.stderr else ''}"
        )
        lines.append(line)
    authorize_url = next(line.strip() for line in lines if "/connect/authorize?" in line)
    assert "code_challenge_method=S256" in authorize_url
    redirected = browser_consent(authorize_url)  # the operator approves in a browser
    out, err = login.communicate(redirected + "\n", timeout=60)
    assert login.returncode == 0, err[-2000:]
    assert "logged in" in out

    status = e2e.syncd("auth", "status")
    assert status.returncode == 0
    assert "has_token: yes" in status.stdout
    assert "has_refresh_token: yes" in status.stdout
    expires = r"expires: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(in \d+m \d\ds\)"
    assert re.search(expires, status.stdout), status.stdout
    # never the token itself
    tokens = e2e.query("SELECT access_token, refresh_token FROM oauth_tokens")[0]
    assert tokens["access_token"] not in status.stdout + status.stderr
    assert tokens["refresh_token"] not in status.stdout + status.stderr

    e2e.world.intigriti.control.seed_submission(e2e.world.programs[0], status="Triage")
    result = e2e.reconcile()
    assert result.returncode == 0, result.stderr[-2000:]
    assert "created 1" in result.stdout


def test_a_tampered_state_is_refused(e2e: E2E) -> None:
    without_bootstrap_token(e2e)
    login = e2e.popen("auth", "login")
    assert login.stdout is not None
    url = ""
    while "/connect/authorize?" not in url:
        url = login.stdout.readline()
        assert url
    redirected = browser_consent(url.strip())
    tampered = re.sub(r"state=[^&]+", "state=forged", redirected)
    _out, err = login.communicate(tampered + "\n", timeout=60)
    assert login.returncode == 2
    assert "state" in err.lower()


def test_a_revoked_refresh_token_asks_for_login_and_exits_2(e2e: E2E) -> None:
    e2e.world.intigriti.control.seed_submission(e2e.world.programs[0], status="Triage")
    assert e2e.reconcile().returncode == 0  # bootstraps and stores a rotated pair
    e2e.world.intigriti.control.revoke_all()
    e2e.world.intigriti.control.advance_clock(7200)  # the stored access token expires
    result = e2e.reconcile()
    assert result.returncode == 2
    assert "syncd auth login" in result.stderr


def authorize_url_of(login: subprocess.Popen[str]) -> str:
    assert login.stdout is not None
    line = ""
    while "/connect/authorize?" not in line:
        line = login.stdout.readline()
        assert line, "no authorize URL printed"
    return line.strip()


def test_login_asks_for_the_least_scopes_and_config_can_change_them(e2e: E2E) -> None:
    without_bootstrap_token(e2e)
    login = e2e.popen("auth", "login")
    url = authorize_url_of(login)
    login.communicate("", timeout=60)
    scopes = parse_qs(urlsplit(url).query)["scope"][0].split()
    assert sorted(scopes) == sorted(
        ["company_external_api", "core_platform:read", "core_platform:write", "offline_access"]
    )
    e2e.rewrite_config({"intigriti": {"refresh_token": "", "scopes": ["company_external_api"]}})
    login = e2e.popen("auth", "login")
    url = authorize_url_of(login)
    login.communicate("", timeout=60)
    assert parse_qs(urlsplit(url).query)["scope"] == ["company_external_api"]


def test_end_of_input_at_the_prompt_is_a_message_not_a_traceback(e2e: E2E) -> None:
    without_bootstrap_token(e2e)
    login = e2e.popen("auth", "login")
    authorize_url_of(login)
    _out, err = login.communicate("", timeout=60)  # stdin closed: EOF
    assert login.returncode == 2
    assert "no URL was pasted" in err
    assert "Traceback" not in err


def test_an_expired_authorization_code_is_not_called_a_refresh_token(e2e: E2E) -> None:
    without_bootstrap_token(e2e)
    login = e2e.popen("auth", "login")
    redirected = browser_consent(authorize_url_of(login))
    e2e.world.intigriti.control.advance_clock(300)  # the operator went for coffee
    _out, err = login.communicate(redirected + "\n", timeout=60)
    assert login.returncode == 2
    assert "authorization code" in err
    assert "expired" in err
    assert "refresh token" not in err
    assert "syncd auth login" in err
