"""Configuration: a TOML file, overridden by ``SYNCD_<SECTION>__<KEY>`` environment variables.

Secrets may also come from files: every secret key ``x`` has an ``x_file`` twin, and when
neither is set the value is looked up as a file named ``<section>_<key>`` (for example
``intigriti_client_secret``) in systemd's ``$CREDENTIALS_DIRECTORY`` and then in Docker's
``/run/secrets``. Settings are frozen; unknown or misspelled keys are rejected with a
message naming the key and the file.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from syncd.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("config.toml")
DOCKER_SECRETS_DIR = Path("/run/secrets")


def _secret_search_dirs() -> list[Path]:
    dirs = []
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if credentials:
        dirs.append(Path(credentials))
    dirs.append(DOCKER_SECRETS_DIR)
    return dirs


def _read_secret_file(path: Path, key: str) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"{key}: cannot read secret file {path}: {exc.strerror}") from None


class _Section(BaseModel):
    """A config section: frozen, unknown keys rejected, secrets loadable from files."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: secret keys of this section; each has a ``<key>_file`` twin
    _secret_keys: ClassVar[tuple[str, ...]] = ()
    _section_name: ClassVar[str] = ""

    @model_validator(mode="before")
    @classmethod
    def _load_secret_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key in cls._secret_keys:
            file_key = f"{key}_file"
            file_value = data.get(file_key)
            if file_value:
                if data.get(key):
                    raise ValueError(f"set either {key} or {file_key}, not both")
                data[key] = _read_secret_file(Path(file_value), file_key)
            elif not data.get(key):
                for directory in _secret_search_dirs():
                    candidate = directory / f"{cls._section_name}_{key}"
                    if candidate.is_file():
                        data[key] = _read_secret_file(candidate, key)
                        break
        return data

    def secret_values(self) -> list[str]:
        values = []
        for key in self._secret_keys:
            value = getattr(self, key)
            if isinstance(value, SecretStr) and value.get_secret_value():
                values.append(value.get_secret_value())
        return values


class DatabaseSettings(_Section):
    _section_name: ClassVar[str] = "database"
    _secret_keys: ClassVar[tuple[str, ...]] = ("token_key",)

    url: str = "sqlite:///syncd.db"
    #: encrypts the stored OAuth tokens (any passphrase); see syncd/store/sealing.py
    token_key: SecretStr | None = None
    token_key_file: Path | None = None
    #: how long a statement waits for a lock held elsewhere (SQLite busy timeout,
    #: PostgreSQL lock_timeout) before failing with "the database is locked"
    busy_timeout_seconds: float = Field(default=60, gt=0)


class IntigritiSettings(_Section):
    _section_name: ClassVar[str] = "intigriti"
    _secret_keys: ClassVar[tuple[str, ...]] = ("client_secret", "refresh_token", "access_token")

    api_url: str = "https://api.intigriti.com/external/company/v2.0"
    token_url: str = "https://login.intigriti.com/connect/token"  # noqa: S105 (a URL)
    authorize_url: str = "https://login.intigriti.com/connect/authorize"
    client_id: str = ""
    client_secret: SecretStr | None = None
    client_secret_file: Path | None = None
    redirect_uri: str = ""
    refresh_token: SecretStr | None = None
    refresh_token_file: Path | None = None
    access_token: SecretStr | None = None
    access_token_file: Path | None = None
    programs: tuple[str, ...] = ()
    read_rate_per_minute: float = Field(default=600, gt=0)
    write_rate_per_minute: float = Field(default=200, gt=0)
    timeout_seconds: float = Field(default=30, gt=0)


class JiraSettings(_Section):
    _section_name: ClassVar[str] = "jira"
    _secret_keys: ClassVar[tuple[str, ...]] = ("api_token", "personal_access_token")

    url: str = ""
    email: str = ""
    api_token: SecretStr | None = None
    api_token_file: Path | None = None
    personal_access_token: SecretStr | None = None
    personal_access_token_file: Path | None = None
    project: str = ""
    issue_type: str = "Bug"
    cvss_field: str | None = None
    deployment: Literal["auto", "cloud", "datacenter"] = "auto"
    requests_per_minute: float = Field(default=300, gt=0)
    timeout_seconds: float = Field(default=30, gt=0)


class FieldRuleSettings(_Section):
    direction: Literal["both", "to_jira", "to_intigriti", "off"] = "both"
    policy: Literal["intigriti", "jira", "newest"] | None = None


