"""The Jira simulator driven by the real ``jira`` library (3.10.x) over loopback HTTP."""

# Fixtures are imported by name from jira_sim_fixtures (no conftest.py of ours), so test
# parameters shadow those imports on purpose.
# ruff: noqa: F811

from __future__ import annotations

import httpx
import jira
import pytest
from jira_sim_fixtures import (  # noqa: F401 - fixtures are found by name
    USER_TIME_ZONE,
    api,
    client,
    control,
    jira_sim,
    make_jira,
)

from syncd.simulators.jira import JiraControl, JiraSimulator


def test_constructor_reads_server_info_and_sees_cloud(
    client: jira.JIRA, control: JiraControl
) -> None:
    info = client.server_info()
    assert info["deploymentType"] == "Cloud"
    assert info["versionNumbers"][0] >= 1000
    assert client._is_cloud
    assert client.myself()["timeZone"] == USER_TIME_ZONE
    counters = control.counters()
    assert counters["GET /rest/api/2/serverInfo"] == 2
    assert counters["GET /rest/api/2/myself"] == 1


def test_create_keeps_context_path_and_renders_jira_timestamps(
    client: jira.JIRA, jira_sim: JiraSimulator
) -> None:
    issue = client.create_issue(
        project="SEC", issuetype="Task", summary="XSS in search", labels=["intigriti"]
    )
    assert issue.key == "SEC-1"
    assert issue.self.startswith(jira_sim.base_url + "/rest/api/2/issue/")
    assert issue.fields.status.name == "To Do"
    assert issue.fields.priority.name == "Medium"
    assert issue.fields.labels == ["intigriti"]
    # Jira's format: milliseconds and an offset without a colon, in the user's zone.
    updated = issue.fields.updated
    assert len(updated) == len("2025-01-02T03:04:05.678-0800")
    assert updated[-5:] in ("-0800", "-0700")


def test_update_then_transition_through_the_workflow_with_resolution(
    client: jira.JIRA, control: JiraControl
) -> None:
    issue = client.create_issue(project="SEC", issuetype="Bug", summary="SQLi")
    issue.update(fields={"summary": "SQL injection", "priority": {"name": "High"}})
    assert issue.fields.summary == "SQL injection"
    assert issue.fields.priority.name == "High"

    names = {t["name"] for t in client.transitions(issue)}
    assert "Done" not in names  # Done only from In Review
    client.transition_issue(issue, "Start Progress")
    client.transition_issue(issue, "Submit for Review")
    with pytest.raises(jira.JIRAError) as missing:
        client.transition_issue(issue, "Done")
    assert missing.value.status_code == 400
    assert "Resolution is required" in str(missing.value.text)
    client.transition_issue(issue, "Done", fields={"resolution": {"name": "Done"}})

    state = control.issue(issue.key)
    assert (state["status"], state["resolution"]) == ("Done", "Done")


def test_transition_rejects_field_not_on_screen(client: jira.JIRA) -> None:
    issue = client.create_issue(project="SEC", issuetype="Task", summary="x")
    with pytest.raises(jira.JIRAError) as rejected:
        client.transition_issue(
            issue, "Start Progress", fields={"resolution": {"name": "Done"}}
        )
    assert rejected.value.status_code == 400
    assert "not on the appropriate screen" in str(rejected.value.text)


def test_transition_accepts_numeric_and_string_ids(
    client: jira.JIRA, api: httpx.Client
) -> None:
    issue = client.create_issue(project="SEC", issuetype="Task", summary="ids")
    client.transition_issue(issue, 11)  # the library sends a JSON number
    response = api.post(
        f"/rest/api/2/issue/{issue.key}/transitions", json={"transition": {"id": "21"}}
    )
    assert response.status_code == 204
    assert client.issue(issue.key).fields.status.name == "In Review"


def test_enhanced_search_pages_with_next_page_token(
    client: jira.JIRA, control: JiraControl
) -> None:
    control.bulk_create("SEC", 7)
    first = client.enhanced_search_issues(
        "project = SEC ORDER BY key ASC", maxResults=3, fields=["summary"]
    )
    assert [i.key for i in first] == ["SEC-1", "SEC-2", "SEC-3"]
    assert first.nextPageToken
    second = client.enhanced_search_issues(
        "project = SEC ORDER BY key ASC",
        maxResults=3,
        fields=["summary"],
        nextPageToken=first.nextPageToken,
    )
    assert [i.key for i in second] == ["SEC-4", "SEC-5", "SEC-6"]
    everything = client.enhanced_search_issues(
        "project = SEC ORDER BY key DESC", maxResults=False, fields="summary,updated"
    )
    assert [i.key for i in everything][:2] == ["SEC-7", "SEC-6"]
    assert len(everything) == 7
    assert client.approximate_issue_count("project = SEC") == 7


def test_comment_property_and_remote_link_upsert(
    client: jira.JIRA, control: JiraControl
) -> None:
    issue = client.create_issue(project="SEC", issuetype="Task", summary="links")
    comment = client.add_comment(
        issue, "hello *wiki*", visibility={"type": "role", "value": "Developers"}
    )
    assert comment.body == "hello *wiki*"
    assert comment.visibility.value == "Developers"
    client.add_issue_property(issue.key, "sync.meta", {"rev": 3})
    assert client.issue_property(issue.key, "sync.meta").value.rev == 3

    with pytest.warns(Warning):
        client.add_remote_link(
            issue.key, {"url": "https://example.invalid/1", "title": "EXT-1"},
            globalId="system=ext&id=1", relationship="mirrors",
        )
    with pytest.warns(Warning):
        client.add_remote_link(
            issue.key, {"url": "https://example.invalid/2", "title": "EXT-1 renamed"},
            globalId="system=ext&id=1",
        )
    links = control.issue(issue.key)["remote_links"]
    assert len(links) == 1
    assert links[0]["object"]["title"] == "EXT-1 renamed"
    assert links[0]["relationship"] is None  # omitted on update: nulled, as Jira does


def test_old_search_is_gone_in_cloud(api: httpx.Client, client: jira.JIRA) -> None:
    response = api.get("/rest/api/2/search", params={"jql": "project = SEC"})
    assert response.status_code == 410
    assert "CHANGE-2046" in response.json()["errorMessages"][0]
    with pytest.raises(jira.JIRAError):
        client.search_issues("project = SEC", startAt=5)


def test_rest_v3_client_gets_adf(jira_sim: JiraSimulator, control: JiraControl) -> None:
    v3 = make_jira(jira_sim.base_url, rest_api_version="3")
    issue = v3.create_issue(
        project="SEC",
        issuetype="Task",
        summary="adf",
        description={
            "type": "doc",
            "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hi"}]}],
        },
    )
    fetched = v3._get_json(f"issue/{issue.key}", params={"fields": "description"})
    assert fetched["fields"]["description"]["type"] == "doc"
    assert control.issue(issue.key)["description"] == "hi"
    v3.close()  # type: ignore[no-untyped-call]
