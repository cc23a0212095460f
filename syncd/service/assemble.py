"""Build the service layer around a daemon's runtime: probes, metrics, systemd notify and,
with ``[http] listen`` set, the HTTP listener."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import structlog
from prometheus_client import CollectorRegistry

from syncd.errors import ConfigError
from syncd.service.health import ServiceState
from syncd.service.hooks import ServiceHooks
from syncd.service.listener import build_app
from syncd.service.metrics import CycleMetrics, ScrapeCollector, Side
from syncd.service.notify import Notifier
from syncd.service.probes import Probes
from syncd.service.server import BackgroundServer
from syncd.settings import listen_address
from syncd.wiring import Runtime

log = structlog.get_logger(__name__)


@dataclass
class Service:
    hooks: ServiceHooks
    listener: BackgroundServer | None

    def close(self) -> None:
        if self.listener is not None:
            self.listener.stop()


def start_service(
    runtime: Runtime,
    *,
    takeover_check_seconds: float,
    describe_active: Callable[[], str],
    notifier: Notifier | None = None,
) -> Service:
    settings = runtime.settings
    sides = [
        Side("intigriti", runtime.intigriti.request_tally(), runtime.intigriti.buckets),
        Side("jira", runtime.jira.request_tally(), runtime.jira.buckets),
    ]
    state = ServiceState(
        poll_intervals={
            "intigriti": settings.sync.poll_interval_seconds,
            "jira": settings.sync.jira_poll_interval_seconds,
        },
        # a standby turns its loop every half second too; the margin covers a slow
        # database answer to the lease try
        tick_limit=max(60.0, 3 * takeover_check_seconds),
    )
    probes = Probes(
        state,
        runtime.repository,
        runtime.intigriti.token_status,
        runtime.engine.reads,
        sides,
    )
    registry = CollectorRegistry()
    metrics = CycleMetrics(registry)
    registry.register(
        ScrapeCollector(
            sides,
            runtime.repository,
            runtime.engine.reads,
            active=lambda: state.role == "active",
            ready=lambda: all(check.ok for check in probes.ready()),
        )
    )
    hooks = ServiceHooks(
        state, probes, metrics, notifier or Notifier(), describe_active=describe_active
    )
    listener = None
    if settings.http.listen:
        host, port = listen_address(settings.http.listen)
        try:
            listener = BackgroundServer(build_app(probes, registry), host=host, port=port)
        except OSError as exc:
            raise ConfigError(
                f"http.listen: cannot listen on {settings.http.listen} ({exc.strerror or exc})"
            ) from None
        listener.start()
        log.info("http_listening", url=listener.base_url, paths="/healthz /readyz /metrics")
    return Service(hooks, listener)
