"""The simulator's /rest/api/3 responses validated against Atlassian's OpenAPI document.

The repository keeps an excerpt of the 2.4 MB document: the paths syncd uses plus every
component they reference, transitively (``openapi_cut.py`` makes it), which also keeps
openapi-core fast. Deliberate deviations, applied in code (see ``ERRATA`` and ``_jira_datetime``):

- Jira sends ``date-time`` values as ``2025-01-02T03:04:05.678+0000`` (no colon in the
  offset; the document's own examples use that form), which strict RFC 3339 rejects, so
  ``date-time`` accepts Jira's form as well.
- ``GET /issue/{key}/remotelink`` without ``globalId`` returns a list (the operation's
  description and example say so; the ``jira`` library reads a list) but the document's
  schema is a single ``RemoteIssueLink``; the erratum allows either.
"""

# Fixtures are imported by name from jira_sim_fixtures (no conftest.py of ours), so test
# parameters shadow those imports on purpose.
# ruff: noqa: F811

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from jira_sim_fixtures import basic_header, jira_sim  # noqa: F401 - fixture by name
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.exceptions import OpenAPIError
from openapi_cut import USED_PATHS, cut
from reference_docs import reference_document

from syncd.simulators.jira import JiraSimulator

SPEC_NAME = "jira-cloud-platform-openapi-v3.json"
_JIRA_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?([+-]\d{4}|Z)$")


def _spec_file() -> Path:
    return reference_document(SPEC_NAME)


def _remote_links_list(spec: dict[str, Any]) -> None:
    content = spec["paths"]["/rest/api/3/issue/{issueIdOrKey}/remotelink"]["get"]["responses"][
        "200"
    ]["content"]["application/json"]
    single = content["schema"]
    content["schema"] = {"oneOf": [single, {"type": "array", "items": single}]}


ERRATA = {"/rest/api/3/issue/{issueIdOrKey}/remotelink": _remote_links_list}


def extract(document: dict[str, Any], paths: tuple[str, ...], server: str) -> dict[str, Any]:
    """The sub-document for ``paths`` served at ``server``, with the errata applied."""
    spec = cut(document, paths)
    spec["servers"] = [{"url": server}]
    for path, patch in ERRATA.items():
        if path in spec["paths"]:
            patch(spec)
    return spec


