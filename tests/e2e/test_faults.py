"""Faults of the machine syncd runs on, with `syncd` as a real process.

A database file locked by another process, a token endpoint that answers 429, SIGHUP.
"""

from __future__ import annotations

import json
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import E2E, e2e_world, wait_for
from test_reconcile import assert_ok, seed_open


def events(log: Path) -> list[dict[str, Any]]:
    found = []
    for line in log.read_text().splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


def named(log: Path, name: str) -> list[dict[str, Any]]:
    return [e for e in events(log) if e.get("event") == name]


# -- clear causes ------------------------------------------------------------------------


@pytest.fixture
def e2e(tmp_path: Path, sqlite_url: str) -> Iterator[E2E]:
    yield from e2e_world(tmp_path, sqlite_url)


def test_a_database_locked_by_another_process_is_named(e2e: E2E) -> None:
    assert_ok(e2e.syncd("db", "upgrade"))
    e2e.rewrite_config({"database": {"busy_timeout_seconds": 1}})
    holder = sqlite3.connect(e2e.database_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # e.g. an sqlite3 shell with a write transaction open
    try:
        result = e2e.syncd("db", "upgrade", timeout=30)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 1
    assert "syncd: the database is locked" in result.stderr
    assert "busy_timeout_seconds (1 s)" in result.stderr
    assert "while upgrading the database schema" in result.stderr
    assert_ok(e2e.syncd("db", "upgrade"))


def test_a_rate_limited_token_endpoint_is_named(e2e: E2E) -> None:
    seed_open(e2e, 2)
    e2e.world.intigriti.control.rate_limit_storm(50, retry_after=30, route="POST /connect/token")
    result = e2e.reconcile()
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "the Intigriti token endpoint is rate limiting syncd (HTTP 429)" in output
    assert "no access_token" not in output
    # a 429 spends nothing: once the endpoint answers again, the next run needs no login
    e2e.world.intigriti.control.clear_faults()
    assert_ok(e2e.reconcile())


def test_sighup_stops_the_daemon_cleanly(e2e: E2E) -> None:
    seed_open(e2e, 2)
    log = e2e.workdir / "daemon.log"
    daemon = e2e.popen("run", log=log)
    try:
        wait_for(lambda: bool(named(log, "daemon_started")), timeout=60, what="the daemon")
    finally:
        daemon.send_signal(signal.SIGHUP)
        daemon.wait(timeout=30)
    assert daemon.returncode == 0, log.read_text()[-2000:]
    assert [e["signal"] for e in named(log, "signal_received")] == ["SIGHUP"]
    assert named(log, "daemon_stopped")
