"""Company API behaviour of the simulator over real HTTP: state machine, writes, filters."""

from __future__ import annotations

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

from syncd.intigriti import enums
from syncd.simulators.intigriti import IntigritiControl, IntigritiSimulator


def _detail(api: httpx.Client, code: str) -> dict[str, Any]:
    response = api.get(f"/submissions/{code}")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_programs_list_uses_id_and_detail_uses_program_id(
    api: httpx.Client, seeded: dict[str, Any]
) -> None:
    listed = api.get("/programs").json()
    assert [p["id"] for p in listed] == [seeded["program"]["id"]]
    detail = api.get(f"/programs/{seeded['program']['id']}").json()
    assert detail["programId"] == seeded["program"]["id"]
    assert "id" not in detail
    assert api.get("/programs/00000000-0000-0000-0000-000000000000").status_code == 404


def test_detail_has_last_updated_nested_not_top_level(
    api: httpx.Client, seeded: dict[str, Any]
) -> None:
    code = seeded["subs"]["Triage"]["code"]
    detail = _detail(api, code)
    assert "lastUpdatedAt" not in detail
    assert isinstance(detail["lastUpdated"]["lastUpdatedAt"], int)
    assert detail["report"]["type"]["cwe"].startswith("CWE-")
    assert detail["severity"]["vector"].startswith("CVSS:3.1/")
    assert detail["state"]["status"] == {"id": 2, "value": "Triage"}


def test_allowed_trigger_moves_state_and_returns_next_triggers(
    api: httpx.Client, control: IntigritiControl, seeded: dict[str, Any]
) -> None:
    code = seeded["subs"]["Triage"]["code"]
    before = control.submission(code)["lastUpdatedAt"]
    control.advance_clock(5)
    response = api.put(f"/submissions/{code}/state", json={"statusTrigger": 2})
    assert response.status_code == 200
    assert response.json() == {"statusTriggers": [enums.trigger_id("Reject"),
                                                  enums.trigger_id("Accept")]}
    detail = _detail(api, code)
    assert detail["state"]["status"]["value"] == "Pending"
    assert detail["state"]["validatedAt"] is not None
    assert detail["lastUpdated"]["lastUpdatedAt"] >= before + 5

    accept = api.put(f"/submissions/{code}/state", json={"statusTrigger": 3})
    assert accept.status_code == 200
    assert enums.trigger_id("Undo") in accept.json()["statusTriggers"]
    close = api.put(f"/submissions/{code}/state", json={"statusTrigger": 4})
    assert close.status_code == 200
    state = _detail(api, code)["state"]
    assert state["status"]["value"] == "Closed"
    assert state["closeReason"] == {"id": 1, "value": "Resolved"}


def test_disallowed_trigger_is_403_and_changes_nothing(
    api: httpx.Client, control: IntigritiControl, seeded: dict[str, Any]
) -> None:
    code = seeded["subs"]["Triage"]["code"]
    before = control.submission(code)
    response = api.put(f"/submissions/{code}/state", json={"statusTrigger": 3})
    assert response.status_code == 403
    after = control.submission(code)
    assert (after["status"], after["lastUpdatedAt"]) == (before["status"], before["lastUpdatedAt"])


def test_reject_without_close_reason_is_400(
    api: httpx.Client, seeded: dict[str, Any]
) -> None:
    code = seeded["subs"]["Pending"]["code"]
    response = api.put(f"/submissions/{code}/state", json={"statusTrigger": 1})
    assert response.status_code == 400
    ok = api.put(f"/submissions/{code}/state", json={"statusTrigger": 1, "closeReason": 2})
    assert ok.status_code == 200
    state = _detail(api, code)["state"]
    assert state["status"]["value"] == "Closed"
    assert state["closeReason"]["value"] == "Duplicate"


