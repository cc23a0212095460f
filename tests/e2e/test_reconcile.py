"""The reconciler end to end: `syncd run --reconcile` against both simulators.

Every test runs on SQLite and on PostgreSQL (the `database_url` fixture).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import E2E, e2e_world


@pytest.fixture
def e2e(tmp_path: Path, database_url: str) -> Iterator[E2E]:
    yield from e2e_world(tmp_path, database_url)


def seed_open(e2e: E2E, count: int) -> list[str]:
    """Submissions in statuses that get a Jira issue (Triage, Pending, Accepted)."""
    control = e2e.world.intigriti.control
    program = e2e.world.programs[0]
    statuses = ("Triage", "Pending", "Accepted")
    severities = ("Low", "Medium", "High", "Critical", "Exceptional")
    return [
        str(
            control.seed_submission(program, status=statuses[n % 3], severity=severities[n % 5])[
                "code"
            ]
        )
        for n in range(count)
    ]


def assert_ok(result: object) -> None:
    assert getattr(result, "returncode", None) == 0, (
        f"exit {getattr(result, 'returncode', None)}\nstdout:\n{getattr(result, 'stdout', '')}"
        f"\nstderr (tail):\n{str(getattr(result, 'stderr', ''))[-3000:]}"
    )


@pytest.mark.slow
def test_backfill_creates_one_issue_each_and_a_second_pass_writes_nothing(e2e: E2E) -> None:
    codes = seed_open(e2e, 200)
    first = e2e.reconcile()
    assert_ok(first)
    assert "created 200" in first.stdout
    per_submission = e2e.issues_per_submission()
    assert len(per_submission) == 200
    assert set(per_submission.values()) == {1}
    assert set(per_submission) == set(codes)
    keys = {str(issue["key"]) for issue in e2e.issues()}
    references = {e2e.submission(code)["internalReference"] for code in codes}
    assert references == keys
    # accepted submissions moved their issues out of To Do, priorities follow severities
    sample = e2e.issue_of(codes[2])  # Accepted, High
    assert (sample["status"], sample["priority"]) == ("In Progress", "High")
    exceptional = e2e.issue_of(codes[4])  # Pending, Exceptional
    assert (exceptional["status"], exceptional["priority"]) == ("To Do", "Highest")

    e2e.reset_counters()
    second = e2e.reconcile()
    assert_ok(second)
    assert e2e.writes() == 0
    assert "created 0" in second.stdout


def test_each_field_propagates_both_ways_without_echo(e2e: E2E) -> None:
    codes = seed_open(e2e, 6)
    assert_ok(e2e.reconcile())
    intigriti = e2e.world.intigriti.control
    jira = e2e.world.jira.control
    pending, accepted = codes[1], codes[2]  # Pending/Medium, Accepted/High

    # Intigriti -> Jira: severity and status
    intigriti.edit_submission(pending, severity="Low")
    intigriti.edit_submission(pending, status="Accepted")
    # Jira -> Intigriti: priority, status (with its close reason) and a moved key
    accepted_key = str(e2e.submission(accepted)["internalReference"])
    jira.set_priority(accepted_key, "Highest")
    jira.set_status(accepted_key, "In Review")  # same class as In Progress
    jira.set_status(accepted_key, "Done", resolution="Done")
    moved = jira.move(str(e2e.submission(codes[0])["internalReference"]), "APP")

    assert_ok(e2e.reconcile())
    issue = e2e.issue_of(pending)
    assert (issue["priority"], issue["status"]) == ("Low", "In Progress")
    after = e2e.submission(accepted)
    assert (after["severity"], after["status"], after["closeReason"]) == (
        "Critical",
        "Closed",
        "Resolved",
    )
    assert e2e.submission(codes[0])["internalReference"] == moved["key"]
    assert moved["key"].startswith("APP-")

    # no echo: the next pass finds nothing to do
    e2e.reset_counters()
    assert_ok(e2e.reconcile())
    assert e2e.writes() == 0


def test_a_move_inside_one_class_writes_nothing(e2e: E2E) -> None:
    codes = seed_open(e2e, 5)
    assert_ok(e2e.reconcile())
    control = e2e.world.jira.control
    # Accepted: In Progress -> In Review, both mean "accepted"
    control.set_status(str(e2e.submission(codes[2])["internalReference"]), "In Review")
    # Exceptional -> Critical: both map to priority Highest
    e2e.world.intigriti.control.edit_submission(codes[4], severity="Critical")
    # Low -> Lowest: both map to severity Low
    control.set_priority(str(e2e.submission(codes[0])["internalReference"]), "Lowest")
    e2e.reset_counters()
    assert_ok(e2e.reconcile())
    assert e2e.writes() == 0


@pytest.mark.parametrize(
    ("policy", "expected_severity", "expected_priority"),
    [("intigriti", "High", "High"), ("jira", "Low", "Low")],
)
def test_conflict_follows_policy_and_is_audited(
    e2e: E2E, policy: str, expected_severity: str, expected_priority: str
) -> None:
    codes = seed_open(e2e, 2)
    assert_ok(e2e.reconcile())
    code = codes[1]  # Pending, Medium
    e2e.rewrite_config({"mapping": {"fields": {"severity": {"policy": policy}}}})
    key = str(e2e.submission(code)["internalReference"])
    e2e.world.intigriti.control.edit_submission(code, severity="High")
    e2e.world.jira.control.set_priority(key, "Low")
    assert_ok(e2e.reconcile())
    assert e2e.submission(code)["severity"] == expected_severity
    assert e2e.world.jira.control.issue(key)["priority"] == expected_priority
    conflicts = [row for row in e2e.audit() if row["outcome"].startswith("conflict")]
    assert len(conflicts) == 1
    assert conflicts[0]["submission_code"] == code
    assert conflicts[0]["field"] == "severity"
    assert conflicts[0]["outcome"] == f"conflict:{policy}"
    status = e2e.syncd("status", "--json")
    assert_ok(status)
    assert json.loads(status.stdout)["conflicts"][0]["submission"] == code
    e2e.reset_counters()
    assert_ok(e2e.reconcile())
    assert e2e.writes() == 0


@pytest.mark.slow
def test_a_malformed_submission_is_parked_and_the_rest_sync(e2e: E2E) -> None:
    codes = seed_open(e2e, 200)
    bad = codes[17]
    e2e.world.intigriti.control.set_malformed(bad, "unknown_enum")
    result = e2e.reconcile()
    assert result.returncode == 1, result.stderr[-2000:]
    assert f"failed {bad}: parked" in result.stdout
    per_submission = e2e.issues_per_submission()
    assert len(per_submission) == 199
    assert bad not in per_submission
    status = e2e.syncd("status")
    assert_ok(status)
    assert "parked: 1" in status.stdout
    assert bad in status.stdout
    # repaired upstream: the next pass unparks and syncs it
    e2e.world.intigriti.control.set_malformed(bad, None)
    assert_ok(e2e.reconcile())
    assert e2e.issues_per_submission()[bad] == 1


def test_dry_run_prints_the_plan_and_writes_nothing(e2e: E2E) -> None:
    assert_ok(e2e.reconcile())  # a first run with nothing to do stores the OAuth token
    seed_open(e2e, 5)
    e2e.reset_counters()
    tokens_before = e2e.query("SELECT access_token, refresh_token FROM oauth_tokens")
    result = e2e.reconcile("--dry-run")
    assert_ok(result)
    assert "dry run: nothing was written" in result.stdout
    assert result.stdout.count("create") >= 5
    assert e2e.writes() == 0
    assert e2e.issues() == []
    assert e2e.query("SELECT count(*) AS n FROM links")[0]["n"] == 0
    assert e2e.query("SELECT access_token, refresh_token FROM oauth_tokens") == tokens_before
    assert e2e.world.intigriti.control.count("POST", "/connect/token") == 0


def test_a_dry_run_never_spends_the_configured_refresh_token(e2e: E2E) -> None:
    seed_open(e2e, 2)
    assert_ok(e2e.syncd("db", "upgrade"))
    e2e.reset_counters()
    result = e2e.reconcile("--dry-run")
    assert result.returncode == 2
    assert "dry run writes nothing" in result.stderr
    assert "syncd auth login" in result.stderr
    assert e2e.world.intigriti.control.count("POST", "/connect/token") == 0
    assert e2e.query("SELECT count(*) AS n FROM oauth_tokens")[0]["n"] == 0
    # the refresh token is still good: a real pass bootstraps with it
    assert_ok(e2e.reconcile())


def test_a_dry_run_without_a_database_creates_none(tmp_path: Path, e2e: E2E) -> None:
    result = e2e.reconcile("--dry-run")
    assert result.returncode == 2
    assert "syncd db upgrade" in result.stderr
    if e2e.database_url.startswith("sqlite"):
        assert not (tmp_path / "syncd.db").exists()


@pytest.mark.slow
def test_a_refused_intigriti_move_blocks_the_link_until_a_human_acts(e2e: E2E) -> None:
    codes = seed_open(e2e, 3)
    assert_ok(e2e.reconcile())
    code = codes[2]  # Accepted
    key = str(e2e.submission(code)["internalReference"])
    e2e.world.intigriti.control.fail_next(1, route="PUT /submissions/*/state", status=403)
    e2e.world.jira.control.set_status(key, "Done", resolution="Done")
    blocked = e2e.reconcile()
    assert blocked.returncode == 1
    assert f"blocked {code}" in blocked.stdout
    status = e2e.syncd("status")
    assert "blocked: 1" in status.stdout
    # not retried every cycle: the next pass leaves it alone
    e2e.reset_counters()
    again = e2e.reconcile()
    assert again.returncode == 0, again.stdout
    assert e2e.world.intigriti.control.count("PUT", "/submissions/{submissionCode}/state") == 0
    # a human moves the Jira issue again: the link is retried and converges
    e2e.world.jira.control.set_status(key, "Won't Do", resolution="Won't Do")
    assert_ok(e2e.reconcile())
    after = e2e.submission(code)
    assert (after["status"], after["closeReason"]) == ("Closed", "Accepted risk")
    assert "blocked: 0" in e2e.syncd("status").stdout


@pytest.mark.slow
def test_a_failed_write_is_retried_next_pass_and_then_forgotten(e2e: E2E) -> None:
    codes = seed_open(e2e, 3)
    e2e.world.intigriti.control.fail_next(
        20, route="PUT /submissions/*/internal-reference", status=503
    )
    failed = e2e.reconcile()
    assert failed.returncode == 1
    assert "failed" in failed.stdout
    status = e2e.syncd("status", "--json")
    assert json.loads(status.stdout)["failing"], status.stdout
    e2e.world.intigriti.control.clear_faults()
    assert_ok(e2e.reconcile())
    assert all(e2e.submission(code)["internalReference"] for code in codes)
    assert set(e2e.issues_per_submission().values()) == {1}
    assert json.loads(e2e.syncd("status", "--json").stdout)["failing"] == []


@pytest.mark.slow
def test_a_pass_that_cannot_read_jira_writes_nothing_and_fails(e2e: E2E) -> None:
    codes = seed_open(e2e, 4)
    assert_ok(e2e.reconcile())
    e2e.world.intigriti.control.edit_submission(codes[1], severity="Critical")
    e2e.world.jira.control.fail_next("GET /rest/api/*/search/jql", count=50, status=503)
    e2e.reset_counters()
    result = e2e.reconcile()
    # the search fails at start-up (workflow sampling) or in the pass: exit 1 either way
    assert result.returncode == 1
    assert "search" in (result.stdout + result.stderr[-500:]).lower()
    assert e2e.writes() == 0  # never infer from a failed read
    e2e.world.jira.control.clear_faults()
    assert_ok(e2e.reconcile())  # nothing was marked reconciled meanwhile
    assert e2e.issue_of(codes[1])["priority"] == "Highest"
