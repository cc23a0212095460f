"""Webhook deliveries: verify, identify and read one, trusting nothing in it but a name.

A delivery only says *which* submission or issue changed; the targeted reconcile then
reads both sides through the API, so a forged-but-validly-signed or stale event cannot
make syncd write anything the APIs would not say.

Signatures (checked on the raw body, in constant time):
* Intigriti: ``x-intigriti-digest`` = base64(HMAC-SHA256(secret, body)).
* Jira admin webhooks: ``X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, body)>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Literal

Source = Literal["intigriti", "jira"]


class DeliveryRejected(Exception):
    """The delivery is refused with ``status`` (401 signature, 400 unreadable)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Delivery:
    source: Source
    #: the replay key: Jira's delivery identifier, or a digest of event and body
    delivery_id: str
    event: str
    #: the submission code (Intigriti) or the issue id (Jira) to reconcile; None: nothing
    #: to do (a test event, an event syncd does not act on)
    item: str | None
    #: Jira: the issue was deleted (the link is reported, Intigriti left alone)
    deleted: bool = False


def _digest(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), body, hashlib.sha256).digest()


def intigriti_digest(secret: str, body: bytes) -> str:
    """The ``x-intigriti-digest`` Intigriti sends with ``body``."""
    return base64.b64encode(_digest(secret, body)).decode()


def jira_signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature`` a Jira admin webhook sends with ``body``."""
    return f"sha256={_digest(secret, body).hex()}"


def verify_intigriti(secret: str, body: bytes, headers: dict[str, str]) -> None:
    given = headers.get("x-intigriti-digest", "")
    if not given:
        raise DeliveryRejected(401, "no x-intigriti-digest header")
    expected = intigriti_digest(secret, body)
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise DeliveryRejected(401, "x-intigriti-digest does not match the body")


def verify_jira(secret: str, body: bytes, headers: dict[str, str]) -> None:
    given = headers.get("x-hub-signature", "")
    method, _, value = given.partition("=")
    if not given:
        raise DeliveryRejected(401, "no X-Hub-Signature header")
    if method.strip().lower() != "sha256":
        raise DeliveryRejected(401, f"X-Hub-Signature method {method!r} is not sha256")
    expected = _digest(secret, body).hex()
    if not hmac.compare_digest(value.strip().lower().encode(), expected.encode()):
        raise DeliveryRejected(401, "X-Hub-Signature does not match the body")


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        raise DeliveryRejected(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise DeliveryRejected(400, "the body is not a JSON object")
    return data


def read_intigriti(body: bytes, headers: dict[str, str]) -> Delivery:
    event = headers.get("x-intigriti-event", "").strip()
    data = _json(body)
    # Intigriti sends no delivery id: the same event with the same body is a replay
    delivery_id = "i:" + hashlib.sha256(event.encode() + b"\n" + body).hexdigest()
    if event == "TestEvent":
        return Delivery("intigriti", delivery_id, event, None)
    code = data.get("submissionCode")
    if not isinstance(code, str) or not code.strip() or len(code) > 100:
        raise DeliveryRejected(400, "submissionCode is missing or not a submission code")
    return Delivery("intigriti", delivery_id, event or "unnamed", code.strip())


def read_jira(body: bytes, headers: dict[str, str]) -> Delivery:
    data = _json(body)
    event = str(data.get("webhookEvent") or "")
    identifier = headers.get("x-atlassian-webhook-identifier", "").strip()
    delivery_id = (
        f"j:{identifier}"[:128]
        if identifier
        else "j:" + hashlib.sha256(body).hexdigest()
    )
    issue = data.get("issue")
    issue_id = issue.get("id") if isinstance(issue, dict) else None
    if not isinstance(issue_id, (str, int)) or not str(issue_id).strip():
        # not about an issue (a project or user event): acknowledged, nothing to do
        return Delivery("jira", delivery_id, event, None)
    return Delivery(
        "jira",
        delivery_id,
        event,
        str(issue_id).strip(),
        deleted=event == "jira:issue_deleted",
    )
