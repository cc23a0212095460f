"""Helpers for the Intigriti adapter's contract tests (plain functions, no conftest).

The tests talk to the Intigriti simulator over real loopback HTTP with the production
adapter. ``ScriptedServer`` is a second, tiny loopback server for the few answers the
simulator's fault API cannot produce (a ``Retry-After`` HTTP-date, an API that keeps
answering 401 to freshly issued tokens).
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncd.intigriti.adapter import IntigritiAdapter
from syncd.intigriti.options import IntigritiOptions
from syncd.intigriti.tokens import MemoryTokenStore, TokenStore
from syncd.records import OAuthToken
from syncd.simulators.intigriti.options import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_REDIRECT_URI,
)
from syncd.simulators.intigriti.simulator import IntigritiSimulator
from syncd.simulators.server import SimulatorServer

API_PATH = "/external/company/v2.0"


def options_for(base_url: str, **changes: Any) -> IntigritiOptions:
    """Options for the demo integration of a simulator (or scripted server) at base_url."""
    values: dict[str, Any] = {
        "api_url": base_url + API_PATH,
        "token_url": base_url + "/connect/token",
        "authorize_url": base_url + "/connect/authorize",
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "redirect_uri": DEMO_REDIRECT_URI,
        "read_rate_per_minute": 6000,
        "write_rate_per_minute": 6000,
        "timeout_seconds": 5.0,
    }
    values.update(changes)
    return IntigritiOptions(**values)


def token_from_response(body: dict[str, Any]) -> OAuthToken:
    """A token endpoint (or control ``mint_token``) response as the store would hold it."""
    expires_in = body.get("expires_in")
    expires_at = (
        None if expires_in is None else datetime.now(UTC) + timedelta(seconds=float(expires_in))
    )
    return OAuthToken(
        access_token=body["access_token"],
        refresh_token=body.get("refresh_token"),
        expires_at=expires_at,
        scope=body.get("scope", ""),
    )


def make_adapter(
    sim: IntigritiSimulator,
    *,
    store: TokenStore | None = None,
    minted: dict[str, Any] | None = None,
    **changes: Any,
) -> IntigritiAdapter:
    """An adapter with fast retries. With neither ``store`` nor options carrying a token,
    a freshly minted expiring token is stored."""
    if store is None:
        needs_token = "access_token" not in changes and "refresh_token" not in changes
        if needs_token and minted is None:
            minted = sim.control.mint_token()
        store = MemoryTokenStore(token_from_response(minted) if minted else None)
    return IntigritiAdapter(
        options_for(sim.base_url, **changes),
        store,
        max_attempts=4,
        backoff_initial=0.01,
        backoff_max=0.05,
    )


class FailingSaveStore(MemoryTokenStore):
    """A store that crashes while saving a rotated token (after the server rotated)."""

    def __init__(self, token: OAuthToken) -> None:
        super().__init__(token)
        self.failed_saves = 0

    def save(self, token: OAuthToken) -> None:
        self.failed_saves += 1
        raise RuntimeError("simulated crash: the database went away while saving the token")


@dataclass
class ScriptedServer:
    """A loopback server that answers API calls from a script of (status, headers).

    ``POST /connect/token`` always issues a new expiring token pair. Any API path pops
    the next scripted answer, or answers 200 ``[]`` when the script is empty.
    """

    script: deque[tuple[int, dict[str, str]]] = field(default_factory=deque)
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _server: SimulatorServer | None = None

    def start(self) -> ScriptedServer:
        app = Starlette(
            routes=[
                Route("/connect/token", self._token, methods=["POST"]),
                Route(API_PATH + "/{rest:path}", self._api, methods=["GET", "PUT", "POST"]),
            ]
        )
        self._server = SimulatorServer(app).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return self._server.base_url

    def then(self, status: int, headers: dict[str, str] | None = None) -> ScriptedServer:
        with self._lock:
            self.script.append((status, headers or {}))
        return self

    async def _token(self, request: Request) -> Response:
        n = next(self._numbers)
        with self._lock:
            self.requests.append(("POST", "/connect/token", ""))
        return JSONResponse(
            {
                "access_token": f"scripted-access-{n}",
                "refresh_token": f"scripted-refresh-{n}",
                "expires_in": 3600,
                "token_type": "Bearer",
                "scope": "company_external_api",
            }
        )

    async def _api(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(
                (request.method, request.url.path, request.headers.get("authorization", ""))
            )
            status, headers = self.script.popleft() if self.script else (200, {})
        if status >= 400:
            return JSONResponse({"title": f"scripted {status}"}, status, headers=headers)
        return JSONResponse([], status, headers=headers)


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``condition`` until true (for effects that land after a dropped response)."""
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    while datetime.now(UTC) < deadline:
        if condition():
            return True
        threading.Event().wait(0.02)
    return condition()
