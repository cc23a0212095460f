from __future__ import annotations

from datetime import UTC, datetime

from syncd.tracker.ratelimit import (
    DEFAULT_RETRY_SECONDS,
    PauseBoard,
    Scope,
    parse_reset,
    parse_retry_after,
    retry_hint,
)

NOW = datetime(2026, 3, 5, 12, 0, 0, tzinfo=UTC)


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7", NOW) == 7.0
    assert parse_retry_after("1.5", NOW) == 1.5
    assert parse_retry_after("Thu, 05 Mar 2026 12:00:30 GMT", NOW) == 30.0
    assert parse_retry_after("Thu, 05 Mar 2026 11:00:00 GMT", NOW) == 0.0
    assert parse_retry_after("-3", NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_reset_formats() -> None:
    assert parse_reset("2026-03-05T12:02Z", NOW) == 120.0
    assert parse_reset("2026-03-05T12:00:45Z", NOW) == 45.0
    assert parse_reset("2026-03-05T12:01:00+00:00", NOW) == 60.0
    assert parse_reset("2026-03-05T11:59Z", NOW) == 0.0
    assert parse_reset("garbage", NOW) is None


def test_hint_prefers_retry_after_and_reads_the_reason_scope() -> None:
    hint = retry_hint(
        {
            "retry-after": "3",
            "X-RateLimit-Reset": "2026-03-05T12:10Z",
            "RateLimit-Reason": "jira-per-issue-on-write",
        },
        NOW,
    )
    assert (hint.seconds, hint.scope, hint.reason) == (3.0, Scope.ISSUE, "jira-per-issue-on-write")


def test_hint_falls_back_to_reset_then_default() -> None:
    hint = retry_hint({"X-RateLimit-Reset": "2026-03-05T12:01Z"}, NOW)
    assert hint.seconds == 60.0
    assert hint.scope is Scope.GLOBAL
    assert retry_hint({}, NOW).seconds == DEFAULT_RETRY_SECONDS


def test_scopes() -> None:
    assert retry_hint({"RateLimit-Reason": "jira-burst-based"}, NOW).scope is Scope.ROUTE
    assert retry_hint({"RateLimit-Reason": "jira-quota-tenant-based"}, NOW).scope is Scope.GLOBAL


def test_pause_board_scopes_pauses() -> None:
    now = [100.0]
    board = PauseBoard(clock=lambda: now[0])
    board.pause_issue("10001", 5)
    board.pause_route("GET /search/jql", 2)
    assert board.remaining("PUT /issue/{id}", "10001") == 5
    assert board.remaining("PUT /issue/{id}", "10002") == 0
    assert board.remaining("GET /search/jql", None) == 2
    now[0] = 103.0
    assert board.snapshot() == {"issues": {"10001": 2.0}, "routes": {}}
    now[0] = 106.0
    assert board.remaining("PUT /issue/{id}", "10001") == 0
