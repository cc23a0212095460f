"""`syncd explain CODE` and `syncd resync CODE` on a blocked submission, end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import E2E, e2e_world
from test_reconcile import assert_ok, seed_open

STATE_ROUTE = "/submissions/{submissionCode}/state"


@pytest.fixture
def e2e(tmp_path: Path, database_url: str) -> Iterator[E2E]:
    yield from e2e_world(tmp_path, database_url)


def _block_one(e2e: E2E) -> tuple[str, str]:
    """A submission whose Intigriti move Intigriti refused: blocked until a human acts."""
    codes = seed_open(e2e, 3)
    assert_ok(e2e.reconcile())
    code = codes[2]  # Accepted
    key = str(e2e.submission(code)["internalReference"])
    e2e.world.intigriti.control.fail_next(1, route="PUT /submissions/*/state", status=403)
    e2e.world.jira.control.set_status(key, "Done", resolution="Done")
    blocked = e2e.reconcile()
    assert blocked.returncode == 1 and f"blocked {code}" in blocked.stdout
    return code, key


def test_explain_shows_a_blocked_link_and_resync_releases_and_syncs_it(e2e: E2E) -> None:
    code, key = _block_one(e2e)
    e2e.reset_counters()

    shown = e2e.syncd("explain", code)
    assert shown.returncode == 0, shown.stderr[-2000:]
    out = shown.stdout
    assert f"submission {code}" in out
    assert f"link: blocked, issue {key}" in out
    assert "reason: " in out and "403" in out
    assert "base values" in out and "status       accepted" in out
    # both sides read live
    intigriti_now = out.split("Intigriti now:")[1].split("Jira now:")[0]
    assert "status       Accepted" in intigriti_now
    jira_now = out.split("Jira now:")[1].split("plan now")[0]
    assert "status       Done / Done" in jira_now
    history = out.split("history (newest first")[1]
    assert "blocked" in history and "creation     to_jira" in history
    # explain writes nothing
    assert e2e.writes() == 0
    assert e2e.world.intigriti.control.count("PUT", STATE_ROUTE) == 0

    as_json = json.loads(e2e.syncd("explain", code, "--json").stdout)
    assert as_json["link"]["state"] == "blocked"
    assert as_json["jira"]["status"] == "Done"
    assert as_json["intigriti"]["status"] == "Accepted"

    # not retried on its own: the next pass leaves it alone
    assert e2e.reconcile().returncode == 0
    assert e2e.world.intigriti.control.count("PUT", STATE_ROUTE) == 0

    released = e2e.syncd("resync", code)
    assert released.returncode == 0, released.stdout + released.stderr[-2000:]
    assert f"resync {code}: was blocked, now changed" in released.stdout
    assert "updated status to intigriti: 1" in released.stdout
    after = e2e.submission(code)
    assert (after["status"], after["closeReason"]) == ("Closed", "Resolved")
    assert e2e.world.intigriti.control.count("PUT", STATE_ROUTE) == 1
    assert "blocked: 0" in e2e.syncd("status").stdout

    again = e2e.syncd("explain", code).stdout
    assert "link: linked" in again
    assert "resync" in again.split("history (newest first")[1]
    assert "(nothing to do)" in again
    # a second resync finds nothing to do and writes nothing
    e2e.reset_counters()
    twice = e2e.syncd("resync", code)
    assert twice.returncode == 0 and "now converged" in twice.stdout
    assert e2e.writes() == 0


def test_explain_escapes_researcher_text_and_names_an_unlinked_submission(
    e2e: E2E,
) -> None:
    # a first pass with nothing to sync stores the Intigriti token (explain reads only)
    assert e2e.syncd("explain", "X-1").returncode == 2  # no database: read-only, none made
    assert_ok(e2e.reconcile())
    program = e2e.world.programs[0]
    code = str(
        e2e.world.intigriti.control.seed_submission(
            program, status="Triage", title="XSS \x1b[2J\x1b]0;owned\x07 in search"
        )["code"]
    )
    shown = e2e.syncd("explain", code)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
    assert "XSS \\x1b[2J\\x1b]0;owned\\x07 in search" in shown.stdout
    assert "link: none" in shown.stdout
    assert "create" in shown.stdout.split("plan now")[1]
    assert e2e.issues() == []

    created = e2e.syncd("resync", code)
    assert created.returncode == 0, created.stdout + created.stderr[-2000:]
    assert "was no link" in created.stdout and "created its Jira issue" in created.stdout
    assert set(e2e.issues_per_submission().values()) == {1}
