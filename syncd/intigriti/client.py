"""HTTP to the Intigriti External API: pacing, retries, 401 refresh, error translation.

One ``IntigritiClient.call`` per API request. Before a request is sent a token is taken
from the read bucket (GET) or the write bucket (PUT/POST), so syncd stays under the quota
instead of learning it from 429s. The caller's priority comes from a context variable:
``with client.priority(Priority.BACKFILL): ...`` makes the calls in that block yield to
live work waiting on the same bucket (a context variable does not follow work handed to
another thread; set it in that thread).

Retries (tenacity):

* 429 on any call: the server refused it, so it was not applied; the whole bucket is
  paused for ``Retry-After`` (seconds or HTTP-date) or ``X-RateLimit-Reset``, then the call
  is sent again.
* 5xx, timeouts and dropped connections: exponential backoff with jitter, for idempotent
  calls only (GETs, and PUTs of absolute values). A non-idempotent call (POST comment,
  PUT state with a trigger) is never resent once it may have reached the server: a lost
  answer becomes ``AmbiguousWrite``. A connection that was never established is safe to
  retry for every call.
* 401: one token refresh and one resend (expiring tokens only); a second 401 is a
  ``CredentialError``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, Protocol
from urllib.parse import quote

import httpx
import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

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
from syncd.quota import Priority, TokenBucket, current_priority
from syncd.quota import priority as quota_priority
from syncd.retry_after import parse_http_date, parse_retry_after
from syncd.tally import RequestTally

log = structlog.get_logger(__name__)

SYSTEM = "intigriti"

#: Pause when a 429 names no delay at all (CHOSEN: the reference documents no headers).
DEFAULT_RATE_LIMIT_PAUSE = 1.0
#: Longest pause a server header may impose at once; a bogus date must not stall syncd.
MAX_RATE_LIMIT_PAUSE = 300.0
#: Route label of attachment downloads (their URLs are absolute and opaque).
ATTACHMENT_ROUTE = "GET {attachment}"
#: Redirects followed by a download before it is refused.
MAX_REDIRECTS = 5
#: a streamed body (the full listing) stays in memory up to this size, then goes to disk
SPOOL_IN_MEMORY_BYTES = 1 << 20
STREAM_CHUNK_BYTES = 1 << 16


@dataclass(frozen=True)
class Download:
    """A fetched file: its bytes, the server's Content-Type and Content-Disposition, and
    the URL it was finally read from (after redirects)."""

    content: bytes
    content_type: str | None
    disposition: str | None
    url: str


class Authenticator(Protocol):
    """Supplies bearer tokens (``syncd.intigriti.oauth.OAuthSession`` implements it)."""

    @property
    def refreshable(self) -> bool: ...

    def access_token(self) -> str: ...

    def refresh_after_unauthorized(self, rejected: str) -> None: ...


def paced_rate(quota_per_minute: float) -> float:
    """The bucket rate that keeps any 60-second window within ``quota_per_minute``.

    A bucket of size 1 at rate r lets at most 1 + r requests into any 60-second window;
    a 2 % margin more absorbs jitter between our clock and the server's arrival times.
    """
    return max(min(quota_per_minute * 0.98, quota_per_minute - 1.5), quota_per_minute / 2)


def quote_segment(value: str) -> str:
    """One path segment, escaped (codes are opaque strings)."""
    return quote(value, safe="")


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """The delay a 429 asks for: the longer of ``Retry-After`` and ``X-RateLimit-Reset``.

    ``Retry-After`` is delta-seconds or an HTTP-date (RFC 9110). ``X-RateLimit-Reset`` is
    undocumented for Intigriti; CHOSEN: a value above 10^9 is an epoch instant, a smaller one
    is seconds from now. None when neither header is usable.
    """
    current = now or datetime.now(UTC)
    candidates: list[float] = []
    retry_after = parse_retry_after(headers.get("retry-after"), current)
    if retry_after is not None:
        candidates.append(retry_after)
    reset = headers.get("x-ratelimit-reset")
    if reset:
        try:
            value = float(reset.strip())
        except ValueError:
            value = None
        if value is not None:
            candidates.append(value - current.timestamp() if value > 1e9 else value)
    if not candidates:
        return None
    return min(max(0.0, *candidates), MAX_RATE_LIMIT_PAUSE)


def _server_reason(response: httpx.Response) -> str:
    """A short reason from an error body (ErrorModel / ProblemDetails / OAuth), if any."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, Mapping):
        for key in ("detail", "title", "message", "error_description", "error", "code"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:300]
    return ""


