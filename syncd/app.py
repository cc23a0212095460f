"""Wiring: build the pieces from settings and run one command. The CLI calls only this."""

from __future__ import annotations

from syncd.errors import ConfigError
from syncd.logging import configure_logging, register_secret
from syncd.settings import Settings, load_settings
from syncd.status import gather, render_json, render_text
from syncd.store.repository import Repository

EXIT_OK = 0


def bootstrap(config_path: str | None) -> Settings:
    settings = load_settings(config_path)
    configure_logging(settings.logging.level, settings.logging.format)
    register_secret(*settings.secret_values())
    return settings


def open_repository(settings: Settings, *, upgrade: bool) -> Repository:
    repository = Repository(settings.database.url)
    if upgrade:
        repository.upgrade()
    return repository


def db_upgrade(config_path: str | None) -> int:
    settings = bootstrap(config_path)
    repository = open_repository(settings, upgrade=True)
    try:
        print("database schema is up to date")
    finally:
        repository.close()
    return EXIT_OK


def status(config_path: str | None, *, as_json: bool) -> int:
    settings = bootstrap(config_path)
    repository = open_repository(settings, upgrade=False)
    try:
        report = gather(repository)
    finally:
        repository.close()
    print(render_json(report) if as_json else render_text(report))
    return EXIT_OK


def _not_yet(what: str) -> int:
    raise ConfigError(f"{what} is not implemented yet")


def reconcile(config_path: str | None, *, dry_run: bool) -> int:
    bootstrap(config_path)
    return _not_yet("syncd run --reconcile")


def run_daemon(config_path: str | None) -> int:
    bootstrap(config_path)
    return _not_yet("syncd run")


def auth_login(config_path: str | None) -> int:
    bootstrap(config_path)
    return _not_yet("syncd auth login")


def auth_status(config_path: str | None) -> int:
    bootstrap(config_path)
    return _not_yet("syncd auth status")


def demo(*, duration: float) -> int:
    return _not_yet("syncd demo")


def simulator(system: str, port: int) -> int:
    return _not_yet(f"syncd sim {system}")
