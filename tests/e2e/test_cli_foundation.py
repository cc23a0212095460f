"""The `syncd` command as a subprocess: db upgrade, status, config errors, help."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url

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
    config = tmp_path / "config.toml"
    shutil.copy(EXAMPLE, config)
    result = syncd("--config", str(config), "db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    mode = stat.S_IMODE((tmp_path / "syncd.db").stat().st_mode)
    assert mode == 0o600


def test_a_config_in_one_directory_works_from_another(tmp_path: Path) -> None:
    """Relative paths in the file (database, secret files) resolve against its directory."""
    home = tmp_path / "etc-syncd"
    (home / "secrets").mkdir(parents=True)
    (home / "secrets" / "intigriti_client_secret").write_text("client-secret-value\n")
    config = home / "config.toml"
    config.write_text(
        '[database]\nurl = "sqlite:///state/syncd.db"\n'
        '[intigriti]\nclient_id = "x"\nclient_secret_file = "secrets/intigriti_client_secret"\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert syncd("--config", str(config), "db", "upgrade", cwd=elsewhere).returncode == 0
    assert (home / "state" / "syncd.db").is_file()
    status = syncd("--config", str(config), "status", cwd=elsewhere)
    assert status.returncode == 0, status.stderr
    assert "links: 0" in status.stdout
    auth = syncd("--config", str(config), "auth", "status", cwd=elsewhere)
    assert auth.returncode == 1, auth.stderr  # read the secret file fine; no token yet
    assert "syncd auth login" in auth.stdout
    assert list(elsewhere.iterdir()) == []  # nothing was created where syncd was run


def test_status_without_a_database_creates_nothing_and_says_what_to_do(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[jira]\nproject = "SEC"\n')  # the database defaults to ./syncd.db
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for args in (["status"], ["status", "--json"], ["auth", "status"]):
        result = syncd("--config", str(config), *args, cwd=elsewhere)
        assert result.returncode != 0, args
        assert "syncd db upgrade" in result.stderr or "syncd auth login" in result.stdout, args
    assert str(tmp_path / "syncd.db") in syncd("--config", str(config), "status").stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "elsewhere"]
    assert list(elsewhere.iterdir()) == []


def test_status_without_any_config_file_creates_nothing(tmp_path: Path) -> None:
    result = syncd("status", cwd=tmp_path)
    assert result.returncode == 2
    assert "no config file was found" in result.stderr
    assert "syncd init" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_reconcile_without_any_config_names_the_missing_keys(tmp_path: Path) -> None:
    result = syncd("run", "--reconcile", cwd=tmp_path)
    assert result.returncode == 2
    for key in ("jira.url", "jira.project", "jira.api_token", "intigriti.client_id"):
        assert key in result.stderr, key
    assert "mapping.default_project" not in result.stderr  # not a key anyone can set
    assert "no config file was found" in result.stderr
    assert list(tmp_path.iterdir()) == []  # not even a database


def test_status_before_upgrade_says_what_to_do(tmp_path: Path) -> None:
    database = tmp_path / "x.db"
    database.touch()  # a file, but no schema
    result = syncd("status", env={"SYNCD_DATABASE__URL": f"sqlite:///{database}"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "syncd db upgrade" in result.stdout


@pytest.mark.postgres
def test_status_names_a_postgresql_database_that_does_not_exist(
    tmp_path: Path, postgres_server: str
) -> None:
    missing = make_url(postgres_server).set(database="syncd_no_such_database")
    result = syncd(
        "status",
        env={"SYNCD_DATABASE__URL": missing.render_as_string(hide_password=False)},
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "syncd_no_such_database" in result.stderr
    assert "does not exist" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("SYNCD_JIRA__PROJET", "SEC", "environment variable SYNCD_JIRA__PROJET: unknown key"
         " 'jira.projet' (did you mean 'project'?)"),
        ("SYNCD_JIRRA__PROJECT", "SEC", "environment variable SYNCD_JIRRA__PROJECT: unknown"
         " section 'jirra' (did you mean 'jira'?)"),
        ("SYNCD_JIRA_PROJECT", "SEC", "did you mean SYNCD_JIRA__PROJECT?"),
        ("SYNCD_INTIGRITI__PROGRAMS", "abc", "SYNCD_INTIGRITI__PROGRAMS: intigriti.programs:"
         " expected JSON"),
    ],
)
def test_environment_mistakes_name_the_variable_not_the_file(
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    config = tmp_path / "base.toml"
    config.write_text('[jira]\nproject = "SEC"\n')
    result = syncd("--config", str(config), "status", env={variable: value}, cwd=tmp_path)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "base.toml" not in result.stderr
    assert "Traceback" not in result.stderr


def test_config_is_accepted_after_the_command_too(tmp_path: Path) -> None:
    absent = str(tmp_path / "absent.toml")
    for args in (
        ["status", "--config", absent],
        ["db", "upgrade", "--config", absent],
        ["run", "--reconcile", "--config", absent],
        ["auth", "status", "--config", absent],
    ):
        result = syncd(*args, cwd=tmp_path)
        assert result.returncode == 2, args
        assert f"config file not found: {absent}" in result.stderr, args


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
        ["init"],
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


def test_a_closed_pipe_is_not_an_error_report(tmp_path: Path) -> None:
    """`syncd status | head -1`: the reader leaves early; syncd must not report a bug."""
    config = tmp_path / "config.toml"
    shutil.copy(EXAMPLE, config)
    assert syncd("--config", str(config), "db", "upgrade").returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "syncd", "--config", str(config), "status"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # before syncd writes a byte
    error = process.stderr.read().decode()
    process.wait(timeout=60)
    assert "unexpected" not in error
    assert "Traceback" not in error
