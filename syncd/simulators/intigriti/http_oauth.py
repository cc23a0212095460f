"""``/connect/authorize`` (a tiny consent page) and ``/connect/token``."""

from __future__ import annotations

import html
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from syncd.simulators.intigriti.context import SimContext
from syncd.simulators.intigriti.oauth import AuthorizeRequest, OAuthError

# The parameters the consent form carries from the GET to the POST.
_AUTHORIZE_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)


async def _form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (parsed here: no multipart needed)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return {}
    raw = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(raw, keep_blank_values=True))


def _redirect(req: AuthorizeRequest, **params: str | None) -> Response:
    values = {k: v for k, v in params.items() if v is not None}
    if req.state is not None:
        values["state"] = req.state
    parts = urlsplit(req.redirect_uri)
    query = "&".join(q for q in (parts.query, urlencode(values)) if q)
    target = urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
    return RedirectResponse(target, status_code=302)


def _error_page(error: OAuthError) -> Response:
    # Never redirect to an unvalidated URL: show the error instead (RFC 6749 §4.1.2.1).
    text = html.escape(f"{error.error}: {error.description}")
    return HTMLResponse(
        f"<!doctype html><title>Authorization error</title><p>{text}</p>",
        status_code=error.status,
    )


def _consent_page(req: AuthorizeRequest, params: dict[str, str]) -> Response:
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(params[name], quote=True)}">'
        for name in _AUTHORIZE_PARAMS
        if name in params
    )
    scopes = "".join(f"<li>{html.escape(s)}</li>" for s in sorted(req.scopes))
    page = (
        "<!doctype html><title>Intigriti - authorize</title>"
        f"<h1>Authorize {html.escape(req.client.client_id)}</h1>"
        f"<p>Signed in as alice.admin. The integration asks for:</p><ul>{scopes}</ul>"
        f'<form method="post" action="/connect/authorize">{hidden}'
        '<button name="decision" value="approve">Approve</button>'
        '<button name="decision" value="deny">Deny</button></form>'
    )
    return HTMLResponse(page)


async def authorize(ctx: SimContext, request: Request) -> Response:
    if request.method == "GET":
        params = dict(request.query_params)
    else:
        params = await _form(request)
    try:
        req = ctx.oauth.check_authorize(params)
    except OAuthError as exc:
        return _error_page(exc)
    error = ctx.oauth.redirect_error(req, params)
    if error is not None:
        return _redirect(req, error=error)
    if request.method == "GET":
        return _consent_page(req, params)
    if params.get("decision") != "approve":
        return _redirect(req, error="access_denied")
    return _redirect(req, code=ctx.oauth.issue_code(req))


async def token(ctx: SimContext, request: Request) -> Response:
    fields = await _form(request)
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    try:
        body = ctx.oauth.token(fields, request.headers.get("authorization"))
    except OAuthError as exc:
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="token"'
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)
    return JSONResponse(body, headers=headers)
