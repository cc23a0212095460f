"""Fixtures and helpers shared by the Jira simulator tests (import them explicitly).

Kept out of conftest.py on purpose: other test packages own that file.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import jira
import pytest

from syncd.simulators.jira import (
    DEFAULT_API_TOKEN,
    DEFAULT_EMAIL,
    JiraControl,
    JiraSimulator,
    JiraSimulatorOptions,
)

# A non-UTC API user, so tests see time-zone handling (JQL literals, rendered offsets).
USER_TIME_ZONE = "America/Los_Angeles"


def basic_header(email: str = DEFAULT_EMAIL, token: str = DEFAULT_API_TOKEN) -> str:
    raw = f"{email}:{token}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def make_jira(base_url: str, *, rest_api_version: str = "2") -> jira.JIRA:
    """The real ``jira`` library client as syncd builds it (no retries, a timeout)."""
    return jira.JIRA(
        server=base_url,
        basic_auth=(DEFAULT_EMAIL, DEFAULT_API_TOKEN),
        get_server_info=True,
        max_retries=0,
        timeout=10,
        options={"rest_api_version": rest_api_version},
    )


@pytest.fixture(scope="module")
def jira_sim() -> Iterator[JiraSimulator]:
    """One Cloud simulator per test module, served under a context path like a real proxy."""
    options = JiraSimulatorOptions(time_zone=USER_TIME_ZONE, base_path="/jira")
    with JiraSimulator(options) as sim:
        yield sim


@pytest.fixture
def control(jira_sim: JiraSimulator) -> JiraControl:
    """The control API of a freshly reset simulator."""
    jira_sim.control.reset()
    return jira_sim.control


@pytest.fixture
def client(jira_sim: JiraSimulator, control: JiraControl) -> Iterator[jira.JIRA]:
    """A ``jira.JIRA`` (REST v2) against the freshly reset simulator."""
    jira_client = make_jira(jira_sim.base_url)
    yield jira_client
    jira_client.close()  # type: ignore[no-untyped-call]


@pytest.fixture
def api(jira_sim: JiraSimulator, control: JiraControl) -> Iterator[httpx.Client]:
    """A raw httpx client with Basic auth, for asserting exact wire behaviour."""
    with httpx.Client(
        base_url=jira_sim.base_url, headers={"Authorization": basic_header()}, timeout=10
    ) as http:
        yield http
