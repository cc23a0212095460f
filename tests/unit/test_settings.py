"""Settings: TOML + environment + secret files, frozen, unknown keys named."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from syncd.errors import ConfigError
from syncd.settings import load_settings


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)


def test_defaults_match_the_design(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None)
    assert settings.database.url == "sqlite:///syncd.db"
    assert settings.intigriti.api_url == "https://api.intigriti.com/external/company/v2.0"
    assert settings.intigriti.read_rate_per_minute == 600
    assert settings.intigriti.write_rate_per_minute == 200
    assert settings.intigriti.programs == ()


def test_misspelled_key_is_named_with_file_and_suggestion(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", '[jira]\nprojct = "SEC"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(str(config))
    message = str(caught.value)
    assert "jira.projct" in message
    assert str(config) in message
    assert "did you mean 'project'" in message


def test_unknown_section_is_rejected(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "[jria]\nurl = 'x'\n")
    with pytest.raises(ConfigError, match="unknown key 'jria'"):
        load_settings(str(config))


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path / "c.toml", '[jira]\nurl = "https://file"\nproject = "SEC"\n')
    monkeypatch.setenv("SYNCD_JIRA__URL", "https://env")
    monkeypatch.setenv("SYNCD_INTIGRITI__PROGRAMS", '["p1", "p2"]')
    settings = load_settings(str(config))
    assert settings.jira.url == "https://env"
    assert settings.jira.project == "SEC"
    assert settings.intigriti.programs == ("p1", "p2")


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path / "c.toml", '[jira]\nproject = "ENV"\n')
    monkeypatch.setenv("SYNCD_CONFIG", str(config))
    assert load_settings(None).jira.project == "ENV"


def test_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(str(tmp_path / "nope.toml"))


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "[jira\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(str(config))


def test_secret_from_file_key(tmp_path: Path) -> None:
    secret = write(tmp_path / "secret", "file-secret-value\n")
    config = write(tmp_path / "c.toml", f'[intigriti]\nclient_secret_file = "{secret}"\n')
    settings = load_settings(str(config))
    assert settings.intigriti.client_secret is not None
    assert settings.intigriti.client_secret.get_secret_value() == "file-secret-value"
    assert "file-secret-value" not in repr(settings)


def test_secret_from_credentials_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = tmp_path / "creds"
    credentials.mkdir()
    write(credentials / "jira_api_token", "systemd-token")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    config = write(tmp_path / "c.toml", "[jira]\nemail = 'a@b'\n")
    settings = load_settings(str(config))
    assert settings.jira.api_token is not None
    assert settings.jira.api_token.get_secret_value() == "systemd-token"
    assert "systemd-token" in settings.secret_values()


def test_both_secret_and_file_is_an_error(tmp_path: Path) -> None:
    secret = write(tmp_path / "secret", "x")
    config = write(
        tmp_path / "c.toml", f'[jira]\napi_token = "inline"\napi_token_file = "{secret}"\n'
    )
    with pytest.raises(ConfigError, match="either api_token or api_token_file"):
        load_settings(str(config))


def test_unreadable_secret_file_names_the_key_not_the_value(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", f'[jira]\napi_token_file = "{tmp_path / "missing"}"\n')
    with pytest.raises(ConfigError, match="api_token_file: cannot read secret file"):
        load_settings(str(config))


def test_bad_value_error_does_not_echo_input(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", '[intigriti]\nread_rate_per_minute = "sekrit"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(str(config))
    assert "intigriti.read_rate_per_minute" in str(caught.value)
    assert "sekrit" not in str(caught.value)


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(str(write(tmp_path / "c.toml", "")))
    with pytest.raises(ValidationError):
        settings.jira.project = "X"  # type: ignore[misc]


def test_example_config_is_valid() -> None:
    example = Path(__file__).parents[2] / "config.example.toml"
    settings = load_settings(str(example))
    assert settings.intigriti.write_rate_per_minute == 200
