"""Search (/search/jql, JQL subset, consistency lag), moves, and Data Center mode."""

# Fixtures are imported by name from jira_sim_fixtures (no conftest.py of ours), so test
# parameters shadow those imports on purpose.
# ruff: noqa: F811

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import jira
import pytest
from jira_sim_fixtures import (  # noqa: F401 - fixtures are found by name
    USER_TIME_ZONE,
    api,
    basic_header,
    client,
    control,
    jira_sim,
)

from syncd.simulators.jira import JiraControl, JiraSimulator, JiraSimulatorOptions


def _search(api: httpx.Client, jql: str, **extra: Any) -> httpx.Response:
    return api.post("/rest/api/2/search/jql", json={"jql": jql, **extra})


def _keys(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [issue["key"] for issue in response.json()["issues"]]


def test_default_fields_are_id_only_and_no_total(api: httpx.Client, control: JiraControl) -> None:
    control.create_issue("SEC", "one")
    body = api.get("/rest/api/2/search/jql", params={"jql": "project = SEC"}).json()
    assert "total" not in body and body["isLast"] is True and "nextPageToken" not in body
    assert "fields" not in body["issues"][0]
    assert set(body["issues"][0]) >= {"id", "key", "self"}


def test_max_results_is_capped(api: httpx.Client, control: JiraControl) -> None:
    control.bulk_create("SEC", 120)
    many = _search(api, "project = SEC", maxResults=500, fields=["summary"]).json()
    assert len(many["issues"]) == 100 and many["isLast"] is False
    ids_only = _search(api, "project = SEC", maxResults=500).json()
    assert len(ids_only["issues"]) == 120 and ids_only["isLast"] is True


def test_post_tolerates_nulls_and_get_takes_repeated_fields(
    api: httpx.Client, control: JiraControl
) -> None:
    control.create_issue("SEC", "nulls", labels=["a"])
    posted = _search(
        api, "project = SEC", fields=["summary"], expand=None, properties=None,
        reconcileIssues=None, maxResults=1,
    )
    assert posted.json()["issues"][0]["fields"] == {"summary": "nulls"}
    got = api.get(
        "/rest/api/2/search/jql",
        params=[("jql", "project = SEC"), ("fields", "summary"), ("fields", "labels")],
    )
    assert got.json()["issues"][0]["fields"] == {"summary": "nulls", "labels": ["a"]}


def test_search_lag_hides_new_issue_unless_reconciled(
    client: jira.JIRA, api: httpx.Client, control: JiraControl
) -> None:
    control.set_search_lag(60)
    issue = client.create_issue(project="SEC", issuetype="Task", summary="fresh")
    assert _keys(_search(api, "project = SEC")) == []
    reconciled = _search(api, "project = SEC", reconcileIssues=[int(issue.id)])
    assert _keys(reconciled) == [issue.key]
    found = client.enhanced_search_issues(
        "project = SEC", maxResults=5, fields=["summary"], reconcileIssues=[int(issue.id)]
    )
    assert [i.key for i in found] == [issue.key]
    # GET by key is strongly consistent.
    assert client.issue(issue.key).fields.summary == "fresh"


def test_search_lag_serves_stale_fields(api: httpx.Client, control: JiraControl) -> None:
    key = control.create_issue("SEC", "before")["key"]
    control.set_search_lag(60)
    assert _keys(_search(api, "project = SEC")) == []  # created within the lag
    control.settle_search()
    assert _keys(_search(api, "project = SEC")) == [key]
    control.edit(key, fields={"summary": "after"})
    stale = _search(api, "project = SEC", fields=["summary"]).json()["issues"]
    assert [i["fields"]["summary"] for i in stale] == ["before"]
    assert _keys(_search(api, "summary ~ after")) == []
    control.set_search_lag(0)
    fresh = _search(api, "project = SEC", fields=["summary"]).json()["issues"]
    assert [i["fields"]["summary"] for i in fresh] == ["after"]


def test_updated_literal_is_read_in_the_users_time_zone(
    api: httpx.Client, control: JiraControl
) -> None:
    key = control.create_issue("SEC", "tz")["key"]
    when = datetime(2025, 7, 1, 10, 30, 20, tzinfo=UTC)  # 03:30:20 in Los Angeles (PDT)
    control.set_timestamps(key, created=when, updated=when)
    local = when.astimezone(ZoneInfo(USER_TIME_ZONE))
    assert local.hour == 3
    at_minute = local.strftime("%Y-%m-%d %H:%M")
    next_minute = (local + timedelta(minutes=1)).strftime("%Y/%m/%d %H:%M")
    assert _keys(_search(api, f'project = SEC AND updated >= "{at_minute}"')) == [key]
    assert _keys(_search(api, f'project = SEC AND updated >= "{next_minute}"')) == []
    # The same wall-clock digits read as UTC would be 7 hours later: nothing matches.
    utc_digits = when.strftime("%Y-%m-%d %H:%M")
    assert _keys(_search(api, f'project = SEC AND updated >= "{utc_digits}"')) == []
    assert _keys(_search(api, f'project = SEC AND created < "{next_minute}"')) == [key]
    rendered = _search(api, f"key = {key}", fields=["updated"]).json()["issues"][0]
    assert rendered["fields"]["updated"] == "2025-07-01T03:30:20.000-0700"


def test_updated_sorting_and_relative_dates(api: httpx.Client, control: JiraControl) -> None:
    now = datetime.now(UTC)
    keys = [control.create_issue("SEC", f"i{n}")["key"] for n in range(3)]
    for offset, key in zip((30, 10, 20), keys, strict=True):
        control.set_timestamps(key, updated=now - timedelta(minutes=offset))
    ordered = _search(api, "project = SEC AND updated >= -25m ORDER BY updated ASC, key ASC")
    assert _keys(ordered) == [keys[2], keys[1]]
    descending = _search(api, "project = SEC ORDER BY updated DESC")
    assert _keys(descending) == [keys[1], keys[2], keys[0]]


def test_jql_subset(api: httpx.Client, control: JiraControl) -> None:
    a = control.create_issue("SEC", "a", labels=["intigriti", "x"], priority="High")["key"]
    b = control.create_issue("SEC", "b", labels=["other"], properties={"syncd": {"code": "C-1"}})
    c = control.create_issue("APP", "c")["key"]
    assert _keys(_search(api, "labels = intigriti")) == [a]
    assert _keys(_search(api, "project = SEC AND labels != intigriti")) == [b["key"]]
    assert _keys(_search(api, 'issue.property[syncd].code = "C-1"')) == [b["key"]]
    assert _keys(_search(api, f"key in ({a}, {c}) ORDER BY key ASC")) == [c, a]
    assert _keys(_search(api, "project in (SEC, APP) AND priority = High")) == [a]
    assert _keys(_search(api, "project = APP OR labels = other ORDER BY key ASC")) == [c, b["key"]]
    assert _keys(_search(api, 'project = SEC AND status = "To Do" AND resolution IS EMPTY')) == [
        b["key"], a
    ]


def test_property_jql_can_be_switched_off_like_an_unindexed_cloud_site(
    api: httpx.Client, control: JiraControl
) -> None:
    control.create_issue("SEC", "p", properties={"syncd": {"code": "C-9"}})
    control.configure(property_jql=False)
    response = _search(api, 'issue.property[syncd].code = "C-9"')
    assert response.status_code == 400
    assert "does not exist" in response.json()["errorMessages"][0]


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        ("project = NOPE", "does not exist for the field 'project'"),
        ("bogus = 1", "Field 'bogus' does not exist"),
        ("project = SEC AND", "Error in the JQL Query"),
        ('updated >= "yesterday-ish"', "is invalid"),
        ("ORDER BY key DESC", "Unbounded JQL"),
        ("project = SEC ORDER BY nothing", "Field 'nothing' does not exist"),
    ],
)
def test_bad_jql_gets_jira_error_shape(
    api: httpx.Client, control: JiraControl, jql: str, message: str
) -> None:
    response = _search(api, jql)
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"errorMessages", "errors"}
    assert message in body["errorMessages"][0]


