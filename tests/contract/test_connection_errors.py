"""A call that cannot connect says where, why, and which config key to change.

Both adapters against real sockets: a closed port (refused), a name that cannot resolve
(``.invalid`` never does, RFC 6761), TLS spoken to a plain-HTTP simulator, and a stall.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from intigriti_client_fixtures import make_adapter as make_intigriti
from jira_adapter_fixtures import make_adapter as make_jira

from syncd.errors import TransientError, Unreachable
from syncd.simulators.intigriti import IntigritiSimulator
from syncd.simulators.jira import JiraSimulator


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def jira_sim() -> Iterator[JiraSimulator]:
    with JiraSimulator() as sim:
        yield sim


@pytest.fixture(scope="module")
def intigriti_sim() -> Iterator[IntigritiSimulator]:
    with IntigritiSimulator() as sim:
        yield sim


CASES = {
    "refused": (lambda sim: f"http://127.0.0.1:{closed_port()}", "connection refused"),
    "dns": (lambda sim: "http://syncd-test-host.invalid", "DNS lookup failed"),
    "tls": (lambda sim: sim.base_url.replace("http://", "https://"), "TLS"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_jira_names_url_cause_and_key(jira_sim: JiraSimulator, case: str) -> None:
    url_for, cause = CASES[case]
    url = url_for(jira_sim)
    adapter, _ = make_jira(jira_sim, url=url, retry_attempts=1)
    try:
        with pytest.raises(Unreachable) as caught:
            adapter.describe_project("SEC")
    finally:
        adapter.close()
    message = str(caught.value)
    assert f"cannot reach Jira at {url}" in message
    assert cause in message
    assert "check jira.url" in message
    assert "_NotSent" not in message


@pytest.mark.parametrize("case", sorted(CASES))
def test_intigriti_names_url_cause_and_key(intigriti_sim: IntigritiSimulator, case: str) -> None:
    url_for, cause = CASES[case]
    base = url_for(intigriti_sim)
    adapter = make_intigriti(
        intigriti_sim, api_url=base + "/external/company/v2.0", access_token="static-token"
    )
    try:
        with pytest.raises(Unreachable) as caught:
            adapter.list_programs()
    finally:
        adapter.close()
    message = str(caught.value)
    assert f"cannot reach Intigriti at {base}/external/company/v2.0/programs" in message
    assert cause in message
    assert "check intigriti.api_url" in message


def test_the_token_endpoint_names_its_url_and_key(intigriti_sim: IntigritiSimulator) -> None:
    token_url = f"http://127.0.0.1:{closed_port()}/connect/token"
    adapter = make_intigriti(intigriti_sim, token_url=token_url, refresh_token="bootstrap")
    try:
        with pytest.raises(TransientError) as caught:
            adapter.list_programs()
    finally:
        adapter.close()
    message = str(caught.value)
    assert f"cannot reach the Intigriti token endpoint {token_url}" in message
    assert "connection refused" in message
    assert "check intigriti.token_url" in message


def test_a_jira_that_stops_answering_names_the_timeout_key(jira_sim: JiraSimulator) -> None:
    adapter, _ = make_jira(jira_sim, timeout_seconds=0.3, retry_attempts=1)
    try:
        adapter.warm_up()
        jira_sim.control.stall(2.0, route="GET /rest/api/2/search/jql", count=1)
        with pytest.raises(TransientError) as caught:
            adapter.changed_issues(None)
    finally:
        adapter.close()
        jira_sim.control.clear_faults()
    message = str(caught.value)
    assert f"Jira at {jira_sim.base_url}" in message
    assert "no answer within 0.3s (jira.timeout_seconds)" in message
