"""`syncd demo`, the newcomer's first command, runs end to end without configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_backfills_and_propagates_edits(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    result = subprocess.run(
        [sys.executable, "-m", "syncd", "demo", "--duration", "60"],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # no config.toml here: the demo needs none
        env=env,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "created 24 Jira issues" in out
    assert "severity -> Jira" in out  # an Intigriti edit reached Jira
    assert "status -> Intigriti" in out  # a Jira edit reached Intigriti
    # the conversation: a message became a comment, a marked comment reached the researcher
    assert "conversation -> Jira: - => public comment" in out
    assert "conversation -> Intigriti: - => external message" in out
    assert "links: 2" in out  # the closing status report
    assert "demo finished" in out
    assert list(tmp_path.iterdir()) == []  # it cleaned up after itself
