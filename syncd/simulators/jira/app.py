"""The simulator's ASGI application: routing, auth, rate limits, faults, counters.

Routing is done here (not by Starlette's router) because every request needs its route
template before anything else: counters and fault patterns are keyed by
``"METHOD /rest/api/2/issue/{issueIdOrKey}"``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import structlog
from starlette.requests import Request

from syncd.simulators.jira import admin_webhooks, api_routes, control_routes
from syncd.simulators.jira.errors import ApiError
from syncd.simulators.jira.faults import FaultBoard, RateLimiter, RateLimitHit
from syncd.simulators.jira.http import Ctx, Handler, Resp
from syncd.simulators.jira.model import User
from syncd.simulators.jira.state import JiraState

log = structlog.get_logger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_WRITE_METHODS = {"POST", "PUT", "DELETE"}
_VERSIONS = ("2", "3", "latest")


class DroppedConnection(Exception):
    """Raised after a committed write to cut the connection without a complete response."""


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # with the concrete API version, e.g. /rest/api/2/issue/{issueIdOrKey}
    pattern: re.Pattern[str]
    handler: Handler
    version: str
    auth: bool


def _compile(template: str) -> re.Pattern[str]:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile(f"^{regex}$")


def _routes() -> list[Route]:
    routes: list[Route] = []
    for version in _VERSIONS:
        for method, suffix, handler in api_routes.ROUTES:
            template = f"/rest/api/{version}{suffix}"
            auth = suffix != "/serverInfo"
            routes.append(Route(method, template, _compile(template), handler, version, auth))
    extra: list[tuple[str, str, Handler, bool]] = [
        ("GET", "/rest/applinks/latest/listApplicationlinks", _applinks, True),
        ("GET", "/rest/auth/1/session", _session, True),
        ("GET", "/rest/webhooks/1.0/webhook", admin_webhooks.list_webhooks, True),
        ("POST", "/rest/webhooks/1.0/webhook", admin_webhooks.register_webhook, True),
        ("PUT", "/rest/webhooks/1.0/webhook/{id}", admin_webhooks.update_webhook, True),
    ]
    for method, template, handler, auth in extra:
        routes.append(Route(method, template, _compile(template), handler, "2", auth))
    return routes


def _applinks(ctx: Ctx) -> Resp:
    # Non-admins get 403 here; the jira library turns that into a warning and carries on.
    raise ApiError(403, ["You do not have the permission to see the specified resource."])


def _session(ctx: Ctx) -> Resp:
    user = ctx.me
    return Resp(
        200,
        {
            "self": f"{ctx.base}/rest/api/latest/user?username={user.name}",
            "name": user.name,
            "loginInfo": {"failedLoginCount": 0, "loginCount": 1},
        },
    )


def _error_response(error: ApiError) -> Resp:
    return Resp(error.status, error.body(), dict(error.headers))


class JiraApp:
    """ASGI app: ``/_control/...`` (no auth) and the Jira REST API, under ``base_path``."""

    def __init__(
        self,
        state: JiraState,
        faults: FaultBoard,
        base_path: str = "",
        fresh_state: Callable[[], JiraState] | None = None,
    ) -> None:
        self.state = state
        self.faults = faults
        self.limiter = RateLimiter(state.clock)
        self.base_path = base_path.rstrip("/")
        self._routes = _routes()
        self._control = control_routes.ControlApi(state, faults, self.limiter, fresh_state)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        path: str = scope["path"]
        if self.base_path:
            if not path.startswith(self.base_path + "/"):
                await self._send(send, Resp(404, {"errorMessages": ["Not Found"], "errors": {}}))
                return
            path = path[len(self.base_path) :]
        host = request.headers.get("host", "127.0.0.1")
        base = f"{scope.get('scheme', 'http')}://{host}{self.base_path}"
        body = await request.body()
        if path.startswith("/_control/"):
            response = self._control.handle(request.method, path, request.query_params, body)
            await self._send(send, response)
            return
        await self._api(send, request, path, base, body)

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        path_exists = False
        for route in self._routes:
            match = route.pattern.match(path)
            if match is None:
                continue
            path_exists = True
            if route.method == method:
                return route, match.groupdict(), True
        return None, {}, path_exists

    async def _api(self, send: Send, request: Request, path: str, base: str, body: bytes) -> None:
        method = request.method.upper()
        route, params, path_exists = self._match(method, path)
        if route is None:
            status = 405 if path_exists else 404
            self.faults.count(f"{method} {path}")
            await self._send(send, Resp(status, {"errorMessages": ["Not Found"], "errors": {}}))
            return
        route_key = f"{method} {route.template}"
        self.faults.count(route_key)
        fired = {fault.kind: fault for fault in self.faults.take(route_key, f"{method} {path}")}
        stall = fired.get("stall")
        if stall is not None:
            await asyncio.sleep(stall.seconds)
        storm = fired.get("rate_limit")
        if storm is not None:
            retry_after = storm.retry_after if storm.retry_after is not None else 1
            hit = RateLimitHit(storm.reason, 100, retry_after)
            await self._send(send, _rate_limited(hit, self.state.settings.cloud))
            return
        error = fired.get("error")
        if error is not None:
            headers = {}
            if error.retry_after is not None:
                headers["Retry-After"] = str(error.retry_after)
            await self._send(
                send,
                Resp(
                    error.status,
                    {"errorMessages": ["Internal server error"], "errors": {}},
                    headers,
                ),
            )
            return
        response = self._handle(route, params, request, method, base, body)
        self.faults.journal.record(method, path, response.status)
        if "drop_after_commit" in fired:
            await self._drop(send, response)
            return
        if "malformed" in fired:
            await self._send(send, response, malformed=True)
            return
        await self._send(send, response)

    def _authenticate(self, request: Request) -> User | None:
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            username, separator, secret = decoded.partition(":")
            if not separator:
                return None
            return self.state.authenticate_basic(username, secret)
        if scheme.lower() == "bearer":
            return self.state.authenticate_bearer(credentials.strip())
        return None

    def _handle(
        self,
        route: Route,
        params: dict[str, str],
        request: Request,
        method: str,
        base: str,
        body: bytes,
    ) -> Resp:
        user = self._authenticate(request)
        if route.auth and user is None:
            return Resp(
                401,
                {
                    "errorMessages": [
                        "You are not authenticated. Authentication required to "
                        "perform this operation."
                    ],
                    "errors": {},
                },
                {"WWW-Authenticate": 'Basic realm="protected-area"'},
            )
        if route.version == "3" and not self.state.settings.cloud:
            return Resp(404, {"errorMessages": ["Not Found"], "errors": {}})
        settings = self.state.settings
        hit, near = self.limiter.check(
            ("burst", method, route.template),
            settings.burst_capacity,
            settings.burst_refill_per_second,
            "jira-burst-based",
        )
        if hit is None and method in _WRITE_METHODS and "issueIdOrKey" in params:
            try:
                issue_id = self.state.issue(params["issueIdOrKey"]).core.id
            except ApiError:
                issue_id = None
            if issue_id is not None:
                hit, near_issue = self.limiter.check(
                    ("issue-write", str(issue_id)),
                    settings.issue_write_capacity,
                    settings.issue_write_refill_per_second,
                    "jira-per-issue-on-write",
                )
                near = near or near_issue
        if hit is not None:
            return _rate_limited(hit, settings.cloud)
        ctx = Ctx(
            state=self.state,
            method=method,
            version=route.version,
            params=params,
            query=request.query_params,
            raw_body=body,
            base=base,
            user=user,
            headers=request.headers,
        )
        try:
            response = route.handler(ctx)
        except ApiError as error:
            response = _error_response(error)
        except Exception:
            log.exception("jira_simulator_handler_failed", route=f"{method} {route.template}")
            response = Resp(500, {"errorMessages": ["Internal server error"], "errors": {}})
        if near and settings.cloud:
            response.headers["X-RateLimit-NearLimit"] = "true"
        return response

    async def _send(self, send: Send, response: Resp, *, malformed: bool = False) -> None:
        payload = response.encoded()
        if malformed:
            payload = payload[: max(1, len(payload) // 2)] if payload else b'{"issues": ['
        headers = [(b"content-length", str(len(payload)).encode())]
        if payload:
            headers.append((b"content-type", b"application/json;charset=UTF-8"))
        for name, value in response.headers.items():
            headers.append((name.lower().encode(), value.encode()))
        status = response.status
        if malformed and status == 204:
            status = 200
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _drop(self, send: Send, response: Resp) -> None:
        """Announce a body, send none of it, and fail: the server closes the connection."""
        payload = response.encoded() or b"{}"
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [
                    (b"content-length", str(len(payload)).encode()),
                    (b"content-type", b"application/json;charset=UTF-8"),
                ],
            }
        )
        raise DroppedConnection("connection dropped after a committed write (injected fault)")


def _rate_limited(hit: RateLimitHit, cloud: bool) -> Resp:
    return Resp(
        429,
        {"errorMessages": ["Rate limit exceeded."], "errors": {}},
        hit.headers(cloud=cloud),
    )
