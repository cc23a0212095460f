"""Rate limits, injected faults and request counters of the Jira simulator."""

# Fixtures are imported by name from jira_sim_fixtures (no conftest.py of ours), so test
# parameters shadow those imports on purpose.
# ruff: noqa: F811

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import jira
import pytest
import requests
from jira_sim_fixtures import (  # noqa: F401 - fixtures are found by name
    api,
    basic_header,
    client,
    control,
    jira_sim,
)

from syncd.simulators.jira import JiraControl, JiraSimulator

RESET_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}Z$")


def _create_body(summary: str = "x") -> dict[str, object]:
    return {
        "fields": {"project": {"key": "SEC"}, "issuetype": {"name": "Task"}, "summary": summary}
    }


def test_burst_limit_answers_429_with_jira_headers(
    api: httpx.Client, control: JiraControl
) -> None:
    control.configure(burst_capacity=3, burst_refill_per_second=0.01)
    answers = [api.get("/rest/api/2/myself") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    # Under 20% of the bucket left: Jira flags it on successful answers too.
    assert [a.headers.get("X-RateLimit-NearLimit") for a in answers[:3]] == [
        None, None, "true"
    ]
    limited = api.get("/rest/api/2/myself")
    assert limited.status_code == 429
    assert limited.headers["RateLimit-Reason"] == "jira-burst-based"
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["X-RateLimit-Limit"] == "3"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert RESET_FORMAT.match(limited.headers["X-RateLimit-Reset"])
    # The burst limit is per endpoint and method: another route still answers.
    assert api.get("/rest/api/2/field").status_code == 200


def test_per_issue_write_limit(api: httpx.Client, control: JiraControl) -> None:
    control.configure(issue_write_capacity=2, issue_write_refill_per_second=0.01)
    first = control.create_issue("SEC", "one")["key"]
    second = control.create_issue("SEC", "two")["key"]
    body = {"fields": {"summary": "edited"}}
    codes = [api.put(f"/rest/api/2/issue/{first}", json=body).status_code for _ in range(3)]
    assert codes == [204, 204, 429]
    limited = api.put(f"/rest/api/2/issue/{first}", json=body)
    assert limited.headers["RateLimit-Reason"] == "jira-per-issue-on-write"
    # Reads of that issue and writes to another issue are not limited.
    assert api.get(f"/rest/api/2/issue/{first}").status_code == 200
    assert api.put(f"/rest/api/2/issue/{second}", json=body).status_code == 204


def test_rate_limit_storm_and_library_error(client: jira.JIRA, control: JiraControl) -> None:
    control.rate_limit_storm(2, route="GET /rest/api/2/myself", retry_after=7)
    with pytest.raises(jira.JIRAError) as limited:
        client.myself()
    assert limited.value.status_code == 429
    assert limited.value.response is not None
    assert limited.value.response.headers["Retry-After"] == "7"
    with pytest.raises(jira.JIRAError):
        client.myself()
    assert client.myself()["emailAddress"] == "syncd@example.com"


def test_error_fault_on_route_pattern_then_recovers(
    api: httpx.Client, control: JiraControl
) -> None:
    control.fail_next("POST /rest/api/*/issue", count=2, status=502)
    assert api.post("/rest/api/2/issue", json=_create_body()).status_code == 502
    assert api.post("/rest/api/2/issue", json=_create_body()).status_code == 502
    assert api.post("/rest/api/2/issue", json=_create_body()).status_code == 201
    assert [i["key"] for i in control.issues("SEC")] == ["SEC-1"]  # failures applied nothing


def test_503_with_retry_after(api: httpx.Client, control: JiraControl) -> None:
    control.fail_next("GET /rest/api/2/myself", status=503, retry_after=2)
    response = api.get("/rest/api/2/myself")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"


def test_rate_based_errors_hit_a_share_of_requests(
    api: httpx.Client, control: JiraControl
) -> None:
    control.inject("error", "GET /rest/api/2/field", rate=0.5, status=500)
    codes = [api.get("/rest/api/2/field").status_code for _ in range(40)]
    assert 0 < codes.count(500) < 40
    assert set(codes) == {200, 500}


def test_dropped_connection_after_committed_create(
    jira_sim: JiraSimulator, control: JiraControl
) -> None:
    control.drop_after_commit("POST /rest/api/2/issue")
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        requests.post(
            f"{jira_sim.base_url}/rest/api/2/issue",
            json=_create_body("committed"),
            headers={"Authorization": basic_header()},
            timeout=10,
        )
    # The create was applied even though the client never saw the answer.
    assert [i["summary"] for i in control.issues("SEC")] == ["committed"]


def test_dropped_connection_reaches_the_jira_library(
    client: jira.JIRA, control: JiraControl
) -> None:
    control.drop_after_commit("POST /rest/api/2/issue")
    with pytest.raises(requests.RequestException):
        client.create_issue(project="SEC", issuetype="Task", summary="lost answer")
    assert [i["summary"] for i in control.issues("SEC")] == ["lost answer"]


def test_malformed_body_after_apply(api: httpx.Client, control: JiraControl) -> None:
    control.malformed("POST /rest/api/2/issue")
    response = api.post("/rest/api/2/issue", json=_create_body("garbled"))
    assert response.status_code == 201
    with pytest.raises(ValueError):
        response.json()
    assert len(control.issues("SEC")) == 1


def test_stall_delays_the_answer_until_the_client_times_out(
    jira_sim: JiraSimulator, control: JiraControl
) -> None:
    control.stall(2.0, route="GET /rest/api/2/myself")
    with httpx.Client(
        base_url=jira_sim.base_url, headers={"Authorization": basic_header()}, timeout=0.3
    ) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.get("/rest/api/2/myself")


def test_counters_by_route_template_and_reset(api: httpx.Client, control: JiraControl) -> None:
    key = control.create_issue("SEC", "counted")["key"]
    api.get(f"/rest/api/2/issue/{key}")
    api.get(f"/rest/api/3/issue/{key}")
    api.get("/rest/api/2/issue/SEC-999")
    counters = control.counters()
    assert counters["GET /rest/api/2/issue/{issueIdOrKey}"] == 2
    assert counters["GET /rest/api/3/issue/{issueIdOrKey}"] == 1
    control.reset_counters()
    assert control.counters() == {}


def test_auth_basic_bearer_and_401(jira_sim: JiraSimulator, control: JiraControl) -> None:
    url = f"{jira_sim.base_url}/rest/api/2/myself"
    assert httpx.get(url).status_code == 401
    wrong = httpx.get(url, headers={"Authorization": basic_header(token="nope")})
    assert wrong.status_code == 401
    assert wrong.json()["errorMessages"]
    pat = jira.JIRA(
        server=jira_sim.base_url, token_auth="demo-personal-access-token",
        get_server_info=True, max_retries=0, timeout=10,
    )
    assert pat.myself()["emailAddress"] == "syncd@example.com"
    control.add_user("other@example.com", api_token="t2", time_zone="Europe/Brussels")
    other = httpx.get(url, headers={"Authorization": basic_header("other@example.com", "t2")})
    assert other.json()["timeZone"] == "Europe/Brussels"
    # serverInfo answers without credentials, as Jira does.
    assert httpx.get(f"{jira_sim.base_url}/rest/api/2/serverInfo").status_code == 200


def test_revoked_token_gets_401_and_zone_changes_apply(
    api: httpx.Client, control: JiraControl
) -> None:
    control.add_user("temp@example.com", api_token="t-1")
    headers = {"Authorization": basic_header("temp@example.com", "t-1")}
    assert api.get("/rest/api/2/myself", headers=headers).status_code == 200
    control.update_user("temp@example.com", time_zone="Asia/Kolkata")
    assert api.get("/rest/api/2/myself", headers=headers).json()["timeZone"] == "Asia/Kolkata"
    control.revoke_api_token("temp@example.com")
    assert api.get("/rest/api/2/myself", headers=headers).status_code == 401


def test_clock_offset_moves_the_sites_now(api: httpx.Client, control: JiraControl) -> None:
    control.configure(clock_offset_seconds=-7200)
    key = control.create_issue("SEC", "two hours behind")["key"]
    assert api.post(
        "/rest/api/2/search/jql", json={"jql": f"key = {key} AND updated >= -1h"}
    ).json()["issues"] != []  # "-1h" is measured on the site's clock
    created = control.issue(key)["created"]
    lag = datetime.now(UTC) - datetime.fromisoformat(created)
    assert 7100 < lag.total_seconds() < 7300
