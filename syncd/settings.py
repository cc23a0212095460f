"""Configuration: a TOML file, overridden by ``SYNCD_<SECTION>__<KEY>`` environment variables.

The sources, highest priority first: environment variables, the TOML file (pydantic-settings'
``TomlConfigSettingsSource``), then secret files found by name in systemd's
``$CREDENTIALS_DIRECTORY`` and Docker's ``/run/secrets`` (pydantic-settings'
``SecretsSettingsSource``; a file is named ``<section>_<key>``, e.g.
``intigriti_client_secret``). Every secret key ``x`` also has an ``x_file`` twin naming a
file to read it from; an ``x_file`` beats a file found in those directories.

Relative paths written in the config file (``*_file`` keys, a SQLite database) are taken
relative to the file's directory, so a config works from any working directory; a relative
path in an environment variable is relative to the working directory, as a shell user
expects. Settings are frozen; unknown or misspelled keys are rejected with a message naming
the key and where it came from (the file, or the environment variable).
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from syncd.errors import ConfigError
from syncd.intigriti.options import DEFAULT_SCOPES

DEFAULT_CONFIG_PATH = Path("config.toml")
DOCKER_SECRETS_DIR = Path("/run/secrets")
ENV_PREFIX = "SYNCD_"
ENV_DELIMITER = "__"
DEFAULT_DATABASE_URL = "sqlite:///syncd.db"


class _DirectorySecret(str):
    """A secret read from a credentials directory: it yields to an explicit ``x_file``."""

    __slots__ = ()


def _read_secret_file(path: Path, key: str) -> str:
    try:
        return path.expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"{key}: cannot read secret file {path}: {exc.strerror}") from None


class _Section(BaseModel):
    """A config section: frozen, unknown keys rejected, secrets loadable from files."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: secret keys of this section; each has a ``<key>_file`` twin
    _secret_keys: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _load_secret_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key in cls._secret_keys:
            file_key = f"{key}_file"
            value = data.get(key)
            found_in_directory = isinstance(value, _DirectorySecret)
            if data.get(file_key):
                if value and not found_in_directory:
                    raise ValueError(f"set either {key} or {file_key}, not both")
                data[key] = _read_secret_file(Path(data[file_key]), file_key)
            elif found_in_directory:
                data[key] = str(value)
            if data.get(key) == "":
                data[key] = None  # an empty secret (or secret file) is no secret at all
        return data

    def secret_values(self) -> list[str]:
        values = []
        for key in self._secret_keys:
            value = getattr(self, key)
            if isinstance(value, SecretStr) and value.get_secret_value():
                values.append(value.get_secret_value())
        return values


class DatabaseSettings(_Section):
    _secret_keys: ClassVar[tuple[str, ...]] = ("token_key",)

    url: str = DEFAULT_DATABASE_URL
    #: encrypts the stored OAuth tokens (any passphrase); see syncd/store/sealing.py
    token_key: SecretStr | None = None
    token_key_file: Path | None = None
    #: how long a statement waits for a lock held elsewhere (SQLite busy timeout,
    #: PostgreSQL lock_timeout) before failing with "the database is locked"
    busy_timeout_seconds: float = Field(default=60, gt=0)


class IntigritiSettings(_Section):
    _secret_keys: ClassVar[tuple[str, ...]] = (
        "client_secret",
        "refresh_token",
        "access_token",
        "webhook_secret",
    )

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
    #: OAuth scopes asked for at `syncd auth login`
    scopes: tuple[str, ...] = Field(default=DEFAULT_SCOPES, min_length=1)
    programs: tuple[str, ...] = ()
    read_rate_per_minute: float = Field(default=600, gt=0)
    write_rate_per_minute: float = Field(default=200, gt=0)
    timeout_seconds: float = Field(default=30, gt=0)
    #: the company webhook's secret (Admin > Integrations > Webhooks); set: the daemon's
    #: listener takes POST /webhooks/intigriti
    webhook_secret: SecretStr | None = None
    webhook_secret_file: Path | None = None


