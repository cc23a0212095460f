"""The control API under ``/_control/``: seed, edit as a human, move time, faults, counters.

No authentication (the simulator only listens on loopback); never counted, never faulted.
"""

from __future__ import annotations

import base64
import json
import mimetypes
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncd.simulators.intigriti import views
from syncd.simulators.intigriti.context import SimContext, error_response
from syncd.simulators.intigriti.model import ApiError
from syncd.simulators.intigriti.oauth import OAuthError
from syncd.simulators.intigriti.options import RegisteredClient
from syncd.simulators.intigriti.webhooks import IntigritiWebhooks
from syncd.simulators.webhooks import options_from_body

Endpoint = Callable[[Request], Awaitable[Response]]
_Impl = Callable[[SimContext, Request, dict[str, Any]], Any]


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    body = json.loads(raw)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "expected a JSON object")
    return body


def _endpoint(ctx: SimContext, impl: _Impl) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        try:
            result = impl(ctx, request, await _body(request))
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.title)
        except OAuthError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        except (ValueError, TypeError, KeyError) as exc:
            return error_response(400, "invalid_control_request", str(exc))
        if isinstance(result, Response):
            return result
        return JSONResponse(result)

    return endpoint


def _reset(ctx: SimContext, request: Request, body: dict[str, Any]) -> Any:
    ctx.store.set_webhooks(None)
    ctx.store.reset()
    ctx.oauth.reset()
    ctx.faults.clear()
    ctx.counters.reset()
    ctx.journal.reset()
    ctx.limiter.configure(
        read=ctx.options.read_rate_per_minute, write=ctx.options.write_rate_per_minute
    )
    ctx.clock.set_offset(0)
    return {"ok": True}


def _create_program(ctx: SimContext, request: Request, body: dict[str, Any]) -> Any:
    program = ctx.store.create_program(
        name=body.get("name"), handle=body.get("handle"), program_id=body.get("id")
    )
    return views.program_overview(program)


def _create_submission(ctx: SimContext, request: Request, body: dict[str, Any]) -> Any:
    fields = dict(body)
    program_id = fields.pop("program_id")
    sub = ctx.store.create_submission(str(program_id), **fields)
    return ctx.store.snapshot(sub.code)


def _create_many(ctx: SimContext, request: Request, body: dict[str, Any]) -> Any:
    return {"codes": ctx.store.create_many(str(body["program_id"]), int(body["count"]))}


def _get_submission(ctx: SimContext, request: Request, body: dict[str, Any]) -> Any:
    return ctx.store.snapshot(request.path_params["code"])


def _edit_submission(ctx: SimContext, request: Request, body: dict[str, Any]) -> Any:
    return ctx.store.human_edit(request.path_params["code"], body)


def _add_attachment(ctx: SimContext, request: Request, body: dict[str, Any]) -> Any:
    content = base64.b64decode(str(body.get("content_base64", "")), validate=True)
    number = ctx.store.add_attachment(
        request.path_params["code"],
        str(body["name"]),
        content,
        str(body.get("content_type") or "application/octet-stream"),
    )
    return {"code": number}


def _files_from(body: dict[str, Any]) -> list[tuple[str, bytes, str]]:
    """``[{name, content_base64, content_type?}]`` -> (name, bytes, MIME type)."""
    files = []
    for item in body.get("attachments") or []:
        name = str(item["name"])
        content = base64.b64decode(str(item.get("content_base64", "")), validate=True)
        # CHOSEN: without a given type, the one the file name suggests.
        guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
        files.append((name, content, str(item.get("content_type") or guessed)))
    return files


def _post_message(ctx: SimContext, request: Request, body: dict[str, Any]) -> Any:
    return ctx.store.post_message(
        request.path_params["code"],
        str(body.get("message") or ""),
        author=str(body.get("author", "researcher")),
        internal=bool(body.get("internal", False)),
        files=_files_from(body),
    )


def _messages(ctx: SimContext, request: Request, body: dict[str, Any]) -> Any:
    return ctx.store.messages(request.path_params["code"])


def _edit_message(ctx: SimContext, request: Request, body: dict[str, Any]) -> Any:
    params = request.path_params
    return ctx.store.edit_message(params["code"], params["message_id"], str(body["message"]))


def _delete_message(ctx: SimContext, request: Request, body: dict[str, Any]) -> Any:
    params = request.path_params
    return ctx.store.delete_message(params["code"], params["message_id"])


def _add_payout(ctx: SimContext, request: Request, body: dict[str, Any]) -> Any:
    return ctx.store.add_payout(
        request.path_params["code"], float(body["amount"]), str(body.get("kind", "bounty"))
    )


def _mark_duplicate(ctx: SimContext, request: Request, body: dict[str, Any]) -> Any:
    return ctx.store.mark_duplicate(request.path_params["code"], str(body["original"]))


def _malformed(ctx: SimContext, request: Request, body: dict[str, Any]) -> Any:
    ctx.store.set_malformed(request.path_params["code"], body.get("kind"))
    return {"ok": True}


