"""What the daemon's loops and jobs report, turned into probe state, metrics and systemd
notifications."""

from __future__ import annotations

from collections.abc import Callable

from syncd.daemon import Role
from syncd.service.health import ServiceState
from syncd.service.metrics import CycleMetrics
from syncd.service.notify import Notifier
from syncd.service.probes import Probes
from syncd.sync.executor import Summary


class ServiceHooks:
    def __init__(
        self,
        state: ServiceState,
        probes: Probes,
        metrics: CycleMetrics,
        notifier: Notifier,
        *,
        describe_active: Callable[[], str],
        poll_finished: Callable[[str, Summary], None] = lambda _side, _summary: None,
    ) -> None:
        self.state = state
        self._poll_finished = poll_finished
        self.probes = probes
        self.metrics = metrics
        self.notifier = notifier
        self._describe_active = describe_active
        self._last_cycle = "no cycle yet"

    def tick(self, role: Role) -> None:
        previous = self.state.role
        self.state.tick(role)
        if role == "standby" and previous != "standby":
            # a standby is up and doing its job (waiting for the lease): systemd's start
            # ends here too, or a second replica would never finish starting
            self.notifier.ready(f"standby; active: {self._describe_active()}")
            self.notifier.status(f"standby; active: {self._describe_active()}")
        if role == "stopping":
            self.notifier.stopping()
            return
        # the watchdog is fed only while the process is alive by the probes' rule, so a
        # stuck scheduler or a hung cycle ends in systemd's restart
        if self.notifier.watchdog_every is not None and self.probes.alive().ok:
            self.notifier.watchdog()

    def term_started(self, scheduler_running: Callable[[], bool]) -> None:
        self.state.term_started(scheduler_running)
        self.notifier.status("active; first cycle running")

    def term_ended(self) -> None:
        self.state.term_ended("standby")

    def cycle_finished(self, cycle: str, summary: Summary, seconds: float) -> None:
        self.metrics.finished(cycle, summary, seconds)
        if cycle.startswith("poll_"):
            self._poll_finished(cycle.removeprefix("poll_"), summary)
        outcomes = summary.outcomes
        self._last_cycle = (
            f"last {cycle}: {summary.items} items, {summary.total_writes} writes,"
            f" {outcomes['failed']} failed, {outcomes['blocked']} blocked"
        )
        reads = self.probes.reads
        if any(reads.last_success(side) is not None for side in ("intigriti", "jira")):
            self.notifier.ready(f"active; {self._last_cycle}")
        self.notifier.status(f"active; {self._last_cycle}")

    def cycle_crashed(self, cycle: str, seconds: float) -> None:
        self.metrics.crashed(cycle, seconds)
        self.notifier.status(f"active; {cycle} crashed (see the log); {self._last_cycle}")
