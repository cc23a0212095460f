"""`syncd doctor` against both simulators, and the start-up checks it shares with `run`.

Every case breaks one thing, the way an operator would (a config value, or an admin's edit
of the Jira site), and expects the checklist to name the key at fault with a fix, exit 1.
Start-up refuses the same configurations with exit 2. Most cases run on SQLite only: the
checks do not depend on the database beyond the one case that runs on both.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import E2E, e2e_world

from syncd.sync.mapping import default_mapping


@pytest.fixture
def e2e(tmp_path: Path, sqlite_url: str) -> Iterator[E2E]:
    yield from e2e_world(tmp_path, sqlite_url)


def doctor(e2e: E2E) -> subprocess.CompletedProcess[str]:
    """The doctor on a database `syncd db upgrade` made, as the README's steps have it."""
    upgraded = e2e.syncd("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr[-2000:]
    return e2e.syncd("doctor", timeout=120)


def failures(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("FAIL")]


def assert_names(result: subprocess.CompletedProcess[str], problem: str) -> None:
    """Exit 1, and ``problem`` is a failed line of the checklist, with its fix under it."""
    assert result.returncode == 1, result.stdout + result.stderr[-2000:]
    lines = result.stdout.splitlines()
    matching = [i for i, line in enumerate(lines) if line.startswith("FAIL") and problem in line]
    assert matching, f"{problem!r} not among the failures:\n{result.stdout}"
    assert lines[matching[0] + 1].strip().startswith("fix: ")


def states_with(index: int, **changes: Any) -> list[dict[str, Any]]:
    """The default [[mapping.states]] as a config file spells them, one entry changed."""
    states = []
    for state in default_mapping().states:
        entry: dict[str, Any] = {
            "name": state.name,
            "intigriti": list(state.intigriti),
            "jira": list(state.jira),
            "intigriti_writable": state.intigriti_writable,
        }
        if state.jira_resolution is not None:
            entry["jira_resolution"] = state.jira_resolution
        states.append(entry)
    states[index].update(changes)
    return states


def test_doctor_passes_a_good_configuration(tmp_path: Path, database_url: str) -> None:
    for e2e in e2e_world(tmp_path, database_url):
        result = doctor(e2e)
        assert result.returncode == 0, result.stdout + result.stderr[-2000:]
        assert failures(result) == []
        out = result.stdout
        for line in (
            "ok    database migrations:",
            "ok    Intigriti token: valid",
            "ok    Intigriti token scopes:",
            "ok    Jira credentials:",
            "ok    Jira project SEC: exists",
            "ok    Jira project APP: statuses:",
            "ok    Intigriti names in [mapping]:",
        ):
            assert line in out, out
        # one line per check, and a count that adds up
        assert " 0 failed" in out.splitlines()[-1]


def test_doctor_before_the_first_upgrade_says_to_run_it(e2e: E2E) -> None:
    result = e2e.syncd("doctor", timeout=120)
    assert_names(result, "database.url: there is no database file")
    assert "syncd db upgrade" in result.stdout
    # the doctor only looks: it created no database
    assert not (e2e.workdir / "syncd.db").exists()


def test_doctor_names_a_mapped_status_the_workflow_lacks(e2e: E2E) -> None:
    # an admin takes In Review (the default "accepted" state's second status) out of SEC
    e2e.world.jira.control.remove_status("SEC", "In Review")
    result = doctor(e2e)
    assert_names(result, "mapping.states[1].jira: status 'In Review' does not exist in project SEC")
    assert len(failures(result)) == 1, result.stdout  # APP still has it
    assert "ok    Jira project APP: statuses:" in result.stdout


def test_doctor_names_a_missing_project(e2e: E2E) -> None:
    e2e.rewrite_config({"jira": {"project": "NOPE"}})
    assert_names(doctor(e2e), "jira.project: Jira project 'NOPE' does not exist")


def test_doctor_names_a_missing_issue_type(e2e: E2E) -> None:
    e2e.rewrite_config({"jira": {"issue_type": "Vulnerability"}})
    result = doctor(e2e)
    assert_names(result, "jira.issue_type: project SEC has no issue type 'Vulnerability'")
    assert "(it has Bug, Task)" in result.stdout


def test_doctor_names_a_missing_priority(e2e: E2E) -> None:
    e2e.rewrite_config(
        {
            "mapping": {
                "severity_to_priority": {
                    "Exceptional": "Urgent",
                    "Critical": "Urgent",
                    "High": "High",
                    "Medium": "Medium",
                    "Low": "Low",
                },
                "priority_to_severity": {
                    "Urgent": "Critical",
                    "High": "High",
                    "Medium": "Medium",
                    "Low": "Low",
                },
            }
        }
    )
    result = doctor(e2e)
    assert_names(
        result, "mapping.severity_to_priority.Critical: priority 'Urgent' does not exist"
    )
    assert_names(result, "mapping.priority_to_severity.Urgent: priority does not exist")
    assert "Highest" in result.stdout  # the fix lists Jira's priorities


def test_doctor_names_a_missing_custom_field(e2e: E2E) -> None:
    e2e.rewrite_config({"jira": {"cvss_field": "customfield_99999"}})
    assert_names(
        doctor(e2e), "jira.cvss_field: no field 'customfield_99999' on issues of project SEC"
    )


def test_doctor_names_a_misspelt_intigriti_status(e2e: E2E) -> None:
    e2e.rewrite_config({"mapping": {"states": states_with(1, intigriti=["Acepted"])}})
    result = doctor(e2e)
    assert_names(result, "mapping.states[1].intigriti: 'Acepted'")
    assert "is not an Intigriti submission status" in result.stdout
    assert "Accepted" in result.stdout  # the fix lists the known names
    # the rest is still checked, so one run shows everything to fix
    assert "ok    Jira project SEC: exists" in result.stdout


def test_doctor_names_a_misspelt_close_reason(e2e: E2E) -> None:
    e2e.rewrite_config({"mapping": {"states": states_with(2, intigriti=["Closed/Resolvd"])}})
    assert_names(doctor(e2e), "mapping.states[2].intigriti: 'Resolvd'")


def test_doctor_names_rejected_jira_credentials(e2e: E2E) -> None:
    e2e.rewrite_config({"jira": {"api_token": "not-the-token"}})
    assert_names(doctor(e2e), "jira.email and jira.api_token: Jira at")


def test_a_config_file_that_does_not_load_exits_2(e2e: E2E) -> None:
    e2e.rewrite_config({"jira": {"projekt": "SEC"}})
    result = e2e.syncd("doctor")
    assert result.returncode == 2, result.stdout + result.stderr[-2000:]
    assert "jira.projekt" in result.stderr


def test_run_reconcile_refuses_a_missing_project_naming_the_key(e2e: E2E) -> None:
    e2e.world.seed(2)
    e2e.rewrite_config({"jira": {"project": "NOPE"}})
    result = e2e.reconcile()
    assert result.returncode == 2, result.stderr[-2000:]
    assert "jira.project: Jira project 'NOPE' does not exist" in result.stderr
    assert "fix: create project NOPE" in result.stderr
    assert e2e.issues() == []


def test_the_daemon_refuses_a_missing_issue_type_naming_the_key(e2e: E2E) -> None:
    e2e.rewrite_config({"jira": {"issue_type": "Vulnerability"}})
    result = e2e.syncd("run", timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "jira.issue_type: project SEC has no issue type 'Vulnerability'" in result.stderr


def test_run_reconcile_refuses_a_misspelt_intigriti_status_naming_the_key(e2e: E2E) -> None:
    e2e.world.seed(2)
    e2e.rewrite_config({"mapping": {"states": states_with(2, intigriti=["Closd/Resolved"])}})
    result = e2e.reconcile()
    assert result.returncode == 2, result.stderr[-2000:]
    assert "mapping.states[2].intigriti: 'Closd'" in result.stderr
    assert e2e.issues() == []


def test_doctor_and_start_up_refuse_a_conversation_role_jira_lacks(e2e: E2E) -> None:
    e2e.world.seed(2)
    e2e.rewrite_config(
        {"conversation": {"direction": "both", "internal_visibility": "Security Team"}}
    )
    result = doctor(e2e)
    assert_names(result, "conversation.internal_visibility: project SEC has no role")
    reconcile = e2e.reconcile()
    assert reconcile.returncode == 2, reconcile.stderr[-2000:]
    assert "conversation.internal_visibility" in reconcile.stderr
    assert e2e.issues() == []


def test_doctor_passes_a_conversation_group_that_exists_and_names_one_that_does_not(
    e2e: E2E,
) -> None:
    e2e.rewrite_config(
        {
            "conversation": {
                "direction": "to_jira",
                "internal_visibility_type": "group",
                "internal_visibility": "security-team",
            }
        }
    )
    result = doctor(e2e)
    assert "ok    Jira group security-team" in result.stdout, result.stdout
    e2e.rewrite_config(
        {
            "conversation": {
                "direction": "to_jira",
                "internal_visibility_type": "group",
                "internal_visibility": "security-tean",
            }
        }
    )
    assert_names(doctor(e2e), "conversation.internal_visibility: no Jira group is named")