def _clock(ctx: SimContext, request: Request, body: dict[str, Any]) -> Any:
    if request.method == "POST":
        if "offset" in body:
            ctx.clock.set_offset(float(body["offset"]))
        if "advance" in body:
            ctx.clock.advance(float(body["advance"]))
    return {"now": ctx.clock.now(), "epoch": ctx.clock.epoch(), "offset": ctx.clock.offset}


def _mint(ctx: SimContext, request: Request, body: dict[str, Any]) -> Any:
    scopes = body.get("scopes")
    return ctx.oauth.mint(
        client_id=body.get("client_id"),
        scopes=tuple(scopes) if scopes is not None else None,
        expires_in=body.get("expires_in"),
        non_expiring=bool(body.get("non_expiring", False)),
    )


def _revoke(ctx: SimContext, request: Request, body: dict[str, Any]) -> Any:
    token = body.get("token")
    client_id = body.get("client_id")
    if token is None and client_id is None and not body.get("all"):
        raise ValueError("give token, client_id or all=true")
    return {"revoked": ctx.oauth.revoke(token, client_id=client_id)}


def _register_client(ctx: SimContext, request: Request, body: dict[str, Any]) -> Any:
    ctx.oauth.register_client(
        RegisteredClient(
            client_id=str(body["client_id"]),
            client_secret=str(body["client_secret"]),
            redirect_uris=tuple(str(u) for u in body["redirect_uris"]),
        )
    )
    return {"client_id": body["client_id"]}


def _faults(ctx: SimContext, request: Request, body: dict[str, Any]) -> Any:
    if request.method == "POST":
        kind = str(body.pop("kind"))
        return ctx.faults.add(kind, **body)
    if request.method == "DELETE":
        ctx.faults.clear()
    return ctx.faults.list()


def _counters(ctx: SimContext, request: Request, body: dict[str, Any]) -> Any:
    if request.method == "DELETE":
        ctx.counters.reset()
    return ctx.counters.snapshot()


def _journal(ctx: SimContext, request: Request, body: dict[str, Any]) -> Any:
    if request.method == "DELETE":
        ctx.journal.reset()
    return ctx.journal.snapshot()


def _rate_limits(ctx: SimContext, request: Request, body: dict[str, Any]) -> Any:
    if request.method == "POST":
        ctx.limiter.configure(read=body.get("read_per_minute"), write=body.get("write_per_minute"))
    if request.method == "DELETE":
        ctx.limiter.reset()
    limits = ctx.limiter.limits()
    return {"read_per_minute": limits["read"], "write_per_minute": limits["write"]}


def _webhook(ctx: SimContext, request: Request, body: dict[str, Any]) -> Any:
    """PUT configures (and activates with a TestEvent), DELETE removes, GET reads stats."""
    if request.method == "PUT":
        options, secret = options_from_body(body)
        ctx.store.set_webhooks(IntigritiWebhooks(options, secret, ctx.store.test_event()))
    elif request.method == "DELETE":
        ctx.store.set_webhooks(None)
    hooks = ctx.store.webhooks()
    return {"configured": False} if hooks is None else {"configured": True, **hooks.sender.stats()}


def control_routes(ctx: SimContext) -> list[Route]:
    table: list[tuple[str, list[str], _Impl]] = [
        ("/reset", ["POST"], _reset),
        ("/programs", ["POST"], _create_program),
        ("/submissions", ["POST"], _create_submission),
        ("/submissions/bulk", ["POST"], _create_many),
        ("/submissions/{code}", ["GET"], _get_submission),
        ("/submissions/{code}", ["PATCH"], _edit_submission),
        ("/submissions/{code}/malformed", ["PUT"], _malformed),
        ("/submissions/{code}/attachments", ["POST"], _add_attachment),
        ("/submissions/{code}/payouts", ["POST"], _add_payout),
        ("/submissions/{code}/messages", ["GET"], _messages),
        ("/submissions/{code}/messages", ["POST"], _post_message),
        ("/submissions/{code}/messages/{message_id}", ["PATCH"], _edit_message),
        ("/submissions/{code}/messages/{message_id}", ["DELETE"], _delete_message),
        ("/submissions/{code}/duplicate", ["PUT"], _mark_duplicate),
        ("/clock", ["GET", "POST"], _clock),
        ("/tokens", ["POST"], _mint),
        ("/tokens/revoke", ["POST"], _revoke),
        ("/clients", ["POST"], _register_client),
        ("/faults", ["GET", "POST", "DELETE"], _faults),
        ("/counters", ["GET", "DELETE"], _counters),
        ("/journal", ["GET", "DELETE"], _journal),
        ("/rate-limits", ["GET", "POST", "DELETE"], _rate_limits),
        ("/webhook", ["GET", "PUT", "DELETE"], _webhook),
    ]
    return [
        Route(f"/_control{path}", _endpoint(ctx, impl), methods=methods)
        for path, methods, impl in table
    ]
