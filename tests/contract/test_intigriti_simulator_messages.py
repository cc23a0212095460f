"""A submission's conversation as the Intigriti simulator serves it: message events
(reference §4.5), their attachments, edits and deletes made by humans, and ``CreatedSince``.

Real HTTP against the simulator: the control API acts as the researcher and the company
user, the Company API (v2.1) is read with a minted token.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from intigriti_fixtures import (  # noqa: F401 - fixtures are registered by import
    api_client,
    fixture_control,
    fixture_intigriti_sim,
)

from syncd.intigriti import enums
from syncd.simulators.intigriti import IntigritiControl, IntigritiSimulator
from syncd.simulators.intigriti.store import HUMAN_USER

MESSAGE_FIELDS = {"message", "attachments", "destroyMessageMetadata", "lastEditedAt", "deletedAt"}
BASE_FIELDS = {"type", "createdAt", "visibility", "user"}


@pytest.fixture
def v21(intigriti_sim: IntigritiSimulator, control: IntigritiControl) -> Iterator[httpx.Client]:
    token = control.mint_token()["access_token"]
    with api_client(intigriti_sim, token, version="v2.1") as client:
        yield client


@pytest.fixture
def code(control: IntigritiControl) -> str:
    program = control.seed_program(name="Acme", handle="acme")
    sub = control.seed_submission(program["id"], status="Triage", submitter="webwitch")
    return str(sub["code"])


def _events(api: httpx.Client, code: str, **params: int) -> list[dict[str, Any]]:
    response = api.get(f"/submissions/{code}/events", params=params)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()
    return events


def _messages(api: httpx.Client, code: str) -> list[dict[str, Any]]:
    return [e for e in _events(api, code) if e["type"]["value"] == "Message"]


def _updated_since(api: httpx.Client, since: int) -> list[str]:
    response = api.get("/submissions", params={"UpdatedSince": since})
    assert response.status_code == 200, response.text
    return [s["code"] for s in response.json()]


def test_messages_from_everyone_are_message_events(
    v21: httpx.Client, control: IntigritiControl, code: str
) -> None:
    researcher = control.post_message(
        code, "PoC attached", attachments=[("poc.png", b"\x89PNG\r\n"), ("req.txt", b"GET /")]
    )
    assert researcher["messageId"] and isinstance(researcher["createdAt"], int)
    control.post_message(code, "Triager: looks valid", author="company", internal=True)
    posted = v21.post(f"/submissions/{code}/comments/external", json={"message": "Thanks!"})
    assert posted.status_code == 201
    noted = v21.post(f"/submissions/{code}/comments/internal", json={"message": "SEC-1"})
    assert noted.status_code == 201

    events = _events(v21, code)
    assert events[0]["type"]["value"] == "Submission created"
    assert set(events[0]) == BASE_FIELDS  # other events keep the base shape
    messages = events[1:]
    assert [e["type"] for e in messages] == [
        {"id": enums.EVENT_TYPE.id("Message"), "value": "Message"}
    ] * 4
    for event in messages:
        assert set(event) == BASE_FIELDS | MESSAGE_FIELDS  # no message id (reference §4.5)
        assert event["destroyMessageMetadata"] is None
        assert event["lastEditedAt"] is None and event["deletedAt"] is None
    assert [(e["message"], e["visibility"]["value"]) for e in messages] == [
        ("PoC attached", "External"),
        ("Triager: looks valid", "Internal"),
        ("Thanks!", "External"),
        ("SEC-1", "Internal"),
    ]
    assert [e["visibility"]["id"] for e in messages] == [
        enums.EVENT_VISIBILITY.id(e["visibility"]["value"]) for e in messages
    ]
    researcher_user, human, api_user, _ = (e["user"] for e in messages)
    assert (researcher_user["userName"], researcher_user["role"]) == ("webwitch", "Researcher")
    assert researcher_user == events[0]["user"]  # the submitter
    assert (human["userId"], human["userName"], human["role"]) == (
        HUMAN_USER.user_id,
        HUMAN_USER.user_name,
        HUMAN_USER.role,
    )
    assert api_user["userName"] != HUMAN_USER.user_name  # the API's own user
    assert set(api_user) == {"userId", "userName", "avatarUrl", "role"}

    files = messages[0]["attachments"]
    assert [(f["name"], f["code"], f["type"]) for f in files] == [
        ("poc.png", 1, "image/png"),
        ("req.txt", 2, "text/plain"),
    ]
    assert all(e["attachments"] == [] for e in messages[1:])
    listed = control.messages(code)
    assert [(m["message"], m["external"], m["userName"], m["role"]) for m in listed] == [
        ("PoC attached", True, "webwitch", "Researcher"),
        ("Triager: looks valid", False, HUMAN_USER.user_name, HUMAN_USER.role),
        ("Thanks!", True, api_user["userName"], api_user["role"]),
        ("SEC-1", False, api_user["userName"], api_user["role"]),
    ]
    assert listed[0]["messageId"] == researcher["messageId"]
    assert listed[0]["attachments"] == [
        {"code": 1, "name": "poc.png", "size": 6},
        {"code": 2, "name": "req.txt", "size": 5},
    ]
    assert control.submission(code)["messages"] == listed


def test_message_attachments_download_with_the_api_token(
    v21: httpx.Client, control: IntigritiControl, code: str
) -> None:
    control.add_attachment(code, "report.pdf", b"%PDF-1.7", "application/pdf")  # code 1
    control.post_message(code, "here", attachments=[("trace log.txt", b"line 1\nline 2")])
    (message,) = _messages(v21, code)
    (attachment,) = message["attachments"]
    assert attachment["code"] == 2  # one code sequence with the report's files
    url = attachment["url"]
    assert url.startswith(str(v21.base_url).split("/external/")[0] + "/files/")
    downloaded = v21.get(url)
    assert downloaded.status_code == 200
    assert downloaded.content == b"line 1\nline 2"
    assert downloaded.headers["content-type"].startswith("text/plain")
    assert httpx.get(url).status_code == 401  # like every API route: the bearer token
    report = v21.get(f"/submissions/{code}").json()["report"]["attachments"]
    assert [a["code"] for a in report] == [1]  # the report lists its own files only


def test_edit_changes_the_event_and_bumps_last_updated(
    v21: httpx.Client, control: IntigritiControl, code: str
) -> None:
    first = control.post_message(code, "Can you retest?", author="company")
    control.post_message(code, "Sure")
    before = _events(v21, code)
    control.advance_clock(120)
    since = control.clock()["epoch"]
    assert code not in _updated_since(v21, since)

    edited = control.edit_message(code, first["messageId"], "Can you retest on staging?")
    assert edited["editedAt"] == since
    after = _events(v21, code)
    assert len(after) == len(before)  # an edit is no new event
    assert after[1]["message"] == "Can you retest on staging?"
    assert after[1]["lastEditedAt"] == since
    assert after[1]["createdAt"] == before[1]["createdAt"]
    assert after[2] == before[2]
    assert _updated_since(v21, since) == [code]
    assert control.submission(code)["lastUpdatedAt"] == since

    control.advance_clock(60)
    unchanged = control.edit_message(code, first["messageId"], "Can you retest on staging?")
    assert unchanged["editedAt"] == since  # the same text saved again is no edit
    assert control.submission(code)["lastUpdatedAt"] == since


def test_delete_blanks_the_event_and_its_files(
    v21: httpx.Client, control: IntigritiControl, code: str
) -> None:
    doomed = control.post_message(code, "oops, wrong file", attachments=[("x.bin", b"\x00\x01")])
    (event,) = _messages(v21, code)
    url = event["attachments"][0]["url"]
    assert v21.get(url).status_code == 200
    control.advance_clock(300)
    since = control.clock()["epoch"]

    control.delete_message(code, doomed["messageId"])
    (event,) = _messages(v21, code)
    assert event["deletedAt"] == since
    assert event["message"] is None
    assert event["attachments"] == []
    assert event["visibility"]["value"] == "External"  # the event keeps its place and kind
    assert v21.get(url).status_code == 404
    assert _updated_since(v21, since) == [code]
    (listed,) = control.messages(code)
    assert (listed["message"], listed["deletedAt"], listed["attachments"]) == (None, since, [])


def test_created_since_leaves_older_events_out(
    v21: httpx.Client, control: IntigritiControl, code: str
) -> None:
    control.post_message(code, "old")
    control.advance_clock(600)
    cut = control.clock()["epoch"]
    control.post_message(code, "new", author="company", internal=True)
    recent = _events(v21, code, CreatedSince=cut)
    assert [e["message"] for e in recent] == ["new"]
    assert all(e["createdAt"] >= cut for e in recent)
    assert len(_events(v21, code, CreatedSince=0)) == 3  # created, old, new


def test_human_messages_are_refused_when_impossible(
    control: IntigritiControl, code: str
) -> None:
    with pytest.raises(httpx.HTTPStatusError) as internal:
        control.post_message(code, "secret", internal=True)  # a researcher has no notes
    assert internal.value.response.status_code == 400
    with pytest.raises(httpx.HTTPStatusError) as unknown:
        control.edit_message(code, "00000000-0000-0000-0000-000000000000", "x")
    assert unknown.value.response.status_code == 404
    gone = control.post_message(code, "bye")
    control.delete_message(code, gone["messageId"])
    with pytest.raises(httpx.HTTPStatusError) as deleted:
        control.edit_message(code, gone["messageId"], "back")
    assert deleted.value.response.status_code == 409
    assert len(control.messages(code)) == 1


def test_human_edit_message_still_places_a_company_message(
    v21: httpx.Client, control: IntigritiControl, code: str
) -> None:
    control.edit_submission(code, message="Please add a video")
    (event,) = _messages(v21, code)
    assert event["message"] == "Please add a video"
    assert event["visibility"]["value"] == "External"
    assert event["user"]["userName"] == HUMAN_USER.user_name
