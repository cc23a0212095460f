"""Several syncd processes on one database: the scenarios and what they must not do.

Shared by tests/e2e/test_concurrency.py (each scenario once per database) and
bench/concurrency.py (each scenario many times, figures for RELIABILITY.md). The
simulators run in this process, syncd as real subprocesses. While the processes run, a
sampler reads the Jira simulator every 100 ms, so a duplicate that existed only for a
moment is counted too. Afterwards the simulators' write journals and the audit log show
whether any write was applied twice.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import E2E, wait_for
from sqlalchemy.exc import SQLAlchemyError

SCENARIOS = ("daemon+reconcile", "two-reconciles", "three-daemons")
#: the daemon's polls in these scenarios; takeover must happen within two of them
POLL_SECONDS = 2.0


def seed_fresh(e2e: E2E, count: int) -> list[str]:
    """New submissions in the statuses that get an issue; a third need a transition."""
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


def concurrency_config(e2e: E2E, **sync: Any) -> None:
    """Fast polls, no periodic sweep beyond the one at start, a settle window well above
    the Jira search lag (a lookup must be able to see an issue created before it)."""
    settings: dict[str, Any] = {
        "poll_interval_seconds": POLL_SECONDS,
        "jira_poll_interval_seconds": POLL_SECONDS,
        "full_sweep_interval_seconds": 3600,
        "create_settle_seconds": 6,
        "instance_timeout_seconds": 6,
        "reconcile_wait_seconds": 60,
    }
    settings.update(sync)
    e2e.rewrite_config({"sync": settings})


class DuplicateSampler:
    """Reads the Jira simulator in a loop; remembers the most issues one tag ever had."""

    def __init__(self, e2e: E2E, interval: float = 0.1) -> None:
        self.e2e = e2e
        self.interval = interval
        self.worst: Counter[str] = Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> DuplicateSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.sample()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        counts = self.e2e.issues_per_submission()
        self.samples += 1
        for code, count in counts.items():
            if count > self.worst[code]:
                self.worst[code] = count

    @property
    def duplicated(self) -> dict[str, int]:
        return {code: count for code, count in self.worst.items() if count > 1}


@dataclass
class Outcome:
    scenario: str
    database: str
    submissions: int
    seconds: float
    exit_codes: list[int]
    samples: int
    #: submissions that had more than one issue at any sampled moment
    duplicated: dict[str, int]
    #: submissions without a linked issue and internal reference at the end
    unlinked: list[str]
    #: mutating requests served twice for one item where once was the whole job
    double_writes: dict[str, int]
    #: audit rows of one successful write recorded twice
    double_audit: dict[str, int]
    creates: int
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.duplicated or self.unlinked or self.double_writes or self.double_audit)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "clean": self.clean}


_REFERENCE = re.compile(r"/submissions/([^/]+)/internal-reference$")
_STATE_OR_SEVERITY = re.compile(r"/submissions/([^/]+)/(state|severity)$")
_TRANSITION = re.compile(r"/issue/([^/]+)/transitions$")
_ISSUE_EDIT = re.compile(r"/issue/([^/]+)$")


def double_writes(e2e: E2E) -> dict[str, int]:
    """Per item, the writes a fresh backfill makes once, served more than once.

    For new submissions nobody edits, syncd makes exactly: one create per submission, one
    internal-reference write back to Intigriti, at most one transition (Accepted: To Do
    to In Progress), no severity, state or priority edits. Anything beyond is a write
    applied twice.
    """
    found: Counter[str] = Counter()
    for entry in e2e.world.intigriti.control.journal():
        if entry["status"] >= 300:
            continue
        path = str(entry["path"])
        if (match := _REFERENCE.search(path)) is not None:
            found[f"internal-reference {match.group(1)}"] += 1
        elif (match := _STATE_OR_SEVERITY.search(path)) is not None:
            found[f"{match.group(2)} {match.group(1)}"] += 2  # none expected at all
    for entry in e2e.world.jira.control.journal():
        if entry["status"] >= 300:
            continue
        path = str(entry["path"])
        if entry["method"] == "POST" and (match := _TRANSITION.search(path)) is not None:
            found[f"transition {match.group(1)}"] += 1
        elif entry["method"] == "PUT" and (match := _ISSUE_EDIT.search(path)) is not None:
            found[f"edit {match.group(1)}"] += 2  # none expected at all
    return {item: count for item, count in found.items() if count > 1}


def double_audit(e2e: E2E) -> dict[str, int]:
    rows = e2e.query(
        "SELECT submission_code, field, direction, new_value FROM audit_log"
        " WHERE outcome LIKE 'ok%'"
    )
    counts = Counter(
        f"{r['submission_code']} {r['field']} {r['direction']} {r['new_value']}" for r in rows
    )
    return {row: count for row, count in counts.items() if count > 1}


def unlinked(e2e: E2E, codes: list[str]) -> list[str]:
    links = {
        row["submission_code"]: row["issue_key"]
        for row in e2e.query("SELECT submission_code, issue_key FROM links WHERE state = 'linked'")
    }
    missing = []
    for code in codes:
        key = links.get(code)
        if key is None or e2e.submission(code).get("internalReference") != key:
            missing.append(code)
    return missing


def creates(e2e: E2E) -> int:
    return sum(
        1
        for entry in e2e.world.jira.control.journal()
        if entry["method"] == "POST" and str(entry["path"]).endswith("/issue")
        and entry["status"] < 300
    )


def all_linked(e2e: E2E, codes: list[str]) -> Callable[[], bool]:
    def check() -> bool:
        try:
            rows = e2e.query(
                "SELECT count(*) AS n FROM links WHERE state = 'linked'"
                " AND base_internal_reference IS NOT NULL"
            )
        except SQLAlchemyError:
            return False  # the processes have not created the schema yet
        return int(rows[0]["n"]) >= len(codes)

    return check


def stop_all(processes: list[subprocess.Popen[str]]) -> list[int]:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    codes = []
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        codes.append(process.returncode)
    return codes


def log_events(path: Path) -> list[dict[str, Any]]:
    events = []
    for line in path.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def run_scenario(e2e: E2E, scenario: str, *, submissions: int = 100) -> Outcome:
    """One scenario over ``submissions`` fresh submissions, start to converged."""
    codes = seed_fresh(e2e, submissions)
    concurrency_config(e2e)
    e2e.reset_counters()
    e2e.world.intigriti.control.reset_counters()
    started = time.monotonic()
    daemons: list[subprocess.Popen[str]] = []
    exit_codes: list[int] = []
    notes: list[str] = []
    with DuplicateSampler(e2e) as sampler:
        try:
            if scenario == "daemon+reconcile":
                daemons.append(e2e.popen("run", log=e2e.workdir / "daemon-0.log"))
                one_shot = e2e.popen("run", "--reconcile", log=e2e.workdir / "oneshot-0.log")
                exit_codes.append(one_shot.wait(timeout=300))
            elif scenario == "two-reconciles":
                shots = [
                    e2e.popen("run", "--reconcile", log=e2e.workdir / f"oneshot-{n}.log")
                    for n in range(2)
                ]
                exit_codes.extend(shot.wait(timeout=300) for shot in shots)
            elif scenario == "three-daemons":
                daemons.extend(
                    e2e.popen("run", log=e2e.workdir / f"daemon-{n}.log") for n in range(3)
                )
            else:
                raise ValueError(f"unknown scenario {scenario!r}")
            wait_for(all_linked(e2e, codes), timeout=240, what="every submission linked")
            if daemons:
                # let the polls see the echo of the last writes: nothing more may happen
                time.sleep(2 * POLL_SECONDS)
        finally:
            exit_codes.extend(stop_all(daemons))
    if scenario == "three-daemons":
        active = [
            n
            for n in range(3)
            if any(
                e.get("event") == "leader_lease_acquired"
                for e in log_events(e2e.workdir / f"daemon-{n}.log")
            )
        ]
        notes.append(f"daemons that ever led: {active}")
    return Outcome(
        scenario=scenario,
        database=e2e.database_url.split(":", 1)[0].split("+", 1)[0],
        submissions=submissions,
        seconds=round(time.monotonic() - started, 1),
        exit_codes=exit_codes,
        samples=sampler.samples,
        duplicated=sampler.duplicated,
        unlinked=unlinked(e2e, codes),
        double_writes=double_writes(e2e),
        double_audit=double_audit(e2e),
        creates=creates(e2e),
        notes=notes,
    )
