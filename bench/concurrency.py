"""Several syncd processes on one database, many times over: the figures in RELIABILITY.md.

    python bench/concurrency.py --runs 20                      # SQLite only
    python bench/concurrency.py --runs 20 \\
        --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test

Each run: a fresh pair of simulators (Jira search lagging 2 s behind writes), 100 fresh
submissions, and one of the scenarios of tests/e2e/concurrency.py run as real `syncd`
processes: a daemon with a one-shot `run --reconcile` beside it; two one-shots at once;
three daemons started at once. While they run, the Jira simulator is sampled every
100 ms for submissions with two issues; afterwards the simulators' write journals and the
audit log are checked for writes applied twice, and every submission must be linked.

With --takeover, also: two daemons on PostgreSQL, the leader killed with SIGKILL (or its
database session terminated) mid-backfill; the time until the standby leads is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from concurrency import SCENARIOS, run_scenario  # noqa: E402
from harness import e2e_world  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402


@contextmanager
def database(kind: str, postgres: str | None, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'syncd.db'}"
        return
    assert postgres is not None
    url = make_url(postgres)
    name = f"syncd_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def one_run(kind: str, scenario: str, postgres: str | None, submissions: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="syncd-conc-") as tmp:
        workdir = Path(tmp)
        with database(kind, postgres, workdir) as url:
            for e2e in e2e_world(workdir, url, search_lag_seconds=2.0):
                return run_scenario(e2e, scenario, submissions=submissions).as_dict()
    raise AssertionError("unreachable")


def takeover_run(postgres: str, how: str) -> dict[str, Any]:
    from concurrency import all_linked, double_audit, stop_all, unlinked
    from harness import wait_for
    from test_concurrency import (  # the same steps as the end-to-end test
        _acquired,
        _acquired_at,
        _leader,
        _terminate_leader_session,
        _two_daemons_mid_backfill,
    )

    with tempfile.TemporaryDirectory(prefix="syncd-takeover-") as tmp:
        workdir = Path(tmp)
        with database("postgresql", postgres, workdir) as url:
            for e2e in e2e_world(workdir, url, search_lag_seconds=2.0):
                codes, logs, daemons = _two_daemons_mid_backfill(e2e, 100)
                leader = _leader(e2e, logs)
                standby_log = logs[1 - leader]
                cut_at = time.time()
                if how == "kill-9":
                    os.kill(daemons[leader].pid, signal.SIGKILL)
                else:
                    _terminate_leader_session(url)
                wait_for(
                    lambda log=standby_log: _acquired(log), timeout=60, what="takeover"
                )
                took_over = (_acquired_at(standby_log) or cut_at) - cut_at
                wait_for(all_linked(e2e, codes), timeout=240, what="the backfill")
                stop_all(daemons)
                per = e2e.issues_per_submission()
                return {
                    "scenario": f"takeover after {how}",
                    "database": "postgresql",
                    "takeover_seconds": round(took_over, 2),
                    "duplicated": {c: n for c, n in per.items() if n > 1},
                    "unlinked": unlinked(e2e, codes),
                    "double_audit": double_audit(e2e),
                }
    raise AssertionError("unreachable")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--submissions", type=int, default=100)
    parser.add_argument("--postgres", default=os.environ.get("SYNCD_TEST_POSTGRES_URL"))
    parser.add_argument("--scenario", choices=SCENARIOS, action="append")
    parser.add_argument("--takeover", type=int, default=0, help="takeover runs of each kind")
    parser.add_argument("--jsonl", type=Path, help="append every run's result to this file")
    args = parser.parse_args()
    kinds = ["sqlite"] + (["postgresql"] if args.postgres else [])
    table: list[dict[str, Any]] = []
    for kind in kinds:
        for scenario in args.scenario or SCENARIOS:
            results = []
            for run in range(args.runs):
                result = one_run(kind, scenario, args.postgres, args.submissions)
                results.append(result)
                print(json.dumps({"run": run, **result}), file=sys.stderr, flush=True)
                if args.jsonl:
                    with args.jsonl.open("a") as handle:
                        handle.write(json.dumps(result) + "\n")
            table.append(
                {
                    "database": kind,
                    "scenario": scenario,
                    "runs": len(results),
                    "clean": sum(1 for r in results if r["clean"]),
                    "duplicated": sum(len(r["duplicated"]) for r in results),
                    "double_writes": sum(len(r["double_writes"]) for r in results),
                    "double_audit": sum(len(r["double_audit"]) for r in results),
                    "unlinked": sum(len(r["unlinked"]) for r in results),
                    "creates": sum(r["creates"] for r in results),
                    "samples": sum(r["samples"] for r in results),
                    "seconds": round(sum(r["seconds"] for r in results) / len(results), 1),
                }
            )
    print(
        "| database | scenario | runs | clean | submissions with 2 issues (sampled) |"
        " double writes | double audit rows | unlinked | creates | samples | s/run |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in table:
        print(
            f"| {row['database']} | {row['scenario']} | {row['runs']} | {row['clean']} |"
            f" {row['duplicated']} | {row['double_writes']} | {row['double_audit']} |"
            f" {row['unlinked']} | {row['creates']} | {row['samples']} | {row['seconds']} |"
        )
    if args.takeover and args.postgres:
        print("\n| takeover | runs | seconds (max) | duplicated | unlinked | double audit |")
        print("|---|---|---|---|---|---|")
        for how in ("kill-9", "pg_terminate_backend"):
            runs = [takeover_run(args.postgres, how) for _ in range(args.takeover)]
            for result in runs:
                print(json.dumps(result), file=sys.stderr, flush=True)
            print(
                f"| {how} | {len(runs)} | {max(r['takeover_seconds'] for r in runs)} |"
                f" {sum(len(r['duplicated']) for r in runs)} |"
                f" {sum(len(r['unlinked']) for r in runs)} |"
                f" {sum(len(r['double_audit']) for r in runs)} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