class JiraSettings(_Section):
    _secret_keys: ClassVar[tuple[str, ...]] = (
        "api_token",
        "personal_access_token",
        "webhook_secret",
    )

    url: str = ""
    email: str = ""
    api_token: SecretStr | None = None
    api_token_file: Path | None = None
    personal_access_token: SecretStr | None = None
    personal_access_token_file: Path | None = None
    project: str = ""
    issue_type: str = "Bug"
    cvss_field: str | None = None
    #: a custom field id for the payout totals, or "comment" to add them as comments
    payout_field: str | None = None
    #: the issue link type for "closed as a duplicate of" (outward phrase "duplicates")
    duplicate_link_type: str = Field(default="Duplicate", min_length=1)
    deployment: Literal["auto", "cloud", "datacenter"] = "auto"
    requests_per_minute: float = Field(default=300, gt=0)
    timeout_seconds: float = Field(default=30, gt=0)
    #: the admin webhook's secret; set: the daemon's listener takes POST /webhooks/jira
    webhook_secret: SecretStr | None = None
    webhook_secret_file: Path | None = None


class FieldRuleSettings(_Section):
    #: None: the field's built-in default (see config.example.toml)
    direction: Literal["both", "to_jira", "to_intigriti", "off"] | None = None
    policy: Literal["intigriti", "jira", "newest"] | None = None


class FieldsSettings(_Section):
    severity: FieldRuleSettings = FieldRuleSettings()
    status: FieldRuleSettings = FieldRuleSettings()
    internal_reference: FieldRuleSettings = FieldRuleSettings()
    cvss: FieldRuleSettings = FieldRuleSettings()
    duplicate: FieldRuleSettings = FieldRuleSettings()
    payouts: FieldRuleSettings = FieldRuleSettings()
    description: FieldRuleSettings = FieldRuleSettings()


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
    #: upload the report's attachments to the issue (off: listed as links to Intigriti)
    upload_attachments: bool = False
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
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


class HttpSettings(_Section):
    """The daemon's HTTP listener (/healthz, /readyz, /metrics); off while ``listen`` is
    empty."""

    #: "HOST:PORT", e.g. "127.0.0.1:9464"; "[::1]:9464" for IPv6; empty: no listener
    listen: str = ""

    @model_validator(mode="after")
    def _check_listen(self) -> HttpSettings:
        if self.listen:
            listen_address(self.listen)  # raises ValueError naming the problem
        return self


