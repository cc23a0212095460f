"""POST /webhooks/intigriti and POST /webhooks/jira on the daemon's listener.

Order of the checks, cheapest and safest first: the size cap (413, before the body is
read in full), the signature on the raw bytes (401; nothing else happens), the body's
shape (400), this instance being the active one (503: a standby syncs nothing), room in
the queue (503 with Retry-After), the replay check (the delivery id recorded in the
database: a replay is answered 200 and ignored), then the queue (202).

Polling stays the safety net: with ``[webhooks] poll_interval_seconds`` set, a side whose
deliveries keep arriving polls that seldom instead; a side that sent nothing for
``gap_seconds`` while its polls found changes is logged (``webhook_gap``) and counted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncd.errors import StoreError
from syncd.service.inbox import Inbox
from syncd.service.webhooks import Delivery, DeliveryRejected, Source
from syncd.settings import WebhookSettings
from syncd.store.repository import Repository
from syncd.sync.executor import Summary

log = structlog.get_logger(__name__)

#: what a refused delivery is told to wait (a full queue drains at the quota's pace)
RETRY_AFTER_SECONDS = 30
#: forget old delivery ids at most this often
FORGET_EVERY_SECONDS = 3600.0

Accepted = Literal["queued", "coalesced", "full", "duplicate"]


@dataclass(frozen=True)
class Endpoint:
    source: Source
    secret: str
    verify: Callable[[str, bytes, dict[str, str]], None]
    read: Callable[[bytes, dict[str, str]], Delivery]


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry, inbox: Inbox) -> None:
        self.deliveries = Counter(
            "syncd_webhook_deliveries",
            "Webhook deliveries by source and outcome (queued, coalesced, duplicate, full,"
            " unauthorized, too_large, bad_request, standby, ignored)",
            ["source", "outcome"],
            registry=registry,
        )
        self.gaps = Counter(
            "syncd_webhook_gaps",
            "Polls that found changes while the side's webhooks had been silent for"
            " [webhooks] gap_seconds",
            ["side"],
            registry=registry,
        )
        depth = Gauge(
            "syncd_webhook_queue_depth",
            "Items waiting for their targeted reconcile",
            registry=registry,
        )
        depth.set_function(lambda: float(inbox.depth()))


class WebhookReceiver:
    def __init__(
        self,
        endpoints: list[Endpoint],
        settings: WebhookSettings,
        repository: Repository,
        inbox: Inbox,
        metrics: WebhookMetrics,
        *,
        active: Callable[[], bool],
    ) -> None:
        self.endpoints = {endpoint.source: endpoint for endpoint in endpoints}
        self.settings = settings
        self.repository = repository
        self.inbox = inbox
        self.metrics = metrics
        self._active = active
        self._lock = threading.Lock()
        self._forgotten_at = 0.0
        self._polled_at: dict[str, float] = {}

    # -- HTTP ----------------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [
            Route(f"/webhooks/{source}", self._handler(endpoint), methods=["POST"])
            for source, endpoint in self.endpoints.items()
        ]

    def _handler(self, endpoint: Endpoint) -> Callable[[Request], object]:
        async def receive(request: Request) -> Response:
            body = await self._body(request)
            if body is None:
                return self._refuse(endpoint.source, "too_large", 413, "the body is too large")
            headers = {key.lower(): value for key, value in request.headers.items()}
            try:
                endpoint.verify(endpoint.secret, body, headers)
            except DeliveryRejected as exc:
                log.warning("webhook_unauthorized", source=endpoint.source, reason=exc.reason)
                return self._refuse(endpoint.source, "unauthorized", exc.status, exc.reason)
            try:
                delivery = endpoint.read(body, headers)
            except DeliveryRejected as exc:
                return self._refuse(endpoint.source, "bad_request", exc.status, exc.reason)
            if delivery.item is None:
                # a TestEvent (it activates the webhook), or an event about no issue: any
                # instance acknowledges it, there is nothing to reconcile
                self.metrics.deliveries.labels(endpoint.source, "ignored").inc()
                return Response(status_code=204)
            if not self._active():
                return self._refuse(
                    endpoint.source, "standby", 503, "this instance is not the active one",
                    retry=True,
                )
            outcome = await run_in_threadpool(self.accept, delivery)
            self.metrics.deliveries.labels(endpoint.source, outcome).inc()
            if outcome == "full":
                return self._refuse(endpoint.source, None, 503, "queue full", retry=True)
            if outcome == "duplicate":
                return JSONResponse({"duplicate": True}, status_code=200)
            return JSONResponse({"queued": delivery.item}, status_code=202)

        return receive

    async def _body(self, request: Request) -> bytes | None:
        cap = self.settings.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            return None
        chunks = bytearray()
        async for chunk in request.stream():
            chunks += chunk
            if len(chunks) > cap:
                return None
        return bytes(chunks)

    def _refuse(
        self, source: Source, outcome: str | None, status: int, reason: str, *, retry: bool = False
    ) -> Response:
        if outcome is not None:
            self.metrics.deliveries.labels(source, outcome).inc()
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if retry else None
        return JSONResponse({"error": reason}, status_code=status, headers=headers)

    # -- the queue -----------------------------------------------------------------

    def accept(self, delivery: Delivery) -> Accepted:
        """Replay check, then the queue. Room is checked first: a delivery turned away
        for want of room must not be recorded, or its redelivery would look a replay."""
        now = datetime.now(UTC)
        with self._lock:
            if not self.inbox.has_room():
                return "full"
            assert delivery.item is not None
            try:
                fresh = self.repository.take_delivery(delivery.delivery_id, delivery.source, now)
            except StoreError as exc:
                log.warning("webhook_not_recorded", error=str(exc))
                return "full"  # 503: the sender tries again once the database answers
            if not fresh:
                return "duplicate"
            self._forget_old(now)
            return self.inbox.offer(delivery.source, delivery.item, deleted=delivery.deleted)

    def _forget_old(self, now: datetime) -> None:
        if time.monotonic() - self._forgotten_at < FORGET_EVERY_SECONDS:
            return
        self._forgotten_at = time.monotonic()
        try:
            self.repository.forget_deliveries(now - timedelta(hours=self.settings.dedupe_hours))
        except StoreError as exc:
            log.warning("webhook_ids_not_forgotten", error=str(exc))

    # -- polling as the safety net ---------------------------------------------------

    def _healthy(self, side: str) -> bool:
        last = self.inbox.last_delivery.get(side)
        return last is not None and time.monotonic() - last < self.settings.gap_seconds

    def poll_due(self, side: str) -> bool:
        """Whether the poll of ``side`` runs now (the scheduler asks every interval)."""
        longer = self.settings.poll_interval_seconds
        if side not in self.endpoints or longer <= 0 or not self._healthy(side):
            self._polled_at[side] = time.monotonic()
            return True
        if time.monotonic() - self._polled_at.get(side, 0.0) >= longer:
            self._polled_at[side] = time.monotonic()
            return True
        return False

    def poll_finished(self, side: str, summary: Summary) -> None:
        if side not in self.endpoints or summary.items == 0:
            return
        if not self._healthy(side):
            last = self.inbox.last_delivery.get(side)
            silent = "never" if last is None else f"{time.monotonic() - last:.0f} s ago"
            log.warning(
                "webhook_gap",
                side=side,
                changes_found=summary.items,
                last_delivery=silent,
                hint="check the webhook's registration and that its deliveries reach syncd",
            )
            self.metrics.gaps.labels(side).inc()