def test_reconcile_rejects_more_than_50_ids(api: httpx.Client, control: JiraControl) -> None:
    keys = control.bulk_create("SEC", 51)
    ids = [int(control.issue(k)["id"]) for k in keys]
    assert _search(api, "project = SEC", reconcileIssues=ids).status_code == 400


def test_move_changes_key_keeps_id_and_old_key_resolves(
    client: jira.JIRA, api: httpx.Client, control: JiraControl
) -> None:
    issue = client.create_issue(project="SEC", issuetype="Task", summary="moving")
    moved = control.move(issue.key, "APP")
    assert moved["key"] == "APP-1" and moved["id"] == issue.id
    by_old_key = client.issue(issue.key)
    assert (by_old_key.key, by_old_key.id) == ("APP-1", issue.id)
    assert _keys(_search(api, f"key = {issue.key}")) == ["APP-1"]
    changelog = api.get(f"/rest/api/2/issue/{issue.id}/changelog").json()
    items = [item for group in changelog["values"] for item in group["items"]]
    assert {"field": "Key", "fromString": "SEC-1", "toString": "APP-1"}.items() <= next(
        item for item in items if item["field"] == "Key"
    ).items()


def test_deleted_issue_is_gone(client: jira.JIRA, control: JiraControl) -> None:
    issue = client.create_issue(project="SEC", issuetype="Task", summary="bye")
    control.delete(issue.key)
    with pytest.raises(jira.JIRAError) as missing:
        client.issue(issue.key)
    assert missing.value.status_code == 404