def listen_address(text: str) -> tuple[str, int]:
    """``"HOST:PORT"`` as (host, port); ``[v6]:PORT`` for an IPv6 address."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"listen must be HOST:PORT with a port 1-65535, not {text!r}")
    return host.removeprefix("[").removesuffix("]"), int(port)


class WebhookSettings(_Section):
    """How the listener takes webhook deliveries (see [intigriti] / [jira] webhook_secret)."""

    #: submissions and issues waiting for their targeted reconcile; a full queue answers
    #: 503 with Retry-After, so the sender delivers again later
    queue_size: int = Field(default=1000, ge=1)
    #: a larger body is refused (413) before it is read in full
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    #: how long a delivery id is remembered: a replay within this window is ignored
    dedupe_hours: float = Field(default=48, ge=24)
    #: while webhooks arrive, poll this often instead (0: keep [sync]'s intervals); the
    #: polls are the safety net for a lost delivery
    poll_interval_seconds: float = Field(default=0, ge=0)
    #: no delivery from a side for this long while its polls find changes: logged as
    #: webhook_gap and counted in syncd_webhook_gaps_total
    gap_seconds: float = Field(default=900, gt=0)


class ConversationSettings(_Section):
    """Messages on a submission <-> comments on its issue (``syncd.sync.conversation``).

    Off unless turned on: internal Intigriti notes land in Jira only as restricted
    comments, so turning it on needs a role or group that exists (checked at start).
    """

    #: ``both``, ``to_jira`` (messages become comments), ``to_intigriti`` (comments become
    #: messages), ``off`` (neither)
    direction: Literal["both", "to_jira", "to_intigriti", "off"] = "off"
    #: a Jira comment that starts with this text (and is not restricted) is sent to the
    #: researcher as an external message, the marker removed; every other comment becomes
    #: an internal note
    to_researcher_marker: str = Field(default="[to researcher]", min_length=1)
    #: who may read the Jira comments made from internal Intigriti notes
    internal_visibility_type: Literal["role", "group"] = "role"
    internal_visibility: str = Field(default="Developers", min_length=1)

    @model_validator(mode="after")
    def _check_marker(self) -> ConversationSettings:
        # the marker is all that sends a comment to a researcher: one that ordinary text
        # could start with by chance ("", "a", "to") would leak internal comments
        marker = self.to_researcher_marker.strip()
        punctuation = [c for c in marker if not c.isalnum() and not c.isspace()]
        if len(marker) < 3 or not punctuation:
            raise ValueError(
                "to_researcher_marker must be at least 3 characters with a bracket or other "
                f"mark in it (like \"[to researcher]\"), not {marker!r}"
            )
        return self


class LoggingSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


# -- paths relative to the config file -------------------------------------------------------

_SQLITE_URL = re.compile(r"^(?P<scheme>sqlite(?:\+\w+)?:///)(?P<path>[^?]*)(?P<query>\?.*)?$")


def anchor_database_url(url: str, base: Path) -> str:
    """A SQLite URL with a relative file path made relative to ``base`` (others unchanged)."""
    match = _SQLITE_URL.match(url)
    if match is None:
        return url
    path = match["path"]
    if not path or path == ":memory:" or path.startswith("file:"):
        return url
    local = Path(path).expanduser()
    if local.is_absolute():
        return url
    return f"{match['scheme']}{os.path.normpath(base / local)}{match['query'] or ''}"


def _anchor_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """The TOML data with its relative paths (``[section] *_file``, a SQLite
    ``[database] url``) made relative to ``base``."""
    result: dict[str, Any] = {}
    for section, table in data.items():
        if not isinstance(table, dict):
            result[section] = table
            continue
        values = dict(table)
        for key, value in table.items():
            if key.endswith("_file") and isinstance(value, str) and value:
                local = Path(value).expanduser()
                values[key] = str(local if local.is_absolute() else base / local)
        if section == "database" and isinstance(values.get("url"), str):
            values["url"] = anchor_database_url(values["url"], base)
        result[section] = values
    return result


# -- sources ---------------------------------------------------------------------------------


#: the file ``load_settings`` reads (settings sources are built without arguments)
_config_path: ContextVar[Path | None] = ContextVar("_config_path", default=None)


class _ConfigFile(TomlConfigSettingsSource):
    """The TOML file, with its relative paths anchored at its directory."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls, toml_file=path)

    def _read_file(self, file_path: Path | Traversable) -> dict[str, Any]:
        try:
            data = super()._read_file(file_path)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file_path}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{file_path}: cannot read config file: {exc.strerror}") from None
        base = Path(str(file_path)).absolute().parent
        return _anchor_paths(data, base)


def _sections() -> dict[str, type[_Section]]:
    sections = {}
    for name, info in Settings.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, _Section):
            sections[name] = annotation
    return sections


def _secret_file_names() -> dict[str, tuple[str, str]]:
    """``intigriti_client_secret`` -> ("intigriti", "client_secret"), for every secret."""
    return {
        f"{section}_{key}": (section, key)
        for section, model in _sections().items()
        for key in model._secret_keys
    }


