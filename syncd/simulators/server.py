"""Run an ASGI app on loopback in a background thread (uvicorn), for tests and the demo.

``port=0`` binds a free port; ``base_url`` tells which one. ``stop()`` shuts the server
down gracefully and joins its thread. With ``clock``, every response's ``Date`` header
tells the simulated site's time (as a real server's does its own), not the host's.
"""

from __future__ import annotations

from collections.abc import Callable
from email.utils import formatdate
from typing import Any

from syncd.service.server import BackgroundServer


class _DateHeader:
    """ASGI middleware: a ``Date`` header from the simulated clock on every response."""

    def __init__(self, app: Any, clock: Callable[[], float]) -> None:
        self._app = app
        self._clock = clock

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self._app(scope, receive, send)
            return

        async def dated(message: Any) -> None:
            if message.get("type") == "http.response.start":
                stamp = formatdate(self._clock(), usegmt=True).encode()
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"date"]
                message = {**message, "headers": [*headers, (b"date", stamp)]}
            await send(message)

        await self._app(scope, receive, dated)


class SimulatorServer(BackgroundServer):
    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if clock is not None:
            app = _DateHeader(app, clock)
        super().__init__(app, host=host, port=port, date_header=clock is None)
