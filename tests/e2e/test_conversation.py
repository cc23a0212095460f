"""Messages <-> comments end to end: syncd as a process, both simulators over real HTTP,
on SQLite and PostgreSQL. What is checked is what each side holds afterwards."""

from __future__ import annotations

import json
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from harness import E2E, e2e_world, wait_for
from sqlalchemy.exc import SQLAlchemyError
from test_daemon import cycles_done, last_success, stop, wait_for_a_poll_of_each_side
from test_reconcile import assert_ok, seed_open

ROLE = {"type": "role", "value": "Developers"}
_REF = re.compile(r"syncd ref [0-9a-f]{12}")
ON = {"conversation": {"direction": "both", "internal_visibility": "Developers"}}


@pytest.fixture
def e2e(tmp_path: Path, database_url: str) -> Iterator[E2E]:
    yield from e2e_world(tmp_path, database_url)


def copies_in_jira(e2e: E2E, key: str) -> list[dict[str, Any]]:
    return [c for c in e2e.world.jira.control.comments(key) if _REF.search(c["body"])]


def copies_in_intigriti(e2e: E2E, code: str) -> list[dict[str, Any]]:
    return [
        m
        for m in e2e.world.intigriti.control.messages(code)
        if m.get("message") and _REF.search(m["message"])
    ]


def copies_recorded(e2e: E2E) -> int:
    """Ledger rows so far (0 while the first process is still creating the schema)."""
    try:
        return int(e2e.query("SELECT count(*) AS n FROM conversation_copies")[0]["n"])
    except SQLAlchemyError:
        return 0


def numbers(texts: list[str], pattern: str) -> list[int]:
    return [int(m.group(1)) for t in texts if (m := re.search(pattern, t))]


def test_internal_notes_land_only_as_restricted_comments_and_the_marker_decides_the_rest(
    e2e: E2E,
) -> None:
    e2e.rewrite_config(ON)
    intigriti = e2e.world.intigriti.control
    code = e2e.world.report(status="Accepted")
    intigriti.post_message(code, "internal: bounty on hold", author="company", internal=True)
    intigriti.post_message(code, "my PoC: *bold* [x|javascript:alert(1)]")
    intigriti.post_message(code, "thanks, we are on it", author="company")
    assert_ok(e2e.reconcile())

    key = str(e2e.issue_of(code)["key"])
    comments = copies_in_jira(e2e, key)
    assert len(comments) == 3
    by_text = {
        next(t for t in ("bounty on hold", "my PoC", "we are on it") if t in c["body"]): c
        for c in comments
    }
    assert by_text["bounty on hold"]["visibility"]["value"] == "Developers"
    assert by_text["my PoC"]["visibility"] is None
    assert by_text["we are on it"]["visibility"] is None
    assert "{noformat}" in by_text["my PoC"]["body"]  # the researcher's text, literally

    jira = e2e.world.jira.control
    jira.add_comment(key, "[to researcher] fixed in 1.2.3, please retest")
    jira.add_comment(key, "[to researcher] we think this is a dupe", visibility=ROLE)
    jira.add_comment(key, "[to researcher] internal JSM note", internal=True)
    jira.add_comment(key, "root cause: missing output encoding")
    assert_ok(e2e.reconcile())
    sent = copies_in_intigriti(e2e, code)
    external = [m for m in sent if m["external"]]
    internal = [m for m in sent if not m["external"]]
    assert len(external) == 1
    assert external[0]["message"].startswith("fixed in 1.2.3")  # the marker removed
    assert len(internal) == 3
    assert not any("dupe" in m["message"] or "JSM" in m["message"] for m in external)

    e2e.reset_counters()
    assert_ok(e2e.reconcile())
    assert e2e.writes() == 0


