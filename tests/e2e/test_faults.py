"""Faults of the machine syncd runs on, with `syncd` as a real process.

A disk that fills while a token refresh is in flight, a database file locked by another
process, a token endpoint that answers 429, SIGHUP.
"""

from __future__ import annotations

import json
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import SmallDisk
from harness import E2E, e2e_world, wait_for
from test_reconcile import assert_ok, seed_open

TOKEN = ("POST", "/connect/token")


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


# -- disk full during a token rotation -----------------------------------------------------


@pytest.fixture
def on_small_disk(tmp_path: Path, small_disk: SmallDisk) -> Iterator[tuple[E2E, SmallDisk]]:
    url = f"sqlite:///{small_disk.path / 'syncd.db'}"
    for e2e in e2e_world(tmp_path, url):
        yield e2e, small_disk


def _rotation_during_which_the_disk_fills(
    e2e: E2E, disk: SmallDisk, *, also_lose_the_reserve: bool
) -> tuple[Any, Path]:
    """Start a one-shot whose first API call needs a refresh, hold the token answer back
    for a few seconds, and fill the disk while syncd waits for it (inside its locked
    transaction, after its pre-flight checks)."""
    intigriti = e2e.world.intigriti.control
    intigriti.advance_clock(2 * 3600)  # the stored access token has expired at Intigriti
    intigriti.stall_next(1, seconds=4, route="POST /connect/token")
    log = e2e.workdir / "full-disk-run.log"
    process = e2e.popen("run", "--reconcile", log=log)
    wait_for(lambda: intigriti.faults() == [], timeout=60, what="the token request in flight")
    if also_lose_the_reserve:
        (disk.path / "syncd.db.token-reserve").unlink()
    disk.fill()
    return process, log


def _next_runs_sync_without_login(e2e: E2E) -> None:
    intigriti = e2e.world.intigriti.control
    # expire the access token again, so this run must spend the refresh token saved above
    intigriti.advance_clock(2 * 3600)
    refused_before = intigriti.count(*TOKEN, status=400)
    refreshed_before = intigriti.count(*TOKEN, status=200)
    code = e2e.world.report(severity="High")
    result = e2e.reconcile()
    assert_ok(result)
    assert "auth login" not in result.stderr
    assert intigriti.count(*TOKEN, status=400) == refused_before  # no invalid_grant
    assert intigriti.count(*TOKEN, status=200) == refreshed_before + 1
    assert e2e.submission(code)["internalReference"]


def test_a_disk_that_fills_during_a_token_rotation_loses_no_token(
    on_small_disk: tuple[E2E, SmallDisk],
) -> None:
    e2e, disk = on_small_disk
    seed_open(e2e, 3)
    assert_ok(e2e.reconcile())  # bootstrap: the first rotation also makes the reserve

    process, log = _rotation_during_which_the_disk_fills(e2e, disk, also_lose_the_reserve=False)
    process.wait(timeout=180)
    assert [e["cause"] for e in named(log, "token_space_reserve_released")] == ["DiskFull"]
    assert len(named(log, "oauth_token_saved_from_reserve")) == 1
    assert named(log, "oauth_token_lost") == []

    disk.free()
    _next_runs_sync_without_login(e2e)


def test_a_rotated_token_held_in_memory_is_saved_once_space_returns(
    on_small_disk: tuple[E2E, SmallDisk],
) -> None:
    e2e, disk = on_small_disk
    seed_open(e2e, 3)
    assert_ok(e2e.reconcile())

    process, log = _rotation_during_which_the_disk_fills(e2e, disk, also_lose_the_reserve=True)
    wait_for(
        lambda: bool(named(log, "oauth_token_not_saved")),
        timeout=60,
        what="syncd to report the unsaved token",
    )
    (not_saved,) = named(log, "oauth_token_not_saved")
    assert not_saved["cause"] == "DiskFull"
    assert str(not_saved["error"]).startswith(f"the disk is full: no space left in {disk.path}")
    disk.free()  # an operator frees space while syncd still holds the pair in memory
    process.wait(timeout=180)
    assert len(named(log, "oauth_token_saved")) == 1
    assert named(log, "oauth_token_lost") == []

    _next_runs_sync_without_login(e2e)


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
