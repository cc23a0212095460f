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
from syncd.service.inbox import Inbox
from syncd.service.listener import build_app
from syncd.service.metrics import CycleMetrics, ScrapeCollector, Side
from syncd.service.notify import Notifier
from syncd.service.probes import Probes
from syncd.service.receiver import Endpoint, WebhookMetrics, WebhookReceiver
from syncd.service.server import BackgroundServer
from syncd.service.targeted import TargetedReconcile
from syncd.service.webhooks import read_intigriti, read_jira, verify_intigriti, verify_jira
from syncd.settings import Settings, listen_address
from syncd.sync.executor import Summary
from syncd.wiring import Runtime

log = structlog.get_logger(__name__)


@dataclass
class Service:
    hooks: ServiceHooks
    listener: BackgroundServer | None
    receiver: WebhookReceiver | None = None

    def poll_due(self, side: str) -> bool:
        return self.receiver is None or self.receiver.poll_due(side)

    def close(self) -> None:
        if self.listener is not None:
            self.listener.stop()
        if self.receiver is not None:
            self.receiver.inbox.stop(timeout=5.0)


def _endpoints(settings: Settings) -> list[Endpoint]:
    endpoints = []
    if settings.intigriti.webhook_secret is not None:
        secret = settings.intigriti.webhook_secret.get_secret_value()
        endpoints.append(Endpoint("intigriti", secret, verify_intigriti, read_intigriti))
    if settings.jira.webhook_secret is not None:
        secret = settings.jira.webhook_secret.get_secret_value()
        endpoints.append(Endpoint("jira", secret, verify_jira, read_jira))
    for endpoint in endpoints:
        if len(endpoint.secret) < 16:
            raise ConfigError(
                f"{endpoint.source}.webhook_secret: at least 16 characters, please (it is"
                " all that stands between the internet and a reconcile)"
            )
    if endpoints and not settings.http.listen:
        keys = " and ".join(f"{e.source}.webhook_secret" for e in endpoints)
        raise ConfigError(f"{keys} set, but http.listen is empty: webhooks need the listener")
    return endpoints


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
    endpoints = _endpoints(settings)
    receiver: WebhookReceiver | None = None
    # the hooks are made below, with the receiver's gap check: the reconciles report
    # through them once they exist
    holder: list[ServiceHooks] = []

    def reconciled(summary: Summary, seconds: float) -> None:
        holder[0].cycle_finished("webhook", summary, seconds)

    if endpoints:
        inbox = Inbox(
            settings.webhooks.queue_size,
            TargetedReconcile(runtime, reconciled),
            active=lambda: state.role == "active",
        )
        receiver = WebhookReceiver(
            endpoints,
            settings.webhooks,
            runtime.repository,
            inbox,
            WebhookMetrics(registry, inbox),
            active=lambda: state.role == "active",
        )
    hooks = ServiceHooks(
        state,
        probes,
        metrics,
        notifier or Notifier(),
        describe_active=describe_active,
        poll_finished=receiver.poll_finished if receiver is not None else lambda _s, _m: None,
    )
    holder.append(hooks)
    listener = None
    if settings.http.listen:
        host, port = listen_address(settings.http.listen)
        routes = receiver.routes() if receiver is not None else []
        try:
            listener = BackgroundServer(build_app(probes, registry, routes), host=host, port=port)
        except OSError as exc:
            raise ConfigError(
                f"http.listen: cannot listen on {settings.http.listen} ({exc.strerror or exc})"
            ) from None
        listener.start()
        paths = ["/healthz", "/readyz", "/metrics", *(r.path for r in routes)]
        log.info("http_listening", url=listener.base_url, paths=" ".join(paths))
    if receiver is not None:
        receiver.inbox.start()
    return Service(hooks, listener, receiver)
