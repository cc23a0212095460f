"""Intigriti JSON -> records: shapes from reference §4, one bad item never sinks a list."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from syncd.errors import ItemError, MalformedResponse
from syncd.intigriti import parse

PROGRAM = "3f2b8c1e-0000-4000-8000-000000000001"
OTHER_PROGRAM = "3f2b8c1e-0000-4000-8000-000000000002"


def overview(code: str | None = "ACME-AAAA1111", **changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "code": code,
        "originators": {"programId": PROGRAM, "pentestCode": None},
        "internalReference": {"reference": "SEC-12", "url": "https://jira.example/browse/SEC-12"},
        "title": "Stored XSS in profile",
        "severity": {
            "id": 3,
            "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
            "value": "High",
            "score": 7.1,
        },
        "state": {"status": {"id": 3, "value": "Pending"}, "closeReason": None},
        "totalPayout": {"value": 0.0, "currency": "EUR"},
        "createdAt": 1700000000,
        "lastUpdatedAt": 1700000500,
        "awaitingFeedback": False,
        "destroyed": False,
        "submitter": {"userId": "u1", "userName": "researcher1", "avatarUrl": None},
        "webLinks": {"details": "https://app.intigriti.com/company/submissions/x"},
    }
    item.update(changes)
    return item


def detail(code: str = "ACME-AAAA1111") -> dict[str, Any]:
    item = overview(code)
    del item["lastUpdatedAt"]
    item["lastUpdated"] = {"lastUpdater": None, "lastUpdatedAt": 1700000900}
    item["report"] = {
        "originalTitle": "XSS",
        "type": {"name": "Cross-site scripting", "category": "XSS", "cwe": "CWE-79"},
        "domain": {"name": "app.acme.example", "type": {"id": 1, "value": "Url"}},
        "endpointVulnerableComponent": "/profile",
        "pocDescription": "<script>alert(1)</script>",
        "impact": "Account takeover",
        "recommendedSolution": "Encode output",
    }
    return item


def test_overview_fields_map_to_the_neutral_record() -> None:
    batch = parse.submission_batch([overview()])
    assert batch.failures == ()
    (sub,) = batch.submissions
    assert sub.code == "ACME-AAAA1111"
    assert sub.program_id == PROGRAM
    assert sub.status == "Pending"
    assert sub.close_reason is None
    assert sub.severity == "High"
    assert sub.cvss_vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"
    assert sub.cvss_score == 7.1
    assert sub.internal_reference == "SEC-12"
    assert sub.internal_reference_url == "https://jira.example/browse/SEC-12"
    assert sub.created_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert sub.updated_at == datetime(2023, 11, 14, 22, 21, 40, tzinfo=UTC)
    assert sub.updated_at.tzinfo is UTC
    assert sub.researcher == "researcher1"
    assert sub.web_url == "https://app.intigriti.com/company/submissions/x"
    assert sub.report is None


def test_closed_submission_carries_its_close_reason() -> None:
    raw = overview(state={"status": {"id": 5, "value": "Closed"}, "closeReason": {"id": 2}})
    (sub,) = parse.submission_batch([raw]).submissions
    assert (sub.status, sub.close_reason) == ("Closed", "Duplicate")


def test_ids_are_authoritative_over_value_spellings() -> None:
    raw = overview(state={"status": {"id": 4, "value": "accepted (legacy)"}, "closeReason": None})
    (sub,) = parse.submission_batch([raw]).submissions
    assert sub.status == "Accepted"


@pytest.mark.parametrize(
    "severity",
    [None, {"id": None, "vector": None, "value": None, "score": None}, {"id": 0, "value": "None"}],
)
def test_unset_or_undecided_severity_is_none(severity: Any) -> None:
    (sub,) = parse.submission_batch([overview(severity=severity)]).submissions
    assert sub.severity is None


def test_missing_internal_reference_and_null_title() -> None:
    (sub,) = parse.submission_batch([overview(internalReference=None, title=None)]).submissions
    assert sub.internal_reference is None
    assert sub.internal_reference_url is None
    assert sub.title == ""


def test_missing_last_update_falls_back_to_creation() -> None:
    (sub,) = parse.submission_batch([overview(lastUpdatedAt=None)]).submissions
    assert sub.updated_at == sub.created_at


def test_one_malformed_item_does_not_sink_the_list() -> None:
    good_a = overview("ACME-GOOD0001")
    unknown = overview(
        "ACME-BAD00001", state={"status": {"id": 99, "value": "Quarantined"}, "closeReason": None}
    )
    bad_time = overview("ACME-BAD00002", createdAt="yesterday")
    no_code = overview(code=None)
    not_object = "garbage"
    good_b = overview("ACME-GOOD0002")
    batch = parse.submission_batch([good_a, unknown, bad_time, no_code, not_object, good_b])

    assert [s.code for s in batch.submissions] == ["ACME-GOOD0001", "ACME-GOOD0002"]
    failures = {(f.item, f.field) for f in batch.failures}
    assert failures == {
        ("ACME-BAD00001", "state.status.id"),
        ("ACME-BAD00002", "createdAt"),
        ("index 3", "code"),
        ("index 4", "$"),
    }
    unknown_failure = next(f for f in batch.failures if f.item == "ACME-BAD00001")
    assert "99" in unknown_failure.message


def test_unknown_severity_id_is_an_item_failure() -> None:
    raw = overview(severity={"id": 42, "value": "Catastrophic", "vector": None, "score": None})
    batch = parse.submission_batch([raw])
    assert batch.submissions == ()
    assert [(f.item, f.field) for f in batch.failures] == [("ACME-AAAA1111", "severity.id")]


def test_failure_messages_do_not_echo_researcher_text() -> None:
    raw = overview(title={"nested": "<script>steal()</script>"})
    (failure,) = parse.submission_batch([raw]).failures
    assert failure.field == "title"
    assert "script" not in failure.message


def test_program_filter_is_applied_client_side() -> None:
    other = overview("ACME-OTHER001", originators={"programId": OTHER_PROGRAM})
    batch = parse.submission_batch([overview(), other], programs=frozenset({OTHER_PROGRAM}))
    assert [s.code for s in batch.submissions] == ["ACME-OTHER001"]


def test_a_list_response_that_is_not_an_array_is_malformed() -> None:
    with pytest.raises(MalformedResponse) as info:
        parse.submission_batch({"records": []})
    assert info.value.route == "GET /submissions"


def test_detail_reads_the_nested_last_update_and_the_report() -> None:
    sub = parse.submission_detail(detail())
    assert sub.updated_at == datetime.fromtimestamp(1700000900, tz=UTC)
    assert sub.report is not None
    assert sub.report.original_title == "XSS"
    assert sub.report.cwe == "CWE-79"
    assert sub.report.asset == "app.acme.example"
    assert sub.report.endpoint == "/profile"
    assert sub.report.poc_description == "<script>alert(1)</script>"
    assert sub.report.recommended_solution == "Encode output"


def test_malformed_detail_raises_item_error_naming_code_and_field() -> None:
    raw = copy.deepcopy(detail("ACME-BROKEN01"))
    raw["lastUpdated"] = {"lastUpdatedAt": "soon"}
    with pytest.raises(ItemError) as info:
        parse.submission_detail(raw)
    assert info.value.item == "ACME-BROKEN01"
    assert info.value.field == "lastUpdated.lastUpdatedAt"


def test_programs_parse_and_a_bad_one_fails_the_read() -> None:
    body = [{"id": PROGRAM, "handle": "acme", "name": "Acme BBP", "status": {"id": 3}}]
    (program,) = parse.programs(body)
    assert (program.id, program.handle, program.name) == (PROGRAM, "acme", "Acme BBP")
    with pytest.raises(ItemError) as info:
        parse.programs([*body, {"handle": "nameless"}])
    assert info.value.field == "id"


def test_events_parse_minimally() -> None:
    body = [
        {
            "type": {"id": 7, "value": "Message"},
            "createdAt": 1700000000,
            "visibility": {"id": 2, "value": "Internal"},
            "user": {"userName": "triager"},
            "message": "looks valid",
        },
        {"type": None, "createdAt": 1700000001, "visibility": None, "user": None},
    ]
    first, second = parse.events(body, "ACME-AAAA1111", "GET /submissions/{code}/events")
    assert (first.type_id, first.type, first.visibility) == (7, "Message", "Internal")
    assert (first.user_name, first.message) == ("triager", "looks valid")
    assert first.created_at == datetime.fromtimestamp(1700000000, tz=UTC)
    assert second.type is None
    assert second.message is None


def test_message_id_is_required_in_a_comment_response() -> None:
    assert parse.message_id({"messageId": "m-1"}, "POST x") == "m-1"
    with pytest.raises(MalformedResponse):
        parse.message_id({}, "POST x")


def test_only_well_formed_cvss_vectors_pass_the_boundary() -> None:
    from syncd.intigriti.parse import cvss_vector

    good = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N"
    assert cvss_vector(good) == good
    assert cvss_vector("AV:N/AC:L/Au:N/C:P/I:P/A:P") == "AV:N/AC:L/Au:N/C:P/I:P/A:P"  # v2
    for hostile in (
        "CVSS:3.1/AV:N {noformat}[x|http://evil]",
        "CVSS:3.1/AV:N\n[~accountid:123]",
        "!http://evil/x.png!",
        "CVSS:3.1/" + "AV:N/" * 100,
        "",
    ):
        assert cvss_vector(hostile) is None