class IntigritiClient:
    """Sends paced, retried, authenticated requests to the External API."""

    def __init__(
        self,
        api_url: str,
        auth: Authenticator,
        *,
        read_bucket: TokenBucket,
        write_bucket: TokenBucket,
        timeout_seconds: float = 30.0,
        max_attempts: int = 5,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api_url = api_url.rstrip("/")
        self._auth = auth
        self._buckets = {"read": read_bucket, "write": write_bucket}
        self._timeout = timeout_seconds
        self._max_attempts = max_attempts
        self._backoff = wait_random_exponential(multiplier=backoff_initial, max=backoff_max)
        self._sleep = sleep
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_seconds),
            headers={"Accept": "application/json", "User-Agent": "syncd"},
            follow_redirects=False,
        )
        self.tally = RequestTally()

    # -- public ------------------------------------------------------------------------

    @contextlib.contextmanager
    def priority(self, priority: Priority) -> Iterator[None]:
        """Calls made in this block (this thread/context) take tokens at ``priority``."""
        with quota_priority(priority):
            yield

    def request_counts(self) -> Counter[tuple[str, str]]:
        """Requests sent so far, by (route template, HTTP status or error name)."""
        return self.tally.requests()

    def record(self, route: str, outcome: int | str) -> None:
        self.tally.request(route, outcome)

    def buckets(self) -> list[TokenBucket]:
        return list(self._buckets.values())

    def bucket_stats(self) -> dict[str, Any]:
        return {kind: bucket.stats() for kind, bucket in self._buckets.items()}

    def close(self) -> None:
        self._http.close()

    def call(
        self,
        method: str,
        route: str,
        *,
        path: Mapping[str, str] | None = None,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
        idempotent: bool | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> Any:
        """Send ``method`` to ``route`` (a template like ``/submissions/{code}``).

        Returns the decoded JSON body (None for an empty one). ``idempotent`` defaults to
        True for GET and False otherwise; say True for a PUT of absolute values.
        ``before_send`` runs right before each attempt goes on the wire (after the quota
        wait); raising ``WriteWithdrawn`` there sends nothing.
        """
        body_out, _date = self.call_dated(
            method,
            route,
            path=path,
            params=params,
            body=body,
            idempotent=idempotent,
            before_send=before_send,
        )
        return body_out

    def call_dated(
        self,
        method: str,
        route: str,
        *,
        path: Mapping[str, str] | None = None,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
        idempotent: bool | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> tuple[Any, datetime | None]:
        """Like ``call``, plus the server's clock at the answer (its ``Date`` header)."""
        method = method.upper()
        if idempotent is None:
            idempotent = method == "GET"
        url = self._api_url + route.format(
            **{key: quote_segment(value) for key, value in (path or {}).items()}
        )
        label = f"{method} {route}"
        retrying = self._retrying(label, idempotent=idempotent)
        response = retrying(
            self._send_authenticated,
            method,
            url,
            label,
            params,
            body,
            idempotent=idempotent,
            before_send=before_send,
        )
        return self._decode(response, label), parse_http_date(response.headers.get("date"))

    def call_to_file(
        self, route: str, *, params: Mapping[str, str | int] | None = None
    ) -> tuple[IO[bytes], datetime | None]:
        """GET ``route`` with its body written to a temporary file, never held in memory.

        For the full listing, one JSON array of every submission (tens of MB on a large
        program). Same pacing, retries and errors as :meth:`call`; a retried attempt
        starts the file afresh. Returns the file, rewound, and the server's clock; the
        caller closes the file.
        """
        url = self._api_url + route
        label = f"GET {route}"
        with contextlib.ExitStack() as on_failure:
            sink: IO[bytes] = on_failure.enter_context(
                tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)
            )
            try:
                response = self._retrying(label, idempotent=True)(
                    self._send_authenticated,
                    "GET",
                    url,
                    label,
                    params,
                    None,
                    idempotent=True,
                    sink=sink,
                )
            except OSError as exc:
                # the spool went to disk and the disk refused (full, read-only): a failed
                # read of this cycle, said plainly, not a crash
                raise TransientError(
                    f"{label}: the answer could not be written to the temporary directory"
                    f" ({tempfile.gettempdir()}): {exc.strerror or exc}; free space there or"
                    " point TMPDIR elsewhere",
                    system=SYSTEM,
                    route=label,
                ) from None
            on_failure.pop_all()  # the caller owns the file now
        sink.seek(0)
        return sink, parse_http_date(response.headers.get("date"))

    def download(self, url: str, max_bytes: int) -> Download:
        """GET one file by absolute URL, refusing (``Rejected``) more than ``max_bytes``.

        The size is checked on ``Content-Length`` before reading and again while reading
        (a server may not send it, or lie), so at most ``max_bytes + 1`` bytes are held.
        Redirects are followed here, not by httpx, so the bearer token goes only to the
        API's own origin: a file served from another host never sees it. Paced by the read
        bucket, retried like any GET; a 404 or 403 for one file is ``Rejected`` (the caller
        skips that file), not a fault of the integration.
        """
        retrying = self._retrying(ATTACHMENT_ROUTE, idempotent=True)
        try:
            return retrying(self._download_authenticated, url, max_bytes)
        except (NotFound, NotAllowed) as exc:
            raise Rejected(
                f"{ATTACHMENT_ROUTE}: the file is not available (HTTP {exc.status})",
                system=SYSTEM,
                route=ATTACHMENT_ROUTE,
                status=exc.status,
            ) from None

    def _download_authenticated(self, url: str, max_bytes: int) -> Download:
        token = self._auth.access_token()
        fetched, carried = self._download_once(url, max_bytes, token)
        if isinstance(fetched, httpx.Response) and fetched.status_code == 401 and carried:
            self._auth.refresh_after_unauthorized(token)
            fetched, _carried = self._download_once(url, max_bytes, self._auth.access_token())
        if isinstance(fetched, httpx.Response):
            self._raise_for_status(fetched, ATTACHMENT_ROUTE)
            raise MalformedResponse(  # a 2xx is never returned as a Response
                f"{ATTACHMENT_ROUTE}: unexpected answer", system=SYSTEM, route=ATTACHMENT_ROUTE
            )
        return fetched

    @staticmethod
    def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
        """Scheme, host and port, the default port made explicit (httpx lower-cases the
        host and drops user info)."""
        port = url.port or {"https": 443, "http": 80}.get(url.scheme)
        return url.scheme, url.host, port

    def _download_once(
        self, url: str, max_bytes: int, token: str
    ) -> tuple[Download | httpx.Response, bool]:
        """One download, following redirects; an error answer is returned, read. The
        second value says whether the last request carried the token.

        The token goes with a request only while every hop so far stayed on the API's
        origin: a URL elsewhere that redirects back to the API gets no token (it could
        otherwise make syncd fetch any API resource and upload it as a file).
        """
        label = ATTACHMENT_ROUTE
        api = self._origin(httpx.URL(self._api_url))
        current = httpx.URL(url)
        trusted = True
        for _hop in range(MAX_REDIRECTS + 1):
            if current.scheme not in ("http", "https"):
                raise Rejected(
                    f"{label}: not an http(s) URL ({current.scheme or 'no scheme'})",
                    system=SYSTEM,
                    route=label,
                )
            trusted = trusted and self._origin(current) == api
            headers = {"Accept": "*/*", "Accept-Encoding": "identity"}
            if trusted:
                headers["Authorization"] = f"Bearer {token}"
            self._buckets["read"].acquire(current_priority())
            try:
                with self._http.stream(
                    "GET", current, headers=headers, timeout=self._timeout
                ) as response:
                    self.record(label, response.status_code)
                    if response.is_redirect:
                        current = response.url.join(response.headers.get("location", ""))
                        continue
                    if response.status_code >= 300:
                        response.read()
                        return response, trusted
                    return self._read_capped(response, max_bytes), trusted
            except httpx.TransportError as exc:
                self.record(label, type(exc).__name__)
                raise self._transport_error(exc, label, str(current), idempotent=True) from None
        raise Rejected(
            f"{label}: more than {MAX_REDIRECTS} redirects", system=SYSTEM, route=label
        )

    @staticmethod
    def _read_capped(response: httpx.Response, max_bytes: int) -> Download:
        label = ATTACHMENT_ROUTE
        too_large = Rejected(
            f"{label}: larger than attachment_max_bytes ({max_bytes} bytes)",
            system=SYSTEM,
            route=label,
        )
        declared = response.headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > max_bytes:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        # decoded bytes: a server that compresses despite "identity" still yields the file,
        # and the cap bounds what is kept (a decompression bomb stops after the one chunk
        # that passes it)
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise too_large
            chunks.append(chunk)
        return Download(
            content=b"".join(chunks),
            content_type=response.headers.get("content-type"),
            disposition=response.headers.get("content-disposition"),
            url=str(response.url),
        )

    # -- one attempt -------------------------------------------------------------------

    def _send_authenticated(
        self,
        method: str,
        url: str,
        label: str,
        params: Mapping[str, str | int] | None,
        body: Any,
        *,
        idempotent: bool,
        sink: IO[bytes] | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> httpx.Response:
        token = self._auth.access_token()
        send = functools.partial(
            self._send,
            method,
            url,
            label,
            params,
            body,
            idempotent,
            sink=sink,
            before_send=before_send,
        )
        response = send(token=token)
        if response.status_code == 401:
            log.info("intigriti_unauthorized", route=label, refreshable=self._auth.refreshable)
            # Raises CredentialError for a static token or a refresh the server refuses.
            self._auth.refresh_after_unauthorized(token)
            fresh = self._auth.access_token()
            response = send(token=fresh)
            if response.status_code == 401:
                raise CredentialError(
                    f"Intigriti rejected a freshly refreshed access token on {label}: the "
                    "integration may be deactivated or the API user lost access. "
                    "Run `syncd auth login` to authorize syncd again."
                )
        self._raise_for_status(response, label)
        return response

    def _send(
        self,
        method: str,
        url: str,
        label: str,
        params: Mapping[str, str | int] | None,
        body: Any,
        idempotent: bool,
        *,
        token: str,
        sink: IO[bytes] | None = None,
        before_send: Callable[[], None] | None = None,
    ) -> httpx.Response:
        """One request. With ``sink``, a 2xx body goes to that file (from its start)
        instead of the response; an error body is read as usual."""
        kind = "read" if method == "GET" else "write"
        waited = self._buckets[kind].acquire(current_priority())
        if before_send is not None:
            before_send()  # after the wait: the caller's last word on whether to send
        started = time.monotonic()
        try:
            request = self._http.build_request(
                method,
                url,
                params=params,
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self._timeout,
            )
            response = self._http.send(request, stream=sink is not None)
            if sink is not None:
                try:
                    if response.status_code < 300:
                        sink.seek(0)
                        sink.truncate()
                        for chunk in response.iter_bytes(STREAM_CHUNK_BYTES):
                            sink.write(chunk)
                    else:
                        response.read()
                finally:
                    response.close()
        except httpx.TransportError as exc:
            self.record(label, type(exc).__name__)
            log.debug(
                "intigriti_request_failed",
                route=label,
                error=type(exc).__name__,
                waited_s=round(waited, 3),
            )
            raise self._transport_error(exc, label, url, idempotent=idempotent) from None
        self.record(label, response.status_code)
        log.debug(
            "intigriti_request",
            route=label,
            status=response.status_code,
            elapsed_ms=round((time.monotonic() - started) * 1000, 1),
            waited_s=round(waited, 3),
        )
        return response

    def _transport_error(
        self, exc: httpx.TransportError, label: str, url: str, *, idempotent: bool
    ) -> RemoteError:
        where = f"Intigriti at {safe_url(url)} ({label})"
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
            return Unreachable(
                f"cannot reach {where}: {connection_cause(exc)}; check intigriti.api_url",
                system=SYSTEM,
                route=label,
            )
        if isinstance(exc, httpx.TimeoutException):
            cause = f"no answer within {self._timeout:g}s (intigriti.timeout_seconds)"
        else:
            cause = connection_cause(exc)
        if not idempotent:
            return AmbiguousWrite(
                f"{where}: {cause} after sending; the write may or may not have been applied",
                system=SYSTEM,
                route=label,
            )
        return TransientError(f"{where}: {cause}", system=SYSTEM, route=label)

    def _raise_for_status(self, response: httpx.Response, label: str) -> None:
        status = response.status_code
        if status < 300:
            return
        reason = _server_reason(response)
        suffix = f": {reason}" if reason else ""
        if status == 429:
            delay = retry_after_seconds(response.headers)
            pause = DEFAULT_RATE_LIMIT_PAUSE if delay is None else delay
            kind = "read" if label.startswith("GET ") else "write"
            self._buckets[kind].pause(pause)
            log.warning("intigriti_rate_limited", route=label, pause_s=round(pause, 3))
            raise RateLimited(
                f"{label}: rate limited (HTTP 429)", retry_after=pause, system=SYSTEM, route=label
            )
        error: type[RemoteError]
        if status == 403:
            error = NotAllowed
        elif status == 404:
            error = NotFound
        elif status >= 500:
            error = TransientError
        else:  # 400, 409, 422 and any other refusal
            error = Rejected
        raise error(f"{label}: HTTP {status}{suffix}", system=SYSTEM, route=label, status=status)

    @staticmethod
    def _decode(response: httpx.Response, label: str) -> Any:
        if not response.content:
            return None
        try:
            return json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            raise MalformedResponse(
                f"{label}: the body is not valid JSON (HTTP {response.status_code})",
                system=SYSTEM,
                route=label,
                status=response.status_code,
            ) from None

    # -- retry policy ------------------------------------------------------------------

    def _retrying(self, label: str, *, idempotent: bool) -> Retrying:
        """The retry loop of one call: see the module doc for what is retried."""
        return Retrying(
            retry=retry_if_exception(lambda exc: self._retryable(exc, idempotent=idempotent)),
            wait=self._wait,
            stop=stop_after_attempt(self._max_attempts),
            sleep=self._sleep,
            before_sleep=lambda state: self._log_retry(label, state),
            reraise=True,
        )

    @staticmethod
    def _retryable(exc: BaseException, *, idempotent: bool) -> bool:
        if isinstance(exc, (RateLimited, Unreachable)):
            return True
        if isinstance(exc, AmbiguousWrite):
            return False
        return idempotent and isinstance(exc, TransientError)

    def _wait(self, state: RetryCallState) -> float:
        outcome = state.outcome
        if outcome is not None and isinstance(outcome.exception(), RateLimited):
            return 0.0  # the bucket pause already holds the next attempt back
        return float(self._backoff(state))

    def _log_retry(self, label: str, state: RetryCallState) -> None:
        self.tally.retry(label)
        exc = state.outcome.exception() if state.outcome is not None else None
        log.info(
            "intigriti_retry",
            route=label,
            attempt=state.attempt_number,
            error=type(exc).__name__ if exc else None,
            status=getattr(exc, "status", None),
        )