class _CredentialDirectories(PydanticBaseSettingsSource):
    """Secrets as files named ``<section>_<key>`` in the credential directories.

    ``SecretsSettingsSource`` looks files up by field name, so it reads them for a flat
    model with one field per secret file name; the values are then put into their sections,
    marked so that an explicit ``<key>_file`` of a higher source still wins.
    """

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        directories = [DOCKER_SECRETS_DIR]
        credentials = os.environ.get("CREDENTIALS_DIRECTORY")
        if credentials:
            directories.append(Path(credentials))  # the last directory wins a name clash
        existing = [d for d in directories if d.is_dir()]
        if not existing:
            return {}
        names = _secret_file_names()
        flat_model = create_model(  # type: ignore[call-overload]
            "SecretFiles",
            __base__=BaseSettings,
            **{name: (str | None, None) for name in names},
        )
        found = SecretsSettingsSource(flat_model, secrets_dir=existing, case_sensitive=True)()
        nested: dict[str, dict[str, _DirectorySecret]] = {}
        for name, value in found.items():
            if isinstance(value, str) and value and name in names:
                section, key = names[name]
                nested.setdefault(section, {})[key] = _DirectorySecret(value)
        return nested


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_DELIMITER,
        case_sensitive=False,
    )

    database: DatabaseSettings = DatabaseSettings()
    intigriti: IntigritiSettings = IntigritiSettings()
    jira: JiraSettings = JiraSettings()
    sync: SyncSettings = SyncSettings()
    mapping: MappingSettings = MappingSettings()
    logging: LoggingSettings = LoggingSettings()
    http: HttpSettings = HttpSettings()
    webhooks: WebhookSettings = WebhookSettings()
    conversation: ConversationSettings = ConversationSettings()

    _config_file: Path | None = PrivateAttr(default=None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            _ConfigFile(settings_cls, _config_path.get()),
            _CredentialDirectories(settings_cls),
        )

    @property
    def config_file(self) -> Path | None:
        """The config file these settings were read from (None: defaults and environment)."""
        return self._config_file

    def secret_values(self) -> list[str]:
        """Every secret value configured, for the log redaction processor."""
        return (
            self.database.secret_values()
            + self.intigriti.secret_values()
            + self.jira.secret_values()
        )


# -- loading ---------------------------------------------------------------------------------


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


def no_config_file_hint() -> str:
    return (
        "no config file was found (none given with --config or $SYNCD_CONFIG, and no "
        "./config.toml): `syncd init` writes one"
    )


def load_settings(explicit_path: str | None = None) -> Settings:
    """Load settings, raising ConfigError with a readable message on any problem."""
    path, explicit = resolve_config_path(explicit_path)
    if path is not None and explicit and not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    problems = _unknown_environment_sections()
    if problems:
        raise ConfigError("\n".join(problems))
    token = _config_path.set(path)
    try:
        settings = Settings()
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc, path)) from None
    except SettingsError:
        # pydantic-settings could not decode a list or table given in the environment
        problems = _undecodable_environment() or ["environment: a value could not be decoded"]
        raise ConfigError("\n".join(problems)) from None
    finally:
        _config_path.reset(token)
    if path is not None and "url" not in settings.database.model_fields_set:
        # the default SQLite file lives beside the config file, like every other path in it
        database = settings.database.model_copy(
            update={"url": anchor_database_url(DEFAULT_DATABASE_URL, path.absolute().parent)}
        )
        settings = settings.model_copy(update={"database": database})
    settings._config_file = path.absolute() if path is not None else None
    return settings


# -- messages --------------------------------------------------------------------------------


def _environment_name(loc: Sequence[str]) -> str | None:
    """The environment variable that set ``loc``, as spelt in the environment."""
    wanted = (ENV_PREFIX + ENV_DELIMITER.join(loc)).casefold()
    return next((name for name in os.environ if name.casefold() == wanted), None)


