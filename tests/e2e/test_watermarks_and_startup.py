"""Hostile clocks and timestamps, unmapped values, outages at start (daemon, both simulators).

"Within two poll intervals" is measured in polls, not seconds: between a human edit and
syncd's write to the other side, at most two polls of the edited side may end.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from concurrency import log_events, stop_all
from harness import E2E, e2e_world, wait_for
from test_reconcile import assert_ok, seed_open

POLL = 1.5
YEAR_2099 = int(datetime(2099, 1, 1, tzinfo=UTC).timestamp())


@pytest.fixture
def e2e(tmp_path: Path, database_url: str) -> Iterator[E2E]:
    yield from e2e_world(tmp_path, database_url)


def _start_daemon(e2e: E2E, codes: list[str]) -> tuple[subprocess.Popen[str], Path]:
    e2e.rewrite_config(
        {
            "sync": {
                "poll_interval_seconds": POLL,
                "jira_poll_interval_seconds": POLL,
                "full_sweep_interval_seconds": 3600,
                "overlap_seconds": 5,
            }
        }
    )
    log = e2e.workdir / "daemon.log"
    daemon = e2e.popen("run", "--log-level", "debug", log=log)
    wait_for(
        lambda: all(e2e.submission(c)["internalReference"] for c in codes),
        timeout=90,
        what="the start-up backfill",
    )
    return daemon, log


def _polls_between(log: Path, cycle: str, start: float, end: float) -> int:
    count = 0
    for event in log_events(log):
        if event.get("event") != "cycle_done" or event.get("cycle") != cycle:
            continue
        at = datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00")).timestamp()
        if start < at <= end:
            count += 1
    return count


def _propagates(
    log: Path, cycle: str, edit: Callable[[], None], arrived: Callable[[], bool], what: str
) -> int:
    """Make the edit, wait for its effect; the polls of ``cycle`` that ended in between."""
    started = time.time()
    edit()
    wait_for(arrived, timeout=60, what=what)
    return _polls_between(log, cycle, started, time.time())


def test_a_submission_dated_2099_does_not_freeze_intigriti_polling(e2e: E2E) -> None:
    codes = seed_open(e2e, 4)
    assert_ok(e2e.reconcile())
    control = e2e.world.intigriti.control
    # a researcher's submission arrives with a timestamp from a broken clock
    control.seed_submission(
        e2e.world.programs[0], status="Triage", updated_at=YEAR_2099, created_at=YEAR_2099
    )
    daemon, log = _start_daemon(e2e, codes)
    try:
        watermark = e2e.query("SELECT watermark FROM cursors WHERE source = 'intigriti'")
        assert str(watermark[0]["watermark"])[:4] != "2099"
        polls = _propagates(
            log,
            "intigriti",
            lambda: control.edit_submission(codes[1], severity="Critical"),
            lambda: e2e.issue_of(codes[1])["priority"] == "Highest",
            "the edit after the 2099 submission to reach Jira",
        )
        assert polls <= 2
        fresh = e2e.world.report(severity="Low")
        wait_for(
            lambda: bool(e2e.submission(fresh)["internalReference"]),
            timeout=60,
            what="a new submission to get its issue",
        )
    finally:
        stop_all([daemon])
    warnings = [e for e in log_events(log) if e.get("event") == "future_timestamp"]
    assert len({e["item"] for e in warnings}) == 1  # logged once for that submission
    status = e2e.syncd("status")
    assert "future timestamps: 1 (" in status.stdout, status.stdout


def test_intigritis_clock_going_back_an_hour_loses_no_edit(e2e: E2E) -> None:
    codes = seed_open(e2e, 4)
    daemon, log = _start_daemon(e2e, codes)
    control = e2e.world.intigriti.control
    try:
        # a recent edit brings the watermark up to the present ...
        control.edit_submission(codes[1], severity="Critical")
        wait_for(
            lambda: e2e.issue_of(codes[1])["priority"] == "Highest",
            timeout=60,
            what="the first edit",
        )
        # ... then the server's clock jumps back an hour: later edits carry earlier times
        control.set_clock_offset(-3600)
        polls = _propagates(
            log,
            "intigriti",
            lambda: control.edit_submission(codes[2], severity="Critical"),
            lambda: e2e.issue_of(codes[2])["priority"] == "Highest",
            "an edit made after Intigriti's clock went back to reach Jira",
        )
        assert polls <= 2
    finally:
        stop_all([daemon])
    assert any(e.get("event") == "clock_went_back" for e in log_events(log))


def test_jiras_clock_going_back_an_hour_loses_no_edit(e2e: E2E) -> None:
    codes = seed_open(e2e, 4)
    daemon, log = _start_daemon(e2e, codes)
    jira = e2e.world.jira.control
    try:
        jira.configure(clock_offset_seconds=-3600)
        wait_for(
            lambda: _polls_between(log, "jira", time.time() - 60, time.time()) > 0,
            timeout=30,
            what="a Jira poll",
        )
        key = str(e2e.submission(codes[0])["internalReference"])
        polls = _propagates(
            log,
            "jira",
            lambda: jira.set_status(key, "Done", resolution="Done"),
            lambda: e2e.submission(codes[0])["status"] == "Closed",
            "a Jira edit made after Jira's clock went back to reach Intigriti",
        )
        assert polls <= 2
    finally:
        stop_all([daemon])


STATES_WITHOUT_DUPLICATE = """
[[mapping.states]]
name = "new"
intigriti = ["Triage", "Pending"]
jira = ["To Do"]
intigriti_writable = false