def test_undo_reverts_the_last_reversible_transition_only(
    api: httpx.Client, seeded: dict[str, Any]
) -> None:
    code = seeded["subs"]["Triage"]["code"]
    assert api.put(f"/submissions/{code}/state", json={"statusTrigger": 6}).status_code == 403
    assert api.put(f"/submissions/{code}/state", json={"statusTrigger": 2}).status_code == 200
    # Validate is irreversible (reference §4.4).
    assert api.put(f"/submissions/{code}/state", json={"statusTrigger": 6}).status_code == 403
    assert api.put(f"/submissions/{code}/state", json={"statusTrigger": 3}).status_code == 200
    undo = api.put(f"/submissions/{code}/state", json={"statusTrigger": 6})
    assert undo.status_code == 200
    state = _detail(api, code)["state"]
    assert state["status"]["value"] == "Pending"
    assert state["acceptedAt"] is None


def test_unknown_trigger_or_reason_is_400(api: httpx.Client, seeded: dict[str, Any]) -> None:
    code = seeded["subs"]["Pending"]["code"]
    assert api.put(f"/submissions/{code}/state", json={"statusTrigger": 99}).status_code == 400
    bad_reason = {"statusTrigger": 1, "closeReason": 99}
    assert api.put(f"/submissions/{code}/state", json=bad_reason).status_code == 400
    assert api.put(f"/submissions/{code}/state", json={}).status_code == 400
    assert api.put("/submissions/NOPE-1/state", json={"statusTrigger": 2}).status_code == 404


def test_internal_reference_null_clears_and_empty_string_is_stored(
    api: httpx.Client, seeded: dict[str, Any]
) -> None:
    code = seeded["subs"]["Accepted"]["code"]
    url = "https://jira.example/browse/SEC-1"
    body = {"reference": "SEC-1", "url": url}
    put = api.put(f"/submissions/{code}/internal-reference", json=body)
    assert put.status_code == 204
    assert _detail(api, code)["internalReference"] == {"reference": "SEC-1", "url": url}

    api.put(f"/submissions/{code}/internal-reference", json={"reference": "", "url": url})
    assert _detail(api, code)["internalReference"] == {"reference": "", "url": url}

    api.put(f"/submissions/{code}/internal-reference", json={"reference": None, "url": None})
    assert _detail(api, code)["internalReference"] is None


def test_severity_by_id_and_by_vector(api: httpx.Client, seeded: dict[str, Any]) -> None:
    code = seeded["subs"]["Triage"]["code"]
    assert api.put(f"/submissions/{code}/severity", json={"id": 1}).status_code == 204
    low = {"id": 1, "vector": None, "value": "Low", "score": None}
    assert _detail(api, code)["severity"] == low
    vector = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    assert api.put(f"/submissions/{code}/severity", json={"vector": vector}).status_code == 204
    severity = _detail(api, code)["severity"]
    assert (severity["value"], severity["score"]) == ("Critical", 9.8)
    assert api.put(f"/submissions/{code}/severity", json={"id": 77}).status_code == 400
    bad_vector = {"vector": "CVSS:3.1/AV:X"}
    assert api.put(f"/submissions/{code}/severity", json=bad_vector).status_code == 400


def test_comments_return_201_message_id_and_append_events(
    api: httpx.Client, control: IntigritiControl, seeded: dict[str, Any]
) -> None:
    code = seeded["subs"]["Pending"]["code"]
    events_before = len(api.get(f"/submissions/{code}/events").json())
    internal = api.post(f"/submissions/{code}/comments/internal", json={"message": "tracked"})
    external = api.post(f"/submissions/{code}/comments/external", json={"message": "thanks!"})
    assert internal.status_code == external.status_code == 201
    assert internal.json()["messageId"] != external.json()["messageId"]
    events = api.get(f"/submissions/{code}/events").json()
    assert len(events) == events_before + 2
    assert [e["visibility"]["value"] for e in events[-2:]] == ["Internal", "External"]
    messages = control.submission(code)["messages"]
    assert [(m["message"], m["external"]) for m in messages] == [
        ("tracked", False),
        ("thanks!", True),
    ]
    empty = api.post(f"/submissions/{code}/comments/internal", json={"message": ""})
    assert empty.status_code == 400


