"""Settings: TOML + environment + secret files, frozen, unknown keys named."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from syncd.errors import ConfigError
from syncd.settings import Settings, load_settings


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


def test_relative_paths_in_the_file_resolve_against_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "conf"
    (home / "secrets").mkdir(parents=True)
    write(home / "secrets" / "token", "relative-secret\n")
    config = write(
        home / "c.toml",
        '[database]\nurl = "sqlite:///data/syncd.db"\n[jira]\napi_token_file = "secrets/token"\n',
    )
    monkeypatch.chdir(tmp_path)
    settings = load_settings(str(config.relative_to(tmp_path)))
    assert settings.database.url == f"sqlite:///{home / 'data' / 'syncd.db'}"
    assert settings.jira.api_token is not None
    assert settings.jira.api_token.get_secret_value() == "relative-secret"
    assert settings.config_file == config


def test_the_default_database_lives_beside_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    config = write(tmp_path / "conf" / "c.toml", "")
    monkeypatch.chdir(tmp_path)
    assert load_settings(str(config)).database.url == f"sqlite:///{tmp_path / 'conf' / 'syncd.db'}"


def test_paths_from_the_environment_stay_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    config = write(tmp_path / "conf" / "c.toml", "")
    monkeypatch.setenv("SYNCD_DATABASE__URL", "sqlite:///here.db")
    assert load_settings(str(config)).database.url == "sqlite:///here.db"


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///:memory:", "sqlite:////abs/x.db", "postgresql+psycopg://u@h/db"],
)
def test_urls_that_name_no_relative_file_are_kept(tmp_path: Path, url: str) -> None:
    config = write(tmp_path / "c.toml", f'[database]\nurl = "{url}"\n')
    assert load_settings(str(config)).database.url == url


def test_an_explicit_file_key_beats_the_credentials_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = tmp_path / "creds"
    credentials.mkdir()
    write(credentials / "jira_api_token", "from-directory")
    write(credentials / "intigriti_client_secret", "directory-secret")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    write(tmp_path / "mine", "from-file-key")
    config = write(
        tmp_path / "c.toml",
        '[jira]\napi_token_file = "mine"\n[intigriti]\nclient_secret = "inline"\n',
    )
    settings = load_settings(str(config))
    assert settings.jira.api_token is not None
    assert settings.jira.api_token.get_secret_value() == "from-file-key"
    assert settings.intigriti.client_secret is not None
    assert settings.intigriti.client_secret.get_secret_value() == "inline"


def test_an_empty_secret_is_no_secret(tmp_path: Path) -> None:
    write(tmp_path / "empty", "\n")
    config = write(
        tmp_path / "c.toml", '[intigriti]\naccess_token = ""\nclient_secret_file = "empty"\n'
    )
    settings = load_settings(str(config))
    assert settings.intigriti.access_token is None
    assert settings.intigriti.client_secret is None


def test_an_unknown_environment_key_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path / "base.toml", '[jira]\nproject = "SEC"\n')
    monkeypatch.setenv("SYNCD_JIRA__PROJET", "SEC")
    with pytest.raises(ConfigError) as caught:
        load_settings(str(config))
    message = str(caught.value)
    assert "environment variable SYNCD_JIRA__PROJET" in message
    assert "did you mean 'project'" in message
    assert "base.toml" not in message


def test_a_misspelt_section_in_the_environment_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCD_JIRRA__PROJECT", "SEC")
    with pytest.raises(ConfigError, match="SYNCD_JIRRA__PROJECT: unknown section 'jirra'"):
        load_settings(str(write(tmp_path / "c.toml", "")))


def test_variables_that_are_not_settings_are_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCD_DEMO_LOG_LEVEL", "debug")
    monkeypatch.setenv("SYNCD_TEST_SOMETHING", "x")
    assert load_settings(str(write(tmp_path / "c.toml", ""))).jira.project == ""


@pytest.mark.parametrize(
    ("toml", "expected", "absent"),
    [
        ('[intigriti]\nprograms = "p1"\n', "intigriti.programs: expected an array", "tuple"),
        ("[sync]\nmax_attempts = 0\n", "sync.max_attempts: must be at least 1", "Input should"),
        ('[logging]\nlevel = "loud"\n', "logging.level: expected one of 'debug'", "Input should"),
        ("[jira]\nurl = 3\n", "jira.url: expected a string", "valid string"),
        ('[sync]\ninclude_report = "maybe"\n', "expected true or false", "valid boolean"),
        ("[intigriti]\nscopes = []\n", "intigriti.scopes: needs at least 1", "Input should"),
    ],
)
def test_messages_speak_toml_not_pydantic(
    tmp_path: Path, toml: str, expected: str, absent: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(str(write(tmp_path / "c.toml", toml)))
    message = str(caught.value)
    assert expected in message
    assert absent not in message
    assert "Value error" not in message


def test_a_secret_file_error_has_no_pydantic_prefix(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", '[jira]\napi_token = "a"\napi_token_file = "b"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(str(config))
    assert "Value error" not in str(caught.value)
    assert "set either api_token or api_token_file, not both" in str(caught.value)


def test_scopes_default_to_the_least_syncd_needs(tmp_path: Path) -> None:
    settings = load_settings(str(write(tmp_path / "c.toml", "")))
    assert settings.intigriti.scopes == (
        "company_external_api",
        "core_platform:read",
        "core_platform:write",
        "offline_access",
    )


def _keys(model: type[Any], prefix: str = "") -> list[str]:
    keys = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and not prefix:
            keys.extend(_keys(annotation, f"{name}."))
        else:
            keys.append(prefix + name)
    return keys


def test_every_key_is_described_in_the_example_config() -> None:
    example = (Path(__file__).parents[2] / "config.example.toml").read_text()
    missing = []
    for dotted in _keys(Settings):
        section, _, key = dotted.partition(".")
        if section == "mapping":
            continue  # nested tables, shown as tables
        # a key appears set or commented out (`# key = ...`) under its section
        body = example.split(f"[{section}]", 1)[1].split("\n[", 1)[0]
        if not re.search(rf"^(# )?{re.escape(key)} = ", body, re.MULTILINE):
            missing.append(dotted)
    assert missing == []