[[mapping.states]]
name = "accepted"
intigriti = ["Accepted"]
jira = ["In Progress", "In Review"]

[[mapping.states]]
name = "closed:resolved"
intigriti = ["Closed/Resolved"]
jira = ["Done"]
jira_resolution = "Done"

[[mapping.states]]
name = "closed:other"
intigriti = ["Closed/Duplicate", "Closed/Informative", "Closed/Out of scope", "Closed/Spam",
             "Closed/Not applicable", "Closed/Accepted risk"]
jira = ["Won't Do"]
jira_resolution = "Won't Do"
"""


def test_an_unmapped_jira_status_is_reported_and_fails_the_reconcile(e2e: E2E) -> None:
    codes = seed_open(e2e, 3)
    # the team's mapping leaves Jira's "Duplicate" status out
    with e2e.config.open("a") as config:
        config.write(STATES_WITHOUT_DUPLICATE)
    assert_ok(e2e.reconcile())
    key = str(e2e.submission(codes[0])["internalReference"])
    before = e2e.submission(codes[0])
    e2e.world.jira.control.set_status(key, "Duplicate", resolution="Duplicate")
    e2e.world.jira.control.settle_search()
    result = e2e.reconcile()
    assert result.returncode == 1, result.stdout
    assert (
        f"unmapped {codes[0]}: status: Jira status 'Duplicate' with resolution 'Duplicate'"
        " is not in the mapping"
    ) in result.stdout
    status = e2e.syncd("status")
    assert "unmapped: 1" in status.stdout
    assert f"{codes[0]} [{key}]: status: Jira status 'Duplicate'" in status.stdout
    # nothing was written to Intigriti for it
    after = e2e.submission(codes[0])
    assert (after["status"], after["closeReason"]) == (before["status"], before["closeReason"])
    # logged once, as a warning: the second pass finds the same value and stays quiet
    e2e.reset_counters()
    again = e2e.reconcile()
    assert again.returncode == 1
    assert again.stderr.count('"value_unmapped"') == 0
    assert result.stderr.count('"value_unmapped"') == 1
    # a human moves the issue to a mapped status: the link is whole again
    e2e.world.jira.control.set_status(key, "Done", resolution="Done")
    e2e.world.jira.control.settle_search()
    assert_ok(e2e.reconcile())
    assert "unmapped: 0" in e2e.syncd("status").stdout
    assert e2e.submission(codes[0])["status"] == "Closed"


def test_the_daemon_waits_out_a_jira_outage_at_start_and_then_syncs(e2e: E2E) -> None:
    codes = seed_open(e2e, 3)
    polls = {"poll_interval_seconds": POLL, "jira_poll_interval_seconds": POLL}
    e2e.rewrite_config({"sync": polls})
    jira = e2e.world.jira.control
    jira.fail_next("*", count=100_000, status=503)  # Jira answers nothing but 503
    log = e2e.workdir / "daemon.log"
    daemon = e2e.popen("run", log=log)
    try:
        wait_for(
            lambda: sum(e.get("event") == "startup_check_failed" for e in log_events(log)) >= 3,
            timeout=60,
            what="the daemon to retry its start-up checks",
        )
        assert daemon.poll() is None, "a Jira outage must not end the daemon"
        status = e2e.syncd("status")
        assert "starting (waiting for the start-up checks)" in status.stdout, status.stdout
        assert e2e.issues() == []
        jira.clear_faults()  # Jira is back
        wait_for(
            lambda: all(e2e.submission(c)["internalReference"] for c in codes),
            timeout=120,
            what="the backfill once Jira answers",
        )
    finally:
        stop_all([daemon])
    assert daemon.returncode == 0
    events = [e.get("event") for e in log_events(log)]
    assert "startup_checks_passed" in events and "leader_lease_acquired" in events


def test_the_one_shot_gives_up_on_an_unreachable_jira_after_its_budget(e2e: E2E) -> None:
    seed_open(e2e, 2)
    e2e.rewrite_config({"sync": {"startup_wait_seconds": 3}})
    e2e.world.jira.control.fail_next("*", count=100_000, status=503)
    result = e2e.reconcile()
    assert result.returncode == 1, result.stderr[-2000:]
    assert f"Jira at {e2e.world.jira.base_url}" in result.stderr
    assert "did not answer the start-up checks for 3 s" in result.stderr
    assert e2e.issues() == []


def test_a_missing_jira_project_is_a_configuration_error_naming_the_key(e2e: E2E) -> None:
    e2e.rewrite_config({"jira": {"project": "NOPE"}})
    result = e2e.syncd("run", "--reconcile", timeout=60)
    assert result.returncode == 2
    assert "jira.project: Jira project 'NOPE' does not exist" in result.stderr
