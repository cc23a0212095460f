"""The test suite's own set-up, as a contributor meets it: PostgreSQL URLs that do not work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

REPO = Path(__file__).parents[2]


def run_postgres_tests(url: str, *, require: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    env["SYNCD_TEST_POSTGRES_URL"] = url
    if require:
        env["SYNCD_REQUIRE_POSTGRES"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "postgres",
         "tests/contract/test_store.py"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.mark.postgres
def test_a_missing_database_skips_with_the_createdb_hint(postgres_server: str) -> None:
    missing = make_url(postgres_server).set(database="syncd_absent_test_db")
    url = missing.render_as_string(hide_password=False)

    skipped = run_postgres_tests(url, require=False)
    assert skipped.returncode == 0, skipped.stdout[-3000:]
    assert "skipped" in skipped.stdout
    assert "error" not in skipped.stdout.splitlines()[-1]
    assert "createdb" in skipped.stdout and "syncd_absent_test_db" in skipped.stdout

    required = run_postgres_tests(url, require=True)
    assert required.returncode == 1  # where PostgreSQL is required (CI), it fails instead
    assert "createdb" in required.stdout
