"""``syncd demo``: the whole product against the built-in simulators, narrated.

Starts both simulators on loopback with two programs and a few dozen submissions, runs a
full reconcile, then the daemon while a scripted human edits both sides. Every human edit
and every write syncd makes in response (read from the audit log) is printed as it
happens. Ends by itself after ``duration`` seconds, or on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

from syncd.daemon import Daemon
from syncd.logging import configure_logging
from syncd.presence import Presence
from syncd.settings import load_settings
from syncd.simulators.world import World, start_world
from syncd.status import gather, render_text
from syncd.store.repository import Repository
from syncd.wiring import Runtime, build_runtime, open_repository

Say = Callable[[str], None]


def _say(line: str) -> None:
    print(line, flush=True)


class _AuditPrinter:
    """Prints syncd's writes and conflicts from the audit log as they are recorded."""

    def __init__(self, repository: Repository, say: Say) -> None:
        self._repository = repository
        self._say = say
        self._last = max((e.id for e in repository.recent_audit(limit=1)), default=0)

    def flush(self) -> None:
        entries = [e for e in self._repository.recent_audit(limit=200) if e.id > self._last]
        for entry in sorted(entries, key=lambda e: e.id):
            self._last = entry.id
            if entry.outcome.startswith("conflict"):
                self._say(
                    f"  syncd  {entry.submission_code}: {entry.field} conflict "
                    f"(Intigriti {entry.old_value}, Jira {entry.new_value}) -> "
                    f"{entry.outcome.split(':', 1)[1]} wins ({entry.detail})"
                )
                continue
            arrow = {"to_jira": "-> Jira", "to_intigriti": "-> Intigriti"}.get(
                entry.direction, entry.direction
            )
            self._say(
                f"  syncd  {entry.submission_code}: {entry.field} {arrow}: "
                f"{entry.old_value or '-'} => {entry.new_value or '-'} [{entry.outcome}]"
            )


def _human_script(world: World, codes: list[str], say: Say) -> list[Callable[[], None]]:
    """Edits a triager would make, each a step of the script, each one that matters."""
    intigriti = world.intigriti.control
    jira = world.jira.control
    views = {code: intigriti.submission(code) for code in codes}
    used: set[str] = set()

    def pick(
        *, statuses: tuple[str, ...], severities: tuple[str, ...], program: int | None = None
    ) -> str:
        for code, view in views.items():
            if code in used or view["status"] not in statuses or view["severity"] not in severities:
                continue
            if program is not None and view["programId"] != world.programs[program]:
                continue
            used.add(code)
            return code
        raise RuntimeError("the demo data has no submission for this step")

    open_ = ("Triage", "Pending")
    low = pick(statuses=open_, severities=("Low", "Medium"))
    to_accept = pick(statuses=open_, severities=("Low", "Medium", "High"))
    high = pick(statuses=open_, severities=("High", "Critical", "Exceptional"))
    accepted = pick(statuses=("Accepted",), severities=tuple(views[c]["severity"] for c in codes))
    in_sec = pick(statuses=open_, severities=("Low", "Medium", "High"), program=0)
    medium = pick(statuses=open_, severities=("Medium",))

    def key_of(code: str) -> str:
        return str(intigriti.submission(code)["internalReference"])

    def raise_severity() -> None:
        say(f"human  Intigriti: {low} severity {views[low]['severity']} -> Critical")
        intigriti.edit_submission(low, severity="Critical")

    def accept() -> None:
        say(f"human  Intigriti: {to_accept} accepted")
        intigriti.edit_submission(to_accept, status="Accepted")

    def jira_priority() -> None:
        key = key_of(high)
        say(f"human  Jira: {key} ({high}) priority -> Lowest")
        jira.set_priority(key, "Lowest")

    def jira_review() -> None:
        key = key_of(accepted)
        say(f"human  Jira: {key} ({accepted}) In Progress -> In Review (same sync state: no write)")
        jira.set_status(key, "In Review")

    def jira_resolve() -> None:
        key = key_of(accepted)
        say(f"human  Jira: {key} ({accepted}) -> Done")
        jira.set_status(key, "Done", resolution="Done")

    def move_project() -> None:
        key = key_of(in_sec)
        say(f"human  Jira: {key} ({in_sec}) moved to project APP (its key changes)")
        jira.move(key, "APP")

    def conflict() -> None:
        key = key_of(medium)
        say(f"human  both sides at once: {medium} High in Intigriti, {key} Low in Jira")
        intigriti.edit_submission(medium, severity="High")
        jira.set_priority(key, "Low")

    def new_submission() -> None:
        code = world.report(severity="High")
        say(f"human  Intigriti: a researcher reports {code}")

    def researcher_asks() -> None:
        say(f"human  Intigriti: the researcher of {high} asks for news")
        intigriti.post_message(high, "Any update? Happy to retest once it is fixed.")

    def developer_answers() -> None:
        key = key_of(high)
        say(f"human  Jira: a developer comments on {key}, and answers the researcher")
        jira.add_comment(key, "Root cause: the template skips output encoding.")
        jira.add_comment(key, "[to researcher] Fixed in 2.4.1, please retest.")

    def triager_note() -> None:
        say(f"human  Intigriti: an internal note on {high} (Jira: restricted comment)")
        intigriti.post_message(
            high, "Bounty on hold until the retest.", author="company", internal=True
        )

    return [
        raise_severity,
        accept,
        jira_priority,
        researcher_asks,
        jira_review,
        jira_resolve,
        developer_answers,
        triager_note,
        move_project,
        conflict,
        new_submission,
    ]


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    """Keep the narration readable: only warnings from the daemon go to the terminal."""
    import os

    configure_logging(os.environ.get("SYNCD_DEMO_LOG_LEVEL", "warning"), "console")
    yield
    logging.getLogger().handlers.clear()


