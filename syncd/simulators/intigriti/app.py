"""The Starlette app: Company API under each version prefix, identity routes, control API.

Every API and identity request goes through one pipeline (``_Pipeline``): injected faults
(stall, 5xx, 429 storm), then bearer authentication (401), scopes (403), the read/write
quota (429), the handler, and for a ``drop`` fault the connection is cut after the handler
committed its change. Each request is counted by method, route template and status.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from syncd.simulators.intigriti import http_oauth
from syncd.simulators.intigriti.context import SimContext, error_response
from syncd.simulators.intigriti.faults import FaultRule
from syncd.simulators.intigriti.http_api import API_ROUTES, FILE_ROUTE, ApiRoute
from syncd.simulators.intigriti.http_control import control_routes
from syncd.simulators.intigriti.model import ApiError

log = structlog.get_logger(__name__)

API_PREFIXES = ("/external/company/v2.0", "/external/company/v2.1", "/external/company/v2")

OAuthHandler = Callable[[SimContext, Request], Awaitable[Response]]


class DroppedConnection(Exception):
    """Raised inside the app to make uvicorn close the socket mid-response."""


class _QuietDrops(logging.Filter):
    # uvicorn logs every exception escaping the app; an injected drop is not an error.
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


_quiet = _QuietDrops()


def install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if _quiet not in logger.filters:
        logger.addFilter(_quiet)


class _Pipeline:
    """One route's ASGI endpoint (Starlette treats a non-function endpoint as ASGI)."""

    def __init__(
        self,
        ctx: SimContext,
        *,
        method: str,
        template: str,
        prefix: str,
        api: ApiRoute | None = None,
        oauth: OAuthHandler | None = None,
    ) -> None:
        self._ctx = ctx
        self._method = method
        self._template = template
        self._prefix = prefix
        self._api = api
        self._oauth = oauth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = self._ctx
        request = Request(scope, receive)
        method = request.method if request.method != "HEAD" else "GET"
        path = scope["path"][len(self._prefix) :]
        statuses: list[int] = []

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(int(message["status"]))
            await send(message)

        fired = ctx.faults.take(method, self._template, path)
        try:
            stall = fired.get("stall")
            if stall is not None:
                log.info("sim_fault_stall", route=self._template, seconds=stall.seconds)
                await asyncio.sleep(stall.seconds)
            response = self._injected(fired)
            if response is None:
                response = await self._handle(request)
            if "drop" in fired:
                await self._drop(response, counting_send)
            if "truncate" in fired:
                response = self._truncated(response)
            await response(scope, receive, counting_send)
        finally:
            if statuses:
                ctx.counters.record(method, self._template, statuses[0])
                ctx.journal.record(method, scope["path"], statuses[0])

    def _injected(self, fired: dict[str, FaultRule]) -> Response | None:
        storm = fired.get("rate_limit")
        if storm is not None:
            return error_response(
                429,
                "rate_limit_exceeded",
                "API rate limit hit",
                headers={"Retry-After": str(storm.retry_after)},
            )
        failure = fired.get("error")
        if failure is not None:
            return error_response(failure.status, "injected_fault", "Internal server error")
        return None

    async def _handle(self, request: Request) -> Response:
        if self._oauth is not None:
            return await self._oauth(self._ctx, request)
        assert self._api is not None
        ctx = self._ctx
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        record = ctx.oauth.authenticate(token) if token else None
        if record is None:
            return error_response(
                401,
                "unauthorized",
                "Unauthorized",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        kind = self._api.kind
        needed = {"company_external_api", f"core_platform:{kind}"}
        missing = sorted(needed - record.scopes)
        if missing:
            return error_response(403, "insufficient_scope", f"Missing scope: {' '.join(missing)}")
        key = record.client_id if ctx.options.rate_limit_key == "client" else token
        decision = ctx.limiter.check(key, kind)
        limit_headers = {
            "X-RateLimit-Limit": str(decision.limit),
            "X-RateLimit-Remaining": str(decision.remaining),
            # CHOSEN: epoch seconds (the reference documents no rate-limit headers, §5).
            "X-RateLimit-Reset": str(int(decision.reset_at) + 1),
        }
        if not decision.allowed:
            log.info("sim_rate_limited", route=self._template, kind=kind)
            return error_response(
                429,
                "rate_limit_exceeded",
                "API rate limit hit",
                headers={"Retry-After": str(decision.retry_after), **limit_headers},
            )
        response: Response
        try:
            response = await self._api.handler(ctx, request, record.user)
        except ApiError as exc:
            response = error_response(exc.status, exc.code, exc.title)
        response.headers.update(limit_headers)
        return response

    def _truncated(self, response: Response) -> Response:
        """The handled (committed) response with its JSON body cut in half."""
        body = bytes(response.body)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        log.info("sim_fault_truncate", route=self._template)
        return Response(body[: len(body) // 2], status_code=response.status_code, headers=headers)

    async def _drop(self, response: Response, send: Send) -> None:
        """Start a response that promises more body than will ever come, then cut it."""
        body = bytes(response.body)
        # A 204 cannot carry a body, so the cut response is announced as 200 with one.
        status = 200 if response.status_code == 204 else response.status_code
        headers = [(k, v) for k, v in response.raw_headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body) + 512).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        partial = body[: len(body) // 2]
        await send({"type": "http.response.body", "body": partial, "more_body": True})
        log.info("sim_fault_drop", route=self._template)
        raise DroppedConnection("injected connection drop after commit")


def build_app(ctx: SimContext) -> Starlette:
    install_log_filter()
    routes: list[Any] = []
    for prefix in API_PREFIXES:
        for api in API_ROUTES:
            endpoint = _Pipeline(
                ctx, method=api.method, template=api.template, prefix=prefix, api=api
            )
            routes.append(Route(prefix + api.template, endpoint, methods=[api.method]))
    file_endpoint = _Pipeline(
        ctx, method="GET", template=FILE_ROUTE.template, prefix="", api=FILE_ROUTE
    )
    # The name is percent-encoded in the URL (views.attachment_url), but the ASGI path is
    # decoded: a researcher's name with a "/" in it spans segments, so match the rest.
    file_path = FILE_ROUTE.template.replace("{name}", "{name:path}")
    routes.append(Route(file_path, file_endpoint, methods=["GET"]))
    routes.append(
        Route(
            "/connect/authorize",
            _Pipeline(
                ctx,
                method="GET",
                template="/connect/authorize",
                prefix="",
                oauth=http_oauth.authorize,
            ),
            methods=["GET", "POST"],
        )
    )
    routes.append(
        Route(
            "/connect/token",
            _Pipeline(
                ctx, method="POST", template="/connect/token", prefix="", oauth=http_oauth.token
            ),
            methods=["POST"],
        )
    )
    routes.extend(control_routes(ctx))
    return Starlette(routes=routes)
