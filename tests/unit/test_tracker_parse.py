from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from syncd.errors import ConfigError, ItemError
from syncd.tracker.adapter import clean_summary
from syncd.tracker.options import JiraOptions
from syncd.tracker.parse import parse_issue, parse_jira_time


def raw_issue(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "status": {"name": "In Review"},
        "priority": {"name": "High"},
        "resolution": None,
        "updated": "2026-03-05T13:04:05.678+0100",
        "labels": ["intigriti", "intigriti-ACME-1"],
        "project": {"key": "SEC", "id": "10000"},
        "customfield_10050": "CVSS:3.1/AV:N",
    }
    base.update(fields)
    return {"id": "10001", "key": "SEC-1", "fields": base}


def parse(raw: dict[str, Any]) -> Any:
    return parse_issue(
        raw,
        label="intigriti",
        property_key="syncd",
        cvss_field="customfield_10050",
        browse_base="https://jira.example",
    )


def test_parse_jira_time_formats() -> None:
    expected = datetime(2026, 3, 5, 12, 4, 5, 678000, tzinfo=UTC)
    assert parse_jira_time("2026-03-05T13:04:05.678+0100") == expected
    assert parse_jira_time("2026-03-05T12:04:05+0000") == expected.replace(microsecond=0)
    assert parse_jira_time("2026-03-05T12:04:05.678+00:00") == expected


def test_parse_issue() -> None:
    issue = parse(raw_issue())
    assert (issue.id, issue.key, issue.project) == ("10001", "SEC-1", "SEC")
    assert issue.status == "In Review"
    assert (issue.priority, issue.resolution, issue.cvss) == ("High", None, "CVSS:3.1/AV:N")
    assert issue.updated_at == datetime(2026, 3, 5, 12, 4, 5, 678000, tzinfo=UTC)
    assert issue.submission_code == "ACME-1"
    assert issue.url == "https://jira.example/browse/SEC-1"


def test_property_wins_over_label() -> None:
    raw = raw_issue()
    raw["properties"] = {"syncd": {"submission": "ACME-2"}}
    assert parse(raw).submission_code == "ACME-2"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"status": None}, "status"),
        ({"priority": "High"}, "priority"),
        ({"updated": "yesterday"}, "updated"),
        ({"updated": None}, "updated"),
    ],
)
def test_bad_fields_raise_item_error_naming_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ItemError) as caught:
        parse(raw_issue(**fields))
    assert (caught.value.item, caught.value.field) == ("SEC-1", field)


def test_clean_summary() -> None:
    assert clean_summary("  a\nb\r\n\tc ") == "a b c"
    assert clean_summary("\n") == "(no title)"
    long = clean_summary("x" * 300)
    assert len(long) == 255 and long.endswith("\u2026")


def test_options_hide_secrets_and_validate() -> None:
    options = JiraOptions(url="https://jira.example", email="a@b.c", api_token="s3cr3t-token")
    assert "s3cr3t" not in repr(options)
    with pytest.raises(ConfigError):
        JiraOptions(url="https://jira.example")
    with pytest.raises(ConfigError):
        JiraOptions(url="https://jira.example", personal_access_token="p", label="a b")


def test_a_malformed_issue_becomes_an_item_failure_others_parse() -> None:
    from syncd.tracker.adapter import JiraAdapter

    # No cvss_field and no network: _batch only parses.
    adapter = JiraAdapter(JiraOptions(url="http://127.0.0.1:9", personal_access_token="p"))
    good = raw_issue()
    bad = raw_issue(updated="not a time")
    bad["key"] = "SEC-2"
    batch = adapter._batch([[good, bad, "junk"]])  # one page
    assert [i.key for i in batch.issues] == ["SEC-1"]
    assert [(f.item, f.field) for f in batch.failures] == [("SEC-2", "updated"), ("?", "issue")]
