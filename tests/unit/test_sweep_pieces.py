"""Pieces of the streamed sweep that need no server: the listing's parser fallbacks, the
seen marks written in bulk, and the planner short cut's payout rule."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
import structlog

from syncd.errors import DatabaseBusy, MalformedResponse
from syncd.intigriti.listing import StreamedListing
from syncd.records import Issue, Submission
from syncd.store.repository import SeenMark
from syncd.sync.agreement import nothing_to_do
from syncd.sync.executor import SeenMarks
from syncd.sync.mapping import default_mapping
from syncd.sync.plan import Bases, LinkView, plan

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def listing(body: bytes) -> StreamedListing:
    return StreamedListing(io.BytesIO(body), None, frozenset())


@pytest.mark.parametrize(
    "body",
    [
        b'[{"code": "A-1", "title": "x\\udc00"}]',  # a lone surrogate escape: ijson refuses
        b'\xef\xbb\xbf[{"code": "A-1"}]',  # a byte-order mark
        b'[{"code": "A-1", "n": 123456789012345678901234567890}]',  # beyond 64 bits
    ],
)
def test_a_body_ijson_refuses_but_json_reads_is_listed_all_the_same(body: bytes) -> None:
    read = listing(body)
    assert read.codes == frozenset({"A-1"}) and read.count == 1
    (chunk,) = list(read.chunks(10))
    assert [f.item for f in chunk.failures] == ["A-1"]  # parsed, then failed per item


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'[{"code": "A-1"', "not valid JSON"),
        (b'{"code": "A-1"}', "expected a JSON array"),
        (b"", "not valid JSON"),
    ],
)
def test_a_body_neither_parser_reads_is_malformed(body: bytes, says: str) -> None:
    with pytest.raises(MalformedResponse, match=says):
        listing(body)


class _BusyRepository:
    def mark_seen_many(self, marks: Sequence[SeenMark]) -> None:
        raise DatabaseBusy("the database is busy")


def test_seen_marks_that_cannot_be_saved_are_dropped_with_a_warning() -> None:
    marks = SeenMarks(_BusyRepository(), size=2)
    with structlog.testing.capture_logs() as logs:
        marks.add("A-1", T0, None)
        marks.add("A-2", T0, T0)  # the flush at 2 fails, and nothing is raised
        marks.flush()
    assert [e["count"] for e in logs if e["event"] == "seen_marks_not_saved"] == [2]


def test_the_short_cut_leaves_a_link_without_a_recorded_payout_to_the_planner() -> None:
    mapping = dataclasses.replace(default_mapping(default_project="SEC"), payout_target="cf")
    submission = Submission(
        code="A-1", program_id="p", title="XSS", status="Triage", close_reason=None,
        severity="High", cvss_vector=None, cvss_score=None, internal_reference="SEC-1",
        internal_reference_url=None, created_at=T0, updated_at=T0, total_payout=0.0,
    )
    issue = Issue(
        id="10001", key="SEC-1", project="SEC", status="To Do", priority="High",
        resolution=None, updated_at=T0, submission_code="A-1",
    )
    bases = Bases(severity="High", status="new", internal_reference="SEC-1")
    link = LinkView(
        submission_code="A-1", program_id="p", issue_id="10001", issue_key="SEC-1",
        state="linked", bases=bases,
    )
    assert plan(link, submission, issue, mapping, now=T0).needs_detail
    assert not nothing_to_do(link, submission, issue, mapping)
    recorded = dataclasses.replace(link, bases=dataclasses.replace(bases, payout_total="0.00"))
    assert nothing_to_do(recorded, submission, issue, mapping)

