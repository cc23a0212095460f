"""Webhooks against polling: propagation latency, and a flood of deliveries.

    python bench/webhooks_bench.py latency --changes 100
    python bench/webhooks_bench.py flood --deliveries 10000

* ``latency``: 100 human edits on each side (Intigriti severity, Jira priority), half a
  second apart, against a running daemon at the real Intigriti quotas (600 reads, 200
  writes a minute) and the default 60-second polls; once with both simulators sending
  their signed webhooks, once polling only. For each edit, the time from the edit to
  syncd's write on the other side, read from the simulators' write journals. Quota waits
  are excluded by pacing the edits well under the write quota.
* ``flood``: 10,000 signed Intigriti deliveries, naming 100 submissions at random, posted
  by 8 threads as fast as the daemon answers; reports the answers, how many targeted
  reconciles ran, the Intigriti requests and 429s during the flood, the polls that kept
  running, and the daemon's peak and final RSS.

The simulators run in this process; the daemon is a `syncd run` subprocess. Numbers go
to stdout as markdown; bench/RESULTS.md keeps them.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from syncd.simulators.world import World, start_world

SECRET = "bench-webhook-secret-0123456789"
SEVERITIES = ("Low", "Medium", "High", "Critical", "Exceptional")


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _world(workdir: Path, *, webhooks: bool, poll: float) -> tuple[World, Path, str]:
    world = start_world(programs=1, read_rate_per_minute=600, write_rate_per_minute=200)
    port = _port()
    overrides: dict[str, dict[str, Any]] = {
        "jira": {"requests_per_minute": 60000},
        "logging": {"level": "warning", "format": "json"},
        "sync": {
            "poll_interval_seconds": poll,
            "jira_poll_interval_seconds": poll,
            "full_sweep_interval_seconds": 6 * 3600,
        },
        "http": {"listen": f"127.0.0.1:{port}"},
    }
    if webhooks:
        overrides["intigriti"] = {"webhook_secret": SECRET}
        overrides["jira"]["webhook_secret"] = SECRET
    config = world.write_config(
        workdir / "config.toml", f"sqlite:///{workdir / 'syncd.db'}", overrides=overrides
    )
    return world, config, f"http://127.0.0.1:{port}"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}


def _reconcile(config: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "syncd", "--config", str(config), "run", "--reconcile"],
        env=_env(),
        check=True,
        capture_output=True,
    )


def _daemon(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("w") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "syncd", "--config", str(config), "run"],
            env=_env(),
            stdout=sink,
            stderr=sink,
        )


def _wait_ready(base: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the daemon did not become ready")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _latency_run(changes: int, *, webhooks: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        world, config, base = _world(workdir, webhooks=webhooks, poll=60)
        try:
            control = world.intigriti.control
            program = world.programs[0]
            codes = [
                str(control.seed_submission(program, status="Triage", severity="Medium")["code"])
                for _ in range(2 * changes)
            ]
            _reconcile(config)
            keys = {c: str(control.submission(c)["internalReference"]) for c in codes}
            ids = {c: str(world.jira.control.issue(keys[c])["id"]) for c in codes}
            daemon = _daemon(config, workdir / "daemon.log")
            try:
                _wait_ready(base)
                if webhooks:
                    control.configure_webhook(f"{base}/webhooks/intigriti", SECRET)
                    world.jira.control.configure_webhook(f"{base}/webhooks/jira", SECRET)
                time.sleep(2)
                edits: list[tuple[str, str, float]] = []  # (side edited, code, at)
                for n in range(changes):
                    code = codes[n]
                    edits.append(("intigriti", code, time.time()))
                    control.edit_submission(code, severity="Critical")
                    time.sleep(0.25)
                    other = codes[changes + n]
                    edits.append(("jira", other, time.time()))
                    world.jira.control.set_priority(keys[other], "Lowest")
                    time.sleep(0.25)
                deadline = time.monotonic() + 240
                while time.monotonic() < deadline:
                    jira_done = all(
                        world.jira.control.issue(keys[c])["priority"] == "Highest"
                        for c in codes[:changes]
                    )
                    intigriti_done = all(
                        control.submission(c)["severity"] == "Low" for c in codes[changes:]
                    )
                    if jira_done and intigriti_done:
                        break
                    time.sleep(1)
            finally:
                _stop(daemon)
            jira_writes = world.jira.control.journal()
            intigriti_writes = control.journal()
            latencies: dict[str, list[float]] = {"intigriti": [], "jira": []}
            missing = 0
            for side, code, at in edits:
                if side == "intigriti":  # syncd writes the Jira issue
                    mark = f"/issue/{ids[code]}"
                    journal = jira_writes
                else:  # syncd writes the Intigriti submission's severity
                    mark = f"/submissions/{code}/severity"
                    journal = intigriti_writes
                hits = [e["at"] for e in journal if e["at"] >= at and e["path"].endswith(mark)]
                if hits:
                    latencies[side].append(min(hits) - at)
                else:
                    missing += 1
            every = latencies["intigriti"] + latencies["jira"]
            row: dict[str, Any] = {
                "mode": "webhooks" if webhooks else "polling only (60 s)",
                "edits": len(edits),
                "propagated": len(every),
                "not propagated within 4 min": missing,
            }
            for side, label in (("intigriti", "Intigriti→Jira"), ("jira", "Jira→Intigriti")):
                values = latencies[side]
                if values:
                    row[f"{label} p50 s"] = round(statistics.median(values), 2)
                    row[f"{label} p99 s"] = round(_percentile(values, 0.99), 2)
            if every:
                row["all p50 s"] = round(statistics.median(every), 2)
                row["all p99 s"] = round(_percentile(every, 0.99), 2)
            return row
        finally:
            world.stop()


def bench_latency(changes: int) -> list[dict[str, Any]]:
    return [_latency_run(changes, webhooks=True), _latency_run(changes, webhooks=False)]


def _signed(payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    digest = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest())
    return body, {
        "content-type": "application/json",
        "x-intigriti-event": "SubmissionSeverityChanged",
        "x-intigriti-digest": digest.decode(),
    }


def _rss_kib(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) of a process, in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            fields[name] = int(value.split()[0])
    return fields["VmHWM"], fields["VmRSS"]


def _cycles(base: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in httpx.get(f"{base}/metrics", timeout=5).text.splitlines():
        if line.startswith("syncd_cycles_total{") and 'outcome="ok"' in line:
            cycle = line.split('cycle="', 1)[1].split('"', 1)[0]
            counts[cycle] = int(float(line.rsplit(" ", 1)[1]))
    return counts


def bench_flood(deliveries: int, submissions: int = 100, threads: int = 8) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        world, config, base = _world(workdir, webhooks=True, poll=5)
        try:
            control = world.intigriti.control
            program = world.programs[0]
            codes = [
                str(control.seed_submission(program, status="Triage", severity="Medium")["code"])
                for _ in range(submissions)
            ]
            _reconcile(config)
            daemon = _daemon(config, workdir / "daemon.log")
            try:
                _wait_ready(base)
                time.sleep(6)
                hwm_before, rss_before = _rss_kib(daemon.pid)
                control.reset_counters()
                polls_before = _cycles(base)
                answers: Counter[int] = Counter()
                lock = threading.Lock()
                rng = random.Random(7)
                plan = [rng.choice(codes) for _ in range(deliveries)]

                def post(part: list[str], worker: int) -> None:
                    with httpx.Client(timeout=30) as client:
                        for n, code in enumerate(part):
                            body, headers = _signed(
                                {
                                    "programId": program,
                                    "submissionCode": code,
                                    "createdAt": int(time.time()),
                                    "nonce": f"{worker}-{n}",  # every delivery distinct
                                }
                            )
                            status = client.post(
                                f"{base}/webhooks/intigriti", content=body, headers=headers
                            ).status_code
                            with lock:
                                answers[status] += 1

                started = time.monotonic()
                workers = [
                    threading.Thread(target=post, args=(plan[i::threads], i))
                    for i in range(threads)
                ]
                for worker in workers:
                    worker.start()
                for worker in workers:
                    worker.join()
                flood_seconds = time.monotonic() - started
                time.sleep(10)  # the queue drains
                polls_after = _cycles(base)
                hwm_after, rss_after = _rss_kib(daemon.pid)
                metrics = httpx.get(f"{base}/metrics", timeout=5).text
            finally:
                _stop(daemon)
            rows = control.counters()
            reads = sum(r["count"] for r in rows if r["method"] == "GET")
            throttled = sum(r["count"] for r in rows if r["status"] == 429)
            reconciled = sum(
                float(line.rsplit(" ", 1)[1])
                for line in metrics.splitlines()
                if line.startswith('syncd_cycles_total{cycle="webhook"')
            )
            minutes = (flood_seconds + 10) / 60
            return {
                "deliveries": deliveries,
                "distinct submissions": submissions,
                "flood seconds": round(flood_seconds, 1),
                "answers": dict(sorted(answers.items())),
                "targeted reconciles": int(reconciled),
                "Intigriti reads during flood + drain": reads,
                "reads per minute (quota 600)": round(reads / minutes, 1),
                "Intigriti 429s": throttled,
                "polls during flood + drain (5 s interval)": {
                    cycle: polls_after[cycle] - polls_before[cycle]
                    for cycle in ("poll_intigriti", "poll_jira")
                },
                "daemon RSS before MiB": round(rss_before / 1024, 1),
                "daemon peak RSS MiB (before, after)": (
                    round(hwm_before / 1024, 1),
                    round(hwm_after / 1024, 1),
                ),
                "daemon RSS after MiB": round(rss_after / 1024, 1),
            }
        finally:
            world.stop()


def _table(rows: list[dict[str, Any]]) -> str:
    keys = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(row.get(k, "")) for k in keys) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    latency = commands.add_parser("latency")
    latency.add_argument("--changes", type=int, default=100)
    flood = commands.add_parser("flood")
    flood.add_argument("--deliveries", type=int, default=10000)
    args = parser.parse_args()
    if args.command == "latency":
        print(_table(bench_latency(args.changes)))
    else:
        print(_table([bench_flood(args.deliveries)]))


if __name__ == "__main__":
    main()