def test_updated_since_is_inclusive_and_filters_company_and_program_lists(
    api: httpx.Client, control: IntigritiControl, seeded: dict[str, Any]
) -> None:
    program_id = seeded["program"]["id"]
    other = control.seed_program(name="Other")
    control.seed_submission(other["id"])
    now = int(control.clock()["epoch"])
    assert all(s["lastUpdatedAt"] < now for s in seeded["subs"].values())
    assert api.get("/submissions", params={"UpdatedSince": now}).json() == []

    code = seeded["subs"]["Pending"]["code"]
    control.edit_submission(code, severity="High")
    changed_at = control.submission(code)["lastUpdatedAt"]
    since = api.get("/submissions", params={"UpdatedSince": changed_at}).json()
    assert [s["code"] for s in since] == [code]
    assert since[0]["lastUpdatedAt"] == changed_at
    assert api.get("/submissions", params={"UpdatedSince": changed_at + 1}).json() == []

    per_program = api.get(f"/programs/{program_id}/submissions").json()
    assert sorted(s["code"] for s in per_program) == sorted(
        s["code"] for s in seeded["subs"].values()
    )
    in_other = api.get(f"/programs/{other['id']}/submissions", params={"UpdatedSince": changed_at})
    assert in_other.json() == []
    assert len(api.get("/submissions").json()) == 4
    assert api.get("/submissions", params={"UpdatedSince": "yesterday"}).status_code == 400


def test_events_created_since(
    api: httpx.Client, control: IntigritiControl, seeded: dict[str, Any]
) -> None:
    code = seeded["subs"]["Pending"]["code"]
    control.advance_clock(100)
    marker = int(control.clock()["epoch"])
    api.put(f"/submissions/{code}/severity", json={"id": 2})
    recent = api.get(f"/submissions/{code}/events", params={"CreatedSince": marker}).json()
    assert [e["type"]["value"] for e in recent] == ["Severity changed"]
    assert recent[0]["createdAt"] >= marker
    assert len(api.get(f"/submissions/{code}/events").json()) == 2


def test_human_edits_bump_last_updated_and_show_up(
    api: httpx.Client, control: IntigritiControl, seeded: dict[str, Any]
) -> None:
    code = seeded["subs"]["Accepted"]["code"]
    control.advance_clock(30)
    edited = control.edit_submission(
        code, status="Closed", close_reason="Informative", internal_reference="SEC-9"
    )
    assert edited["status"] == "Closed"
    detail = _detail(api, code)
    assert detail["state"]["closeReason"]["value"] == "Informative"
    assert detail["internalReference"] == {"reference": "SEC-9", "url": None}
    assert detail["lastUpdated"]["lastUpdater"]["userName"] == "alice.admin"
    assert detail["lastUpdated"]["lastUpdatedAt"] == edited["lastUpdatedAt"]
    assert edited["lastUpdatedAt"] >= seeded["subs"]["Accepted"]["lastUpdatedAt"] + 30
    control.edit_submission(code, close_reason="Duplicate")
    assert _detail(api, code)["state"]["closeReason"]["value"] == "Duplicate"
    new = control.seed_submission(seeded["program"]["id"], title="Brand new", severity=None)
    listed = {s["code"]: s for s in api.get("/submissions").json()}
    assert listed[new["code"]]["title"] == "Brand new"
    assert listed[new["code"]]["severity"] is None


@pytest.mark.parametrize("version", ["v2.0", "v2.1", "v2"])
def test_every_version_prefix_serves_the_same_routes(
    intigriti_sim: IntigritiSimulator,
    control: IntigritiControl,
    seeded: dict[str, Any],
    version: str,
) -> None:
    token = control.mint_token()["access_token"]
    with api_client(intigriti_sim, token, version=version) as client:
        assert len(client.get("/submissions").json()) == 3
    assert control.count("GET", "/submissions", 200) == 1


def test_many_submissions_updated_since_returns_only_the_changed(
    api: httpx.Client, control: IntigritiControl
) -> None:
    program = control.seed_program()
    codes = control.seed_submissions(program["id"], 2000)
    assert len(api.get("/submissions").json()) == 2000
    control.advance_clock(120)
    control.edit_submission(codes[7], title="changed")
    since = int(control.clock()["epoch"]) - 60
    changed = api.get("/submissions", params={"UpdatedSince": since})
    assert [s["code"] for s in changed.json()] == [codes[7]]
