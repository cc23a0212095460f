"""Jira's admin webhook REST API (``/rest/webhooks/1.0/webhook``), as `syncd webhooks
register` uses it: registering one installs the simulator's signed sender with its URL
and secret, so a registered webhook delivers like a real one.

Jira keeps one sender here (the control API's ``configure_webhook`` replaces it too);
several registrations are listed, the newest one delivers. Any authenticated user may
register (real Jira wants an administrator; the simulator does not model permissions).
"""

from __future__ import annotations

from typing import Any

from syncd.simulators.jira import webhooks
from syncd.simulators.jira.errors import ApiError
from syncd.simulators.jira.http import Ctx, Resp
from syncd.simulators.webhooks import WebhookOptions


def _view(ctx: Ctx, number: int, body: dict[str, Any]) -> dict[str, Any]:
    shown = {key: value for key, value in body.items() if key != "secret"}
    return {**shown, "self": f"{ctx.base}/rest/webhooks/1.0/webhook/{number}", "enabled": True}


def _install(ctx: Ctx, body: dict[str, Any]) -> None:
    url, secret = body.get("url"), body.get("secret")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ApiError(400, ["url must be an http(s) URL"])
    if not isinstance(secret, str) or not secret:
        return  # a webhook without a secret sends unsigned deliveries: not modelled
    options = WebhookOptions(
        url=url,
        retry_header="X-Atlassian-Webhook-Retry",
        retry_on=webhooks.retry_atlassian,
    )
    webhooks.install(ctx.state, webhooks.JiraWebhooks(ctx.state, options, secret, ctx.base))


def _body(ctx: Ctx) -> dict[str, Any]:
    body = ctx.json()
    if not isinstance(body, dict) or not body.get("name"):
        raise ApiError(400, ["a webhook needs a name and a url"])
    return body


def list_webhooks(ctx: Ctx) -> Resp:
    with ctx.state.lock:
        return Resp(200, [_view(ctx, n, b) for n, b in sorted(ctx.state.admin_webhooks.items())])


def register_webhook(ctx: Ctx) -> Resp:
    body = _body(ctx)
    _install(ctx, body)
    with ctx.state.lock:
        number = max(ctx.state.admin_webhooks, default=0) + 1
        ctx.state.admin_webhooks[number] = body
    return Resp(201, _view(ctx, number, body))


def update_webhook(ctx: Ctx) -> Resp:
    number = int(ctx.params["id"])
    body = _body(ctx)
    with ctx.state.lock:
        if number not in ctx.state.admin_webhooks:
            raise ApiError(404, ["no such webhook"])
        if "secret" not in body:  # Jira keeps the old secret when a request omits it
            body = {**body, "secret": ctx.state.admin_webhooks[number].get("secret")}
        ctx.state.admin_webhooks[number] = body
    _install(ctx, body)
    return Resp(200, _view(ctx, number, body))
