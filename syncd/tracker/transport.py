"""The one place that calls the ``jira`` library: clients, pacing, retries, error mapping.

Threads: the library's ``JIRA`` object holds one ``requests.Session`` and mutable caches,
neither documented as thread-safe (reference §6.5). We keep **one client per thread**
(``threading.local``) rather than one client behind a lock, so a call sleeping out a
``Retry-After`` never blocks another thread's unrelated call. Each new client costs one
``serverInfo`` GET; the adapter's caches (fields, projects, workflows) are shared.

Retries: the library's own ``ResilientSession`` retry is switched off (``max_retries=0``)
so it can never re-send a create after a dropped connection (§6.4) and its waits do not
multiply with ours. Our layer (tenacity) retries:

* 429 (any method: the server did not process it) after ``Retry-After`` /
  ``X-RateLimit-Reset``, pausing the scope named by ``RateLimit-Reason``;
* 5xx (503 with Retry-After: after it), timeouts and dropped connections only for
  idempotent calls;
* a connection that was never established (connect timeout, refused) for every call.

A non-idempotent call that may have reached the server raises ``AmbiguousWrite``.
Errors never carry ``str(JIRAError)``: it prints request headers, Authorization included.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import requests
import structlog
from jira import JIRA, JIRAError
from jira.resilientsession import parse_errors
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from urllib3.exceptions import MaxRetryError, NewConnectionError

from syncd.errors import (
    AmbiguousWrite,
    CredentialError,
    MalformedResponse,
    NotAllowed,
    NotFound,
    RateLimited,
    Rejected,
    RemoteError,
    TransientError,
    Unreachable,
)
from syncd.netcause import connection_cause, safe_url
from syncd.quota import TokenBucket
from syncd.retry_after import parse_http_date
from syncd.tally import RequestTally
from syncd.tracker.options import JiraOptions
from syncd.tracker.ratelimit import PauseBoard, Scope, retry_hint

log = structlog.get_logger(__name__)
T = TypeVar("T")
_SYSTEM = "jira"
_MAX_MESSAGE = 500


@dataclass(frozen=True)
class Call:
    """What is being called: ``route`` is a template (``PUT /issue/{id}``), never a URL.

    ``write_issue`` names the issue a write targets, so a per-issue 429 pauses only it.
    """

    route: str
    idempotent: bool
    write_issue: str | None = None


class _Busy(TransientError):
    """503 with Retry-After: the server asks for a pause, like a 429."""

    def __init__(self, message: str, *, retry_after: float, route: str) -> None:
        super().__init__(message, system=_SYSTEM, route=route, status=503)
        self.retry_after: float = retry_after


class _Answered(Exception):
    """Jira answered with an error status: carries it past the tally to the caller."""

    def __init__(self, status: int | str, error: Exception) -> None:
        super().__init__(status)
        self.status = status
        self.error = error


def _never_connected(exc: requests.ConnectionError) -> bool:
    # a TLS handshake fails before any byte of the request is sent
    if isinstance(exc, (requests.ConnectTimeout, requests.exceptions.SSLError)):
        return True
    inner = exc.args[0] if exc.args else None
    if isinstance(inner, MaxRetryError):
        inner = inner.reason
    return isinstance(inner, NewConnectionError)


def _messages(exc: JIRAError) -> str:
    if exc.response is None:
        return ""
    try:
        found = parse_errors(exc.response)
    except Exception:  # a body we cannot read says nothing useful
        return ""
    text = "; ".join(str(m) for m in found if m)
    return text[:_MAX_MESSAGE]


class Transport:
    """Per-thread ``JIRA`` clients plus the pacing/retry/translation wrapper."""

    def __init__(
        self,
        options: JiraOptions,
        *,
        bucket: TokenBucket | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._options = options
        self.bucket = bucket or TokenBucket("jira", options.requests_per_minute)
        self.pauses = PauseBoard()
        self.tally = RequestTally()
        self._sleep = sleep
        self._local = threading.local()
        self._clients: list[JIRA] = []
        self._lock = threading.Lock()
        self._field_clauses: dict[str, str] = {}
        self._deployment_type: str | None = None
        self._server_version: tuple[int, ...] = (0, 0, 0)

    # -- clients -----------------------------------------------------------------------

    def _build(self) -> JIRA:
        opts = self._options
        auth: dict[str, Any]
        if opts.personal_access_token:
            auth = {"token_auth": opts.personal_access_token}
        else:
            auth = {"basic_auth": (opts.email, opts.api_token or "")}
        with self._lock:
            known_deployment = self._deployment_type
            known_fields = dict(self._field_clauses)
            if not known_fields:
                # the library fills this cache itself on a client's first search
                for other in self._clients:
                    cached = getattr(other, "_fields_cache_value", None)
                    if cached:
                        known_fields = dict(cached)
                        break
        client = JIRA(
            server=opts.base_url,
            options={"rest_api_version": "2"},  # v2: wiki-markup strings, not ADF
            timeout=(min(5.0, opts.timeout_seconds), opts.timeout_seconds),
            max_retries=0,
            logging=False,
            # "auto" asks serverInfo once per process (the first client); later clients
            # (one per thread) reuse the answer, so a new worker thread costs no request
            get_server_info=opts.deployment == "auto" and known_deployment is None,
            **auth,
        )
        if opts.deployment == "cloud":
            client.deploymentType = "Cloud"
        elif known_deployment is not None:
            client.deploymentType = known_deployment
            client._version = self._server_version
        elif opts.deployment == "auto":
            with self._lock:
                self._deployment_type = client.deploymentType
                self._server_version = client._version
        # every answer's Date header: the server's clock, which bounds the watermark
        client._session.hooks["response"].append(self._note_server_time)
        if known_fields:
            # Pre-fill the library's field-name cache so its first search does not GET
            # /field again (it was read once already, for the whole process).
            client._fields_cache_value = known_fields
        log.info(
            "jira_client_created",
            deployment=client.deploymentType or opts.deployment,
            thread=threading.current_thread().name,
        )
        return client

    def _note_server_time(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if getattr(self._local, "server_time", None) is None:
            self._local.server_time = parse_http_date(response.headers.get("Date"))

    def start_server_clock(self) -> None:
        """From now on (this thread), remember the ``Date`` of the first answer."""
        self._local.server_time = None

    def server_time(self) -> datetime | None:
        """The ``Date`` of the first answer on this thread since ``start_server_clock``."""
        value: datetime | None = getattr(self._local, "server_time", None)
        return value

    def client(self) -> JIRA:
        client: JIRA | None = getattr(self._local, "client", None)
        if client is None:
            client = self._build()
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def seed_field_cache(self, clauses: Mapping[str, str]) -> None:
        with self._lock:
            self._field_clauses = dict(clauses)
            for client in self._clients:
                client._fields_cache_value = dict(clauses)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()  # type: ignore[no-untyped-call]
        self._local = threading.local()

    def is_cloud(self) -> bool:
        return self.execute(Call("GET /serverInfo", True), lambda c: bool(c._is_cloud))

    # -- calls -------------------------------------------------------------------------

    def request(
        self,
        call: Call,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        before_send: Callable[[], None] | None = None,
        api: str | None = None,
    ) -> Any:
        """One REST call through the library's session; the decoded JSON body or None.

        ``path`` is under the REST API (``/rest/api/2/``), or with ``api`` under another
        of Jira's REST roots (``webhooks/1.0`` for ``/rest/webhooks/1.0/``).

        ``before_send`` runs right before each attempt goes on the wire (after pacing,
        pauses and retry waits), so the caller can take the write back at the last moment
        by raising ``WriteWithdrawn``; it is never retried.
        """

        def go(client: JIRA) -> Any:
            if api is None:
                url = client._get_url(path)
            else:
                url = f"{str(client._options['server']).rstrip('/')}/rest/{api}/{path}"
            data = json.dumps(body) if body is not None else None
            if before_send is not None:
                before_send()
            response = client._session.request(method, url, params=params, data=data)
            if response.status_code == 204 or not response.content:
                return None
            return response.json()

        return self.execute(call, go)

    def execute(self, call: Call, fn: Callable[[JIRA], T]) -> T:
        """Run ``fn(client)`` under pacing, pauses, retries and error translation."""
        retrying = Retrying(
            stop=stop_after_attempt(self._options.retry_attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda exc: self._should_retry(call, exc)),
            sleep=self._sleep,
            before_sleep=lambda state: self._log_retry(call, state),
            reraise=True,
        )
        result: T = retrying(self._once, call, fn)
        return result

    def _once(self, call: Call, fn: Callable[[JIRA], T]) -> T:
        self._respect_pauses(call)
        self.bucket.acquire()
        try:
            result = self._send(call, fn)
        except _Answered as answered:
            self.tally.request(call.route, answered.status)
            raise answered.error from None
        except BaseException as exc:
            self.tally.request(call.route, type(exc).__name__)
            raise
        # the library's methods hide a 2xx's exact status
        self.tally.request(call.route, "ok")
        return result

    def _send(self, call: Call, fn: Callable[[JIRA], T]) -> T:
        try:
            return fn(self.client())
        except JIRAError as exc:
            error = self._translate(call, exc)
            raise _Answered(exc.status_code or "no status", error) from None
        except requests.ConnectionError as exc:
            if _never_connected(exc):
                raise Unreachable(
                    f"cannot reach Jira at {safe_url(self._options.base_url)} ({call.route}): "
                    f"{connection_cause(exc)}; check jira.url",
                    system=_SYSTEM,
                    route=call.route,
                ) from None
            raise self._lost(call, connection_cause(exc)) from None
        except requests.Timeout:
            seconds = self._options.timeout_seconds
            raise self._lost(
                call, f"no answer within {seconds:g}s (jira.timeout_seconds)"
            ) from None
        except ValueError:  # a JSON body that does not decode (requests' JSONDecodeError)
            raise MalformedResponse(
                f"{call.route}: response is not valid JSON", system=_SYSTEM, route=call.route
            ) from None
        except requests.RequestException as exc:
            raise self._lost(call, type(exc).__name__) from None

    def _lost(self, call: Call, what: str) -> TransientError:
        where = f"Jira at {safe_url(self._options.base_url)} ({call.route})"
        if call.idempotent:
            return TransientError(f"{where}: {what}", system=_SYSTEM, route=call.route)
        return AmbiguousWrite(
            f"{where}: {what} after sending; the write may have been applied",
            system=_SYSTEM,
            route=call.route,
        )

    def _translate(self, call: Call, exc: JIRAError) -> Exception:
        status = exc.status_code
        detail = _messages(exc)
        text = f"{call.route} -> HTTP {status}" + (f": {detail}" if detail else "")
        headers: Mapping[str, str] = exc.response.headers if exc.response is not None else {}
        if status == 429 or (status == 503 and "retry-after" in {h.lower() for h in headers}):
            hint = retry_hint(headers)
            if hint.scope is Scope.ISSUE and call.write_issue is not None:
                self.pauses.pause_issue(call.write_issue, hint.seconds)
            elif hint.scope is Scope.ROUTE:
                self.pauses.pause_route(call.route, hint.seconds)
            else:
                self.bucket.pause(hint.seconds)
            log.warning(
                "jira_rate_limited",
                route=call.route,
                status=status,
                reason=hint.reason,
                scope=hint.scope.value,
                retry_after=hint.seconds,
                issue=call.write_issue,
            )
            if status == 503:
                if not call.idempotent:
                    # Unlike a 429, a 503 may come from a proxy after Jira committed the
                    # write: never re-send a create blindly.
                    return AmbiguousWrite(
                        f"{text}; the write may have been applied",
                        system=_SYSTEM,
                        route=call.route,
                        status=status,
                    )
                return _Busy(text, retry_after=hint.seconds, route=call.route)
            return RateLimited(text, retry_after=hint.seconds, system=_SYSTEM, route=call.route)
        if status == 401:
            keys = (
                "jira.personal_access_token"
                if self._options.personal_access_token
                else "jira.email and jira.api_token"
            )
            return CredentialError(
                f"Jira at {safe_url(self._options.base_url)} rejected the credentials "
                f"({call.route} -> HTTP 401" + (f": {detail}" if detail else "") + f"); "
                f"check {keys}"
            )
        if status == 403:
            return NotAllowed(text, system=_SYSTEM, route=call.route, status=status)
        if status == 404:
            return NotFound(text, system=_SYSTEM, route=call.route, status=status)
        if status in (400, 409, 422):
            return Rejected(text, system=_SYSTEM, route=call.route, status=status)
        if status is None or status >= 500:
            if not call.idempotent:
                return AmbiguousWrite(
                    f"{text}; the write may have been applied",
                    system=_SYSTEM,
                    route=call.route,
                    status=status,
                )
            return TransientError(text, system=_SYSTEM, route=call.route, status=status)
        return RemoteError(text, system=_SYSTEM, route=call.route, status=status)

    def _respect_pauses(self, call: Call) -> None:
        remaining = self.pauses.remaining(call.route, call.write_issue)
        if remaining <= 0:
            return
        if remaining > self._options.max_retry_wait_seconds:
            raise RateLimited(
                f"{call.route}: paused by an earlier 429",
                retry_after=remaining,
                system=_SYSTEM,
                route=call.route,
            )
        self._sleep(remaining)

    def _should_retry(self, call: Call, exc: BaseException) -> bool:
        if isinstance(exc, RateLimited | _Busy):
            return exc.retry_after <= self._options.max_retry_wait_seconds
        if isinstance(exc, AmbiguousWrite):
            return False
        if isinstance(exc, Unreachable):
            return True
        return isinstance(exc, TransientError) and call.idempotent

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, RateLimited | _Busy):
            # The pause board / bucket already hold the pause; waiting here too keeps the
            # retry from spinning on them.
            return float(min(exc.retry_after, self._options.max_retry_wait_seconds))
        base = self._options.backoff_initial_seconds * float(2 ** (state.attempt_number - 1))
        return min(base, 30.0) * random.uniform(0.5, 1.0)  # noqa: S311 (jitter, not crypto)

    def _log_retry(self, call: Call, state: RetryCallState) -> None:
        self.tally.retry(call.route)
        exc = state.outcome.exception() if state.outcome is not None else None
        log.info(
            "jira_retry",
            route=call.route,
            attempt=state.attempt_number,
            error=type(exc).__name__ if exc else None,
            status=getattr(exc, "status", None),
        )
