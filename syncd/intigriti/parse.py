"""Intigriti JSON -> neutral records. The only module that knows Intigriti field names.

Shapes follow reference §4 (SubmissionOverview for lists, SubmissionDetails for one
submission, ProgramOverview, SubmissionEvent). Enumerations arrive as ``{id, value}``;
the numeric ``id`` is authoritative and is resolved through ``syncd.intigriti.enums`` so
an id syncd does not know fails loudly instead of syncing a wrong value. Timestamps are
epoch seconds and become aware UTC datetimes.

A list parses item by item: one malformed submission becomes an ``ItemFailure`` naming
the submission (or its index) and the field, and the others still parse.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from syncd.errors import ItemError, MalformedResponse
from syncd.intigriti import enums
from syncd.records import (
    Attachment,
    ItemFailure,
    Payouts,
    Program,
    Submission,
    SubmissionBatch,
    SubmissionReport,
)

SYSTEM = "intigriti"


@dataclass(frozen=True)
class SubmissionEvent:
    """One entry of a submission's activity (reference §4.5), parsed minimally.

    Event type and visibility ids are not published; ``type``/``visibility`` carry the
    server's ``value`` strings as given. ``message`` is researcher-written (untrusted).
    """

    type_id: int | None
    type: str | None
    created_at: datetime
    visibility: str | None
    user_name: str | None
    message: str | None


class _FieldError(Exception):
    """A field of one item is missing or has the wrong shape."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _obj(value: object, field: str) -> Mapping[str, Any]:
    if type(value) is dict:
        # what the JSON decoders give: skips the ABC check, ten per listed submission
        return value
    if not isinstance(value, Mapping):
        raise _FieldError(field, f"expected an object, got {type(value).__name__}")
    return value


def _opt_obj(value: object, field: str) -> Mapping[str, Any] | None:
    return None if value is None else _obj(value, field)


