"""``WebhookSender``: deliver a simulator's webhooks from a background thread.

A simulator's request handler (or its control API) only puts a ready, signed delivery on
a queue, so a slow or dead receiver never slows the API down. The worker thread sends the
deliveries in order, with knobs that make a receiver meet what real services do: late
deliveries (``delay_seconds``), replays (``duplicate``: the same bytes and headers twice),
out-of-order arrival (``reorder``: each small batch is shuffled) and retries with a short
backoff on a non-2xx answer or a connection failure.

Signing is the caller's job: each service has its own header format, and the body bytes
given here are sent exactly as given (the signature covers the raw body).
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

RetryPolicy = Callable[[int], bool]

_STOP = object()


def retry_any_failure(status: int) -> bool:
    """Retry every answer that is not a 2xx."""
    return not 200 <= status < 300


@dataclass(frozen=True)
class Delivery:
    """One webhook POST: the raw body and its headers (signature included)."""

    event: str
    body: bytes
    headers: Mapping[str, str]


@dataclass
class _Queued:
    delivery: Delivery
    due: float  # monotonic time before which it is not sent (delay_seconds)


@dataclass(frozen=True)
class WebhookOptions:
    url: str
    duplicate: bool = False
    delay_seconds: float = 0.0
    reorder: bool = False
    retries: int = 3
    backoff_seconds: float = 0.05
    max_backoff_seconds: float = 1.0
    timeout_seconds: float = 5.0
    # With reorder: how many deliveries (at most) and how long (at most) make one batch.
    reorder_batch: int = 5
    reorder_window_seconds: float = 0.2
    seed: int = 0
    # Header carrying the attempt number on a retry (Jira: X-Atlassian-Webhook-Retry).
    retry_header: str | None = None
    retry_on: RetryPolicy = retry_any_failure


def options_from_body(body: Mapping[str, Any], **fixed: Any) -> tuple[WebhookOptions, str]:
    """(options, secret) from a control API body; ``fixed`` adds service-specific options.

    Raises ``ValueError`` (a 400 in either control API) on a missing or mistyped value.
    """
    url = body.get("url")
    secret = body.get("secret")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError("url must be an http(s) URL")
    if not isinstance(secret, str) or secret == "":
        raise ValueError("secret must be a non-empty string")
    retries = body.get("retries", 3)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 20:
        raise ValueError("retries must be an integer from 0 to 20")
    delay = body.get("delay_seconds", 0)
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= 3600:
        raise ValueError("delay_seconds must be a number from 0 to 3600")
    options = WebhookOptions(
        url=url,
        duplicate=bool(body.get("duplicate", False)),
        delay_seconds=float(delay),
        reorder=bool(body.get("reorder", False)),
        retries=retries,
        seed=int(body.get("seed", 0)),
        **fixed,
    )
    return options, secret


@dataclass
class _Stats:
    emitted: Counter[str] = field(default_factory=Counter)
    attempts: int = 0
    retries: int = 0
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    by_status: Counter[str] = field(default_factory=Counter)


class WebhookSender:
    """Queue deliveries and POST them from one daemon thread; ``close`` stops it.

    ``activation``, when given, is sent first, alone, before anything else (Intigriti's
    ``TestEvent``): the others wait behind it, and if it is not answered with a 2xx (after
    its retries) the webhook stays inactive: every other delivery is dropped and counted.
    """

    def __init__(
        self,
        options: WebhookOptions,
        *,
        activation: Delivery | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if options.retries < 0:
            raise ValueError("retries must be >= 0")
        if options.delay_seconds < 0:
            raise ValueError("delay_seconds must be >= 0")
        self.options = options
        self._queue: queue.Queue[_Queued | object] = queue.Queue()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._stats = _Stats()
        self._pending = 0
        self._idle = threading.Condition(self._lock)
        self._rng = random.Random(options.seed)
        self._activation = activation
        self._active = activation is None
        # Whether the activation delivery (if any) has had its final answer.
        self._settled = activation is None
        self._http = httpx.Client(timeout=options.timeout_seconds, transport=transport)
        self._thread = threading.Thread(target=self._run, name="webhook-sender", daemon=True)
        self._thread.start()

    # ----------------------------------------------------------------- producer side

    def submit(self, delivery: Delivery) -> None:
        """Queue one delivery; never blocks (the queue is unbounded)."""
        with self._lock:
            if self._stop.is_set():
                return
            self._stats.emitted[delivery.event] += 1
            self._pending += 1
        self._queue.put(_Queued(delivery, time.monotonic() + self.options.delay_seconds))

    def stats(self) -> dict[str, Any]:
        with self._lock:
            s = self._stats
            return {
                "url": self.options.url,
                "active": self._active,
                "idle": self._pending == 0 and self._settled,
                "emitted": dict(s.emitted),
                "pending": self._pending,
                "attempts": s.attempts,
                "retries": s.retries,
                "sent": s.sent,
                "failed": s.failed,
                "dropped": s.dropped,
                "by_status": dict(s.by_status),
            }

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued delivery was sent, failed or dropped (tests only)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending > 0 or not self._settled:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
            return True

    def close(self, timeout: float = 2.0) -> None:
        """Stop the worker; deliveries still queued are dropped (a stopped service).

        Waits at most ``timeout`` (a POST in flight to a hanging receiver finishes on its
        own, within the HTTP timeout, in the daemon thread), so a control request or a
        simulator's stop never hangs on a receiver.
        """
        self._stop.set()
        self._queue.put(_STOP)
        self._thread.join(timeout)

    # ----------------------------------------------------------------- worker side

    def _run(self) -> None:
        try:
            self._work()
        finally:
            # Closed here, not in close(): the client is this thread's alone.
            self._http.close()

    def _work(self) -> None:
        if self._activation is not None:
            ok = self._send(self._activation)
            with self._idle:
                self._active = ok
                self._settled = True
                self._idle.notify_all()
        while not self._stop.is_set():
            batch = self._next_batch()
            if batch is None:
                break
            self._deliver(batch)
        self._drain()

    def _next_batch(self) -> list[_Queued] | None:
        first = self._queue.get()
        if first is _STOP:
            return None
        assert isinstance(first, _Queued)
        batch = [first]
        if self.options.reorder:
            deadline = time.monotonic() + self.options.reorder_window_seconds
            while len(batch) < self.options.reorder_batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.put(_STOP)  # seen again by the loop after this batch
                    break
                assert isinstance(item, _Queued)
                batch.append(item)
        return batch

    def _deliver(self, batch: list[_Queued]) -> None:
        copies = 2 if self.options.duplicate else 1
        sends = [item for item in batch for _ in range(copies)]
        if self.options.reorder and len(sends) > 1:
            shuffled = list(sends)
            self._rng.shuffle(shuffled)
            if shuffled == sends:  # a shuffle may keep the order; reorder must show
                shuffled = shuffled[1:] + shuffled[:1]
            sends = shuffled
        handled = 0
        for item in sends:
            wait = item.due - time.monotonic()
            if (wait > 0 and self._stop.wait(wait)) or self._stop.is_set():
                break
            if self._active:
                self._send(item.delivery)
            else:
                with self._lock:
                    self._stats.dropped += 1
            handled += 1
        # What a stop left unsent counts as dropped: a stopped service sends nothing more.
        self._finish(len(batch), dropped=len(sends) - handled)

    def _finish(self, count: int, *, dropped: int = 0) -> None:
        with self._idle:
            self._pending -= count
            self._stats.dropped += dropped
            self._idle.notify_all()

    def _drain(self) -> None:
        left = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Queued):
                left += 1
        if left:
            self._finish(left, dropped=left)

    def _send(self, delivery: Delivery) -> bool:
        """POST with retries; True when some attempt was answered with a 2xx."""
        opts = self.options
        for attempt in range(opts.retries + 1):
            if attempt:
                backoff = min(opts.backoff_seconds * 2 ** (attempt - 1), opts.max_backoff_seconds)
                if self._stop.wait(backoff):
                    return False
            headers = dict(delivery.headers)
            if attempt and opts.retry_header:
                headers[opts.retry_header] = str(attempt)
            try:
                response = self._http.post(opts.url, content=delivery.body, headers=headers)
                status: int | None = response.status_code
                outcome = str(response.status_code)
            except httpx.HTTPError as exc:
                status = None
                outcome = "error:" + type(exc).__name__
            with self._lock:
                self._stats.attempts += 1
                self._stats.retries += 1 if attempt else 0
                self._stats.by_status[outcome] += 1
                if status is not None and 200 <= status < 300:
                    self._stats.sent += 1
                    return True
            if status is not None and not opts.retry_on(status):
                break
        with self._lock:
            self._stats.failed += 1
        return False
