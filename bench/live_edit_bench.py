"""A live edit while the daemon backfills: how long until it reaches Jira?

    python bench/live_edit_bench.py --backfill 2000 --write-rate 200 --poll 60

A few submissions are linked first; then ``--backfill`` new submissions appear and the
daemon (`syncd run`, a subprocess, at the real Intigriti quotas) starts on them: its
start-up sweep creates their issues at the write quota. Once the sweep has linked a
handful, an Intigriti severity edit is made on an already linked submission, and the
bench waits for the new priority on its Jira issue. It reports the latency in seconds and
in poll intervals, and how many of the backfill's submissions were linked when the edit
landed (the edit must not wait for the backfill: far fewer than all of them).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from reconcile_bench import OPEN_STATUSES, SEVERITIES, running_daemon, syncd

from syncd.simulators.world import start_world


def seed(world: Any, count: int) -> list[str]:
    control = world.intigriti.control
    program = world.programs[0]
    return [
        str(
            control.seed_submission(
                program, status=OPEN_STATUSES[n % 3], severity=SEVERITIES[1 + n % 3]
            )["code"]
        )
        for n in range(count)
    ]


def linked_count(world: Any, codes: list[str]) -> int:
    return sum(1 for c in codes if world.intigriti.control.submission(c)["internalReference"])


def wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def bench(backfill: int, write_rate: int, poll: int, linked_first: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        world = start_world(programs=1, read_rate_per_minute=600, write_rate_per_minute=write_rate)
        try:
            config = world.write_config(
                workdir / "config.toml",
                f"sqlite:///{workdir / 'syncd.db'}",
                overrides={
                    "intigriti": {"write_rate_per_minute": write_rate},
                    "sync": {"poll_interval_seconds": poll, "jira_poll_interval_seconds": poll},
                    "logging": {"level": "warning", "format": "json"},
                },
            )
            first = seed(world, linked_first)
            syncd(config, "run", "--reconcile")
            target = first[0]
            new = seed(world, backfill)
            with running_daemon(config, workdir / "daemon.log"):
                wait(lambda: linked_count(world, new) >= 20, 600, "the backfill's first issues")
                at_edit = linked_count(world, new)
                current = world.intigriti.control.submission(target)["severity"]
                wanted = "Low" if current != "Low" else "High"
                key = world.intigriti.control.submission(target)["internalReference"]
                priority_before = world.jira.control.issue(key)["priority"]
                edited = time.monotonic()
                world.intigriti.control.edit_submission(target, severity=wanted)
                wait(
                    lambda: world.jira.control.issue(key)["priority"] != priority_before,
                    10 * poll + 60,
                    "the live edit to reach Jira",
                )
                latency = time.monotonic() - edited
                at_landing = linked_count(world, new)
            return {
                "backfill submissions": backfill,
                "Intigriti write quota per minute": write_rate,
                "poll interval seconds": poll,
                "backfill linked when the edit was made": at_edit,
                "backfill linked when the edit reached Jira": at_landing,
                "edit-to-Jira seconds": round(latency, 1),
                "edit-to-Jira poll intervals": round(latency / poll, 2),
            }
        finally:
            world.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backfill", type=int, default=2000)
    parser.add_argument("--write-rate", type=int, default=200)
    parser.add_argument("--poll", type=int, default=60)
    parser.add_argument("--linked-first", type=int, default=5)
    args = parser.parse_args()
    result = bench(args.backfill, args.write_rate, args.poll, args.linked_first)
    print("| measure | value |\n| --- | --- |")
    for key, value in result.items():
        print(f"| {key} | {value} |")


if __name__ == "__main__":
    main()
