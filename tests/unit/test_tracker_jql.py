from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from syncd.tracker import jql


def test_quote_escapes_quotes_backslashes_and_newlines() -> None:
    assert jql.quote('a"b\\c\nd') == '"a\\"b\\\\c d"'


def test_watermark_utc_floors_to_the_minute() -> None:
    since = datetime(2026, 3, 1, 10, 4, 59, 999000, tzinfo=UTC)
    assert jql.watermark_literal(since, ZoneInfo("UTC")) == "2026-03-01 10:04"


def test_watermark_is_written_in_the_users_zone() -> None:
    since = datetime(2026, 7, 1, 10, 4, 30, tzinfo=UTC)
    assert jql.watermark_literal(since, ZoneInfo("Europe/Berlin")) == "2026-07-01 12:04"
    assert jql.watermark_literal(since, ZoneInfo("America/Los_Angeles")) == "2026-07-01 03:04"
    # Half-hour offsets move the minute too.
    assert jql.watermark_literal(since, ZoneInfo("Asia/Kolkata")) == "2026-07-01 15:34"


def test_watermark_crosses_the_date_line() -> None:
    since = datetime(2026, 1, 1, 11, 30, tzinfo=UTC)
    assert jql.watermark_literal(since, ZoneInfo("Pacific/Kiritimati")) == "2026-01-02 01:30"


def test_watermark_in_the_repeated_hour_steps_back() -> None:
    # 2025-11-02 01:30 happens twice in New York; 05:30 UTC is the first (EDT) one.
    # Jira could read "01:30" as the second (06:30 UTC), so we write an earlier minute.
    first = datetime(2025, 11, 2, 5, 30, tzinfo=UTC)
    literal = jql.watermark_literal(first, ZoneInfo("America/New_York"))
    assert literal == "2025-11-02 00:30"
    # Whichever reading Jira takes, the literal is not later than the watermark.
    wall = datetime.strptime(literal, "%Y-%m-%d %H:%M")
    for fold in (0, 1):
        instant = wall.replace(tzinfo=ZoneInfo("America/New_York"), fold=fold)
        assert instant.astimezone(UTC) <= first


def test_watermark_outside_ambiguity_is_unchanged() -> None:
    since = datetime(2025, 11, 2, 8, 0, tzinfo=UTC)  # 03:00 EST, after the repeat
    assert jql.watermark_literal(since, ZoneInfo("America/New_York")) == "2025-11-02 03:00"


def test_watermark_unknown_zone_widens_by_the_largest_offset() -> None:
    since = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    literal = jql.watermark_literal(since, None)
    assert literal == "2026-03-01 06:00"
    wall = datetime.strptime(literal, "%Y-%m-%d %H:%M")
    # Even read in UTC-12 (the latest reading), it is not after the watermark.
    assert wall.replace(tzinfo=UTC) + timedelta(hours=12) <= since


def test_watermark_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        jql.watermark_literal(datetime(2026, 1, 1), ZoneInfo("UTC"))


def test_user_zone() -> None:
    assert jql.user_zone("Europe/Paris") == ZoneInfo("Europe/Paris")
    assert jql.user_zone("Mars/Olympus") is None
    assert jql.user_zone(None) is None


def test_changed_issues_jql() -> None:
    assert jql.changed_issues_jql("intigriti", "2026-03-01 10:04") == (
        'labels = "intigriti" AND updated >= "2026-03-01 10:04" ORDER BY updated ASC, key ASC'
    )
    assert jql.changed_issues_jql("intigriti", None) == (
        'labels = "intigriti" ORDER BY updated ASC, key ASC'
    )


def test_find_submission_jql_uses_label_and_property() -> None:
    assert jql.find_submission_jql("intigriti", "syncd", "ACME-1X") == (
        'labels = "intigriti-ACME-1X" OR issue.property[syncd].submission = "ACME-1X"'
        " ORDER BY created ASC, key ASC"
    )


def test_find_submission_jql_with_unsafe_code_uses_property_only() -> None:
    query = jql.find_submission_jql("intigriti", "syncd", 'x" OR project = "Y')
    assert query == (
        'issue.property[syncd].submission = "x\\" OR project = \\"Y"'
        " ORDER BY created ASC, key ASC"
    )
    assert jql.submission_label("intigriti", "a b") is None


def test_find_submission_jql_without_property_search() -> None:
    assert jql.find_submission_jql("intigriti", "syncd", "A-1", with_property=False) == (
        'labels = "intigriti-A-1" ORDER BY created ASC, key ASC'
    )
    assert jql.find_submission_jql("intigriti", "syncd", "a b", with_property=False) is None


def test_sample_in_status_jql_quotes_status_names() -> None:
    assert jql.sample_in_status_jql("10000", "10002", "Won't Do") == (
        'project = "10000" AND issuetype = "10002" AND status = "Won\'t Do"'
    )


def test_tagged_with_any_jql_matches_each_code_by_label_or_property() -> None:
    assert jql.tagged_with_any_jql("syncd", "syncd", ["ABC-1", "X-2"]) == (
        'labels = "syncd" AND (labels in ("syncd-ABC-1", "syncd-X-2")'
        ' OR issue.property[syncd].submission in ("ABC-1", "X-2")) ORDER BY key ASC'
    )
    assert jql.tagged_with_any_jql("syncd", "syncd", ["ABC-1"], with_property=False) == (
        'labels = "syncd" AND (labels in ("syncd-ABC-1")) ORDER BY key ASC'
    )


def test_tagged_with_any_jql_never_leaves_a_code_unsearched() -> None:
    # a code that is not label-safe is found by the property alone...
    assert jql.tagged_with_any_jql("syncd", "syncd", ["a b"]) == (
        'labels = "syncd" AND (issue.property[syncd].submission in ("a b")) ORDER BY key ASC'
    )
    # ...so without the property search there is no query that covers it
    assert jql.tagged_with_any_jql("syncd", "syncd", ["ok", "a b"], with_property=False) is None
