"""Secrets from settings never reach the log output, even when logged by mistake."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
import structlog

from syncd.logging import SECRETS, configure_logging, register_secret
from syncd.settings import load_settings

CANARIES = {
    "client_secret": "canary-client-secret-7f3a",
    "refresh_token": "canary-refresh-token-91bc",
    "api_token": "canary-jira-api-token-c0de",
    "file_token": "canary-from-a-file-5eed",
}


@pytest.fixture
def captured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    SECRETS.clear()
    secret_file = tmp_path / "pat"
    secret_file.write_text(CANARIES["file_token"] + "\n")
    config = tmp_path / "c.toml"
    config.write_text(
        "[intigriti]\n"
        f'client_secret = "{CANARIES["client_secret"]}"\n'
        f'refresh_token = "{CANARIES["refresh_token"]}"\n'
        "[jira]\n"
        f'api_token = "{CANARIES["api_token"]}"\n'
        f'personal_access_token_file = "{secret_file}"\n'
    )
    settings = load_settings(str(config))
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    register_secret(*settings.secret_values())
    yield stream
    SECRETS.clear()


def assert_no_canary(output: str) -> None:
    assert output, "nothing was logged: the test would prove nothing"
    for name, value in CANARIES.items():
        assert value not in output, f"{name} leaked into the log"


def test_secrets_logged_by_mistake_are_masked(captured: io.StringIO) -> None:
    log = structlog.get_logger("test")
    log.info("oops", detail=f"sent {CANARIES['client_secret']} to the server")
    log.warning("nested", payload={"form": {"token": CANARIES["refresh_token"]}})
    log.error("listed", values=[CANARIES["api_token"], {"x": CANARIES["file_token"]}])
    log.info(f"in the event name itself: {CANARIES['api_token']}")
    output = captured.getvalue()
    assert_no_canary(output)
    assert output.count("***") >= 5


def test_exceptions_and_stdlib_loggers_are_masked(captured: io.StringIO) -> None:
    try:
        raise RuntimeError(f"refresh failed for {CANARIES['refresh_token']}")
    except RuntimeError:
        structlog.get_logger("test").exception("refresh_failed")
    logging.getLogger("jira").warning("GET with %s", CANARIES["api_token"])
    assert_no_canary(captured.getvalue())


def test_credential_keys_and_auth_headers_are_masked(captured: io.StringIO) -> None:
    structlog.get_logger("test").info(
        "request",
        headers={"Authorization": "Bearer some-live-token-value"},
        access_token="another-live-token",
        note="Authorization: Basic dXNlcjpwYXNz",
    )
    line = json.loads(captured.getvalue().splitlines()[-1])
    assert line["headers"]["Authorization"] == "***"
    assert line["access_token"] == "***"
    assert "dXNlcjpwYXNz" not in line["note"]


def test_tokens_registered_at_runtime_are_masked(captured: io.StringIO) -> None:
    register_secret("rotated-access-token-abc123")
    structlog.get_logger("test").info("got", value="rotated-access-token-abc123")
    assert "rotated-access-token-abc123" not in captured.getvalue()
