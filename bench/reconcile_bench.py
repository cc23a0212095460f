"""Benchmarks of the reconciler against both simulators (loopback, real HTTP).

    python bench/reconcile_bench.py backfill --submissions 1000 --write-rate 200
    python bench/reconcile_bench.py idle --links 1000
    python bench/reconcile_bench.py resources --links 10000

* ``backfill``: `syncd run --reconcile` on N new submissions at the given Intigriti write
  quota; reports the time taken against the least time the quota allows (one internal
  reference write per submission: N / rate minutes), and the requests made.
* ``idle``: N links, nothing changed for an hour, one Intigriti poll and one Jira poll of
  the daemon's engine; reports the requests each cost. Then one issue is closed in Jira:
  the requests of the Jira poll that carries it to Intigriti, and of the Intigriti poll
  after it (which sees syncd's own write come back).
* ``resources``: CPU seconds and peak memory (max RSS) of the `syncd run --reconcile`
  process for a steady-state pass over N links. (The backfill's own cost: ``backfill``.)

``idle`` and ``resources`` build their world of N links with bench/seed.py (a real
backfill of a few templates, cloned N times: 100,000 links in seconds, not the hour a real
backfill of them would take); ``backfill`` seeds N new submissions and backfills them.

The simulators run in this process; syncd runs as a subprocess (its CPU and memory are
measured alone) except for ``idle``, which drives the engine in-process to count one
cycle exactly. Numbers go to stdout as a markdown table; bench/RESULTS.md keeps them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from seed import seed_world

from syncd.logging import configure_logging
from syncd.settings import load_settings
from syncd.simulators.world import World, start_world
from syncd.store.instances import new_instance_id
from syncd.wiring import build_runtime, claim_terms, open_repository

OPEN_STATUSES = ("Triage", "Pending", "Accepted")
SEVERITIES = ("Low", "Medium", "High", "Critical", "Exceptional")


def seed(world: World, count: int) -> None:
    control = world.intigriti.control
    program = world.programs[0]
    for n in range(count):
        control.seed_submission(program, status=OPEN_STATUSES[n % 3], severity=SEVERITIES[n % 5])


# A wrapper process per run, so getrusage(RUSAGE_CHILDREN) sees exactly one syncd process.
_WRAPPER = """
import json, resource, subprocess, sys
code = subprocess.call([sys.executable, "-m", "syncd", *sys.argv[1:]])
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"code": code, "cpu": usage.ru_utime + usage.ru_stime,
                  "maxrss_kib": usage.ru_maxrss}), file=sys.stderr)
"""


@contextlib.contextmanager
def running_daemon(config: Path, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`syncd run` as a subprocess (its output to ``log_path``), stopped by SIGTERM."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    with log_path.open("w") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "syncd", "--config", str(config), "run"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            yield daemon
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=120)


def syncd(config: Path, *args: str) -> tuple[str, float, float, int]:
    """Run syncd; returns its stdout, wall seconds, CPU seconds and peak RSS (KiB)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", _WRAPPER, "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    wall = time.monotonic() - started
    usage = json.loads(result.stderr.strip().splitlines()[-1])
    if usage["code"] != 0:
        raise SystemExit(f"syncd failed ({usage['code']}):\n{result.stderr[-3000:]}")
    return result.stdout, wall, float(usage["cpu"]), int(usage["maxrss_kib"])


def requests(world: World) -> dict[str, int]:
    intigriti: Counter[str] = Counter()
    for row in world.intigriti.control.counters():
        intigriti[f"intigriti {row['method']} {row['route']}"] += row["count"]
    jira = Counter({f"jira {route}": n for route, n in world.jira.control.counters().items()})
    return dict(sorted((intigriti + jira).items()))


def make_world(workdir: Path, *, write_rate: int, read_rate: int = 600) -> tuple[World, Path]:
    world = start_world(
        programs=1, read_rate_per_minute=read_rate, write_rate_per_minute=write_rate
    )
    config = world.write_config(
        workdir / "config.toml",
        f"sqlite:///{workdir / 'syncd.db'}",
        overrides={
            "jira": {"requests_per_minute": 60000},
            "logging": {"level": "warning", "format": "json"},
        },
    )
    return world, config


