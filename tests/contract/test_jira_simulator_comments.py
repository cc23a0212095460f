"""Comments, project roles and groups as the Jira simulator serves them (reference §2.4):
JSM internal notes, restricted visibility, human edits and deletes, list paging.

Real HTTP: the ``jira`` library where syncd uses it, raw httpx for exact wire shapes.
"""

# Fixtures are imported by name from jira_sim_fixtures (no conftest.py of ours), so test
# parameters shadow those imports on purpose.
# ruff: noqa: F811

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import jira
import pytest
from jira_sim_fixtures import (  # noqa: F401 - fixtures are found by name
    USER_TIME_ZONE,
    api,
    client,
    control,
    jira_sim,
)

from syncd.simulators.jira import JiraControl
from syncd.simulators.jira.control_routes import HUMAN_EMAIL


def _comments(api: httpx.Client, key: str, version: str = "2", **params: Any) -> dict[str, Any]:
    response = api.get(f"/rest/api/{version}/issue/{key}/comment", params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def _comment(api: httpx.Client, key: str, comment_id: str) -> dict[str, Any]:
    response = api.get(f"/rest/api/2/issue/{key}/comment/{comment_id}")
    assert response.status_code == 200, response.text
    comment: dict[str, Any] = response.json()
    return comment


def test_project_roles_through_the_library(
    client: jira.JIRA, api: httpx.Client, control: JiraControl
) -> None:
    roles = client.project_roles("SEC")
    assert {name: role["id"] for name, role in roles.items()} == {
        "Administrators": "10002",
        "Developers": "10001",
        "Users": "10000",
        "Service Desk Team": "10003",
    }
    project_id = client.project("SEC").id
    assert roles["Developers"]["url"].endswith(f"/rest/api/2/project/{project_id}/role/10001")
    assert roles["Developers"]["url"].startswith(client.server_url)
    v3 = api.get("/rest/api/3/project/SEC/role").json()
    assert v3["Administrators"].endswith(f"/rest/api/3/project/{project_id}/role/10002")
    missing = api.get("/rest/api/2/project/NOPE/role")
    assert missing.status_code == 404
    assert missing.json() == {
        "errorMessages": ["No project could be found with key 'NOPE'."],
        "errors": {},
    }
    with pytest.raises(jira.JIRAError) as raised:
        client.project_roles("NOPE")
    assert raised.value.status_code == 404


def test_groups_picker(client: jira.JIRA, api: httpx.Client) -> None:
    assert client.groups(query="JIRA") == ["jira-administrators", "jira-software-users"]
    assert client.groups() == [
        "developers",
        "jira-administrators",
        "jira-software-users",
        "security-team",
    ]
    page = api.get("/rest/api/3/groups/picker", params={"query": "Team"}).json()
    assert page["header"] == "Showing 1 of 1 matching groups"
    assert page["total"] == 1
    (group,) = page["groups"]
    assert set(group) == {"name", "groupId", "html", "labels"}
    assert (group["name"], group["html"], group["labels"]) == (
        "security-team",
        "security-<b>team</b>",
        [],
    )
    limited = api.get("/rest/api/2/groups/picker", params={"query": "s", "maxResults": 2})
    assert limited.json()["header"] == "Showing 2 of 4 matching groups"
    assert limited.json()["total"] == 4
    excluded = api.get(
        "/rest/api/2/groups/picker",
        params=[("query", "jira"), ("exclude", "jira-administrators")],
    ).json()
    assert [g["name"] for g in excluded["groups"]] == ["jira-software-users"]
    none = api.get("/rest/api/2/groups/picker", params={"query": "nobody"}).json()
    assert none == {"header": "Showing 0 of 0 matching groups", "total": 0, "groups": []}


def test_internal_notes_are_not_jsd_public(
    client: jira.JIRA, api: httpx.Client, control: JiraControl
) -> None:
    key = control.create_issue("SEC", "notes")["key"]
    internal = client.add_comment(key, "for the team only", is_internal=True)
    public = client.add_comment(key, "for everyone")
    assert internal.jsdPublic is False
    assert public.jsdPublic is True
    listed = _comments(api, key)["comments"]
    assert [(c["body"], c["jsdPublic"]) for c in listed] == [
        ("for the team only", False),
        ("for everyone", True),
    ]
    assert [c["jsdPublic"] for c in _comments(api, key, "3")["comments"]] == [False, True]
    assert [c["internal"] for c in control.comments(key)] == [True, False]
    # A PUT with the property set the other way makes the note public.
    made_public = api.put(
        f"/rest/api/2/issue/{key}/comment/{internal.id}",
        json={
            "body": "now for everyone",
            "properties": [{"key": "sd.public.comment", "value": {"internal": False}}],
        },
    )
    assert made_public.status_code == 200
    assert made_public.json()["jsdPublic"] is True
    # A PUT that does not mention the property keeps the note as it is.
    human_note = control.add_comment(key, "analyst only", internal=True)
    kept = api.put(f"/rest/api/2/issue/{key}/comment/{human_note}", json={"body": "edited"})
    assert kept.json()["jsdPublic"] is False


def test_group_visibility_needs_a_known_group(
    client: jira.JIRA, api: httpx.Client, control: JiraControl
) -> None:
    key = control.create_issue("SEC", "restricted")["key"]
    developers = {"type": "group", "value": "developers"}
    restricted = client.add_comment(key, "devs", visibility=developers)
    shown = _comment(api, key, restricted.id)["visibility"]
    assert (shown["type"], shown["value"]) == ("group", "developers")
    group_id = shown["identifier"]
    by_id = api.post(
        f"/rest/api/2/issue/{key}/comment",
        json={"body": "by id", "visibility": {"type": "group", "identifier": group_id}},
    )
    assert by_id.status_code == 201
    assert by_id.json()["visibility"] == shown
    unknown = api.post(
        f"/rest/api/2/issue/{key}/comment",
        json={"body": "x", "visibility": {"type": "group", "value": "jira-admins"}},
    )
    assert unknown.status_code == 400
    assert unknown.json() == {
        "errorMessages": [],
        "errors": {"commentLevel": "Group: 'jira-admins' does not exist."},
    }
    with pytest.raises(jira.JIRAError) as raised:
        client.add_comment(key, "x", visibility={"type": "group", "value": "contractors"})
    assert raised.value.status_code == 400
    assert _comments(api, key)["total"] == 2


def test_control_update_and_delete_change_what_get_returns(
    api: httpx.Client, control: JiraControl
) -> None:
    key = control.create_issue("SEC", "human edits")["key"]
    posted = api.post(
        f"/rest/api/2/issue/{key}/comment",
        json={"body": "draft", "visibility": {"type": "role", "value": "Developers"}},
    ).json()
    comment_id = posted["id"]

    control.update_comment(key, comment_id, body="final text")
    edited = _comment(api, key, comment_id)
    assert edited["body"] == "final text"
    assert edited["visibility"]["value"] == "Developers"  # not given: unchanged
    assert edited["updateAuthor"]["emailAddress"] == HUMAN_EMAIL
    assert edited["author"]["emailAddress"] == posted["author"]["emailAddress"]
    assert edited["created"] == posted["created"]

    control.update_comment(key, comment_id, visibility=None, internal=True)
    lifted = _comment(api, key, comment_id)
    assert "visibility" not in lifted
    assert lifted["jsdPublic"] is False
    assert lifted["body"] == "final text"
    control.update_comment(key, comment_id, visibility={"type": "group", "value": "security-team"})
    assert _comment(api, key, comment_id)["visibility"]["value"] == "security-team"

    other = control.add_comment(key, "second", author="syncd@example.com")
    assert _comment(api, key, other)["author"]["emailAddress"] == "syncd@example.com"
    control.delete_comment(key, comment_id)
    gone = api.get(f"/rest/api/2/issue/{key}/comment/{comment_id}")
    assert gone.status_code == 404
    assert [c["id"] for c in _comments(api, key)["comments"]] == [other]
    assert [c["id"] for c in control.comments(key)] == [other]


def test_comment_changes_bump_the_issue_updated(
    api: httpx.Client, control: JiraControl
) -> None:
    key = control.create_issue("SEC", "bumps")["key"]
    comment_id = ""

    def add() -> None:
        nonlocal comment_id
        comment_id = control.add_comment(key, "one", internal=True)

    steps = (
        add,
        lambda: control.update_comment(key, comment_id, body="two"),
        lambda: control.delete_comment(key, comment_id),
    )
    stamps = [datetime.fromisoformat(control.issue(key)["updated"])]
    for minutes, step in enumerate(steps, start=1):
        control.configure(clock_offset_seconds=60 * minutes)  # the site's clock moves on
        step()
        stamps.append(datetime.fromisoformat(control.issue(key)["updated"]))
    gaps = [round((b - a).total_seconds() / 60) for a, b in itertools.pairwise(stamps)]
    assert gaps == [1, 1, 1]  # add, edit and delete each moved it
    rendered = api.get(f"/rest/api/2/issue/{key}", params={"fields": "updated"}).json()
    assert rendered["fields"]["updated"].startswith(
        stamps[-1].astimezone(ZoneInfo(USER_TIME_ZONE)).strftime("%Y-%m-%dT%H:%M")
    )


def test_comment_list_pages_and_orders(api: httpx.Client, control: JiraControl) -> None:
    key = control.create_issue("SEC", "many comments")["key"]
    ids = [control.add_comment(key, f"c{n}") for n in range(5)]
    page = _comments(api, key, startAt=1, maxResults=2)
    assert (page["startAt"], page["maxResults"], page["total"]) == (1, 2, 5)
    assert [c["id"] for c in page["comments"]] == ids[1:3]
    newest = _comments(api, key, orderBy="-created", maxResults=2)
    assert [c["body"] for c in newest["comments"]] == ["c4", "c3"]
    oldest = _comments(api, key, orderBy="+created")
    assert [c["id"] for c in oldest["comments"]] == ids
    default = _comments(api, key)
    assert (default["startAt"], default["maxResults"], default["total"]) == (0, 100, 5)
    past_the_end = _comments(api, key, startAt=10)
    assert (past_the_end["comments"], past_the_end["total"]) == ([], 5)
    bad = api.get(f"/rest/api/2/issue/{key}/comment", params={"orderBy": "updated"})
    assert bad.status_code == 400
    assert bad.json()["errorMessages"]
