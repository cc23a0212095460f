"""The daemon's HTTP listener (Starlette on uvicorn): /healthz, /readyz, /metrics.

Each answer is computed at request time from the live objects; nothing here can change
what the daemon does. The listener serves no secrets (check details name keys and
states, never values), but it is meant for a private network: bind it accordingly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from syncd.service.health import Check
from syncd.service.probes import Probes


def _body(checks: list[Check]) -> dict[str, Any]:
    return {
        "ok": all(check.ok for check in checks),
        "checks": {check.name: {"ok": check.ok, "detail": check.detail} for check in checks},
        "not_ready": [check.name for check in checks if not check.ok],
    }


def build_app(
    probes: Probes, registry: CollectorRegistry, routes: Sequence[BaseRoute] = ()
) -> Starlette:
    """The probes and metrics, plus ``routes`` (the webhook receivers, when configured)."""
    # the probes read the database: off the event loop, so a slow query never stalls
    # the other endpoints
    async def healthz(_request: Request) -> Response:
        check = await run_in_threadpool(probes.alive)
        body = {"ok": check.ok, "detail": check.detail, "role": probes.state.role}
        return JSONResponse(body, status_code=200 if check.ok else 503)

    async def readyz(_request: Request) -> Response:
        checks = await run_in_threadpool(probes.ready)
        body = _body(checks)
        return JSONResponse(body, status_code=200 if body["ok"] else 503)

    async def metrics(_request: Request) -> Response:
        text = await run_in_threadpool(generate_latest, registry)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            *routes,
        ]
    )