def bench_backfill(submissions: int, write_rate: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        world, config = make_world(Path(tmp), write_rate=write_rate)
        try:
            seed(world, submissions)
            world.intigriti.control.reset_counters()
            world.jira.control.reset_counters()
            _result, wall, cpu, rss = syncd(config, "run", "--reconcile")
            floor = submissions / write_rate * 60
            counts = requests(world)
            intigriti_writes = sum(n for k, n in counts.items() if k.startswith("intigriti PUT"))
            rows = world.intigriti.control.counters()
            api_reads = [r for r in rows if r["method"] == "GET"]
            detail_reads = sum(
                r["count"] for r in api_reads if r["route"] == "/submissions/{submissionCode}"
            )
            created = sum(
                n for k, n in counts.items() if k.startswith("jira POST") and k.endswith("/issue")
            )
            return {
                "submissions": submissions,
                "write quota per minute": write_rate,
                "seconds": round(wall, 1),
                "seconds the write quota allows at best": round(floor, 1),
                "ratio (time / quota floor)": round(wall / floor, 3),
                "Intigriti writes": intigriti_writes,
                "Intigriti reads": sum(r["count"] for r in api_reads),
                "detail reads per created issue": round(detail_reads / max(created, 1), 2),
                "Intigriti 429s": sum(r["count"] for r in rows if r["status"] == 429),
                "cpu seconds": round(cpu, 1),
                "peak RSS MiB": round(rss / 1024, 1),
            }
        finally:
            world.stop()


def bench_idle(links: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        # a quiet hour: the seeded world's timestamps on both sides are an hour old
        world, config = seed_world(Path(tmp), links, write_rate=60000, read_rate=60000)
        try:
            configure_logging("warning", "json")
            settings = load_settings(str(config))
            repository = open_repository(settings, upgrade=True)
            # the polls of a quiet world claim nothing: no running Presence is needed
            runtime = build_runtime(
                settings, repository, claims=claim_terms(settings, new_instance_id())
            )
            try:
                # one poll each first (the engine's one-time start-up reads), then measure
                runtime.engine.poll_intigriti()
                runtime.engine.poll_jira()
                world.intigriti.control.reset_counters()
                world.jira.control.reset_counters()
                runtime.engine.poll_intigriti()
                intigriti = requests(world)
                world.intigriti.control.reset_counters()
                world.jira.control.reset_counters()
                runtime.engine.poll_jira()
                jira = requests(world)
                # then a human closes one issue in Jira: what carrying it to Intigriti
                # costs (the Jira poll that finds it, and the Intigriti poll that then
                # sees syncd's own write come back)
                key = str(world.jira.control.issues()[0]["key"])
                world.jira.control.set_status(key, "Done", resolution="Done")
                world.intigriti.control.reset_counters()
                world.jira.control.reset_counters()
                moved = runtime.engine.poll_jira()
                propagation = requests(world)
                world.intigriti.control.reset_counters()
                world.jira.control.reset_counters()
                runtime.engine.poll_intigriti()
                echo = requests(world)
            finally:
                runtime.close()
            return {
                "links": links,
                "Intigriti poll requests": sum(intigriti.values()),
                "Intigriti poll detail": intigriti,
                "Jira poll requests": sum(jira.values()),
                "Jira poll detail": jira,
                "Jira status change: writes": dict(moved.writes),
                "Jira status change: Jira poll requests": propagation,
                "Jira status change: next Intigriti poll requests": echo,
            }
        finally:
            world.stop()


def bench_resources(links: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        world, config = seed_world(Path(tmp), links, write_rate=60000, read_rate=60000)
        seeding = time.monotonic() - started
        try:
            world.intigriti.control.reset_counters()
            world.jira.control.reset_counters()
            _r, wall, cpu, rss = syncd(config, "run", "--reconcile")
            steady = requests(world)
            return {
                "links": links,
                "seeding seconds (bench/seed.py)": round(seeding, 1),
                "steady pass wall seconds": round(wall, 1),
                "steady pass cpu seconds": round(cpu, 1),
                "steady pass peak RSS MiB": round(rss / 1024, 1),
                "steady pass requests": sum(steady.values()),
                "steady pass detail": steady,
            }
        finally:
            world.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    backfill = commands.add_parser("backfill")
    backfill.add_argument("--submissions", type=int, default=1000)
    backfill.add_argument("--write-rate", type=int, default=200)
    idle = commands.add_parser("idle")
    idle.add_argument("--links", type=int, default=1000)
    resources = commands.add_parser("resources")
    resources.add_argument("--links", type=int, default=10000)
    args = parser.parse_args()
    if args.command == "backfill":
        result = bench_backfill(args.submissions, args.write_rate)
    elif args.command == "idle":
        result = bench_idle(args.links)
    else:
        result = bench_resources(args.links)
    print("| measure | value |\n| --- | --- |")
    for key, value in result.items():
        print(f"| {key} | {value} |")


if __name__ == "__main__":
    main()
