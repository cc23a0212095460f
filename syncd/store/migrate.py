"""Run the Alembic migrations shipped in the package (``syncd.migrations``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text


def script_location() -> str:
    """Where the Alembic scripts are.

    Installed, they ship inside the package as ``syncd.migrations`` (pyproject maps the
    top-level ``migrations/`` there). Run from a source checkout without an editable
    install, ``syncd`` is the plain folder and the scripts are its sibling.
    """
    try:
        return str(resources.files("syncd.migrations"))
    except ModuleNotFoundError:
        source_tree = Path(__file__).resolve().parents[2] / "migrations"
        if (source_tree / "env.py").is_file():
            return str(source_tree)
        raise


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", script_location())
    return config


#: advisory lock key held while migrating ("migr" in ASCII)
MIGRATION_LOCK_KEY = 0x6D696772


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent).

    Several processes may start at once (replicas, a daemon and a one-shot): on
    PostgreSQL a transaction advisory lock makes them migrate one after the other, so the
    second finds the schema current instead of failing on "relation already exists";
    SQLite's write lock (``BEGIN IMMEDIATE``) does the same there.
    """
    config = alembic_config()
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
