"""Handlers of the Company API routes syncd uses (one table, mounted under each version)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from syncd.simulators.intigriti.context import SimContext
from syncd.simulators.intigriti.model import ApiError, User

Handler = Callable[[SimContext, Request, User], Awaitable[Response]]


@dataclass(frozen=True)
class ApiRoute:
    method: str
    template: str
    handler: Handler

    @property
    def kind(self) -> str:
        return "read" if self.method == "GET" else "write"


def _json_bytes(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/json")


def _epoch_query(request: Request, name: str) -> int | None:
    # ASP.NET model binding matches query names case-insensitively (reference §3.1).
    for key, value in request.query_params.multi_items():
        if key.lower() == name.lower():
            try:
                number = int(value)
            except ValueError:
                raise ApiError(400, "invalid_query", f"{name} must be a unix timestamp") from None
            if number < 0:
                raise ApiError(400, "invalid_query", f"{name} must not be negative")
            return number
    return None


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise ApiError(400, "invalid_body", "The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "The request body must be a JSON object")
    return body


def _optional(body: dict[str, Any], key: str, kind: type) -> Any:
    value = body.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise ApiError(400, "invalid_body", f"{key} has the wrong type")
    return value


async def list_programs(ctx: SimContext, request: Request, user: User) -> Response:
    return JSONResponse(ctx.store.programs())


async def program_detail(ctx: SimContext, request: Request, user: User) -> Response:
    return JSONResponse(ctx.store.program_detail(request.path_params["programId"]))


async def program_submissions(ctx: SimContext, request: Request, user: User) -> Response:
    since = _epoch_query(request, "UpdatedSince")
    return _json_bytes(ctx.store.list_overviews(since, request.path_params["programId"]))


async def submissions(ctx: SimContext, request: Request, user: User) -> Response:
    since = _epoch_query(request, "UpdatedSince")
    return _json_bytes(ctx.store.list_overviews(since))


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


async def submission_detail(ctx: SimContext, request: Request, user: User) -> Response:
    code = request.path_params["submissionCode"]
    return _json_bytes(ctx.store.detail_bytes(code, _origin(request)))


async def attachment_file(ctx: SimContext, request: Request, user: User) -> Response:
    params = request.path_params
    attachment = ctx.store.attachment(params["submissionCode"], params["attachmentCode"])
    return Response(attachment.content, media_type=attachment.content_type)


async def submission_events(ctx: SimContext, request: Request, user: User) -> Response:
    since = _epoch_query(request, "CreatedSince")
    code = request.path_params["submissionCode"]
    return JSONResponse(ctx.store.events(code, since, _origin(request)))


async def edit_state(ctx: SimContext, request: Request, user: User) -> Response:
    body = await _json_body(request)
    trigger = body.get("statusTrigger")
    if not isinstance(trigger, int) or isinstance(trigger, bool):
        raise ApiError(400, "invalid_body", "statusTrigger is required")
    allowed = ctx.store.apply_trigger(
        request.path_params["submissionCode"],
        trigger,
        _optional(body, "closeReason", int),
        _optional(body, "duplicateSubmission", str),
        user,
    )
    return JSONResponse({"statusTriggers": allowed})


async def edit_severity(ctx: SimContext, request: Request, user: User) -> Response:
    body = await _json_body(request)
    ctx.store.set_severity(
        request.path_params["submissionCode"],
        _optional(body, "id", int),
        _optional(body, "vector", str),
        user,
    )
    return Response(status_code=204)


async def edit_internal_reference(ctx: SimContext, request: Request, user: User) -> Response:
    body = await _json_body(request)
    ctx.store.set_internal_reference(
        request.path_params["submissionCode"],
        _optional(body, "reference", str),
        _optional(body, "url", str),
        user,
    )
    return Response(status_code=204)


def _message_handler(external: bool) -> Handler:
    async def handler(ctx: SimContext, request: Request, user: User) -> Response:
        body = await _json_body(request)
        message = _optional(body, "message", str)
        if not message:
            raise ApiError(400, "invalid_body", "message is required")
        message_id = ctx.store.add_message(
            request.path_params["submissionCode"], message, external=external, user=user
        )
        return JSONResponse({"messageId": message_id}, status_code=201)

    return handler


API_ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute("GET", "/programs", list_programs),
    ApiRoute("GET", "/programs/{programId}", program_detail),
    ApiRoute("GET", "/programs/{programId}/submissions", program_submissions),
    ApiRoute("GET", "/submissions", submissions),
    ApiRoute("GET", "/submissions/{submissionCode}", submission_detail),
    ApiRoute("GET", "/submissions/{submissionCode}/events", submission_events),
    ApiRoute("PUT", "/submissions/{submissionCode}/state", edit_state),
    ApiRoute("PUT", "/submissions/{submissionCode}/severity", edit_severity),
    ApiRoute("PUT", "/submissions/{submissionCode}/internal-reference", edit_internal_reference),
    ApiRoute("POST", "/submissions/{submissionCode}/comments/internal", _message_handler(False)),
    ApiRoute("POST", "/submissions/{submissionCode}/comments/external", _message_handler(True)),
)

#: Served at the server's root, not under an API version (see ``views.attachment_url``).
FILE_ROUTE = ApiRoute("GET", "/files/{submissionCode}/{attachmentCode}/{name}", attachment_file)