def _str(value: object, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise _FieldError(field, f"expected a non-empty string, got {_describe(value)}")
    return value


def _opt_str(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _FieldError(field, f"expected a string or null, got {_describe(value)}")
    return value


def _int(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _FieldError(field, f"expected an integer, got {_describe(value)}")
    return value


def _opt_float(value: object, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _FieldError(field, f"expected a number or null, got {_describe(value)}")
    return float(value)


def _describe(value: object) -> str:
    # Type only, never the value: values may be researcher-written text.
    return "null" if value is None else type(value).__name__


#: a CVSS v2/v3/v4 vector: metric:value pairs, nothing else (researcher-supplied text goes
#: to a Jira field, so anything looser is dropped rather than passed on)
_CVSS_VECTOR = re.compile(
    r"^(CVSS:[234]\.\d/)?[A-Za-z]{1,3}:[A-Za-z0-9]{1,2}(/[A-Za-z]{1,3}:[A-Za-z0-9]{1,2}){0,40}$"
)
log = structlog.get_logger(__name__)


def cvss_vector(value: str | None) -> str | None:
    """The vector if it is a well-formed CVSS vector, else None (logged, not fatal)."""
    if value is None:
        return None
    text = value.strip()
    if len(text) <= 255 and _CVSS_VECTOR.match(text):
        return text
    log.warning("cvss_vector_dropped", reason="not a CVSS vector", length=len(value))
    return None


def epoch_to_datetime(value: object, field: str) -> datetime:
    """Epoch seconds (int, or a float from a lenient server) -> aware UTC datetime."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _FieldError(field, f"expected epoch seconds, got {_describe(value)}")
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise _FieldError(field, "epoch seconds out of range") from None


def _enum_name(value: object, field: str, table: enums.IdNameTable) -> str:
    obj = _obj(value, field)
    ident = _int(obj.get("id"), f"{field}.id")
    if ident not in table:
        raise _FieldError(f"{field}.id", f"unknown {table.kind} id {ident}")
    return table.name(ident)


def _opt_enum_name(value: object, field: str, table: enums.IdNameTable) -> str | None:
    return None if value is None else _enum_name(value, field, table)


def _submission(raw: object, *, detail: bool) -> Submission:
    item = _obj(raw, "$")
    code = _str(item.get("code"), "code")
    originators = _obj(item.get("originators"), "originators")
    state = _obj(item.get("state"), "state")
    status = _enum_name(state.get("status"), "state.status", enums.SUBMISSION_STATUS)
    severity = _opt_obj(item.get("severity"), "severity")
    severity_name: str | None = None
    vector: str | None = None
    score: float | None = None
    if severity is not None:
        if severity.get("id") is not None:
            severity_name = _enum_name(severity, "severity", enums.SEVERITY)
            # id 0 "None" is an undecided severity (enums.SEVERITY): the same as unset.
            if severity_name == "None":
                severity_name = None
        vector = cvss_vector(_opt_str(severity.get("vector"), "severity.vector"))
        score = _opt_float(severity.get("score"), "severity.score")
    reference = _opt_obj(item.get("internalReference"), "internalReference") or {}
    created_at = epoch_to_datetime(item.get("createdAt"), "createdAt")
    if detail:
        # The detail has no top-level lastUpdatedAt (reference §4.3).
        updated = _opt_obj(item.get("lastUpdated"), "lastUpdated") or {}
        updated_raw, updated_field = updated.get("lastUpdatedAt"), "lastUpdated.lastUpdatedAt"
    else:
        updated_raw, updated_field = item.get("lastUpdatedAt"), "lastUpdatedAt"
    updated_at = (
        created_at if updated_raw is None else epoch_to_datetime(updated_raw, updated_field)
    )
    web_links = _opt_obj(item.get("webLinks"), "webLinks") or {}
    submitter = _opt_obj(item.get("submitter"), "submitter") or {}
    if detail:
        duplicate = _opt_obj(state.get("duplicateInfo"), "state.duplicateInfo") or {}
        duplicate_of = _opt_str(
            duplicate.get("parentSubmissionCode"), "state.duplicateInfo.parentSubmissionCode"
        )
        payouts: Payouts | None = _payouts(item.get("reward"))
        total_payout = payouts.total if payouts is not None else None
    else:
        duplicate_of, payouts = None, None
        total_payout = _money_value(item.get("totalPayout"), "totalPayout")
    return Submission(
        code=code,
        program_id=_str(originators.get("programId"), "originators.programId"),
        title=_opt_str(item.get("title"), "title") or "",
        status=status,
        close_reason=_opt_enum_name(
            state.get("closeReason"), "state.closeReason", enums.CLOSE_REASON
        ),
        severity=severity_name,
        cvss_vector=vector,
        cvss_score=score,
        internal_reference=_opt_str(reference.get("reference"), "internalReference.reference"),
        internal_reference_url=_opt_str(reference.get("url"), "internalReference.url"),
        created_at=created_at,
        updated_at=updated_at,
        web_url=_opt_str(web_links.get("details"), "webLinks.details"),
        researcher=_opt_str(submitter.get("userName"), "submitter.userName"),
        report=_report(item.get("report"), code) if detail else None,
        payouts=payouts,
        duplicate_of=duplicate_of or None,
        total_payout=total_payout,
        detail=detail,
    )


def _money_value(value: object, field: str) -> float | None:
    """A ``Money`` object's value (``{value, currency}``); a bare number is accepted too
    (the v1 list gave ``totalPayout`` as a number, reference §4.7)."""
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return _opt_float(value, field)
    money = _obj(value, field)
    return _opt_float(money.get("value"), f"{field}.value")


def _money(value: object, field: str) -> tuple[float, str | None]:
    """(amount, currency) of a Money object; a null object is 0 of no currency."""
    money = _opt_obj(value, field)
    if money is None:
        return 0.0, None
    amount = _opt_float(money.get("value"), f"{field}.value") or 0.0
    currency = _opt_str(money.get("currency"), f"{field}.currency")
    return amount, (currency.strip().upper() or None) if currency else None


def _payouts(raw: object) -> Payouts:
    """The detail's ``reward`` totals (reference §4.3); no reward object is nothing paid."""
    reward = _opt_obj(raw, "reward") or {}
    bounty, bounty_unit = _money(reward.get("totalBountyPayout"), "reward.totalBountyPayout")
    bonus, bonus_unit = _money(reward.get("totalBonusPayout"), "reward.totalBonusPayout")
    if reward.get("totalPayout") is None:
        total, total_unit = bounty + bonus, None
    else:
        total, total_unit = _money(reward.get("totalPayout"), "reward.totalPayout")
    amounts = ((total_unit, total), (bounty_unit, bounty), (bonus_unit, bonus))
    # a zero amount says little about the currency (a 0 USD beside an EUR bounty): the
    # paid amounts decide, and only when nothing is paid do the zero ones name it
    units = {unit for unit, amount in amounts if unit is not None and amount}
    if not units:
        units = {unit for unit, _amount in amounts if unit is not None}
    if len(units) > 1:
        raise _FieldError("reward", f"mixed currencies: {', '.join(sorted(units))}")
    return Payouts(
        total=total, bounty=bounty, bonus=bonus, currency=next(iter(units), None)
    )


def _attachments(raw: object, code: str) -> tuple[Attachment, ...]:
    """``report.attachments`` (``[{url, code}]``). The code is an integer on the wire
    (``attachmentCode`` int32, reference §3.1) and kept as text; an entry without a URL
    cannot be linked or fetched, so it is left out (and logged)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _FieldError("report.attachments", f"expected an array, got {_describe(raw)}")
    found: list[Attachment] = []
    for index, entry in enumerate(raw):
        field = f"report.attachments[{index}]"
        item = _obj(entry, field)
        ident = item.get("code")
        if isinstance(ident, bool) or not isinstance(ident, (int, str)) or ident == "":
            raise _FieldError(
                f"{field}.code", f"expected an integer or a string, got {_describe(ident)}"
            )
        url = _opt_str(item.get("url"), f"{field}.url")
        if not url:
            log.warning("attachment_without_url", submission=code, attachment=str(ident))
            continue
        found.append(Attachment(code=str(ident), url=url))
    return tuple(found)


def _report(raw: object, code: str) -> SubmissionReport | None:
    report = _opt_obj(raw, "report")
    if report is None:
        return None
    kind = _opt_obj(report.get("type"), "report.type") or {}
    domain = _opt_obj(report.get("domain"), "report.domain") or {}
    return SubmissionReport(
        original_title=_opt_str(report.get("originalTitle"), "report.originalTitle"),
        type_name=_opt_str(kind.get("name"), "report.type.name"),
        category=_opt_str(kind.get("category"), "report.type.category"),
        cwe=_opt_str(kind.get("cwe"), "report.type.cwe"),
        asset=_opt_str(domain.get("name"), "report.domain.name"),
        endpoint=_opt_str(
            report.get("endpointVulnerableComponent"), "report.endpointVulnerableComponent"
        ),
        poc_description=_opt_str(report.get("pocDescription"), "report.pocDescription"),
        impact=_opt_str(report.get("impact"), "report.impact"),
        recommended_solution=_opt_str(
            report.get("recommendedSolution"), "report.recommendedSolution"
        ),
        attachments=_attachments(report.get("attachments"), code),
    )


def _item_name(raw: object, index: int) -> str:
    if isinstance(raw, Mapping):
        code = raw.get("code")
        if isinstance(code, str) and code:
            return code
    return f"index {index}"


def _expect_list(body: object, route: str) -> list[Any]:
    if not isinstance(body, list):
        raise MalformedResponse(
            f"{route}: expected a JSON array, got {_describe(body)}", system=SYSTEM, route=route
        )
    return body


def submission_batch(
    body: object,
    *,
    programs: frozenset[str] = frozenset(),
    route: str = "GET /submissions",
    offset: int = 0,
) -> SubmissionBatch:
    """A SubmissionOverview array -> parsed submissions plus per-item failures.

    With ``programs`` non-empty, submissions of other programs are dropped (after parsing,
    since the program id is itself a field that can be malformed). ``offset``: the index
    of the first item in the whole listing, when ``body`` is one chunk of it.
    """
    parsed: list[Submission] = []
    failures: list[ItemFailure] = []
    for index, raw in enumerate(_expect_list(body, route), start=offset):
        try:
            submission = _submission(raw, detail=False)
        except _FieldError as exc:
            failures.append(
                ItemFailure(item=_item_name(raw, index), field=exc.field, message=exc.message)
            )
            continue
        if not programs or submission.program_id in programs:
            parsed.append(submission)
    return SubmissionBatch(submissions=tuple(parsed), failures=tuple(failures))


def log_unparsable(batch: SubmissionBatch) -> None:
    """One warning per item a list read could not parse (the item is parked, not lost)."""
    for failure in batch.failures:
        log.warning(
            "intigriti_item_unparsable",
            item=failure.item,
            field=failure.field,
            message=failure.message,
        )


def submission_detail(body: object) -> Submission:
    """A SubmissionDetails object -> Submission with its report; ItemError when malformed."""
    try:
        return _submission(body, detail=True)
    except _FieldError as exc:
        raise ItemError(
            exc.message, item=_item_name(body, 0), field=exc.field, system=SYSTEM
        ) from None


def programs(body: object, route: str = "GET /programs") -> list[Program]:
    """A ProgramOverview array -> programs. A malformed program fails the whole read:
    the program list is configuration, and a partial one would hide submissions."""
    result: list[Program] = []
    for index, raw in enumerate(_expect_list(body, route)):
        try:
            item = _obj(raw, "$")
            result.append(
                Program(
                    id=_str(item.get("id"), "id"),
                    handle=_opt_str(item.get("handle"), "handle") or "",
                    name=_opt_str(item.get("name"), "name") or "",
                )
            )
        except _FieldError as exc:
            raise ItemError(
                exc.message, item=f"program at index {index}", field=exc.field, system=SYSTEM
            ) from None
    return result


def events(body: object, code: str, route: str) -> list[SubmissionEvent]:
    """A SubmissionEvent array -> events; a malformed event fails the read (ItemError)."""
    result: list[SubmissionEvent] = []
    for index, raw in enumerate(_expect_list(body, route)):
        try:
            item = _obj(raw, "$")
            kind = _opt_obj(item.get("type"), "type") or {}
            visibility = _opt_obj(item.get("visibility"), "visibility") or {}
            user = _opt_obj(item.get("user"), "user") or {}
            type_id = kind.get("id")
            result.append(
                SubmissionEvent(
                    type_id=None if type_id is None else _int(type_id, "type.id"),
                    type=_opt_str(kind.get("value"), "type.value"),
                    created_at=epoch_to_datetime(item.get("createdAt"), "createdAt"),
                    visibility=_opt_str(visibility.get("value"), "visibility.value"),
                    user_name=_opt_str(user.get("userName"), "user.userName"),
                    message=_opt_str(item.get("message"), "message"),
                )
            )
        except _FieldError as exc:
            raise ItemError(
                exc.message, item=f"{code} event {index}", field=exc.field, system=SYSTEM
            ) from None
    return result


def message_id(body: object, route: str) -> str:
    """The ``messageId`` of a 201 from POST .../comments/{internal,external}."""
    if isinstance(body, Mapping):
        ident = body.get("messageId")
        if isinstance(ident, str) and ident:
            return ident
    raise MalformedResponse(f"{route}: no messageId in the response", system=SYSTEM, route=route)
