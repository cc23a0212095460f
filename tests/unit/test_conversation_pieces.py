"""The pure pieces of the conversation sync: parsing both sides, rendering each copy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from syncd.errors import ItemError, MalformedResponse
from syncd.intigriti.messages import messages
from syncd.records import Comment, Message, MessageAttachment
from syncd.sync.content import fallback_escape
from syncd.sync.conversation import (
    intigriti_text,
    jira_comment_body,
    ref_of,
    starts_with_marker,
    wants_external,
    without_marker,
)
from syncd.tracker.comments import parse_comment
from syncd.tracker.markup import escape_wiki

ROUTE = "GET /submissions/{code}/events"
AT = datetime(2026, 12, 6, 7, 0, tzinfo=UTC)


def _event(**fields: object) -> dict[str, object]:
    event: dict[str, object] = {
        "type": {"id": 5, "value": "Message"},
        "createdAt": 1_765_000_000,
        "visibility": {"id": 2, "value": "External"},
        "user": {"userId": "u-1", "userName": "xss_hunter", "role": "researcher"},
        "message": "hello",
        "attachments": [],
        "lastEditedAt": None,
        "deletedAt": None,
    }
    event.update(fields)
    return event


def test_message_events_become_messages_and_other_events_are_left_out() -> None:
    body = [
        {"type": {"id": 2, "value": "Status changed"}, "createdAt": 1_765_000_000},
        _event(),
        _event(
            visibility={"id": 1, "value": "Internal"},
            user={"userId": "c-1", "userName": "Tom", "role": "companyAdmin"},
            message="note",
            attachments=[{"url": "https://api.example/f/1", "name": "poc.png"}],
        ),
    ]
    found = messages(body, "ACME-1", ROUTE)
    assert [m.text for m in found] == ["hello", "note"]
    assert [m.internal for m in found] == [False, True]
    assert found[1].attachments == (MessageAttachment("poc.png", "https://api.example/f/1"),)


def test_message_keys_are_stable_across_reads_and_distinct_within_one_second() -> None:
    body = [_event(message="a"), _event(message="b"), _event(createdAt=1_765_000_001)]
    keys = [m.key for m in messages(body, "ACME-1", ROUTE)]
    assert len(set(keys)) == 3
    # a CreatedSince read returns whole seconds: the same keys for the same messages
    later = [e for e in body if e["createdAt"] == 1_765_000_001]
    assert [m.key for m in messages(later, "ACME-1", ROUTE)] == keys[2:]
    assert [m.key for m in messages(body, "ACME-1", ROUTE)] == keys


def test_an_unclear_visibility_counts_as_internal() -> None:
    found = messages([_event(visibility=None), _event(visibility={"id": 99})], "A-1", ROUTE)
    assert all(m.internal for m in found)


def test_a_deleted_message_has_no_text_and_a_text_missing_otherwise_is_an_error() -> None:
    found = messages([_event(message=None, deletedAt=1_765_000_100)], "A-1", ROUTE)
    assert found[0].deleted and found[0].text == ""
    with pytest.raises(ItemError, match="message"):
        messages([_event(message=None)], "A-1", ROUTE)
    with pytest.raises(ItemError, match="createdAt"):
        messages([_event(createdAt="yesterday")], "A-1", ROUTE)


def test_attachment_links_that_are_not_http_are_dropped() -> None:
    found = messages(
        [_event(attachments=[{"url": "javascript:alert(1)", "name": "x"}])], "A-1", ROUTE
    )
    assert found[0].attachments == ()


def _raw_comment(**fields: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "id": "10001",
        "author": {"accountId": "acc-1", "displayName": "Dana"},
        "body": "hi",
        "created": "2026-12-06T07:00:00.000+0000",
        "updated": "2026-12-06T07:00:00.000+0000",
        "jsdPublic": True,
    }
    raw.update(fields)
    return raw


@pytest.mark.parametrize(
    ("fields", "restricted"),
    [
        ({}, False),
        ({"visibility": {"type": "role", "value": "Developers"}}, True),
        ({"visibility": {"type": "group", "value": "security"}}, True),
        ({"jsdPublic": False}, True),
        ({"jsdPublic": None}, True),
    ],
)
def test_a_comment_is_restricted_by_visibility_or_as_an_internal_service_desk_note(
    fields: dict[str, object], restricted: bool
) -> None:
    assert parse_comment(_raw_comment(**fields), frozenset(), "R").restricted is restricted


def test_comments_by_syncds_own_account_are_mine() -> None:
    assert parse_comment(_raw_comment(), frozenset({"acc-1"}), "R").mine
    assert not parse_comment(_raw_comment(), frozenset({"acc-2"}), "R").mine


def test_a_comment_without_a_body_is_a_malformed_response() -> None:
    with pytest.raises(MalformedResponse, match="body"):
        parse_comment(_raw_comment(body={"type": "doc"}), frozenset(), "R")


def _message(text: str, *, internal: bool = False, author: str = "xss_hunter") -> Message:
    return Message("k", AT, author, "researcher", internal, text)


def test_a_jira_copy_renders_researcher_text_literally_and_ends_with_its_ref() -> None:
    body = jira_comment_body(
        _message("{noformat}\n[~admin] *pwned*", author="[~admin]*x*"), "0123456789ab", escape_wiki
    )
    assert body.count("{noformat}") == 2  # the researcher's own tag is broken
    assert "[~admin]*x*" not in body  # the user name is reduced to plain characters
    assert ref_of(body) == "0123456789ab"


def test_a_long_message_is_cut_to_fit_a_jira_comment() -> None:
    body = jira_comment_body(_message("x" * 100_000), "0123456789ab", fallback_escape)
    assert len(body) <= 32_767
    assert "cut here" in body and ref_of(body) == "0123456789ab"


def _comment(body: str, *, restricted: bool = False) -> Comment:
    return Comment("1", "Dana", AT, AT, body, restricted)


def test_the_marker_decides_the_audience_and_is_removed_for_the_researcher() -> None:
    marker = "[to researcher]"
    assert wants_external(_comment("  [TO RESEARCHER] thanks!"), marker)
    assert not wants_external(_comment("[to researcher] x", restricted=True), marker)
    assert not wants_external(_comment("thanks [to researcher]"), marker)
    assert starts_with_marker("[to researcher]x", marker)
    assert without_marker("[to researcher]  thanks", marker) == "thanks"
    ref = "ab" * 6
    external = intigriti_text(_comment("[to researcher] thanks"), "external", "SEC-1", ref, marker)
    assert external.startswith("thanks") and "Dana" not in external and "SEC-1" not in external
    internal = intigriti_text(_comment("fixed"), "internal", "SEC-1", "ab" * 6, marker)
    assert "Dana" in internal and "SEC-1" in internal
    assert ref_of(external) == ref_of(internal) == "ab" * 6


def test_a_quoted_reference_in_the_middle_of_a_text_is_not_taken_for_a_copy() -> None:
    assert ref_of("see (syncd ref 0123456789ab) above, please") is None