def _unknown_environment_sections() -> list[str]:
    """``SYNCD_<SECTION>__<KEY>`` variables whose section does not exist.

    pydantic-settings ignores a variable that matches no field, so a misspelt section
    would silently do nothing. Variables without ``__`` are not settings (``SYNCD_CONFIG``)
    unless they start with a section name, which is a likely single-underscore slip.
    """
    sections = list(Settings.model_fields)
    problems = []
    for name in sorted(os.environ):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :]
        if ENV_DELIMITER in rest:
            section = rest.split(ENV_DELIMITER, 1)[0].lower()
            if section not in sections:
                close = difflib.get_close_matches(section, sections, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append(
                    f"environment variable {name}: unknown section {section!r}{hint}"
                )
            continue
        for section in sections:
            if rest.lower().startswith(f"{section}_"):
                key = rest[len(section) + 1 :]
                problems.append(
                    f"environment variable {name}: not a setting; did you mean "
                    f"{ENV_PREFIX}{rest[: len(section)]}{ENV_DELIMITER}{key}?"
                )
    return problems


def _annotation_at(loc: Sequence[str]) -> Any:
    current: Any = Settings
    annotation: Any = None
    for part in loc:
        info = getattr(current, "model_fields", {}).get(part)
        if info is None:
            return None
        annotation = info.annotation
        current = annotation
    return annotation


def _undecodable_environment() -> list[str]:
    """``SYNCD_...`` variables for an array or a table whose value is not JSON."""
    problems = []
    for name, value in sorted(os.environ.items()):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        loc = [part.lower() for part in name[len(ENV_PREFIX) :].split(ENV_DELIMITER)]
        annotation = _annotation_at(loc)
        options = (annotation, *get_args(annotation))
        complex_type = any(get_origin(option) in (tuple, list, dict) for option in options)
        if not complex_type:
            continue
        try:
            json.loads(value)
        except ValueError:
            problems.append(
                f"environment variable {name}: {'.'.join(loc)}: expected JSON, e.g. "
                f"{name}='[\"a\", \"b\"]' for an array or '{{\"a\": \"b\"}}' for a table"
            )
    return problems


def _known_keys(model: type[BaseModel], loc: tuple[str, ...]) -> list[str]:
    """Field names valid at ``loc`` (the parent of a rejected key), for suggestions."""
    current: Any = model
    for part in loc:
        info = getattr(current, "model_fields", {}).get(part)
        if info is None:
            return []
        annotation = info.annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        current = annotation
    return list(getattr(current, "model_fields", {}))


def _source(path: Path | None, loc: Sequence[str]) -> str:
    """Where the value at ``loc`` came from: the environment variable or the file."""
    # the environment wins over the file, so it is asked first
    for depth in range(len(loc), 0, -1):
        name = _environment_name(loc[:depth])
        if name is not None:
            return f"environment variable {name}"
    return str(path) if path is not None else "configuration"


_TYPE_WORDS = {
    "tuple_type": "an array (in TOML: [\"a\", \"b\"]; in an environment variable: JSON)",
    "list_type": "an array (in TOML: [\"a\", \"b\"]; in an environment variable: JSON)",
    "set_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "string_type": "a string",
    "float_type": "a number",
    "float_parsing": "a number",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}


def _plain_message(error: Mapping[str, Any]) -> str:
    """pydantic's wording turned into the words of a TOML file (never echoing the input)."""
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind in _TYPE_WORDS:
        return f"expected {_TYPE_WORDS[kind]}"
    if kind == "literal_error":
        return f"expected one of {ctx.get('expected', '')}"
    if kind == "greater_than":
        return f"must be greater than {ctx.get('gt')}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s)"
    if kind == "missing":
        return "required, but not set"
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    message = str(error["msg"])
    return message.replace("Input should be", "should be")


def _describe_validation_error(exc: ValidationError, path: Path | None) -> str:
    lines = []
    for error in exc.errors():
        loc = tuple(str(part) for part in error["loc"])
        dotted = ".".join(loc)
        where = _source(path, loc)
        if error["type"] == "extra_forbidden":
            known = _known_keys(Settings, loc[:-1])
            close = difflib.get_close_matches(loc[-1], known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            lines.append(f"{where}: unknown key {dotted!r}{hint}")
        else:
            lines.append(f"{where}: {dotted or 'value'}: {_plain_message(error)}")
    return "\n".join(lines)
