"""The pure pieces of the conversation sync: parsing both sides, rendering each copy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syncd.errors import ItemError, MalformedResponse
from syncd.intigriti.messages import messages
from syncd.records import Comment, Message, MessageAttachment
from syncd.settings import ConversationSettings
from syncd.store.conversation import CopyRecord
from syncd.sync.content import fallback_escape, utf16_len
from syncd.sync.conversation import (
    ConversationOptions,
    CopyToIntigriti,
    CopyToJira,
    WithdrawCopy,
    digest_of,
    intigriti_text,
    jira_comment_body,
    plan_conversation,
    ref_of,
    starts_with_marker,
    wants_external,
    without_marker,
)
from syncd.tracker.comments import parse_comment
from syncd.tracker.markup import escape_wiki

ROUTE = "GET /submissions/{code}/events"
_ABSENT = object()
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


@pytest.mark.parametrize("marker", ["", "  ", "a", "to", "researcher", "to researcher", "#r"])
def test_a_marker_ordinary_text_could_start_with_is_refused(marker: str) -> None:
    with pytest.raises(ValueError, match="to_researcher_marker"):
        ConversationSettings(to_researcher_marker=marker)


def test_a_marker_with_a_mark_in_it_is_taken() -> None:
    assert ConversationSettings(to_researcher_marker=">>> ").to_researcher_marker == ">>> "


@pytest.mark.parametrize(
    ("fields", "restricted"),
    [
        # Data Center leaves jsdPublic out: the properties (expand=properties) decide
        ({"jsdPublic": _ABSENT, "properties": []}, False),
        ({"jsdPublic": _ABSENT}, True),
        (
            {
                "jsdPublic": _ABSENT,
                "properties": [{"key": "sd.public.comment", "value": {"internal": True}}],
            },
            True,
        ),
        ({"properties": [{"key": "sd.public.comment", "value": {"internal": True}}]}, True),
        ({"properties": [{"key": "sd.public.comment", "value": "odd"}]}, True),
        ({"properties": [{"key": "sd.public.comment", "value": {"internal": False}}]}, False),
    ],
)
def test_an_internal_note_is_restricted_where_jsd_public_is_absent(
    fields: dict[str, object], restricted: bool
) -> None:
    raw = {k: v for k, v in _raw_comment(**fields).items() if v is not _ABSENT}
    assert parse_comment(raw, frozenset(), "R").restricted is restricted


def test_a_jira_copy_fits_jira_in_utf16_units_even_when_escaping_grows_it() -> None:
    for text in ("\U0001f600" * 40_000, "{noformat}" * 4_000):
        body = jira_comment_body(_message(text), "0123456789ab", escape_wiki)
        assert utf16_len(body) <= 32_767
        assert "cut here" in body and ref_of(body) == "0123456789ab"


def test_the_marker_is_removed_whatever_its_case_folds_to() -> None:
    assert without_marker("[TO STRASSE] secret", "[to straße]") == "secret"
    assert not starts_with_marker("[to straße", "[to straße]")


def _copy(source: str, text: str, *, audience: str = "external", state: str = "sent") -> CopyRecord:
    ref = ref_of(text)
    assert ref is not None
    return CopyRecord(
        "A-1",
        "jira",
        source,
        audience,
        ref,
        "m-1",
        state,
        AT,
        digest_of(text),  # type: ignore[arg-type]
    )


OPTIONS = ConversationOptions(to_jira=True, to_intigriti=True, marker="[to researcher]")


def test_a_reply_quoting_a_copy_reference_and_all_is_copied_to_jira() -> None:
    sent = "please retest\n\n(syncd ref 0123456789ab)"
    reply = Message("m9", AT, "xss_hunter", "researcher", False, f"still broken\n> {sent}")
    copy = Message("m8", AT, "api", None, False, sent)
    plan = plan_conversation([copy, reply], None, [_copy("c1", sent)], OPTIONS, AT)
    assert [a.message.key for a in plan.actions if isinstance(a, CopyToJira)] == ["m9"]


def test_syncds_own_comment_is_not_copied_back_even_when_jira_no_longer_says_mine() -> None:
    own = CopyRecord("A-1", "intigriti", "m1", "public", "0123456789ab", "10005", "sent", AT, None)
    echoed = Comment("10005", "syncd bot", AT, AT, "copy\n_syncd ref 0123456789ab_", False)
    plan = plan_conversation(None, [echoed], [own], OPTIONS, AT)
    assert plan.actions == ()


def test_a_lost_copy_whose_source_was_deleted_is_withdrawn_not_waited_for() -> None:
    lost = CopyRecord("A-1", "jira", "c1", "external", "0123456789ab", None, "sending", AT, None)
    later = Comment("c2", "Dana", AT, AT, "later", False)
    plan = plan_conversation([], [later], [lost], OPTIONS, AT + timedelta(hours=1))
    assert isinstance(plan.actions[0], WithdrawCopy)
    assert [a.comment.id for a in plan.actions if isinstance(a, CopyToIntigriti)] == ["c2"]


def test_a_withdrawn_external_copy_leaves_the_comment_to_be_copied_as_a_note() -> None:
    withdrawn = CopyRecord(
        "A-1", "jira", "c1", "external", "0123456789ab", None, "withdrawn", AT, None
    )
    unmarked = Comment("c1", "Dana", AT, AT, "not for them after all", False)
    plan = plan_conversation(None, [unmarked], [withdrawn], OPTIONS, AT)
    assert [(a.comment.id, a.audience) for a in plan.actions] == [("c1", "internal")]
