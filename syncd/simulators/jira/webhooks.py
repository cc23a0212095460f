"""Jira admin webhooks (reference §5): ``jira:issue_*`` and ``comment_*`` events, signed
with ``X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`` and identified by
``X-Atlassian-Webhook-Identifier`` (kept by retries and replays, new per delivery).

CHOSEN where the reference is silent: the payload renders as REST v2 would (wiki comment
bodies, UTC timestamps); ``issue.fields`` is a subset (``WEBHOOK_FIELDS``); a comment
sends only its ``comment_*`` event (real Jira may also send ``jira:issue_updated`` with
``issue_commented``); property, remote-link and timestamp changes send nothing; retries
follow Atlassian's policy (408, 409, 425, 429, 5xx, connection failures) and carry
``X-Atlassian-Webhook-Retry: <n>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

from syncd.simulators.jira.model import ChangeGroup, Comment, Issue
from syncd.simulators.jira.render import Renderer
from syncd.simulators.jira.state import JiraState
from syncd.simulators.webhooks import Delivery, WebhookOptions, WebhookSender, options_from_body

WEBHOOK_FIELDS = (
    "summary",
    "status",
    "priority",
    "resolution",
    "labels",
    "issuetype",
    "project",
    "assignee",
    "reporter",
    "created",
    "updated",
)
_RETRY_STATUSES = frozenset({408, 409, 425, 429})

ISSUE_CREATED = "jira:issue_created"
ISSUE_UPDATED = "jira:issue_updated"
ISSUE_DELETED = "jira:issue_deleted"


def retry_atlassian(status: int) -> bool:
    """Atlassian's retry policy (reference §5.4)."""
    return status in _RETRY_STATUSES or status >= 500


def signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature`` value of ``body``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _event_type_name(changelog: ChangeGroup | None) -> str:
    fields = {item.field_id for item in changelog.items} if changelog else set()
    if fields == {"assignee"}:
        return "issue_assigned"
    if "status" in fields or "resolution" in fields:
        return "issue_generic"
    return "issue_updated"


class JiraWebhooks:
    """Renders, signs and queues the webhook of each change the site makes.

    Called by ``JiraState`` under its lock, so the payload is a consistent snapshot of
    the moment of the change; only the POST happens later, on the sender's thread.
    """

    def __init__(
        self, state: JiraState, options: WebhookOptions, secret: str, site_url: str
    ) -> None:
        self.secret = secret
        self._state = state
        self._render = Renderer(state, site_url.rstrip("/"), "2", Renderer.utc())
        self.sender = WebhookSender(options)

    def close(self) -> None:
        self.sender.close()

    def _issue(self, issue: Issue) -> dict[str, Any]:
        body = self._render.issue(issue, issue.core, WEBHOOK_FIELDS)
        body.pop("expand", None)
        return body

    def _emit(self, event: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Atlassian Webhook HTTP Client",
            "X-Hub-Signature": signature(self.secret, body),
            "X-Atlassian-Webhook-Identifier": str(uuid.uuid4()),
        }
        self.sender.submit(Delivery(event, body, headers))

    def _base(self, event: str, actor_id: str | None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "timestamp": int(self._state.now().timestamp() * 1000),
            "webhookEvent": event,
        }
        user = self._render.user_by_id(actor_id)
        if user is not None:
            payload["user"] = user
        return payload

    def issue_event(
        self,
        event: str,
        issue: Issue,
        actor_id: str | None,
        changelog: ChangeGroup | None = None,
    ) -> None:
        payload = self._base(event, actor_id)
        payload["issue_event_type_name"] = {
            ISSUE_CREATED: "issue_created",
            ISSUE_DELETED: "issue_deleted",
        }.get(event) or _event_type_name(changelog)
        payload["issue"] = self._issue(issue)
        if changelog is not None:
            payload["changelog"] = {
                "id": str(changelog.id),
                "items": [
                    {
                        "field": item.field,
                        "fieldtype": item.fieldtype,
                        "fieldId": item.field_id,
                        "from": item.from_value,
                        "fromString": item.from_string,
                        "to": item.to_value,
                        "toString": item.to_string,
                    }
                    for item in changelog.items
                ],
            }
        self._emit(event, payload)

    def comment_event(
        self, event: str, issue: Issue, comment: Comment, actor_id: str | None
    ) -> None:
        payload = self._base(event, actor_id)
        payload["comment"] = self._render.comment(issue, comment)
        payload["issue"] = self._issue(issue)
        self._emit(event, payload)


def configure(state: JiraState, body: Any) -> dict[str, Any]:
    """The control API's ``PUT /_control/webhook``: install a webhook (replacing any)."""
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    site_url = body.get("site_url")
    if not isinstance(site_url, str) or not site_url:
        raise ValueError("site_url (the simulator's base URL, for self links) is required")
    options, secret = options_from_body(
        body, retry_header="X-Atlassian-Webhook-Retry", retry_on=retry_atlassian
    )
    install(state, JiraWebhooks(state, options, secret, site_url))
    return stats(state)


def install(state: JiraState, observer: JiraWebhooks | None) -> None:
    """Set (or with None remove) the site's webhook; the one it replaces is stopped."""
    with state.lock:
        previous, state.observer = state.observer, observer
    if previous is not None:
        previous.close()


def stats(state: JiraState) -> dict[str, Any]:
    observer = state.observer
    if not isinstance(observer, JiraWebhooks):
        return {"configured": False}
    return {"configured": True, **observer.sender.stats()}