@pytest.mark.slow
def test_twenty_messages_each_way_once_in_order_across_a_kill(e2e: E2E) -> None:
    # slow writes, so the kill lands while copies are going out
    e2e.rewrite_config(
        {
            **ON,
            "sync": {"poll_interval_seconds": 1, "jira_poll_interval_seconds": 1},
            "intigriti": {"write_rate_per_minute": 120},
            "jira": {"requests_per_minute": 600},
        }
    )
    intigriti, jira = e2e.world.intigriti.control, e2e.world.jira.control
    code = e2e.world.report(status="Accepted")
    log = e2e.workdir / "daemon.log"
    daemon = e2e.popen("run", log=log)
    wait_for(lambda: bool(e2e.submission(code)["internalReference"]), timeout=60, what="a link")
    key = str(e2e.issue_of(code)["key"])
    for n in range(10):
        intigriti.post_message(code, f"researcher message {n}")
        jira.add_comment(key, f"developer comment {n}")
    wait_for(
        lambda: len(copies_in_intigriti(e2e, code)) >= 3,
        timeout=60,
        what="the first copies to Intigriti",
    )
    daemon.send_signal(signal.SIGKILL)
    daemon.wait(timeout=30)
    assert len(copies_in_intigriti(e2e, code)) < 10, "the kill came too late to test anything"

    for n in range(10, 20):
        intigriti.post_message(code, f"researcher message {n}")
        jira.add_comment(key, f"developer comment {n}")
    daemon = e2e.popen("run", log=e2e.workdir / "daemon2.log")
    try:
        wait_for(
            lambda: (
                len(copies_in_intigriti(e2e, code)) >= 20 and len(copies_in_jira(e2e, key)) >= 20
            ),
            timeout=120,
            what="20 copies each way",
        )
        e2e.reset_counters()
        before = e2e.query("SELECT count(*) AS n FROM conversation_copies")[0]["n"]
        wait_for(
            lambda: (
                e2e.world.intigriti.control.count("GET", "/submissions") >= 2
                and e2e.world.jira.control.counters().get("GET /rest/api/2/search/jql", 0) >= 2
            ),
            timeout=30,
            what="two more polls of each side",
        )
        assert e2e.writes() == 0
        assert e2e.query("SELECT count(*) AS n FROM conversation_copies")[0]["n"] == before
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)

    in_jira = [c["body"] for c in copies_in_jira(e2e, key)]
    in_intigriti = [m["message"] for m in copies_in_intigriti(e2e, code)]
    assert numbers(in_jira, r"researcher message (\d+)") == list(range(20))
    assert numbers(in_intigriti, r"developer comment (\d+)") == list(range(20))
    assert all("on Intigriti" in body for body in in_jira)  # attributed
    assert all(" on Jira (" in text for text in in_intigriti)
    assert not any(m["external"] for m in copies_in_intigriti(e2e, code))


@pytest.mark.slow
def test_three_processes_at_once_with_a_kill_copy_each_message_and_comment_once(
    e2e: E2E,
) -> None:
    e2e.rewrite_config({**ON, "sync": {"reconcile_wait_seconds": 60}})
    intigriti, jira = e2e.world.intigriti.control, e2e.world.jira.control
    codes = [e2e.world.report(status="Accepted") for _ in range(20)]
    for code in codes:
        for n in range(3):
            intigriti.post_message(code, f"{code} message {n}")

    def three_at_once(kill_one: bool) -> None:
        processes = [e2e.popen("run", "--reconcile") for _ in range(3)]
        if kill_one:
            wait_for(lambda: copies_recorded(e2e) > 0, timeout=60, what="the first copy")
            processes[0].send_signal(signal.SIGKILL)
        for process in processes:
            process.wait(timeout=240)
        assert_ok(e2e.reconcile())  # whatever the killed one left is finished here

    three_at_once(kill_one=True)
    for code in codes:
        key = str(e2e.issue_of(code)["key"])
        for n in range(2):
            jira.add_comment(key, f"{code} comment {n}")
    three_at_once(kill_one=True)

    for code in codes:
        key = str(e2e.issue_of(code)["key"])
        in_jira = [c["body"] for c in copies_in_jira(e2e, key)]
        in_intigriti = [m["message"] for m in copies_in_intigriti(e2e, code)]
        assert numbers(in_jira, rf"{code} message (\d+)") == [0, 1, 2], code
        assert numbers(in_intigriti, rf"{code} comment (\d+)") == [0, 1], code
    assert set(e2e.issues_per_submission().values()) == {1}
    e2e.reset_counters()
    assert_ok(e2e.reconcile())
    assert e2e.writes() == 0