def _jira_datetime(value: str) -> bool:
    if not _JIRA_DATETIME.match(value):
        return False
    try:
        datetime.strptime(value.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        datetime.strptime(value.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z")
    return True


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(_spec_file().read_text())
    return loaded


@pytest.fixture(scope="module")
def spec(document: dict[str, Any], jira_sim: JiraSimulator) -> dict[str, Any]:
    return extract(document, USED_PATHS, jira_sim.base_url)


@pytest.fixture(scope="module")
def openapi(spec: dict[str, Any]) -> OpenAPI:
    config = Config(extra_format_validators={"date-time": _jira_datetime})
    return OpenAPI.from_dict(spec, config=config)


@pytest.fixture(scope="module")
def session(jira_sim: JiraSimulator) -> Iterator[requests.Session]:
    jira_sim.control.reset()
    with requests.Session() as http:
        http.headers["Authorization"] = basic_header()
        yield http


class Checker:
    def __init__(
        self, openapi: OpenAPI, spec: dict[str, Any], session: requests.Session, base: str
    ) -> None:
        self.openapi = openapi
        self.spec = spec
        self.session = session
        self.base = base
        self.checked: list[str] = []

    def call(
        self, method: str, path: str, *, expect: int, json_body: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        response = self.session.request(
            method, f"{self.base}/rest/api/3{path}", json=json_body, params=params, timeout=10
        )
        assert response.status_code == expect, (method, path, response.text)
        self.openapi.validate_request(RequestsOpenAPIRequest(response.request))
        if response.content:
            self.openapi.validate_response(
                RequestsOpenAPIRequest(response.request), RequestsOpenAPIResponse(response)
            )
        else:
            # The document gives some bodiless answers (204s, property PUTs) the empty
            # schema {} under application/json, which makes no claim about the body; an
            # empty body is only accepted where the document says exactly that.
            declared = self._declared(method, path, response.status_code)
            assert declared in (None, {}, {"application/json": {"schema": {}}}), declared
        self.checked.append(f"{method} {path}")
        return response.json() if response.content else None

    def _declared(self, method: str, path: str, status: int) -> Any:
        for template, item in self.spec["paths"].items():
            pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template))
            if re.fullmatch(pattern, f"/rest/api/3{path}") and method.lower() in item:
                responses = item[method.lower()]["responses"]
                assert str(status) in responses, f"{method} {path}: {status} not documented"
                return responses[str(status)].get("content")
        raise AssertionError(f"{method} {path} is not in the extracted document")


@pytest.fixture
def check(
    openapi: OpenAPI, spec: dict[str, Any], session: requests.Session, jira_sim: JiraSimulator
) -> Checker:
    return Checker(openapi, spec, session, jira_sim.base_url)


def _adf(text: str) -> dict[str, Any]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


def test_extraction_keeps_only_what_is_referenced(document: dict[str, Any]) -> None:
    spec = extract(document, ("/rest/api/3/serverInfo",), "http://x")
    assert set(spec["components"]["schemas"]) == {"ServerInformation", "HealthCheckResult"}
    assert list(spec["paths"]) == ["/rest/api/3/serverInfo"]


def test_bootstrap_routes(check: Checker) -> None:
    assert check.call("GET", "/serverInfo", expect=200)["deploymentType"] == "Cloud"
    assert check.call("GET", "/myself", expect=200)["timeZone"]
    check.call("GET", "/field", expect=200)
    check.call("GET", "/priority", expect=200)
    check.call("GET", "/status", expect=200)
    check.call("GET", "/resolution", expect=200)
    project = check.call("GET", "/project/SEC", expect=200, params={"expand": "issueTypes"})
    assert [t["name"] for t in project["issueTypes"]] == ["Task", "Bug"]
    statuses = check.call("GET", "/project/SEC/statuses", expect=200)
    assert {s["name"] for s in statuses[0]["statuses"]} == {
        "To Do", "In Progress", "In Review", "Done", "Won't Do", "Duplicate"
    }
    check.call("GET", "/issue/createmeta/SEC/issuetypes", expect=200)
    check.call("GET", "/issue/createmeta/SEC/issuetypes/10001", expect=200)


def test_issue_lifecycle_routes(check: Checker) -> None:
    created = check.call(
        "POST", "/issue", expect=201,
        json_body={"fields": {
            "project": {"key": "SEC"}, "issuetype": {"id": "10002"}, "summary": "contract",
            "description": _adf("body"), "labels": ["intigriti"], "priority": {"name": "High"},
            "customfield_10050": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        }},
    )
    key = created["key"]
    check.call("POST", "/issue", expect=400, json_body={"fields": {"summary": "no project"}})
    check.call("GET", f"/issue/{key}", expect=200, params={"expand": "changelog,names"})
    check.call(
        "PUT", f"/issue/{key}", expect=204,
        json_body={"fields": {"summary": "contract 2"}, "update": {"labels": [{"add": "x"}]}},
    )
    check.call("GET", f"/issue/{key}/transitions", expect=200,
               params={"expand": "transitions.fields"})
    for transition in ("11", "21"):
        check.call("POST", f"/issue/{key}/transitions", expect=204,
                   json_body={"transition": {"id": transition}})
    check.call(
        "POST", f"/issue/{key}/transitions", expect=204,
        json_body={"transition": {"id": "31"}, "fields": {"resolution": {"name": "Done"}}},
    )
    check.call("GET", f"/issue/{key}/changelog", expect=200)
    comment = check.call(
        "POST", f"/issue/{key}/comment", expect=201,
        json_body={"body": _adf("hello"), "visibility": {"type": "role", "value": "Developers"}},
    )
    check.call("GET", f"/issue/{key}/comment", expect=200)
    check.call("GET", f"/issue/{key}/comment/{comment['id']}", expect=200)
    check.call("PUT", f"/issue/{key}/properties/sync.meta", expect=201, json_body={"rev": 1})
    check.call("PUT", f"/issue/{key}/properties/sync.meta", expect=200, json_body={"rev": 2})
    check.call("GET", f"/issue/{key}/properties", expect=200)
    check.call("GET", f"/issue/{key}/properties/sync.meta", expect=200)
    link = {"globalId": "system=intigriti&id=C-1", "relationship": "mirrors",
            "application": {"type": "com.intigriti", "name": "Intigriti"},
            "object": {"url": "https://app.intigriti.com/x", "title": "C-1",
                       "status": {"resolved": False}}}
    created_link = check.call("POST", f"/issue/{key}/remotelink", expect=201, json_body=link)
    check.call("POST", f"/issue/{key}/remotelink", expect=200, json_body=link)
    check.call("GET", f"/issue/{key}/remotelink", expect=200)
    check.call("GET", f"/issue/{key}/remotelink", expect=200,
               params={"globalId": "system=intigriti&id=C-1"})
    check.call("GET", f"/issue/{key}/remotelink/{created_link['id']}", expect=200)



def test_issue_link_and_edit_meta_routes(check: Checker) -> None:
    keys = [
        check.call(
            "POST", "/issue", expect=201,
            json_body={"fields": {"project": {"key": "SEC"}, "issuetype": {"id": "10002"},
                                  "summary": f"link {n}"}},
        )["key"]
        for n in (1, 2)
    ]
    types = check.call("GET", "/issueLinkType", expect=200)["issueLinkTypes"]
    assert {"Duplicate", "Blocks", "Relates"} <= {t["name"] for t in types}
    body = {"type": {"name": "Duplicate"}, "inwardIssue": {"key": keys[1]},
            "outwardIssue": {"key": keys[0]}}
    check.call("POST", "/issueLink", expect=201, json_body=body)
    check.call("POST", "/issueLink", expect=404,
               json_body={**body, "type": {"name": "Supersedes"}})
    issue = check.call("GET", f"/issue/{keys[1]}", expect=200, params={"fields": "issuelinks"})
    [link] = issue["fields"]["issuelinks"]
    assert link["outwardIssue"]["key"] == keys[0] and "inwardIssue" not in link
    full = check.call("GET", f"/issueLink/{link['id']}", expect=200)
    assert (full["inwardIssue"]["key"], full["outwardIssue"]["key"]) == (keys[1], keys[0])
    meta = check.call("GET", f"/issue/{keys[0]}/editmeta", expect=200)
    assert "customfield_10052" in meta["fields"] and "resolution" not in meta["fields"]
    check.call("DELETE", f"/issueLink/{link['id']}", expect=204)
    check.call("GET", f"/issueLink/{link['id']}", expect=404)


def test_search_routes(check: Checker, jira_sim: JiraSimulator) -> None:
    jira_sim.control.bulk_create("SEC", 3, labels=["bulk"])
    first = check.call(
        "GET", "/search/jql", expect=200,
        params={"jql": "labels = bulk ORDER BY key ASC", "maxResults": 2,
                "fields": "summary,updated,status,priority", "properties": "sync.meta"},
    )
    assert first["nextPageToken"] and first["isLast"] is False
    check.call(
        "POST", "/search/jql", expect=200,
        json_body={"jql": "labels = bulk ORDER BY key ASC", "maxResults": 2,
                   "nextPageToken": first["nextPageToken"], "fields": ["*all"],
                   "expand": "names,schema,changelog"},
    )
    check.call("GET", "/search/jql", expect=400, params={"jql": "nope = 1"})
    count = check.call("POST", "/search/approximate-count", expect=200,
                       json_body={"jql": "labels = bulk"})
    assert count == {"count": 3}
    response = check.session.get(
        f"{check.base}/rest/api/3/search", params={"jql": "project = SEC"}, timeout=10
    )
    assert response.status_code == 410


def test_checker_rejects_a_response_that_breaks_the_document(
    openapi: OpenAPI, session: requests.Session, jira_sim: JiraSimulator
) -> None:
    """Guard against a vacuous contract test: an off-contract body must fail validation."""
    response = session.get(f"{jira_sim.base_url}/rest/api/3/serverInfo", timeout=10)
    forged = requests.Response()
    forged.status_code = 200
    forged.headers["Content-Type"] = "application/json"
    forged._content = json.dumps({**response.json(), "versionNumbers": "1001"}).encode()
    forged.request = response.request
    with pytest.raises(OpenAPIError):
        openapi.validate_response(
            RequestsOpenAPIRequest(response.request), RequestsOpenAPIResponse(forged)
        )
