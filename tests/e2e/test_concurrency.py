"""Any number of syncd processes on one database: one issue per submission, one active
daemon, standbys that take over (real processes, both simulators, SQLite and PostgreSQL).

Each scenario runs once per database here; bench/concurrency.py runs them 20 times each
for RELIABILITY.md.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from concurrency import (
    POLL_SECONDS,
    SCENARIOS,
    all_linked,
    concurrency_config,
    double_audit,
    double_writes,
    log_events,
    run_scenario,
    seed_fresh,
    stop_all,
    unlinked,
)
from harness import E2E, e2e_world, wait_for
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from test_reconcile import assert_ok

from syncd.store.lease import LEADER_KEY

pytestmark = pytest.mark.slow


@pytest.fixture
def e2e(tmp_path: Path, database_url: str) -> Iterator[E2E]:
    # Jira search lags 2 s behind writes: a second process looking a tag up right after
    # another created the issue does not see it yet
    yield from e2e_world(tmp_path, database_url, search_lag_seconds=2.0)


@pytest.fixture
def pg_e2e(tmp_path: Path, postgres_database: str) -> Iterator[E2E]:
    yield from e2e_world(tmp_path, postgres_database, search_lag_seconds=2.0)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_processes_at_once_never_make_two_issues_or_two_writes(e2e: E2E, scenario: str) -> None:
    outcome = run_scenario(e2e, scenario, submissions=100)
    assert outcome.samples > 10, "the sampler must have watched the run"
    assert outcome.duplicated == {}
    assert outcome.unlinked == []
    assert outcome.double_writes == {}
    assert outcome.double_audit == {}
    assert outcome.creates == 100
    if scenario != "three-daemons":
        assert [code for code in outcome.exit_codes[:2] if code != 0] == [], outcome.exit_codes
    e2e.reset_counters()
    assert_ok(e2e.reconcile())
    assert e2e.writes() == 0


def _leader(e2e: E2E, logs: list[Path]) -> int:
    for index, log in enumerate(logs):
        if any(e.get("event") == "leader_lease_acquired" for e in log_events(log)):
            return index
    raise AssertionError("no daemon became the leader")


def _acquired_at(log: Path) -> float | None:
    for event in log_events(log):
        if event.get("event") == "leader_lease_acquired":
            stamp = str(event["timestamp"]).replace("Z", "+00:00")
            return datetime.fromisoformat(stamp).timestamp()
    return None


def _linked_count(e2e: E2E) -> int:
    try:
        return int(e2e.query("SELECT count(*) AS n FROM links WHERE state = 'linked'")[0]["n"])
    except SQLAlchemyError:
        return 0  # no schema yet


def _two_daemons_mid_backfill(e2e: E2E, count: int) -> tuple[list[str], list[Path], list]:  # type: ignore[type-arg]
    codes = seed_fresh(e2e, count)
    # 10 Intigriti writes a second: the backfill lasts long enough to be cut in the middle
    concurrency_config(e2e)
    e2e.rewrite_config(
        {
            "intigriti": {"write_rate_per_minute": 600},
            "sync": {
                "poll_interval_seconds": POLL_SECONDS,
                "jira_poll_interval_seconds": POLL_SECONDS,
                "full_sweep_interval_seconds": 3600,
                "create_settle_seconds": 6,
                "instance_timeout_seconds": 6,
            },
        }
    )
    logs = [e2e.workdir / f"daemon-{n}.log" for n in range(2)]
    daemons = [e2e.popen("run", log=log) for log in logs]
    wait_for(
        lambda: any(log.exists() and _acquired(log) for log in logs),
        timeout=60,
        what="a leader",
    )
    wait_for(lambda: _linked_count(e2e) >= count // 4, timeout=120, what="the backfill under way")
    return codes, logs, daemons


def _acquired(log: Path) -> bool:
    return any(e.get("event") == "leader_lease_acquired" for e in log_events(log))


@pytest.mark.postgres
def test_kill_9_of_the_leader_mid_backfill_the_standby_takes_over(pg_e2e: E2E) -> None:
    e2e = pg_e2e
    codes, logs, daemons = _two_daemons_mid_backfill(e2e, 100)
    leader = _leader(e2e, logs)
    standby_log = logs[1 - leader]
    linked_at_kill = _linked_count(e2e)
    killed_at = time.time()
    os.kill(daemons[leader].pid, signal.SIGKILL)
    daemons[leader].wait(timeout=10)
    wait_for(lambda: _acquired(standby_log), timeout=30, what="the standby to take over")
    took_over = _acquired_at(standby_log)
    assert took_over is not None
    assert took_over - killed_at <= 2 * POLL_SECONDS
    assert linked_at_kill < len(codes), "the kill must land mid-backfill"
    wait_for(all_linked(e2e, codes), timeout=240, what="the standby to finish")
    stop_all(daemons)
    assert set(e2e.issues_per_submission().values()) == {1}
    assert len(e2e.issues()) == len(codes)
    assert unlinked(e2e, codes) == []
    assert double_audit(e2e) == {}


def _terminate_leader_session(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            pids = connection.execute(
                text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid = 0 AND objid = :key AND objsubid = 1"
                    # this test's database only: another suite may share the server
                    " AND database = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database())"
                ),
                {"key": LEADER_KEY},
            ).scalars()
            terminated = 0
            for pid in list(pids):
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                terminated += 1
            return terminated
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_leader_whose_session_is_terminated_stands_by_and_the_other_finishes(
    pg_e2e: E2E,
) -> None:
    e2e = pg_e2e
    codes, logs, daemons = _two_daemons_mid_backfill(e2e, 100)
    leader = _leader(e2e, logs)
    standby_log = logs[1 - leader]
    assert _terminate_leader_session(e2e.database_url) == 1
    terminated_at = time.time()
    wait_for(lambda: _acquired(standby_log), timeout=30, what="the standby to take over")
    took_over = _acquired_at(standby_log)
    assert took_over is not None and took_over - terminated_at <= 2 * POLL_SECONDS
    wait_for(all_linked(e2e, codes), timeout=240, what="the new leader to finish")
    # the old leader noticed and stood by; it is alive and wrote nothing since
    events = [e.get("event") for e in log_events(logs[leader])]
    assert "leader_lease_lost" in events
    assert daemons[leader].poll() is None
    stop_all(daemons)
    assert set(e2e.issues_per_submission().values()) == {1}
    assert unlinked(e2e, codes) == []
    assert double_audit(e2e) == {}
    assert double_writes(e2e) == {}


def test_a_second_daemon_stands_by_and_status_shows_both(e2e: E2E) -> None:
    seed_fresh(e2e, 5)
    concurrency_config(e2e)
    logs = [e2e.workdir / f"daemon-{n}.log" for n in range(2)]
    first = e2e.popen("run", log=logs[0])
    try:
        wait_for(lambda: _acquired(logs[0]), timeout=60, what="the first daemon to lead")
        second = e2e.popen("run", log=logs[1])
        try:
            wait_for(
                lambda: any(e.get("event") == "standing_by" for e in log_events(logs[1])),
                timeout=60,
                what="the second daemon to stand by",
            )
            standing = next(e for e in log_events(logs[1]) if e.get("event") == "standing_by")
            assert f"pid {first.pid}" in str(standing["active"])
            status = e2e.syncd("status")
            assert status.returncode == 0, status.stderr
            assert "active: " in status.stdout and f"pid {first.pid}" in status.stdout
            assert "standby: " in status.stdout and f"pid {second.pid}" in status.stdout
            as_json = e2e.syncd("status", "--json")
            roles = {
                (i["pid"], i["role"]) for i in json.loads(as_json.stdout)["instances"] if i["alive"]
            }
            assert (first.pid, "active") in roles and (second.pid, "standby") in roles
        finally:
            stop_all([second])
    finally:
        stop_all([first])
    assert not _acquired(logs[1])


def test_two_issues_tagged_with_one_submission_are_reported_never_deleted(e2e: E2E) -> None:
    codes = seed_fresh(e2e, 3)
    assert_ok(e2e.reconcile())
    code = codes[0]
    original = e2e.issue_of(code)
    # a human copies the issue, tags and all (or an older version made a second one)
    copy = e2e.world.jira.control.create_issue(
        "SEC",
        summary="copy",
        labels=list(original["labels"]),
        properties={"syncd": {"submission": code}},
    )
    e2e.world.jira.control.settle_search()
    result = e2e.reconcile()
    assert result.returncode == 1
    assert f"duplicate {code}" in result.stdout
    assert str(original["key"]) in result.stdout and str(copy["key"]) in result.stdout
    status = e2e.syncd("status")
    assert "duplicate issues: 1" in status.stdout
    assert str(copy["key"]) in status.stdout
    # both issues are still there, and the link still points at the original
    assert {str(i["key"]) for i in e2e.issues()} >= {str(original["key"]), str(copy["key"])}
    assert e2e.submission(code)["internalReference"] == original["key"]
    # once a human removes the copy's tag, the next reconcile is clean again
    e2e.world.jira.control.set_labels(str(copy["key"]), [])
    e2e.world.jira.control.set_property(str(copy["key"]), "syncd", {})
    e2e.world.jira.control.settle_search()
    assert_ok(e2e.reconcile())
    assert "duplicate issues: 0" in e2e.syncd("status").stdout
