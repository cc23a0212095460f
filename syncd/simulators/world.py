"""Both simulators together, seeded, plus the syncd configuration that points at them.

Used by ``syncd demo``, the end-to-end tests and the benchmarks, so all three exercise
the same set-up: real HTTP on loopback, the Intigriti OAuth refresh-token bootstrap, the
Jira Basic-auth user.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncd.simulators.intigriti import (
    IntigritiControl,
    IntigritiSimulator,
    IntigritiSimulatorOptions,
)
from syncd.simulators.intigriti.options import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URI
from syncd.simulators.jira import JiraSimulator, JiraSimulatorOptions

#: a mix of states a real programme has: mostly open, some accepted, a few closed
STATUS_MIX: tuple[tuple[str, str | None], ...] = (
    ("Triage", None),
    ("Pending", None),
    ("Pending", None),
    ("Accepted", None),
    ("Accepted", None),
    ("Closed", "Resolved"),
    ("Closed", "Duplicate"),
    ("Closed", "Informative"),
)
SEVERITIES = ("Low", "Medium", "High", "Critical", "Exceptional")
PROGRAM_NAMES = ("Acme Web", "Acme Mobile", "Acme API", "Acme Cloud")


def seed_submissions(
    control: IntigritiControl, program_id: str, count: int, rng: random.Random
) -> list[str]:
    """``count`` submissions of one program in a realistic mix of statuses and severities."""
    codes = []
    for index in range(count):
        status, reason = STATUS_MIX[index % len(STATUS_MIX)]
        severity = SEVERITIES[rng.randrange(len(SEVERITIES))]
        created = control.seed_submission(
            program_id, status=status, close_reason=reason, severity=severity
        )
        codes.append(str(created["code"]))
    return codes


@dataclass
class World:
    intigriti: IntigritiSimulator
    jira: JiraSimulator
    programs: list[str] = field(default_factory=list)
    refresh_token: str = ""

    def stop(self) -> None:
        self.intigriti.stop()
        self.jira.stop()

    def settings(
        self, database_url: str, *, overrides: dict[str, dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """The syncd configuration (as TOML-shaped dicts) for this world."""
        jira_options = self.jira.options
        config: dict[str, dict[str, Any]] = {
            "database": {"url": database_url},
            "intigriti": {
                "api_url": self.intigriti.api_url,
                "token_url": self.intigriti.token_url,
                "authorize_url": self.intigriti.authorize_url,
                "client_id": DEMO_CLIENT_ID,
                "client_secret": DEMO_CLIENT_SECRET,
                "redirect_uri": DEMO_REDIRECT_URI,
                "refresh_token": self.refresh_token,
                "read_rate_per_minute": self.intigriti.options.read_rate_per_minute,
                "write_rate_per_minute": self.intigriti.options.write_rate_per_minute,
                "timeout_seconds": 10,
            },
            "jira": {
                "url": self.jira.base_url,
                "email": jira_options.email,
                "api_token": jira_options.api_token,
                "project": jira_options.projects[0],
                "timeout_seconds": 10,
                "requests_per_minute": 6000,
            },
            "sync": {"overlap_seconds": 120},
            "logging": {"format": "json"},
        }
        if len(self.programs) > 1 and len(jira_options.projects) > 1:
            config["mapping"] = {"projects": {self.programs[1]: jira_options.projects[1]}}
        for section, values in (overrides or {}).items():
            config.setdefault(section, {}).update(values)
        return config

    def write_config(
        self,
        path: Path,
        database_url: str,
        *,
        overrides: dict[str, dict[str, Any]] | None = None,
    ) -> Path:
        path.write_text(to_toml(self.settings(database_url, overrides=overrides)))
        return path

    def seed(
        self, count: int, *, program_index: int = 0, rng: random.Random | None = None
    ) -> list[str]:
        """``count`` submissions in a realistic mix of statuses and severities."""
        program = self.programs[program_index]
        return seed_submissions(
            self.intigriti.control, program, count, rng or random.Random(7)
        )

    def report(self, *, program_index: int = 0, **fields: Any) -> str:
        """A researcher files a new submission now (seeded ones have a back-dated history)."""
        now = int(self.intigriti.control.clock()["epoch"])
        fields.setdefault("status", "Triage")
        created = self.intigriti.control.seed_submission(
            self.programs[program_index], created_at=now, updated_at=now, **fields
        )
        return str(created["code"])


def start_world(
    *,
    programs: int = 2,
    read_rate_per_minute: int = 600,
    write_rate_per_minute: int = 200,
    jira_projects: Iterable[str] = ("SEC", "APP"),
    search_lag_seconds: float = 0.0,
    jira_time_zone: str = "UTC",
) -> World:
    intigriti = IntigritiSimulator(
        IntigritiSimulatorOptions(
            read_rate_per_minute=read_rate_per_minute,
            write_rate_per_minute=write_rate_per_minute,
        )
    ).start()
    try:
        jira = JiraSimulator(
            JiraSimulatorOptions(
                projects=tuple(jira_projects),
                search_lag_seconds=search_lag_seconds,
                time_zone=jira_time_zone,
            )
        ).start()
    except Exception:
        intigriti.stop()
        raise
    world = World(intigriti=intigriti, jira=jira)
    for index in range(programs):
        program = intigriti.control.seed_program(name=PROGRAM_NAMES[index % len(PROGRAM_NAMES)])
        world.programs.append(str(program["id"]))
    token = intigriti.control.mint_token()
    world.refresh_token = str(token["refresh_token"])
    return world


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table, e.g. one [[mapping.states]] entry
        pairs = (f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def to_toml(config: dict[str, Any], prefix: str = "") -> str:
    """A small TOML writer for syncd's configuration: nested tables of scalars and lists."""
    lines: list[str] = []
    scalars = {k: v for k, v in config.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in config.items() if isinstance(v, dict)}
    if prefix:
        lines.append(f"[{prefix}]")
    lines.extend(f"{json.dumps(key)} = {_toml_value(value)}" for key, value in scalars.items())
    if prefix:
        lines.append("")
    for name, table in tables.items():
        lines.append(to_toml(table, f"{prefix}.{json.dumps(name)}" if prefix else json.dumps(name)))
    return "\n".join(lines)
