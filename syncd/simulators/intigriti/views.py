"""JSON shapes of the Intigriti v2.1 OpenAPI document, built from the simulator's records.

Every object carries exactly the properties its schema declares (the schemas say
``additionalProperties: false``), with ``null`` where the simulator has nothing to say.
Enumeration ids not in ``syncd.intigriti.enums`` (program status, confidentiality, domain
type/tier, streak) are CHOSEN here: the reference marks them unknown (§4.4, "Other enums").

Also CHOSEN, where the reference is silent: a report attachment's ``url`` is
``{server}/files/{code}/{attachmentCode}/{name}`` on the API's own origin (served with the
same bearer token and read quota); attachment codes are numbered 1, 2, ... per submission;
all amounts are EUR.

Message events (reference §4.5): the spec's ``SubmissionEventViewModel`` declares only
``type``, ``createdAt``, ``visibility`` and ``user``; real responses are polymorphic and a
message event also carries ``message``, ``attachments`` (``[{url, name, code, type}]``),
``destroyMessageMetadata``, ``lastEditedAt`` and ``deletedAt``, which the simulator sends.
CHOSEN: a message attachment's ``type`` is its MIME type and its ``url`` has the report
attachments' form (one code sequence per submission); ``destroyMessageMetadata`` is always
null; a deleted message shows ``message: null`` and no attachments. Events carry no
message id (the reference lists none).
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

from syncd.intigriti import enums
from syncd.simulators.intigriti.model import (
    Attachment,
    Event,
    Message,
    Program,
    Submission,
    User,
)

WEB_APP = "https://app.intigriti.com"

# CHOSEN ids for enumerations the reference lists as unknown (§4.4).
PROGRAM_STATUS_OPEN = {"id": 3, "value": "Open"}
PROGRAM_TYPE_BUG_BOUNTY = {"id": 1, "value": "Bug bounty"}
CONFIDENTIALITY_PUBLIC = {"id": 4, "value": "Public"}
DOMAIN_TYPE_URL = {"id": 1, "value": "Url"}
DOMAIN_TIER_1 = {"id": 1, "value": "Tier 1"}
STREAK_NONE = {"id": 0, "value": "None"}


def _enum(ident: int, value: str) -> dict[str, Any]:
    return {"id": ident, "value": value}


def _money(value: float = 0.0) -> dict[str, Any]:
    return {"value": value, "currency": "EUR"}


def user_view(user: User) -> dict[str, Any]:
    return {
        "userId": user.user_id,
        "userName": user.user_name,
        "avatarUrl": None,
        "role": user.role,
    }


def researcher_view(user: User) -> dict[str, Any]:
    return {
        **user_view(user),
        "ranking": {"rank": 42, "reputation": 1337, "streak": STREAK_NONE},
        "identityChecked": True,
    }


def program_overview(program: Program) -> dict[str, Any]:
    return {
        "id": program.id,
        "handle": program.handle,
        "companyId": program.company_id,
        "companyHandle": program.company_handle,
        "logoUrl": None,
        "name": program.name,
        "status": PROGRAM_STATUS_OPEN,
        "confidentialityLevel": CONFIDENTIALITY_PUBLIC,
        "webLinks": {"details": f"{WEB_APP}/company/programs/{program.id}/detail"},
        "type": PROGRAM_TYPE_BUG_BOUNTY,
    }


def program_detail(program: Program) -> dict[str, Any]:
    asset_id = _asset_id(program)
    text = {"content": "", "attachments": []}
    return {
        "programId": program.id,
        "handle": program.handle,
        "name": program.name,
        "companyId": program.company_id,
        "companyHandle": program.company_handle,
        "description": program.description,
        "options": [],
        "state": {"status": PROGRAM_STATUS_OPEN, "lastStatusTriggerId": None},
        "confidentialityLevel": CONFIDENTIALITY_PUBLIC,
        "maxConfidentialityLevel": CONFIDENTIALITY_PUBLIC,
        "logoUrl": None,
        "domain": [
            {
                "id": asset_id,
                "companyAssetId": asset_id,
                "type": DOMAIN_TYPE_URL,
                "endpoint": f"https://app.{program.handle}.example",
                "tier": DOMAIN_TIER_1,
                "description": "Main web application",
                "requiredSkills": [],
            }
        ],
        "inScope": {**text, "content": f"https://app.{program.handle}.example"},
        "outOfScope": dict(text),
        "faq": dict(text),
        "severityAssessment": dict(text),
        "rulesOfEngagement": {
            "content": {
                "description": "Be nice.",
                "testingRequirements": {
                    "intigritiMe": False,
                    "automatedTooling": None,
                    "userAgent": None,
                    "requestHeader": None,
                },
                "safeHarbour": True,
                "createdAt": program.created_at,
            },
            "attachments": [],
        },
        "submissionQuestions": [],
        "bountyTable": [],
        "attachmentCount": 0,
        "bugBounty": None,
        "type": PROGRAM_TYPE_BUG_BOUNTY,
        "programBudget": None,
        "tacRequired": False,
        "tacEmpty": True,
        "identityCheckedRequired": False,
        "twoFactorRequired": False,
        "skipTriage": False,
        "awardRep": True,
        "allowResearcherCollaboration": False,
        "defaultAssignee": None,
        "createdAt": program.created_at,
        "lastUpdatedAt": program.last_updated_at,
        "webLinks": {
            "details": f"{WEB_APP}/company/programs/{program.id}/detail",
            "submissions": f"{WEB_APP}/company/programs/{program.id}/submissions",
        },
    }


def _asset_id(program: Program) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"asset:{program.id}"))


def _severity(sub: Submission) -> dict[str, Any] | None:
    if sub.severity_id is None:
        return None
    return {
        "id": sub.severity_id,
        "vector": sub.vector,
        "value": enums.severity_name(sub.severity_id),
        "score": sub.score,
    }


def _internal_reference(sub: Submission) -> dict[str, Any] | None:
    # CHOSEN: a submission without any reference shows null rather than {null, null}.
    if sub.internal_reference is None and sub.internal_reference_url is None:
        return None
    return {"reference": sub.internal_reference, "url": sub.internal_reference_url}


def _status_pair(sub: Submission) -> tuple[dict[str, Any], dict[str, Any] | None]:
    status = _enum(enums.status_id(sub.status), sub.status)
    reason = (
        _enum(enums.close_reason_id(sub.close_reason), sub.close_reason)
        if sub.close_reason is not None
        else None
    )
    return status, reason


def _paid(sub: Submission, kind: str | None = None) -> float:
    return round(sum(p.amount for p in sub.payouts if kind is None or p.kind == kind), 2)


def attachment_url(files_base: str, sub: Submission, attachment: Attachment) -> str:
    name = quote(attachment.name, safe="")
    return f"{files_base}/files/{quote(sub.code, safe='')}/{attachment.code}/{name}"


def _web_link(sub: Submission) -> dict[str, Any]:
    return {"details": f"{WEB_APP}/company/submissions/{sub.program_id}/{sub.code}"}


def submission_overview(sub: Submission) -> dict[str, Any]:
    status, reason = _status_pair(sub)
    return {
        "code": sub.code,
        "originators": {"programId": sub.program_id, "pentestCode": None},
        "internalReference": _internal_reference(sub),
        "title": sub.title,
        "severity": _severity(sub),
        "state": {"status": status, "closeReason": reason},
        "totalPayout": _money(_paid(sub)),
        "createdAt": sub.created_at,
        "lastUpdatedAt": sub.last_updated_at,
        "awaitingFeedback": sub.awaiting_feedback,
        "destroyed": False,
        "assignee": None,
        "tags": list(sub.tags),
        "groupId": None,
        "submitter": researcher_view(sub.submitter),
        "collaboratorCount": 0,
        "webLinks": _web_link(sub),
    }


def submission_detail(sub: Submission, files_base: str) -> dict[str, Any]:
    status, reason = _status_pair(sub)
    duplicate_info = None
    if sub.duplicate_of is not None or sub.duplicate_children:
        duplicate_info = {
            "parentSubmissionCode": sub.duplicate_of,
            "childSubmissionCodes": list(sub.duplicate_children),
        }
    report = sub.report
    return {
        "code": sub.code,
        "originators": {"programId": sub.program_id, "pentestCode": None},
        "internalReference": _internal_reference(sub),
        "title": sub.title,
        "report": {
            "originalTitle": sub.title,
            "type": {"name": report.type_name, "category": report.category, "cwe": report.cwe},
            "questions": [],
            "domain": {
                "companyAssetId": report.asset_id,
                "name": report.asset_name,
                "motivation": None,
                "type": DOMAIN_TYPE_URL,
                "tier": DOMAIN_TIER_1,
                "description": "Main web application",
            },
            "endpointVulnerableComponent": report.endpoint,
            "pocDescription": report.poc,
            "impact": report.impact,
            "personalData": False,
            "recommendedSolution": report.recommended_solution,
            "attachments": [
                {"url": attachment_url(files_base, sub, a), "code": a.code}
                for a in sub.attachments
            ],
            "ip": report.ip,
        },
        "state": {
            "status": status,
            "closeReason": reason,
            "duplicateInfo": duplicate_info,
            **sub.stamps,
        },
        "severity": _severity(sub),
        "awaitingFeedback": sub.awaiting_feedback,
        "reward": {
            "totalPayout": _money(_paid(sub)),
            "totalBountyPayout": _money(_paid(sub, "bounty")),
            "totalBonusPayout": _money(_paid(sub, "bonus")),
            "possibleBounty": None,
            "totalRetestBountyPayout": _money(),
        },
        "createdAt": sub.created_at,
        "destroyed": None,
        "assignee": None,
        "tags": list(sub.tags),
        "groupId": None,
        "submitter": researcher_view(sub.submitter),
        "lastUpdated": {
            "lastUpdater": user_view(sub.last_updater),
            "lastUpdatedAt": sub.last_updated_at,
        },
        "attachmentCount": len(sub.attachments),
        "webLinks": _web_link(sub),
        "integrationCount": 0,
        "customFields": [],
        "aiSummary": None,
    }


def event_view(event: Event, sub: Submission, files_base: str) -> dict[str, Any]:
    body = {
        "type": _enum(event.type_id, enums.EVENT_TYPE.name(event.type_id)),
        "createdAt": event.created_at,
        "visibility": _enum(event.visibility_id, enums.EVENT_VISIBILITY.name(event.visibility_id)),
        "user": user_view(event.user),
    }
    if event.message is not None:
        body.update(_message_fields(event.message, sub, files_base))
    return body


def _message_fields(message: Message, sub: Submission, files_base: str) -> dict[str, Any]:
    """The fields a message event adds to the base event (see the module doc)."""
    deleted = message.deleted_at is not None
    return {
        "message": None if deleted else message.text,
        "attachments": [
            {
                "url": attachment_url(files_base, sub, a),
                "name": a.name,
                "code": a.code,
                "type": a.content_type,
            }
            for a in ([] if deleted else message.attachments)
        ],
        "destroyMessageMetadata": None,
        "lastEditedAt": message.edited_at,
        "deletedAt": message.deleted_at,
    }


def message_view(message: Message) -> dict[str, Any]:
    """One message as the control API shows it (the web app's view, with its id)."""
    deleted = message.deleted_at is not None
    return {
        "messageId": message.message_id,
        "message": None if deleted else message.text,
        "external": message.external,
        "createdAt": message.created_at,
        "userName": message.user.user_name,
        "role": message.user.role,
        "attachments": [
            {"code": a.code, "name": a.name, "size": len(a.content)}
            for a in ([] if deleted else message.attachments)
        ],
        "editedAt": message.edited_at,
        "deletedAt": message.deleted_at,
    }


def internal_view(sub: Submission) -> dict[str, Any]:
    """A flat view for the control API: what the UI shows, with message texts."""
    return {
        "code": sub.code,
        "programId": sub.program_id,
        "title": sub.title,
        "status": sub.status,
        "closeReason": sub.close_reason,
        "severity": enums.severity_name(sub.severity_id) if sub.severity_id is not None else None,
        "vector": sub.vector,
        "score": sub.score,
        "internalReference": sub.internal_reference,
        "internalReferenceUrl": sub.internal_reference_url,
        "createdAt": sub.created_at,
        "lastUpdatedAt": sub.last_updated_at,
        "duplicateOf": sub.duplicate_of,
        "attachments": [
            {"code": a.code, "name": a.name, "size": len(a.content)} for a in sub.attachments
        ],
        "payouts": [{"kind": p.kind, "amount": p.amount} for p in sub.payouts],
        "messages": [message_view(m) for m in sub.messages],
        "events": len(sub.events),
        "malformed": sub.malformed,
    }


def _break(sub: Submission, body: dict[str, Any], *, detail: bool) -> bytes:
    """Apply an injected "malformed item" fault to one rendered submission."""
    if sub.malformed == "unknown_enum":
        body["state"]["status"] = {"id": 99, "value": "Quarantined"}
        if body["severity"] is not None:
            body["severity"]["id"] = 42
            body["severity"]["value"] = "Catastrophic"
    elif sub.malformed == "bad_shape":
        body["createdAt"] = "yesterday"
        body["state"] = "broken"
        if detail:
            body["lastUpdated"] = {"lastUpdatedAt": "soon"}
        else:
            body["lastUpdatedAt"] = "soon"
    encoded = json.dumps(body, separators=(",", ":")).encode()
    if sub.malformed == "invalid_json":
        return encoded[: len(encoded) // 2]
    return encoded


def encode_overview(sub: Submission) -> bytes:
    body = submission_overview(sub)
    if sub.malformed:
        return _break(sub, body, detail=False)
    return json.dumps(body, separators=(",", ":")).encode()


def encode_detail(sub: Submission, files_base: str) -> bytes:
    body = submission_detail(sub, files_base)
    if sub.malformed:
        return _break(sub, body, detail=True)
    return json.dumps(body, separators=(",", ":")).encode()
