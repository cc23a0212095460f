"""End-to-end harness: both simulators in this process, `syncd` as a subprocess.

Not a conftest: tests import what they use. The simulators run on loopback in the test
process; syncd runs exactly as an operator runs it (`python -m syncd --config ...`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from syncd.simulators.world import World, start_world

#: test quotas: the pacing logic is the same at any rate; the write-quota benchmark in
#: bench/ measures it at the real 200/min
TEST_WRITE_RATE = 3000
TEST_READ_RATE = 6000


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}


@dataclass
class E2E:
    world: World
    workdir: Path
    database_url: str
    config: Path
    #: every process started with popen, killed at the end of the test if still running
    spawned: list[subprocess.Popen[str]] = field(default_factory=list)

    def syncd(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "syncd", "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            env=_env(),
            cwd=self.workdir,
            timeout=timeout,
            check=False,
        )

    def popen(
        self, *args: str, log: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.Popen[str]:
        """Start syncd in the background; with ``log``, its output goes to that file
        (a long-running daemon would otherwise block on a full pipe nobody reads);
        ``env`` adds to its environment."""
        sink = log.open("w") if log is not None else None
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "syncd", "--config", str(self.config), *args],
                stdin=subprocess.PIPE,
                stdout=sink or subprocess.PIPE,
                stderr=sink or subprocess.PIPE,
                text=True,
                env={**_env(), **(env or {})},
                cwd=self.workdir,
            )
            self.spawned.append(process)
            return process
        finally:
            if sink is not None:
                sink.close()

    def reconcile(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.syncd("run", "--reconcile", *extra)

    def rewrite_config(self, overrides: dict[str, dict[str, Any]]) -> None:
        self.world.write_config(self.config, self.database_url, overrides=_merge(overrides))

    # -- what is on the other side ---------------------------------------------------

    def issues(self) -> list[dict[str, Any]]:
        return [i for i in self.world.jira.control.issues() if "intigriti" in i["labels"]]

    def issues_per_submission(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for issue in self.issues():
            tag = issue["properties"].get("syncd", {})
            counts[str(tag.get("submission"))] += 1
        return counts

    def submission(self, code: str) -> dict[str, Any]:
        return self.world.intigriti.control.submission(code)

    def issue_of(self, code: str) -> dict[str, Any]:
        key = self.submission(code)["internalReference"]
        assert key, f"{code} has no internal reference"
        return self.world.jira.control.issue(str(key))

    def audit(self) -> list[dict[str, Any]]:
        return self.query(
            "SELECT submission_code, field, direction, old_value, new_value,"
            " outcome, detail FROM audit_log ORDER BY id"
        )

    def query(self, sql: str) -> list[dict[str, Any]]:
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return [dict(row._mapping) for row in connection.execute(text(sql))]
        finally:
            engine.dispose()

    def writes(self) -> int:
        """Mutating requests both simulators served (counters since the last reset)."""
        intigriti = sum(
            c["count"]
            for c in self.world.intigriti.control.counters()
            if c["method"] != "GET" and c["route"] != "/connect/token"
        )
        jira = sum(
            count
            for route, count in self.world.jira.control.counters().items()
            if not route.startswith("GET") and "/search" not in route
        )
        return int(intigriti + jira)

    def reset_counters(self) -> None:
        self.world.intigriti.control.reset_counters()
        self.world.jira.control.reset_counters()


def _merge(overrides: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    base: dict[str, dict[str, Any]] = {
        "intigriti": {
            "read_rate_per_minute": TEST_READ_RATE,
            "write_rate_per_minute": TEST_WRITE_RATE,
        },
        # a one-shot gives a Jira that fails its start-up checks 10 s, not the default 120
        "sync": {"create_settle_seconds": 1, "overlap_seconds": 5, "startup_wait_seconds": 10},
        "logging": {"level": "info", "format": "json"},
    }
    for section, values in overrides.items():
        base.setdefault(section, {}).update(values)
    return base


def e2e_world(tmp_path: Path, database_url: str, **world_options: Any) -> Iterator[E2E]:
    world = start_world(
        read_rate_per_minute=TEST_READ_RATE,
        write_rate_per_minute=TEST_WRITE_RATE,
        **world_options,
    )
    try:
        config = world.write_config(tmp_path / "config.toml", database_url, overrides=_merge({}))
        e2e = E2E(world, tmp_path, database_url, config)
        try:
            yield e2e
        finally:
            for process in e2e.spawned:
                if process.poll() is None:
                    process.kill()
                    process.wait(timeout=30)
    finally:
        world.stop()


def free_port() -> int:
    """A TCP port free on loopback now (for a daemon's [http] listen)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
