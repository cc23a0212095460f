"""The long-running daemon: APScheduler 3 jobs for both polls and the periodic full sweep.

Each job has ``max_instances=1`` and ``coalesce=True``, so a slow run is never overlapped
by its next run and missed runs collapse into one. The polls (live work) and the sweep
(backfill) may run side by side: claims keep them off the same submission, and the quota
buckets serve live work first. SIGTERM/SIGINT/SIGHUP set a stop flag that every cycle
checks between submissions; the action in flight finishes, and the process exits 0
within ``STOP_GRACE_SECONDS``.

``Supervisor`` runs the daemon only while this process holds the leader lease: a second
``syncd run`` on the same database stands by (logging for whom), tries the lease every
``takeover_check_seconds`` and becomes active when the leader dies or loses its database
session; a leader that loses the lease stops its jobs and stands by again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Literal, Protocol

import structlog
from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from syncd.errors import CredentialError, StoreError
from syncd.presence import Presence
from syncd.sync.engine import Engine
from syncd.sync.executor import Summary

log = structlog.get_logger(__name__)

#: how often the loops report that they turn (liveness, the systemd watchdog)
TICK_SECONDS = 0.5

Role = Literal["starting", "standby", "active", "stopping"]


class Hooks(Protocol):
    """What the loops and jobs tell the service layer (probes, metrics, systemd)."""

    def tick(self, role: Role) -> None: ...

    def term_started(self, scheduler_running: Callable[[], bool]) -> None: ...

    def term_ended(self) -> None: ...

    def cycle_finished(self, cycle: str, summary: Summary, seconds: float) -> None: ...

    def cycle_crashed(self, cycle: str, seconds: float) -> None: ...


class NoHooks:
    def tick(self, role: Role) -> None:
        pass

    def term_started(self, scheduler_running: Callable[[], bool]) -> None:
        pass

    def term_ended(self) -> None:
        pass

    def cycle_finished(self, cycle: str, summary: Summary, seconds: float) -> None:
        pass

    def cycle_crashed(self, cycle: str, seconds: float) -> None:
        pass


#: the daemon exits within this many seconds of SIGTERM (systemd's default stop timeout
#: is 90 s; ours is shorter so a container orchestrator never has to SIGKILL us)
STOP_GRACE_SECONDS = 9.0


class Daemon:
    def __init__(
        self,
        engine: Engine,
        *,
        poll_interval: float,
        jira_poll_interval: float,
        sweep_interval: float,
        stop_event: threading.Event,
        on_cycle: Callable[[str, Summary], None] | None = None,
        sweep_now: bool = True,
        keep_running: Callable[[], bool] = lambda: True,
        hooks: Hooks | None = None,
        poll_due: Callable[[str], bool] = lambda _side: True,
    ) -> None:
        """``keep_running`` is asked every half second: False ends this term (the
        supervisor's lease is gone) the way a stop does, but the process lives on."""
        self.engine = engine
        self.stop_event = stop_event
        self.keep_running = keep_running
        self.on_cycle = on_cycle
        self.hooks: Hooks = hooks or NoHooks()
        #: asked before each poll: False skips it (webhooks keep that side current)
        self.poll_due = poll_due
        self.credential_error: CredentialError | None = None
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=3)},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
            timezone=UTC,
        )
        now = datetime.now(UTC)
        self.scheduler.add_job(
            self._job("sweep", "sweep", engine.full_pass),
            "interval",
            seconds=sweep_interval,
            id="sweep",
            next_run_time=now if sweep_now else now + timedelta(seconds=sweep_interval),
        )
        self.scheduler.add_job(
            self._job("poll_intigriti", "intigriti", engine.poll_intigriti),
            "interval",
            seconds=poll_interval,
            id="poll_intigriti",
            next_run_time=now + timedelta(seconds=min(poll_interval, 1.0)),
        )
        self.scheduler.add_job(
            self._job("poll_jira", "jira", engine.poll_jira),
            "interval",
            seconds=jira_poll_interval,
            id="poll_jira",
            next_run_time=now + timedelta(seconds=min(jira_poll_interval, 1.0)),
        )
        self.scheduler.add_listener(self._on_error, EVENT_JOB_ERROR)

    def _job(self, job: str, name: str, cycle: Callable[[], Summary]) -> Callable[[], None]:
        """``job`` names the cycle in metrics; ``name`` is its cursor (and log) name."""

        def run() -> None:
            if self.stop_event.is_set() or not self.keep_running():
                return
            if job != "sweep" and not self.poll_due(name):
                return
            started = time.monotonic()
            try:
                summary = cycle()
            except CredentialError as exc:
                # nothing will work until an operator logs in again: stop, loudly
                self.credential_error = exc
                log.error("credentials_rejected", cycle=name, error=str(exc))
                self.hooks.cycle_crashed(job, time.monotonic() - started)
                self.stop_event.set()
                return
            except Exception as exc:
                # the next run tries again; `syncd status` shows the error meanwhile
                log.exception("cycle_crashed", cycle=name, error_type=type(exc).__name__)
                self.hooks.cycle_crashed(job, time.monotonic() - started)
                with contextlib.suppress(Exception):
                    self.engine.repository.cycle_failed(name, f"{type(exc).__name__}: {exc}")
                return
            self.hooks.cycle_finished(job, summary, time.monotonic() - started)
            # an idle poll is not news: one INFO line per cycle that did something
            quiet = summary.items == 0 and summary.total_writes == 0
            (log.debug if quiet else log.info)("cycle_done", cycle=name, **summary.as_dict())
            if self.on_cycle is not None:
                self.on_cycle(name, summary)

        return run

    def _on_error(self, event: JobExecutionEvent) -> None:
        log.error("cycle_crashed", job=event.job_id, error=repr(event.exception))

    def run_until_stopped(self) -> None:
        """Run the jobs until a stop (then exit promptly) or the end of this term."""
        self.scheduler.start()
        self.hooks.term_started(lambda: bool(self.scheduler.running))
        log.info("daemon_started")
        while not self.stop_event.wait(TICK_SECONDS):
            if not self.keep_running():
                log.info("daemon_term_ending")
                # every cycle sees keep_running() False between items and before each
                # write, so the jobs end after the action in flight
                self.scheduler.shutdown(wait=True)
                self.hooks.term_ended()
                return
            self.hooks.tick("active")
        log.info("daemon_stopping")
        self.hooks.tick("stopping")
        finished = threading.Event()

        def shutdown() -> None:
            self.scheduler.shutdown(wait=True)
            finished.set()

        threading.Thread(target=shutdown, name="scheduler-shutdown", daemon=True).start()
        if not finished.wait(STOP_GRACE_SECONDS):
            # an HTTP call is still in flight; creation and field writes are crash-safe
            # (intent rows, bases committed per action), so leaving now loses nothing
            log.warning("daemon_forced_exit", waited_seconds=STOP_GRACE_SECONDS)
            sys.stderr.flush()
            os._exit(2 if self.credential_error else 0)
        log.info("daemon_stopped")


