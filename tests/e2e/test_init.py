"""`syncd init`: a starter config (and secrets layout) that loads and says what is left."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

from syncd.starter import Answers, ask


def syncd(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    return subprocess.run(
        [sys.executable, "-m", "syncd", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def test_init_from_flags_writes_a_config_that_loads(tmp_path: Path) -> None:
    home = tmp_path / "etc"
    config = home / "config.toml"
    result = syncd(
        "init",
        "--config",
        str(config),
        "--jira-url",
        "https://example.atlassian.net",
        "--jira-email",
        "bot@example.com",
        "--jira-project",
        "SEC",
        "--intigriti-client-id",
        "externalapi_acme_x",
        "--intigriti-redirect-uri",
        "https://acme.example/syncd",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    data = tomllib.loads(config.read_text())
    assert data["jira"]["url"] == "https://example.atlassian.net"
    assert data["jira"]["project"] == "SEC"
    assert data["jira"]["api_token_file"] == "secrets/jira_api_token"
    assert data["intigriti"]["client_secret_file"] == "secrets/intigriti_client_secret"
    assert "api_token" not in data["jira"]  # secrets never in the file
    # every section is commented for a newcomer
    assert config.read_text().count("\n# ") >= 10
    secrets = home / "secrets"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    for name in ("jira_api_token", "intigriti_client_secret"):
        assert stat.S_IMODE((secrets / name).stat().st_mode) == 0o600
        assert f"empty, put the value in: {secrets / name}" in result.stdout
    # it loads from anywhere, and a sync run names exactly what is still missing
    run = syncd("--config", str(config), "run", "--reconcile", cwd=tmp_path)
    assert run.returncode == 2
    missing = [line.strip() for line in run.stderr.splitlines() if line.startswith("  ")]
    assert [line.split(" ")[0] for line in missing] == ["jira.email"], run.stderr


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    assert syncd("init", cwd=tmp_path).returncode == 0
    (tmp_path / "secrets" / "jira_api_token").write_text("kept-token\n")
    again = syncd("init", "--jira-project", "APP", cwd=tmp_path)
    assert again.returncode == 2
    assert "--force" in again.stderr
    forced = syncd("init", "--force", "--jira-project", "APP", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert 'project = "APP"' in (tmp_path / "config.toml").read_text()
    # a secret put there earlier survives a rewrite of the config
    assert (tmp_path / "secrets" / "jira_api_token").read_text() == "kept-token\n"


def test_questions_fill_what_flags_left_out_and_secrets_go_to_files(tmp_path: Path) -> None:
    replies = {
        "Jira site URL": "https://jira.acme.internal",
        "Jira Cloud or Data Center": "datacenter",
        "Jira project key": "sec",
        "Intigriti client id": "externalapi_acme_x",
        "Intigriti redirect URL": "https://acme.example/cb",
    }
    asked: list[str] = []

    def ask_text(question: str, default: str) -> str:
        asked.append(question)
        return next(v for k, v in replies.items() if question.startswith(k))

    def ask_secret(question: str) -> str:
        return "pat-value" if "personal access token" in question else ""

    answers = ask(Answers(), ask_text, ask_secret)
    assert answers.jira_deployment == "datacenter"
    assert answers.jira_project == "SEC"
    assert not any("E-mail" in q for q in asked)  # Data Center needs no e-mail
    assert answers.secrets == {"jira_personal_access_token": "pat-value"}
    assert "pat-value" not in repr(answers)
