"""`syncd run` as a daemon: idle cost, propagation while running, SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from harness import E2E, e2e_world, wait_for
from test_reconcile import assert_ok, seed_open


@pytest.fixture
def e2e(tmp_path: Path, database_url: str) -> Iterator[E2E]:
    yield from e2e_world(tmp_path, database_url)


def cycles_done(stderr: str, since: datetime) -> Counter[str]:
    done: Counter[str] = Counter()
    for line in stderr.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        at = datetime.fromisoformat(
            str(event.get("timestamp", "")).replace("Z", "+00:00") or "1970-01-01T00:00:00+00:00"
        )
        if event.get("event") == "cycle_done" and at > since:
            done[event["cycle"]] += 1
    return done


def stop(process: subprocess.Popen[str], log: Path) -> tuple[int, str, float]:
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    return process.returncode, log.read_text(), time.monotonic() - started


def wait_for_a_poll_of_each_side(e2e: E2E, after: datetime, what: str) -> None:
    def polled(source: str) -> bool:
        done = last_success(e2e, source)
        return done is not None and done > after

    wait_for(lambda: polled("jira") and polled("intigriti"), timeout=30, what=what)


def last_success(e2e: E2E, source: str) -> datetime | None:
    rows = e2e.query(f"SELECT last_success_at FROM cursors WHERE source = '{source}'")
    if not rows or rows[0]["last_success_at"] is None:
        return None
    value = rows[0]["last_success_at"]
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@pytest.mark.slow
def test_idle_cycles_with_1000_links_cost_one_request_per_side(e2e: E2E) -> None:
    seed_open(e2e, 1000)
    assert_ok(e2e.reconcile())
    # Let the backfill lie an hour in the past, as on a quiet day: Jira's change query has
    # minute precision, so a poll in the same minute as a burst of changes pages through
    # that burst (once per poll until the minute is over); idle means nothing recent.
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    for issue in e2e.issues():
        e2e.world.jira.control.set_timestamps(str(issue["key"]), updated=an_hour_ago)
    e2e.rewrite_config(
        {
            "sync": {
                "poll_interval_seconds": 1,
                "jira_poll_interval_seconds": 1,
                "full_sweep_interval_seconds": 3600,
            }
        }
    )
    started = datetime.now(UTC)
    log = e2e.workdir / "daemon.log"
    daemon = e2e.popen("run", "--log-level", "debug", log=log)
    try:
        # the start-up sweep, then polls: wait until the sweep has finished
        wait_for(
            lambda: (last_success(e2e, "sweep") or started) > started,
            timeout=120,
            what="the start-up sweep",
        )
        # then one poll of each side, which makes the one-time reads of a first poll (the
        # Jira user's time zone, for the change query's date literal): a fast sweep may
        # end before any poll ran, and those reads must not be counted as idle cost
        wait_for_a_poll_of_each_side(e2e, datetime.now(UTC), "a first poll of each side")
        e2e.reset_counters()
        measured_from = datetime.now(UTC)
        wait_for_a_poll_of_each_side(e2e, measured_from, "a poll of each side")
        time.sleep(4)  # a few more idle cycles to measure
    finally:
        code, stderr, took = stop(daemon, log)
    assert code == 0, stderr[-2000:]
    assert took < 10
    cycles = cycles_done(stderr, measured_from)
    assert cycles["intigriti"] >= 2 and cycles["jira"] >= 2, cycles

    intigriti = Counter()
    for row in e2e.world.intigriti.control.counters():
        intigriti[f"{row['method']} {row['route']}"] += row["count"]
    lists = intigriti.pop("GET /submissions", 0)
    assert lists <= cycles["intigriti"] + 1  # +1: a cycle cut by SIGTERM
    assert dict(intigriti) == {}  # no detail reads, no writes, no token refresh

    jira = Counter(e2e.world.jira.control.counters())
    searches = sum(n for route, n in jira.items() if "/search" in route)
    assert searches <= cycles["jira"] + 1
    assert {r: n for r, n in jira.items() if "/search" not in r} == {}


def test_changes_propagate_while_the_daemon_runs(e2e: E2E) -> None:
    codes = seed_open(e2e, 6)
    e2e.rewrite_config({"sync": {"poll_interval_seconds": 1, "jira_poll_interval_seconds": 1}})
    log = e2e.workdir / "daemon.log"
    daemon = e2e.popen("run", log=log)
    try:
        wait_for(
            lambda: all(e2e.submission(c)["internalReference"] for c in codes),
            timeout=60,
            what="the start-up backfill",
        )
        e2e.world.intigriti.control.edit_submission(codes[1], severity="Critical")
        key = str(e2e.submission(codes[2])["internalReference"])
        e2e.world.jira.control.set_status(key, "Done", resolution="Done")
        new = e2e.world.report(severity="Low")
        wait_for(
            lambda: e2e.issue_of(codes[1])["priority"] == "Highest",
            timeout=30,
            what="the severity to reach Jira",
        )
        wait_for(
            lambda: e2e.submission(codes[2])["status"] == "Closed",
            timeout=30,
            what="the status to reach Intigriti",
        )
        wait_for(
            lambda: bool(e2e.submission(new)["internalReference"]),
            timeout=30,
            what="a new submission to get its issue",
        )
    finally:
        code, stderr, took = stop(daemon, log)
    assert code == 0, stderr[-2000:]
    assert took < 10
    assert e2e.submission(codes[2])["closeReason"] == "Resolved"
    assert set(e2e.issues_per_submission().values()) == {1}


@pytest.mark.slow
def test_a_live_edit_propagates_while_the_start_up_backfill_is_under_way(e2e: E2E) -> None:
    """A first start on 60 new submissions at 60 Intigriti writes a minute (a minute of
    backfill): the polls run beside the sweep, so an edit of an already linked submission
    reaches Jira while most of the backfill is still to come (counted, not timed)."""
    e2e.world.intigriti.control.set_rate_limits(write_per_minute=60)
    e2e.rewrite_config(
        {
            "intigriti": {"write_rate_per_minute": 60},
            "sync": {"poll_interval_seconds": 1, "jira_poll_interval_seconds": 1},
        }
    )
    codes = seed_open(e2e, 60)

    def linked() -> list[str]:
        return [c for c in codes if e2e.submission(c)["internalReference"]]

    log = e2e.workdir / "daemon.log"
    daemon = e2e.popen("run", log=log)
    try:
        wait_for(lambda: bool(linked()), timeout=60, what="the first issue of the backfill")
        target = linked()[0]
        low = e2e.submission(target)["severity"] != "Low"
        e2e.world.intigriti.control.edit_submission(target, severity="Low" if low else "High")
        wanted = "Low" if low else "High"
        wait_for(
            lambda: e2e.issue_of(target)["priority"] == wanted,
            timeout=30,
            what="the live edit to reach Jira",
        )
        done_when_edit_landed = len(linked())
        wait_for(lambda: len(linked()) == len(codes), timeout=180, what="the whole backfill")
    finally:
        code, stderr, _took = stop(daemon, log)
    assert code == 0, stderr[-2000:]
    # the edit did not wait for the backfill: most submissions were still unlinked
    assert done_when_edit_landed < len(codes) // 2, done_when_edit_landed
    assert set(e2e.issues_per_submission().values()) == {1}


def test_a_misconfigured_mapping_refuses_to_start(e2e: E2E) -> None:
    e2e.rewrite_config({"mapping": {"severity_to_priority": {"Low": "Trivial"}}})
    result = e2e.syncd("run", timeout=60)
    assert result.returncode == 2
    assert "mapping" in result.stderr and "Trivial" in result.stderr