class Supervisor:
    """Active while holding the leader lease, standby otherwise, until stopped."""

    def __init__(
        self,
        presence: Presence,
        make_daemon: Callable[[], Daemon],
        *,
        stop_event: threading.Event,
        takeover_check_seconds: float,
        hooks: Hooks | None = None,
    ) -> None:
        self.presence = presence
        self.hooks: Hooks = hooks or NoHooks()
        self.make_daemon = make_daemon
        self.stop_event = stop_event
        self.takeover_check_seconds = takeover_check_seconds
        self.credential_error: CredentialError | None = None
        self.terms = 0

    def run_until_stopped(self) -> None:
        announced: str | None = None
        while not self.stop_event.is_set():
            if self.presence.try_lead():
                announced = None
                self.terms += 1
                log.info("leader_lease_acquired", instance=self.presence.id, term=self.terms)
                daemon = self.make_daemon()
                daemon.run_until_stopped()
                if daemon.credential_error is not None:
                    self.credential_error = daemon.credential_error
                    return
                if self.stop_event.is_set():
                    return
                log.warning("standing_by", reason="the leader lease was lost")
                self.presence.step_down()
                # a leader that lost its session may be the unhealthy one: give the
                # standbys two chances at the lease before trying again
                self._stand_by(2 * self.takeover_check_seconds)
                continue
            announced = self._announce_standby(announced)
            self._stand_by(self.takeover_check_seconds)

    def _stand_by(self, seconds: float) -> None:
        """Wait ``seconds`` (or until a stop), telling the probes the loop turns."""
        deadline = time.monotonic() + seconds
        while not self.stop_event.is_set():
            self.hooks.tick("standby")
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.stop_event.wait(min(TICK_SECONDS, left))

    def _announce_standby(self, announced: str | None) -> str | None:
        """Log once per leader that this process stands by, and for whom."""
        try:
            active = self.presence.active_instance()
        except StoreError as exc:
            log.warning("standby_check_failed", error=str(exc))
            return announced
        who = active.describe() if active is not None else "an instance not yet registered"
        if who != announced:
            log.info(
                "standing_by",
                active=who,
                check_every_seconds=self.takeover_check_seconds,
            )
        return who


def install_signal_handlers(stop_event: threading.Event) -> None:
    def handle(signum: int, _frame: FrameType | None) -> None:
        log.info("signal_received", signal=signal.Signals(signum).name)
        stop_event.set()

    # SIGHUP stops like SIGTERM: a closed terminal or a `kill -HUP` ends syncd cleanly
    # (configuration is read at start; restart to apply a change)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, handle)
