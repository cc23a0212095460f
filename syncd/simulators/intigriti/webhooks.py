"""Intigriti company webhooks (reference §6): camelCase JSON events, signed with
``x-intigriti-digest`` = base64(HMAC-SHA256(secret, raw body)).

CHOSEN where the reference is silent: ``createdAt`` is the moment of the change (epoch
seconds on the simulator's clock, also for a backdated seeded submission, so latency can be
measured from it); ``userId``/``userRole`` name who made the change; ``domain`` is the
report's asset; the activation ``TestEvent`` names the first program (or a zero guid when
there is none) and a placeholder submission code. Only the four event classes exist:
internal-reference changes, edits, attachments and payouts send nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from syncd.intigriti import enums
from syncd.simulators.intigriti.model import Program, Submission, User
from syncd.simulators.webhooks import Delivery, WebhookOptions, WebhookSender

TEST_EVENT = "TestEvent"
SUBMISSION_CREATED = "SubmissionCreated"
SEVERITY_CHANGED = "SubmissionSeverityChanged"
STATUS_CHANGED = "SubmissionStatusChanged"
MESSAGE_PLACED = "SubmissionMessagePlaced"

ZERO_GUID = "00000000-0000-0000-0000-000000000000"

Severity = tuple[int | None, str | None, float | None]
Status = tuple[str, str | None]


def digest(secret: str, body: bytes) -> str:
    """The ``x-intigriti-digest`` value of ``body``."""
    mac = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii")


def severity_object(severity: Severity) -> dict[str, Any] | None:
    severity_id, vector, score = severity
    if severity_id is None:
        return None
    return {
        "id": severity_id,
        "value": enums.severity_name(severity_id),
        "vector": vector,
        "score": score,
    }


def _status_object(status: str) -> dict[str, Any]:
    return {"id": enums.status_id(status), "value": status}


def _close_reason_object(reason: str | None) -> dict[str, Any] | None:
    if reason is None:
        return None
    return {"id": enums.close_reason_id(reason), "value": reason}


class IntigritiWebhooks:
    """Builds, signs and queues the company webhook of each change the store makes."""

    def __init__(self, options: WebhookOptions, secret: str, test_event: dict[str, Any]) -> None:
        self.secret = secret
        # The TestEvent goes first and activates the webhook only when answered 2xx.
        self.sender = WebhookSender(options, activation=self._delivery(TEST_EVENT, test_event))

    def close(self) -> None:
        self.sender.close()

    def _delivery(self, event: str, payload: dict[str, Any]) -> Delivery:
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        headers = {
            "content-type": "application/json",
            "x-intigriti-event": event,
            "x-intigriti-digest": digest(self.secret, body),
        }
        return Delivery(event, body, headers)

    def _emit(self, event: str, payload: dict[str, Any]) -> None:
        self.sender.submit(self._delivery(event, payload))

    @staticmethod
    def base(program: Program | None, code: str, user: User | None, now: int) -> dict[str, Any]:
        return {
            "programId": program.id if program else ZERO_GUID,
            "programName": program.name if program else "",
            "submissionCode": code,
            "userId": user.user_id if user else ZERO_GUID,
            "createdAt": now,
        }

    def created(self, program: Program, sub: Submission, now: int) -> None:
        payload = self.base(program, sub.code, sub.submitter, now)
        payload["severity"] = severity_object((sub.severity_id, sub.vector, sub.score))
        payload["type"] = sub.report.type_name
        payload["domain"] = sub.report.asset_name
        self._emit(SUBMISSION_CREATED, payload)

    def severity_changed(
        self, program: Program, sub: Submission, user: User, before: Severity, now: int
    ) -> None:
        payload = self.base(program, sub.code, user, now)
        payload["userRole"] = user.role
        payload["fromSeverity"] = severity_object(before)
        payload["toSeverity"] = severity_object((sub.severity_id, sub.vector, sub.score))
        self._emit(SEVERITY_CHANGED, payload)

    def status_changed(
        self, program: Program, sub: Submission, user: User, before: Status, now: int
    ) -> None:
        payload = self.base(program, sub.code, user, now)
        payload["userRole"] = user.role
        payload["fromStatus"] = _status_object(before[0])
        payload["toStatus"] = _status_object(sub.status)
        payload["closeReason"] = _close_reason_object(sub.close_reason)
        self._emit(STATUS_CHANGED, payload)

    def message_placed(
        self, program: Program, sub: Submission, user: User, *, internal: bool, now: int
    ) -> None:
        payload = self.base(program, sub.code, user, now)
        payload["userRole"] = user.role
        payload["isInternal"] = internal
        self._emit(MESSAGE_PLACED, payload)