def test_property_size_limit(api: httpx.Client, control: JiraControl) -> None:
    key = control.create_issue("SEC", "props")["key"]
    url = f"/rest/api/2/issue/{key}/properties/sync.meta"
    first = api.put(url, content=b'{"rev": 1}', headers={"Content-Type": "application/json"})
    assert first.status_code == 201
    again = api.put(url, json={"rev": 2})
    assert again.status_code == 200
    just_fits = ('"' + "a" * 32766 + '"').encode()
    assert api.put(url, content=just_fits).status_code == 200
    too_big = ('"' + "a" * 32767 + '"').encode()
    rejected = api.put(url, content=too_big)
    assert rejected.status_code == 400
    assert "32768" in rejected.json()["errorMessages"][0]
    assert api.get(url).json()["value"] == "a" * 32766


def test_human_edits_show_up(client: jira.JIRA, control: JiraControl) -> None:
    issue = client.create_issue(project="SEC", issuetype="Task", summary="human")
    control.set_status(issue.key, "Won't Do")
    control.set_priority(issue.key, "Lowest")
    control.set_labels(issue.key, ["triaged"])
    fetched = client.issue(issue.key)
    assert fetched.fields.status.name == "Won't Do"
    assert fetched.fields.resolution is not None
    assert fetched.fields.resolution.name == "Won't Do"
    assert fetched.fields.priority.name == "Lowest"
    assert fetched.fields.labels == ["triaged"]
    changes = client.issue(issue.key, expand="changelog").changelog.histories
    assert changes[-1].author.emailAddress == "analyst@example.com"


@pytest.fixture(scope="module")
def dc_sim() -> Iterator[JiraSimulator]:
    with JiraSimulator(JiraSimulatorOptions(deployment_type="Server")) as sim:
        yield sim


def test_data_center_mode_uses_offset_search(dc_sim: JiraSimulator) -> None:
    dc_sim.control.reset()
    dc_sim.control.bulk_create("SEC", 5)
    dc = jira.JIRA(
        server=dc_sim.base_url, basic_auth=("syncd", "demo-api-token"),
        get_server_info=True, max_retries=0, timeout=10,
    )
    assert not dc._is_cloud
    page = dc.search_issues("project = SEC ORDER BY key ASC", startAt=2, maxResults=2)
    assert [i.key for i in page] == ["SEC-3", "SEC-4"]
    assert page.total == 5
    everything = dc.search_issues("project = SEC", maxResults=False)
    assert len(everything) == 5
    assert dc.enhanced_search_issues("project = SEC") is None  # @cloud_api guard
    raw = httpx.get(
        f"{dc_sim.base_url}/rest/api/2/search/jql",
        params={"jql": "project = SEC"},
        headers={"Authorization": basic_header()},
    )
    assert raw.status_code == 404
    myself = dc.myself()
    assert myself["name"] == "syncd" and "accountId" not in myself


def test_more_of_the_jql_subset(api: httpx.Client, control: JiraControl) -> None:
    high = control.create_issue(
        "SEC", "high", priority="High", fields={"customfield_10051": 9.1}, labels=["a"]
    )["key"]
    low = control.create_issue(
        "SEC", "low", priority="Low", fields={"customfield_10050": "CVSS:3.1/AV:L"}
    )["key"]
    done = control.create_issue("SEC", "done", status="Done")["key"]
    cases = {
        '"CVSS Score" > 7': [high],
        "cf[10050] ~ AV:L": [low],
        "project = SEC AND NOT (priority in (High, Low))": [done],
        "project = SEC AND statusCategory = Done": [done],
        "project = SEC AND resolution = Done": [done],
        "project = SEC AND resolution is not EMPTY": [done],
        "project = SEC AND labels is EMPTY ORDER BY key ASC": [low, done],
        f"issuekey != {high} AND project = SEC ORDER BY key DESC": [done, low],
        "project = SEC AND (priority = High OR priority = Low) ORDER BY priority DESC": [high, low],
        "project = 'SEC' AND status NOT IN ('To Do') ": [done],
    }
    for jql, expected in cases.items():
        assert _keys(_search(api, jql)) == expected, jql


def test_concurrent_creates_get_unique_keys(jira_sim: JiraSimulator, control: JiraControl) -> None:
    def create_many(worker: int) -> list[str]:
        with httpx.Client(
            base_url=jira_sim.base_url, headers={"Authorization": basic_header()}, timeout=10
        ) as http:
            keys = []
            for n in range(20):
                response = http.post(
                    "/rest/api/2/issue",
                    json={"fields": {"project": {"key": "SEC"}, "issuetype": {"name": "Task"},
                                     "summary": f"w{worker}-{n}"}},
                )
                assert response.status_code == 201
                keys.append(response.json()["key"])
            return keys

    with ThreadPoolExecutor(max_workers=6) as pool:
        created = [key for keys in pool.map(create_many, range(6)) for key in keys]
    assert len(set(created)) == 120
    assert len(control.issues("SEC")) == 120