def run_demo(*, duration: float = 60.0, say: Say = _say) -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="syncd-demo-") as workdir, _quiet_logs():
        say("syncd demo: starting the Intigriti and Jira simulators on loopback ...")
        world = start_world()
        runtime: Runtime | None = None
        daemon: Daemon | None = None
        printer: _AuditPrinter | None = None
        presence: Presence | None = None
        stop = threading.Event()
        try:
            codes = world.seed(24) + world.seed(12, program_index=1)
            say(f"  Intigriti {world.intigriti.base_url}: 2 programs, {len(codes)} submissions")
            say(f"  Jira      {world.jira.base_url}: projects SEC and APP")
            config = world.write_config(
                Path(workdir) / "config.toml",
                f"sqlite:///{Path(workdir) / 'syncd.db'}",
                overrides={
                    "sync": {
                        "poll_interval_seconds": 2,
                        "jira_poll_interval_seconds": 2,
                        "full_sweep_interval_seconds": 3600,
                        "overlap_seconds": 5,
                    },
                    "logging": {"level": "warning", "format": "console"},
                    # internal notes: comments only the simulator's Developers role reads
                    "conversation": {"direction": "both", "internal_visibility": "Developers"},
                },
            )
            settings = load_settings(str(config))
            repository = open_repository(settings, upgrade=True)
            presence = Presence(
                repository,
                command="demo",
                instance_timeout=timedelta(seconds=settings.sync.instance_timeout_seconds),
            )
            presence.start("oneshot")
            runtime = build_runtime(
                settings, repository, claims=presence.claims, should_stop=stop.is_set
            )
            say("\n1. Backfill: one full reconcile pass")
            summary = runtime.engine.full_pass()
            say(
                f"   created {summary.created} Jira issues, wrote "
                f"{summary.writes['internal_reference:to_intigriti']} internal references and "
                f"{summary.writes['status:to_jira']} status moves; "
                f"{summary.outcomes['converged']} needed nothing"
            )
            printer = _AuditPrinter(repository, say)
            say("\n2. The daemon runs; a human edits both sides")
            daemon = Daemon(
                runtime.engine,
                poll_interval=2,
                jira_poll_interval=2,
                sweep_interval=3600,
                stop_event=stop,
                on_cycle=lambda _name, _summary: printer.flush(),
                sweep_now=False,  # the backfill above was the first sweep
            )
            daemon.scheduler.start()
            script = _human_script(world, codes, say)
            remaining = max(duration - (time.monotonic() - started), 10.0)
            pause = max(remaining / (len(script) + 1), 2.5)
            deadline = time.monotonic() + remaining
            for step in script:
                if stop.wait(pause) or time.monotonic() > deadline:
                    break
                step()
            stop.wait(max(0.0, min(pause, deadline - time.monotonic())))
        except KeyboardInterrupt:
            say("\ninterrupted")
        finally:
            stop.set()
            if daemon is not None and daemon.scheduler.running:
                daemon.scheduler.shutdown(wait=True)
            if printer is not None:
                printer.flush()
            if presence is not None:
                presence.stop()
            if runtime is not None:
                say("\n3. syncd status")
                say("   " + render_text(gather(runtime.repository)).replace("\n", "\n   "))
                runtime.close()
            world.stop()
    say("\ndemo finished")
    return 0
