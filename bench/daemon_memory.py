"""Memory and CPU of the daemon over N links: its start-up sweep, then idle polls.

    python bench/daemon_memory.py --links 100000

The world of N links comes from bench/seed.py. `syncd run` starts as a subprocess with
60-second polls; the bench waits for its start-up sweep to finish (the ``sweep`` cursor's
last success in the database), then lets it poll for ``--idle`` seconds. It reports the
process's peak RSS (``VmHWM`` of /proc, Linux) over the whole run, its RSS at the end of
the idle time, the CPU seconds of the sweep, and the requests the idle polls made.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconcile_bench import requests, running_daemon
from seed import seed_world
from sqlalchemy import create_engine, text


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def sweep_finished_after(database_url: str, started: datetime) -> bool:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT last_success_at FROM cursors WHERE source = 'sweep'")
            ).first()
    finally:
        engine.dispose()
    if row is None or row[0] is None:
        return False
    value = row[0] if isinstance(row[0], datetime) else datetime.fromisoformat(str(row[0]))
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return value > started


def bench(links: int, idle_seconds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        database_url = f"sqlite:///{workdir / 'syncd.db'}"
        world, config = seed_world(
            workdir,
            links,
            database_url=database_url,
            write_rate=200,
            read_rate=600,
            overrides={"jira": {"requests_per_minute": 60000}},
        )
        try:
            started = datetime.now(UTC)
            with running_daemon(config, workdir / "daemon.log") as daemon:
                began = time.monotonic()
                while not sweep_finished_after(database_url, started):
                    if daemon.poll() is not None:
                        raise SystemExit(f"syncd exited with {daemon.returncode}")
                    if time.monotonic() - began > 3600:
                        raise SystemExit("the start-up sweep did not finish within an hour")
                    time.sleep(1.0)
                sweep_wall = time.monotonic() - began
                sweep_cpu = cpu_seconds(daemon.pid)
                peak_after_sweep = status_kib(daemon.pid, "VmHWM")
                world.intigriti.control.reset_counters()
                world.jira.control.reset_counters()
                time.sleep(idle_seconds)
                idle_rss = status_kib(daemon.pid, "VmRSS")
                peak = status_kib(daemon.pid, "VmHWM")
                idle_cpu = cpu_seconds(daemon.pid) - sweep_cpu
                idle_requests = requests(world)
            return {
                "links": links,
                "start-up sweep wall seconds": round(sweep_wall, 1),
                "start-up (imports, checks) and sweep CPU seconds": round(sweep_cpu, 1),
                "peak RSS MiB (VmHWM) after the sweep": round(peak_after_sweep / 1024, 1),
                "peak RSS MiB over the run": round(peak / 1024, 1),
                f"RSS MiB after {idle_seconds} s idle": round(idle_rss / 1024, 1),
                f"CPU seconds over {idle_seconds} s idle": round(idle_cpu, 2),
                "idle requests": sum(idle_requests.values()),
                "idle request detail": idle_requests,
            }
        finally:
            world.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=100000)
    parser.add_argument("--idle", type=int, default=130, help="seconds of idle polling")
    args = parser.parse_args()
    result = bench(args.links, args.idle)
    print("| measure | value |\n| --- | --- |")
    for key, value in result.items():
        print(f"| {key} | {value} |")


if __name__ == "__main__":
    main()
