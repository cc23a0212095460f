"""Wire-level behaviour of the Jira simulator's REST routes (raw httpx)."""

# Fixtures are imported by name from jira_sim_fixtures (no conftest.py of ours), so test
# parameters shadow those imports on purpose.
# ruff: noqa: F811

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jira_sim_fixtures import (  # noqa: F401 - fixtures are found by name
    api,
    basic_header,
    control,
    jira_sim,
)

from syncd.simulators.jira import JiraControl, JiraSimulator, JiraSimulatorOptions


def _create(api: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"project": {"key": "SEC"}, "issuetype": {"name": "Task"}, "summary": "s", **fields}
    response = api.post("/rest/api/2/issue", json={"fields": body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_requests_outside_the_context_path_are_not_found(jira_sim: JiraSimulator) -> None:
    root = jira_sim.base_url.removesuffix("/jira")
    assert httpx.get(f"{root}/rest/api/2/serverInfo").status_code == 404
    info = httpx.get(f"{jira_sim.base_url}/rest/api/2/serverInfo").json()
    assert info["baseUrl"] == jira_sim.base_url


def test_create_validation_errors_use_jira_shape(api: httpx.Client) -> None:
    response = api.post("/rest/api/2/issue", json={"fields": {"summary": "x"}})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"project", "issuetype"}
    newline = api.post(
        "/rest/api/2/issue",
        json={"fields": {"project": {"key": "SEC"}, "issuetype": {"id": "10001"},
                         "summary": "a\nb"}},
    )
    assert "newline" in newline.json()["errors"]["summary"]
    bad_priority = api.post(
        "/rest/api/2/issue",
        json={"fields": {"project": {"key": "SEC"}, "issuetype": {"id": "10001"},
                         "summary": "x", "priority": {"name": "Urgent"}}},
    )
    assert bad_priority.json()["errors"] == {"priority": "Priority name 'Urgent' is not valid"}
    assert api.post("/rest/api/2/issue", content=b"{not json").status_code == 400
    long_description = api.post(
        "/rest/api/2/issue",
        json={"fields": {"project": {"key": "SEC"}, "issuetype": {"id": "10001"},
                         "summary": "x", "description": "d" * 32768}},
    )
    assert "32,767" in long_description.json()["errors"]["description"]


def test_create_with_properties_and_custom_fields(api: httpx.Client, control: JiraControl) -> None:
    project_id = api.get("/rest/api/2/project/SEC").json()["id"]
    response = api.post(
        "/rest/api/2/issue",
        json={
            "fields": {"project": {"id": project_id},
                       "issuetype": {"id": "10002"}, "summary": "with props",
                       "customfield_10050": "CVSS:3.1/AV:N", "customfield_10051": 9.8},
            "properties": [{"key": "syncd", "value": {"code": "ACME-1"}}],
        },
    )
    assert response.status_code == 201, response.text
    state = control.issue(response.json()["key"])
    assert state["properties"] == {"syncd": {"code": "ACME-1"}}
    assert state["custom"] == {"customfield_10050": "CVSS:3.1/AV:N", "customfield_10051": 9.8}
    too_big = api.post(
        "/rest/api/2/issue",
        json={
            "fields": {"project": {"key": "SEC"}, "issuetype": {"id": "10002"}, "summary": "x"},
            "properties": [{"key": "big", "value": "a" * 40000}],
        },
    )
    assert too_big.status_code == 400
    wrong_type = api.put(
        f"/rest/api/2/issue/{state['key']}", json={"fields": {"customfield_10051": "high"}}
    )
    assert wrong_type.json()["errors"] == {"customfield_10051": "Operation value must be a number"}


def test_edit_update_operations_and_return_issue(api: httpx.Client) -> None:
    key = _create(api, labels=["a", "b"])["key"]
    response = api.put(
        f"/rest/api/2/issue/{key}",
        params={"returnIssue": "true"},
        json={"update": {"labels": [{"add": "c"}, {"remove": "a"}],
                         "summary": [{"set": "renamed"}]}},
    )
    assert response.status_code == 200
    assert response.json()["fields"]["labels"] == ["b", "c"]
    assert response.json()["fields"]["summary"] == "renamed"
    clash = api.put(
        f"/rest/api/2/issue/{key}",
        json={"fields": {"labels": ["x"]}, "update": {"labels": [{"add": "y"}]}},
    )
    assert clash.status_code == 400
    status = api.put(f"/rest/api/2/issue/{key}", json={"fields": {"status": {"name": "Done"}}})
    assert "cannot be set" in status.json()["errors"]["status"]


def test_transitions_expand_fields_and_filter(api: httpx.Client) -> None:
    key = _create(api)["key"]
    listed = api.get(
        f"/rest/api/2/issue/{key}/transitions", params={"expand": "transitions.fields"}
    ).json()["transitions"]
    wont = next(t for t in listed if t["name"] == "Won't Do")
    assert wont["fields"]["resolution"]["required"] is True
    assert {v["name"] for v in wont["fields"]["resolution"]["allowedValues"]} == {
        "Done", "Won't Do", "Duplicate"
    }
    plain = api.get(f"/rest/api/2/issue/{key}/transitions").json()["transitions"]
    assert all("fields" not in t for t in plain)
    only = api.get(f"/rest/api/2/issue/{key}/transitions", params={"transitionId": "11"})
    assert [t["name"] for t in only.json()["transitions"]] == ["Start Progress"]
    unknown = api.post(f"/rest/api/2/issue/{key}/transitions", json={"transition": {"id": 31}})
    assert unknown.status_code == 400  # Done is not reachable from To Do


def test_transition_ids_differ_per_project_workflow(api: httpx.Client) -> None:
    sec = _create(api)["key"]
    ops = api.post(
        "/rest/api/2/issue",
        json={"fields": {"project": {"key": "APP"}, "issuetype": {"name": "Task"},
                         "summary": "o"}},
    ).json()["key"]
    ids = {
        key: {t["name"]: t["id"] for t in
              api.get(f"/rest/api/2/issue/{key}/transitions").json()["transitions"]}
        for key in (sec, ops)
    }
    assert ids[sec]["Start Progress"] != ids[ops]["Start Progress"]


def test_comments_v2_v3_list_update_delete(api: httpx.Client) -> None:
    key = _create(api)["key"]
    first = api.post(f"/rest/api/2/issue/{key}/comment", json={"body": "one"}).json()
    adf = {"type": "doc", "version": 1,
           "content": [{"type": "paragraph", "content": [{"type": "text", "text": "two"}]}]}
    second = api.post(
        f"/rest/api/3/issue/{key}/comment",
        json={"body": adf, "visibility": {"type": "group", "value": "security-team"}},
    )
    assert second.status_code == 201
    visibility = second.json()["visibility"]
    assert (visibility["type"], visibility["value"]) == ("group", "security-team")
    assert visibility["identifier"] != "security-team"  # the group's id
    wrong = api.post(f"/rest/api/2/issue/{key}/comment", json={"body": adf})
    assert wrong.status_code == 400
    as_v2 = api.get(f"/rest/api/2/issue/{key}/comment", params={"orderBy": "-created"}).json()
    assert [c["body"] for c in as_v2["comments"]] == ["two", "one"]
    as_v3 = api.get(f"/rest/api/3/issue/{key}/comment/{first['id']}").json()
    assert as_v3["body"]["type"] == "doc"
    edited = api.put(f"/rest/api/2/issue/{key}/comment/{first['id']}", json={"body": "uno"})
    assert edited.json()["body"] == "uno"
    assert api.delete(f"/rest/api/2/issue/{key}/comment/{first['id']}").status_code == 204
    assert api.get(f"/rest/api/2/issue/{key}/comment").json()["total"] == 1


def test_remote_links_delete_by_global_id_and_cap(api: httpx.Client, control: JiraControl) -> None:
    key = _create(api)["key"]
    url = f"/rest/api/2/issue/{key}/remotelink"
    link = {"globalId": "g1", "object": {"url": "https://e.invalid/1", "title": "one"}}
    assert api.post(url, json=link).status_code == 201
    assert api.post(url, json={"object": {"url": "https://e.invalid/2"}}).status_code == 400
    assert api.get(url, params={"globalId": "g1"}).json()["object"]["title"] == "one"
    assert api.delete(url, params={"globalId": "g1"}).status_code == 204
    assert api.get(url).json() == []
    control.configure(remote_link_cap=1)
    assert api.post(url, json={**link, "globalId": "g2"}).status_code == 201
    assert api.post(url, json={**link, "globalId": "g3"}).status_code == 413
    assert api.post(url, json={**link, "globalId": "g2"}).status_code == 200  # upsert


def test_changelog_paging_and_bulkfetch(api: httpx.Client) -> None:
    key = _create(api)["key"]
    for n in range(5):
        api.put(f"/rest/api/2/issue/{key}", json={"fields": {"summary": f"v{n}"}})
    page = api.get(
        f"/rest/api/2/issue/{key}/changelog", params={"startAt": 1, "maxResults": 2}
    ).json()
    assert (page["total"], page["isLast"], len(page["values"])) == (5, False, 2)
    assert page["values"][0]["items"][0]["toString"] == "v1"
    bulk = api.post(
        "/rest/api/2/changelog/bulkfetch",
        json={"issueIdsOrKeys": [key], "fieldIds": ["summary"], "maxResults": 3},
    ).json()
    assert len(bulk["issueChangeLogs"][0]["changeHistories"]) == 3
    assert bulk["nextPageToken"]


def test_assign_and_unassign(api: httpx.Client) -> None:
    key = _create(api)["key"]
    me = api.get("/rest/api/2/myself").json()["accountId"]
    assert api.put(f"/rest/api/2/issue/{key}/assignee", json={"accountId": me}).status_code == 204
    assert api.get(f"/rest/api/2/issue/{key}").json()["fields"]["assignee"]["accountId"] == me
    assert api.put(f"/rest/api/2/issue/{key}/assignee", json={"accountId": None}).status_code == 204
    assert api.get(f"/rest/api/2/issue/{key}").json()["fields"]["assignee"] is None


def test_approximate_count_needs_bounded_jql(api: httpx.Client) -> None:
    response = api.post("/rest/api/2/search/approximate-count", json={"jql": "order by key"})
    assert response.status_code == 400


@pytest.fixture(scope="module")
def dc_limited() -> Iterator[JiraSimulator]:
    options = JiraSimulatorOptions(
        deployment_type="DataCenter", burst_capacity=1, burst_refill_per_second=0.5
    )
    with JiraSimulator(options) as sim:
        yield sim


def test_data_center_rate_limit_headers(dc_limited: JiraSimulator) -> None:
    url = f"{dc_limited.base_url}/rest/api/2/myself"
    headers = {"Authorization": "Bearer demo-personal-access-token"}
    assert httpx.get(url, headers=headers).status_code == 200
    limited = httpx.get(url, headers=headers)
    assert limited.status_code == 429
    assert limited.headers["X-RateLimit-FillRate"] == "0.5"
    assert limited.headers["X-RateLimit-Interval-Seconds"] == "1"
    assert "RateLimit-Reason" not in limited.headers
    v3 = httpx.get(f"{dc_limited.base_url}/rest/api/3/field", headers=headers)
    assert v3.status_code == 404  # Data Center has no /rest/api/3