def test_copies_whose_answers_were_lost_are_found_again_not_sent_twice(e2e: E2E) -> None:
    e2e.rewrite_config(ON)
    intigriti, jira = e2e.world.intigriti.control, e2e.world.jira.control
    code = e2e.world.report(status="Accepted")
    assert_ok(e2e.reconcile())
    key = str(e2e.issue_of(code)["key"])
    for n in range(3):
        intigriti.post_message(code, f"researcher message {n}")
        jira.add_comment(key, f"developer comment {n}")
    # each side commits the first copy it gets, then the connection is cut
    jira.drop_after_commit(route="POST /rest/api/*/issue/*/comment")
    intigriti.drop_after_commit(route="POST *")
    first = e2e.reconcile()
    assert_ok(first)  # the pass itself looks again once the settle time has passed
    lost = [
        event
        for line in first.stderr.splitlines()
        if line.startswith("{")
        and (event := json.loads(line)).get("event") == "conversation_copy_unknown"
    ]
    assert len(lost) == 2, first.stderr[-3000:]
    assert_ok(e2e.reconcile())  # any copy still settling is found by its reference

    in_jira = [c["body"] for c in copies_in_jira(e2e, key)]
    in_intigriti = [m["message"] for m in copies_in_intigriti(e2e, code)]
    assert numbers(in_jira, r"researcher message (\d+)") == [0, 1, 2]
    assert numbers(in_intigriti, r"developer comment (\d+)") == [0, 1, 2]
    states = e2e.query("SELECT state FROM conversation_copies")
    assert {row["state"] for row in states} == {"sent"}
    e2e.reset_counters()
    assert_ok(e2e.reconcile())
    assert e2e.writes() == 0


@pytest.mark.slow
def test_idle_polls_cost_one_request_per_side_and_a_message_costs_one_read(e2e: E2E) -> None:
    codes = seed_open(e2e, 200)
    e2e.rewrite_config(ON)
    assert_ok(e2e.reconcile())  # backfill: 200 issues, their (empty) conversations
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    for issue in e2e.issues():  # a quiet day (Jira's change query has minute precision)
        e2e.world.jira.control.set_timestamps(str(issue["key"]), updated=an_hour_ago)
    e2e.rewrite_config(
        {
            **ON,
            "sync": {
                "poll_interval_seconds": 1,
                "jira_poll_interval_seconds": 1,
                "full_sweep_interval_seconds": 3600,
            },
        }
    )
    started = datetime.now(UTC)
    log = e2e.workdir / "daemon.log"
    daemon = e2e.popen("run", "--log-level", "debug", log=log)
    try:
        wait_for(
            lambda: (last_success(e2e, "sweep") or started) > started,
            timeout=120,
            what="the start-up sweep",
        )
        wait_for_a_poll_of_each_side(e2e, datetime.now(UTC), "a first poll of each side")
        e2e.reset_counters()
        idle_from = datetime.now(UTC)
        wait_for_a_poll_of_each_side(e2e, idle_from, "a poll of each side")
        time.sleep(3)
        idle = requests_by_route(e2e)
        idle_cycles = cycles_done(log.read_text(), idle_from)

        e2e.reset_counters()
        e2e.world.intigriti.control.post_message(codes[7], "any news?")
        key = str(e2e.issue_of(codes[7])["key"])
        wait_for(lambda: bool(copies_in_jira(e2e, key)), timeout=30, what="the copy")
        wait_for_a_poll_of_each_side(e2e, datetime.now(UTC), "the polls after the copy")
        wait_for_a_poll_of_each_side(e2e, datetime.now(UTC), "one more poll of each side")
        after_message = requests_by_route(e2e)
    finally:
        code, stderr, _took = stop(daemon, log)
    assert code == 0, stderr[-2000:]

    # idle: the two change queries and nothing else, whatever the number of links
    lists = idle.pop("GET /submissions", 0)
    searches = idle.pop("GET /rest/api/2/search/jql", 0)
    assert lists <= idle_cycles["intigriti"] + 1 and searches <= idle_cycles["jira"] + 1
    assert idle == {}, idle
    # one message: one events read to find it, one comment written, and the echo of
    # that comment costs one comments read; no link other than this one is read
    assert after_message.get("POST /rest/api/2/issue/{issueIdOrKey}/comment") == 1
    assert after_message.get("GET /submissions/{submissionCode}/events") == 1
    assert after_message.get("GET /rest/api/2/issue/{issueIdOrKey}/comment") == 1


def requests_by_route(e2e: E2E) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for row in e2e.world.intigriti.control.counters():
        counts[f"{row['method']} {row['route']}"] += row["count"]
    counts.update(e2e.world.jira.control.counters())
    return {route: n for route, n in counts.items() if n}
