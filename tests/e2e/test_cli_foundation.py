"""The `syncd` command as a subprocess: db upgrade, status, config errors, help."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

REPO = Path(__file__).parents[2]
EXAMPLE = REPO / "config.example.toml"


def syncd(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "syncd", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_db_upgrade_creates_schema(database_url: str, tmp_path: Path) -> None:
    result = syncd(
        "--config",
        str(EXAMPLE),
        "db",
        "upgrade",
        env={"SYNCD_DATABASE__URL": database_url},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    tables = set(inspect(create_engine(database_url)).get_table_names())
    assert {"links", "cursors", "oauth_tokens", "audit_log", "alembic_version"} <= tables
    status = syncd("--config", str(EXAMPLE), "status", env={"SYNCD_DATABASE__URL": database_url})
    assert status.returncode == 0, status.stderr
    assert "links: 0" in status.stdout


def test_example_config_default_database_is_a_private_file(tmp_path: Path) -> None:
    result = syncd("--config", str(EXAMPLE), "db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    mode = stat.S_IMODE((tmp_path / "syncd.db").stat().st_mode)
    assert mode == 0o600


def test_status_before_upgrade_says_what_to_do(tmp_path: Path) -> None:
    result = syncd(
        "status", env={"SYNCD_DATABASE__URL": f"sqlite:///{tmp_path / 'x.db'}"}, cwd=tmp_path
    )
    assert result.returncode == 0
    assert "syncd db upgrade" in result.stdout


def test_misspelled_key_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[sync]\npoll_intervall_seconds = 30\n")
    result = syncd("--config", str(config), "status", cwd=tmp_path)
    assert result.returncode == 2
    assert "sync.poll_intervall_seconds" in result.stderr
    assert str(config) in result.stderr


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = syncd("--config", str(tmp_path / "absent.toml"), "status")
    assert result.returncode == 2
    assert "config file not found" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["run"],
        ["auth"],
        ["auth", "login"],
        ["auth", "status"],
        ["status"],
        ["db"],
        ["db", "upgrade"],
        ["demo"],
        ["sim"],
        ["sim", "intigriti"],
        ["sim", "jira"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = syncd(*command, "--help")
    assert result.returncode == 0
    assert "usage: syncd" in result.stdout
    assert len(result.stdout.splitlines()) > 3
