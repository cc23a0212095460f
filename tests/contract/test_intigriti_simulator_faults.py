"""Injected faults, rate limits and request counters, each observed by a real httpx client."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from intigriti_fixtures import (  # noqa: F401 - fixtures are registered by import
    api_client,
    fixture_api,
    fixture_control,
    fixture_intigriti_sim,
    fixture_seeded,
)

from syncd.simulators.intigriti import (
    IntigritiControl,
    IntigritiSimulator,
    IntigritiSimulatorOptions,
)


def _error_model(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert set(body) == {"identifier", "title", "status", "code", "extraParameters"}
    assert body["status"] == response.status_code
    return body


def test_fail_next_hits_only_the_matching_route_n_times(
    api: httpx.Client, control: IntigritiControl, seeded: dict[str, Any]
) -> None:
    control.fail_next(2, route="GET /submissions", status=503)
    assert api.get("/programs").status_code == 200
    statuses = [api.get("/submissions").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert control.count("GET", "/submissions", 503) == 2
    assert control.count("GET", "/submissions", 200) == 1
    assert control.count("GET", "/programs") == 1
    assert control.faults() == []


def test_fault_pattern_can_name_a_templated_route(
    api: httpx.Client, control: IntigritiControl, seeded: dict[str, Any]
) -> None:
    code = seeded["subs"]["Triage"]["code"]
    control.fail_next(1, route="PUT /submissions/*/state")
    assert api.get(f"/submissions/{code}").status_code == 200
    failed = api.put(f"/submissions/{code}/state", json={"statusTrigger": 2})
    assert failed.status_code == 500
    _error_model(failed)
    # The failed write did not happen.
    assert control.submission(code)["status"] == "Triage"


def test_random_failures_are_repeatable_with_a_seed(
    api: httpx.Client, control: IntigritiControl, seeded: dict[str, Any]
) -> None:
    def pattern() -> list[int]:
        control.clear_faults()
        control.fail_randomly(0.5, route="GET /programs", seed=42)
        return [api.get("/programs").status_code for _ in range(20)]

    first = pattern()
    assert first == pattern()
    assert 0 < first.count(500) < 20
    assert set(first) == {200, 500}


def test_rate_limit_storm_answers_429_with_retry_after(
    api: httpx.Client, control: IntigritiControl, seeded: dict[str, Any]
) -> None:
    control.rate_limit_storm(3, retry_after=7)
    responses = [api.get("/submissions") for _ in range(4)]
    assert [r.status_code for r in responses] == [429, 429, 429, 200]
    assert responses[0].headers["retry-after"] == "7"
    assert _error_model(responses[0])["title"] == "API rate limit hit"


def test_stall_outlasts_the_client_timeout_then_service_resumes(
    intigriti_sim: IntigritiSimulator, control: IntigritiControl, seeded: dict[str, Any]
) -> None:
    token = control.mint_token()["access_token"]
    control.stall_next(1, seconds=2.0, route="GET /programs")
    with api_client(intigriti_sim, token) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get("/programs", timeout=0.3)
        assert client.get("/programs").status_code == 200


def test_dropped_connection_after_committed_write(
    api: httpx.Client, control: IntigritiControl, seeded: dict[str, Any]
) -> None:
    code = seeded["subs"]["Triage"]["code"]
    control.drop_after_commit(1, route="PUT /submissions/*/state")
    with pytest.raises(httpx.TransportError):
        api.put(f"/submissions/{code}/state", json={"statusTrigger": 2})
    # The mutation was committed although the client saw no response.
    assert control.submission(code)["status"] == "Pending"
    assert api.get(f"/submissions/{code}").json()["state"]["status"]["value"] == "Pending"


def test_dropped_connection_after_committed_comment_and_no_content_write(
    api: httpx.Client, control: IntigritiControl, seeded: dict[str, Any]
) -> None:
    code = seeded["subs"]["Pending"]["code"]
    control.drop_after_commit(2, route="/submissions/*")
    with pytest.raises(httpx.TransportError):
        api.post(f"/submissions/{code}/comments/internal", json={"message": "once"})
    with pytest.raises(httpx.TransportError):
        api.put(f"/submissions/{code}/internal-reference", json={"reference": "SEC-2"})
    after = control.submission(code)
    assert [m["message"] for m in after["messages"]] == ["once"]
    assert after["internalReference"] == "SEC-2"


def test_malformed_item_spoils_only_that_item(
    api: httpx.Client, control: IntigritiControl, seeded: dict[str, Any]
) -> None:
    bad = seeded["subs"]["Pending"]["code"]
    control.set_malformed(bad, "unknown_enum")
    items = {s["code"]: s for s in api.get("/submissions").json()}
    assert items[bad]["state"]["status"]["id"] == 99
    good = [s for code, s in items.items() if code != bad]
    assert len(good) == 2
    assert all(s["state"]["status"]["value"] in ("Triage", "Accepted") for s in good)

    control.set_malformed(bad, "bad_shape")
    items = {s["code"]: s for s in api.get("/submissions").json()}
    assert items[bad]["createdAt"] == "yesterday"
    assert api.get(f"/submissions/{bad}").json()["state"] == "broken"

    control.set_malformed(bad, "invalid_json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(api.get("/submissions").content)
    since_bad = int(control.submission(bad)["lastUpdatedAt"]) + 1
    control.edit_submission(seeded["subs"]["Triage"]["code"], title="fresh")
    unaffected = api.get("/submissions", params={"UpdatedSince": since_bad})
    assert [s["title"] for s in unaffected.json()] == ["fresh"]

    control.set_malformed(bad, None)
    assert api.get(f"/submissions/{bad}").json()["state"]["status"]["value"] == "Pending"


def test_burst_beyond_quota_is_refused_and_writes_have_their_own_quota(
    api: httpx.Client, control: IntigritiControl, seeded: dict[str, Any]
) -> None:
    control.set_rate_limits(read_per_minute=3, write_per_minute=2)
    reads = [api.get("/programs") for _ in range(4)]
    assert [r.status_code for r in reads] == [200, 200, 200, 429]
    assert reads[0].headers["x-ratelimit-limit"] == "3"
    assert reads[2].headers["x-ratelimit-remaining"] == "0"
    retry_after = int(reads[3].headers["retry-after"])
    assert 1 <= retry_after <= 60
    _error_model(reads[3])

    code = seeded["subs"]["Triage"]["code"]
    writes = [
        api.put(f"/submissions/{code}/severity", json={"id": 2}).status_code for _ in range(3)
    ]
    assert writes == [204, 204, 429]
    control.advance_clock(retry_after)
    assert api.get("/programs").status_code == 200


def test_quota_is_per_integration_not_per_token(
    intigriti_sim: IntigritiSimulator, control: IntigritiControl, seeded: dict[str, Any]
) -> None:
    control.set_rate_limits(read_per_minute=2)
    one = control.mint_token()["access_token"]
    two = control.mint_token()["access_token"]
    with api_client(intigriti_sim, one) as first, api_client(intigriti_sim, two) as second:
        assert first.get("/programs").status_code == 200
        assert second.get("/programs").status_code == 200
        assert first.get("/programs").status_code == 429


def test_pacing_at_exactly_the_quota_is_never_refused(
    api: httpx.Client, control: IntigritiControl, seeded: dict[str, Any]
) -> None:
    control.set_rate_limits(read_per_minute=3)
    statuses = []
    for _ in range(9):
        statuses.append(api.get("/programs").status_code)
        control.advance_clock(20)
    assert statuses == [200] * 9
    # One request more than the pace allows inside a 60-second window is refused.
    assert api.get("/programs").status_code == 200
    assert api.get("/programs").status_code == 429


def test_counters_count_by_route_template_and_reset(
    api: httpx.Client, control: IntigritiControl, seeded: dict[str, Any]
) -> None:
    for sub in seeded["subs"].values():
        api.get(f"/submissions/{sub['code']}")
    api.get("/submissions/NOPE-1")
    counters = control.counters()
    assert {
        "method": "GET",
        "route": "/submissions/{submissionCode}",
        "status": 200,
        "count": 3,
    } in counters
    assert control.count("GET", "/submissions/{submissionCode}", 404) == 1
    control.reset_counters()
    assert control.counters() == []


def test_token_endpoint_faults_and_counts(
    intigriti_sim: IntigritiSimulator, control: IntigritiControl
) -> None:
    refresh = control.mint_token()["refresh_token"]
    control.fail_next(1, route="POST /connect/token", status=503)
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh,
        "client_id": "externalapi_demo_syncd",
        "client_secret": "demo-secret-not-for-production",
    }
    assert httpx.post(intigriti_sim.token_url, data=form).status_code == 503
    assert httpx.post(intigriti_sim.token_url, data=form).status_code == 200
    assert control.count("POST", "/connect/token", 503) == 1
    assert control.count("POST", "/connect/token", 200) == 1


def test_token_endpoint_rate_limit_refuses_without_spending_the_refresh_token(
    intigriti_sim: IntigritiSimulator, control: IntigritiControl
) -> None:
    refresh = control.mint_token()["refresh_token"]
    control.rate_limit_storm(1, retry_after=12, route="POST /connect/token")
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh,
        "client_id": "externalapi_demo_syncd",
        "client_secret": "demo-secret-not-for-production",
    }
    refused = httpx.post(intigriti_sim.token_url, data=form)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "12"
    assert "error" not in refused.json()  # an ErrorModel body, not an OAuth error
    accepted = httpx.post(intigriti_sim.token_url, data=form)
    assert accepted.status_code == 200
    assert accepted.json()["refresh_token"] != refresh


def test_quota_per_token_when_configured(control: IntigritiControl) -> None:
    options = IntigritiSimulatorOptions(read_rate_per_minute=1, rate_limit_key="token")
    with IntigritiSimulator(options) as sim:
        tokens = [sim.control.mint_token()["access_token"] for _ in range(2)]
        clients = [api_client(sim, t) for t in tokens]
        try:
            assert [c.get("/programs").status_code for c in clients] == [200, 200]
            assert [c.get("/programs").status_code for c in clients] == [429, 429]
        finally:
            for client in clients:
                client.close()
