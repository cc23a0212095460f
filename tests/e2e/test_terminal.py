"""syncd at a terminal: a clean progress bar with log lines only above it; errors said once."""

from __future__ import annotations

import re
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import E2E, _env, e2e_world
from terminal import run_on_terminal

#: a rendered log line: ``2026-12-01T20:04:06.123Z [warning  ] event_name ...``
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z \[(\w+) *\] (\w+)")
#: one frame of the bar: ``reconcile ━━╺━━━ 12/40 0:00:03``
BAR = re.compile(r"reconcile [━╺╸ ]+ *\d+/\d+")


@pytest.fixture
def e2e(tmp_path: Path, sqlite_url: str) -> Iterator[E2E]:
    yield from e2e_world(tmp_path, sqlite_url)


def test_log_lines_never_land_inside_the_progress_bar(e2e: E2E) -> None:
    # the terminal format a newcomer gets (the harness uses JSON lines at INFO)
    e2e.rewrite_config({"logging": {"level": "info", "format": "auto"}})
    for _ in range(40):
        e2e.world.intigriti.control.seed_submission(e2e.world.programs[0], status="Triage")
    # one 429 mid-pass: syncd logs a warning while the bar is on screen
    e2e.world.intigriti.control.rate_limit_storm(
        1, retry_after=1, route="PUT /submissions/*/internal-reference"
    )

    run = run_on_terminal(
        [sys.executable, "-m", "syncd", "--config", str(e2e.config), "run", "--reconcile"],
        cwd=e2e.workdir,
        env=_env(),
        timeout=180,
    )

    assert run.returncode == 0, run.output[-3000:]
    fragments = run.fragments()
    frames = [f for f in fragments if BAR.search(f)]
    assert len(frames) >= 2, f"no progress bar was drawn: {fragments[:20]}"
    for frame in frames:
        assert not LOG_LINE.search(frame), f"a log line was written into the bar: {frame!r}"
    logged = [LOG_LINE.search(f) for f in fragments]
    events = {(m.group(2), m.group(3)) for m in logged if m is not None}
    # the warning reached the terminal, on a line of its own
    assert ("warning", "intigriti_rate_limited") in events
    # the per-item INFO chatter stayed off the terminal while the bar showed
    assert not {event for level, event in events if level == "info"} & {
        "jira_create_sending",
        "jira_issue_created",
        "issue_created",
        "field_written",
    }
    assert "created 40" in run.output


def test_a_connection_error_is_said_once_with_url_cause_and_key(e2e: E2E) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # released: nothing listens there
    e2e.rewrite_config(
        {"jira": {"url": f"http://127.0.0.1:{port}"}, "logging": {"format": "auto"}}
    )

    run = run_on_terminal(
        [sys.executable, "-m", "syncd", "--config", str(e2e.config), "run", "--reconcile"],
        cwd=e2e.workdir,
        env=_env(),
        timeout=120,
    )

    assert run.returncode == 1, run.output[-3000:]
    assert run.output.count("cannot reach Jira") == 1, run.output
    line = next(f for f in run.fragments() if "cannot reach Jira" in f)
    assert f"http://127.0.0.1:{port}" in line
    assert "connection refused" in line
    assert "check jira.url" in line
    assert "error_type" not in run.output
    assert "Traceback" not in run.output
