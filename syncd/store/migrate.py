"""Run the Alembic migrations shipped in the package (``syncd.migrations``).

Alembic (and Mako under it) is imported only when a migration runs or the scripts are
read: a process whose schema is already current, the usual case, never loads it. Whether
it is current is one query of ``alembic_version`` against :data:`HEAD_REVISION`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

#: the newest revision of ``migrations/versions``; a test checks it against the scripts,
#: so a new migration cannot be shipped without moving it
HEAD_REVISION = "0006"


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
    from alembic.config import Config

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
    if current_revision(engine) == HEAD_REVISION:
        return
    from alembic import command

    config = alembic_config()
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def current_revision(engine: Engine) -> str | None:
    """The schema's revision, read from Alembic's own table (None: never migrated)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    return str(rows[0][0]) if len(rows) == 1 else None


def head_revision() -> str:
    return HEAD_REVISION


def scripts_head_revision() -> str | None:
    """The head as the migration scripts say it (Alembic reads them)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