class FieldsSettings(_Section):
    severity: FieldRuleSettings = FieldRuleSettings()
    status: FieldRuleSettings = FieldRuleSettings()
    internal_reference: FieldRuleSettings = FieldRuleSettings()


class SyncStateSettings(_Section):
    name: str
    intigriti: tuple[str, ...] = ()
    jira: tuple[str, ...]
    jira_resolution: str | None = None
    intigriti_writable: bool = True


class MappingSettings(_Section):
    """Empty values mean "use the built-in defaults" (see config.example.toml)."""

    statuses_to_create: tuple[str, ...] | None = None
    severity_to_priority: dict[str, str] | None = None
    priority_to_severity: dict[str, str] | None = None
    states: tuple[SyncStateSettings, ...] | None = None
    fields: FieldsSettings = FieldsSettings()
    #: Intigriti program id -> Jira project key; others go to [jira] project
    projects: dict[str, str] = Field(default_factory=dict)


class SyncSettings(_Section):
    poll_interval_seconds: float = Field(default=60, gt=0)
    jira_poll_interval_seconds: float = Field(default=60, gt=0)
    full_sweep_interval_seconds: float = Field(default=6 * 3600, gt=0)
    overlap_seconds: float = Field(default=120, ge=0)
    include_report: bool = True
    label: str = "intigriti"
    create_settle_seconds: float = Field(default=120, ge=0)
    max_attempts: int = Field(default=5, ge=1)
    #: several processes on one database: one silent for this long counts as dead, and
    #: its claims on links are free
    instance_timeout_seconds: float = Field(default=30, ge=3)
    #: `run --reconcile`: how long to wait for items another process is syncing
    reconcile_wait_seconds: float = Field(default=120, ge=0)
    #: `run --reconcile`: how long to retry start-up checks Jira fails transiently
    startup_wait_seconds: float = Field(default=120, ge=0)


class LoggingSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


_toml_path: ContextVar[Path | None] = ContextVar("_toml_path", default=None)


class _TomlSource(PydanticBaseSettingsSource):
    """Reads the TOML file chosen by ``load_settings`` (lower priority than environment)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = _toml_path.get()
        if path is None:
            return {}
        try:
            with path.open("rb") as handle:
                return tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        env_prefix="SYNCD_",
        env_nested_delimiter="__",
        case_sensitive=False,
    )

    database: DatabaseSettings = DatabaseSettings()
    intigriti: IntigritiSettings = IntigritiSettings()
    jira: JiraSettings = JiraSettings()
    sync: SyncSettings = SyncSettings()
    mapping: MappingSettings = MappingSettings()
    logging: LoggingSettings = LoggingSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    def secret_values(self) -> list[str]:
        """Every secret value configured, for the log redaction processor."""
        return (
            self.database.secret_values()
            + self.intigriti.secret_values()
            + self.jira.secret_values()
        )


def resolve_config_path(explicit: str | None) -> tuple[Path | None, bool]:
    """The config file to read and whether the operator named it explicitly."""
    if explicit:
        return Path(explicit), True
    from_env = os.environ.get("SYNCD_CONFIG")
    if from_env:
        return Path(from_env), True
    if DEFAULT_CONFIG_PATH.exists():
        return DEFAULT_CONFIG_PATH, False
    return None, False


def load_settings(explicit_path: str | None = None) -> Settings:
    """Load settings, raising ConfigError with a readable message on any problem."""
    path, explicit = resolve_config_path(explicit_path)
    if path is not None and explicit and not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    token = _toml_path.set(path)
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc, path)) from None
    finally:
        _toml_path.reset(token)


def _known_keys(model: type[BaseModel], loc: tuple[str, ...]) -> list[str]:
    """Field names valid at ``loc`` (the parent of a rejected key), for suggestions."""
    current: Any = model
    for part in loc:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        current = annotation
    return list(getattr(current, "model_fields", {}))


def _describe_validation_error(exc: ValidationError, path: Path | None) -> str:
    where = f"{path}" if path is not None else "configuration"
    lines = []
    for error in exc.errors():
        loc = tuple(str(part) for part in error["loc"])
        dotted = ".".join(loc)
        if error["type"] == "extra_forbidden":
            known = _known_keys(Settings, loc[:-1])
            close = difflib.get_close_matches(loc[-1], known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            lines.append(f"{where}: unknown key {dotted!r}{hint}")
        else:
            # never echo the offending input: it may be a secret
            lines.append(f"{where}: {dotted or 'value'}: {error['msg']}")
    return "\n".join(lines)
