"""Both simulators emit signed webhooks on every change, as the real services do.

A tiny receiver (a Starlette app on ``BackgroundServer``) records every POST; signatures
are recomputed here from the reference formulas (intigriti-api.md §6, jira-api.md §5.3),
not with the simulators' own helpers, so a wrong formula on either side shows.
"""

# Fixtures are imported by name from the fixture modules (no conftest.py of ours), so
# test parameters shadow those imports on purpose.
# ruff: noqa: F811

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from intigriti_fixtures import (  # noqa: F401 - fixtures are registered by import
    fixture_api,
    fixture_control,
    fixture_intigriti_sim,
)
from jira_sim_fixtures import basic_header, jira_sim  # noqa: F401 - a fixture
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncd.intigriti import enums
from syncd.service.server import BackgroundServer
from syncd.simulators.intigriti import IntigritiControl, IntigritiSimulator
from syncd.simulators.intigriti.store import HUMAN_USER
from syncd.simulators.jira import JiraControl, JiraSimulator

SECRET = "whsec-\u00e9t\u00e9-0123456789"  # non-ASCII: the key is the secret's UTF-8 bytes


@dataclass(frozen=True)
class Received:
    at: float
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


@dataclass
class Receiver:
    """Records deliveries; answers ``statuses`` in turn (then ``default_status``)."""

    url: str = ""
    default_status: int = 204
    statuses: list[int] = field(default_factory=list)
    got: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            self.got.append(Received(time.monotonic(), dict(request.headers), body))
            status = self.statuses.pop(0) if self.statuses else self.default_status
        return Response(status_code=status)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.got) >= count:
                    return list(self.got)
            time.sleep(0.01)
        with self.lock:
            raise AssertionError(f"expected {count} deliveries, got {len(self.got)}")

    def settle(self, quiet: float = 0.3) -> list[Received]:
        """Everything received once nothing more arrives for ``quiet`` seconds."""
        seen = -1
        while True:
            with self.lock:
                now = len(self.got)
            if now == seen:
                with self.lock:
                    return list(self.got)
            seen = now
            time.sleep(quiet)


@pytest.fixture(scope="module")
def receiver_server() -> Iterator[tuple[BackgroundServer, list[Receiver]]]:
    # One server per module; each test swaps in a fresh Receiver (the list's one item).
    current: list[Receiver] = [Receiver()]

    async def endpoint(request: Request) -> Response:
        return await current[0].endpoint(request)

    app = Starlette(routes=[Route("/hook", endpoint, methods=["POST"])])
    server = BackgroundServer(app, host="127.0.0.1", port=0).start()
    yield server, current
    server.stop()


@pytest.fixture
def receiver(receiver_server: tuple[BackgroundServer, list[Receiver]]) -> Receiver:
    server, current = receiver_server
    current[0] = Receiver(url=server.base_url + "/hook")
    return current[0]


def intigriti_digest(secret: str, body: bytes) -> str:
    """§6: base64(HMAC-SHA256(key = secret as UTF-8, message = raw body)), padded."""
    mac = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def jira_signature(secret: str, body: bytes) -> str:
    """§5.3: ``sha256=`` + lower-case hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def events(got: list[Received], header: str) -> list[str]:
    return [r.headers[header] for r in got]


# ===================================================================== Intigriti


@pytest.fixture
def program(control: IntigritiControl) -> dict[str, Any]:
    return control.seed_program(name="Acme BBP", handle="acme")


def _configure_intigriti(
    control: IntigritiControl, receiver: Receiver, **options: Any
) -> list[Received]:
    """Configure and wait for the activation TestEvent; returns what arrived."""
    control.configure_webhook(receiver.url, SECRET, **options)
    got = receiver.wait_for(1)
    assert got[0].headers["x-intigriti-event"] == "TestEvent"
    control.wait_webhooks_idle()
    return got


def _intigriti_after(receiver: Receiver, skip: int = 1) -> list[Received]:
    return receiver.settle()[skip:]


def test_intigriti_sends_nothing_without_a_webhook(
    control: IntigritiControl, program: dict[str, Any], receiver: Receiver
) -> None:
    sub = control.seed_submission(program["id"], status="Triage")
    control.edit_submission(sub["code"], severity="High", status="Pending", message="hi")
    time.sleep(0.3)
    assert receiver.got == []
    assert control.webhook_stats() == {"configured": False}


def test_intigriti_test_event_activates_and_is_signed(
    control: IntigritiControl, program: dict[str, Any], receiver: Receiver
) -> None:
    (test_event,) = _configure_intigriti(control, receiver)
    assert test_event.headers["x-intigriti-digest"] == intigriti_digest(SECRET, test_event.body)
    assert test_event.headers["content-type"] == "application/json"
    payload = test_event.json()
    assert set(payload) == {"programId", "programName", "submissionCode", "userId", "createdAt"}
    assert payload["programId"] == program["id"]
    assert payload["programName"] == "Acme BBP"
    stats = control.webhook_stats()
    assert stats["active"] is True
    assert stats["sent"] == 1
    assert stats["by_status"] == {"204": 1}


def test_intigriti_control_api_changes_emit_one_event_each(
    control: IntigritiControl, program: dict[str, Any], receiver: Receiver
) -> None:
    _configure_intigriti(control, receiver)
    clock = control.clock()["epoch"]
    sub = control.seed_submission(
        program["id"], status="Triage", severity="Low", type_name="Open Redirect"
    )
    code = sub["code"]
    control.edit_submission(code, severity="Critical")
    control.edit_submission(code, status="Closed", close_reason="Duplicate")
    control.edit_submission(code, message="Thanks for the report")
    control.edit_submission(code, title="not an event class")  # edits send nothing
    got = _intigriti_after(receiver)
    assert events(got, "x-intigriti-event") == [
        "SubmissionCreated",
        "SubmissionSeverityChanged",
        "SubmissionStatusChanged",
        "SubmissionMessagePlaced",
    ]
    for delivery in got:
        assert delivery.headers["x-intigriti-digest"] == intigriti_digest(SECRET, delivery.body)
        payload = delivery.json()
        assert payload["programId"] == program["id"]
        assert payload["programName"] == "Acme BBP"
        assert payload["submissionCode"] == code
        assert isinstance(payload["userId"], str)
        assert isinstance(payload["createdAt"], int)
        assert abs(payload["createdAt"] - clock) < 60  # epoch seconds, not ms
    created, severity, status, message = (d.json() for d in got)
    assert created["severity"]["value"] == "Low"
    assert set(created["severity"]) == {"id", "value", "vector", "score"}
    assert created["type"] == "Open Redirect"
    assert isinstance(created["domain"], str)
    assert severity["fromSeverity"]["value"] == "Low"
    assert severity["toSeverity"] == {
        "id": enums.severity_id("Critical"),
        "value": "Critical",
        "vector": None,
        "score": None,
    }
    assert severity["userRole"] == "Company admin"
    assert status["fromStatus"] == {"id": enums.status_id("Triage"), "value": "Triage"}
    assert status["toStatus"] == {"id": enums.status_id("Closed"), "value": "Closed"}
    assert status["closeReason"] == {
        "id": enums.close_reason_id("Duplicate"),
        "value": "Duplicate",
    }
    assert message["isInternal"] is False
    assert message["userRole"] == "Company admin"
    stats = control.webhook_stats()
    assert stats["emitted"] == {
        "SubmissionCreated": 1,
        "SubmissionSeverityChanged": 1,
        "SubmissionStatusChanged": 1,
        "SubmissionMessagePlaced": 1,
    }
    assert stats["sent"] == 5 and stats["failed"] == 0


def test_intigriti_api_writes_emit(
    control: IntigritiControl,
    program: dict[str, Any],
    api: httpx.Client,
    receiver: Receiver,
) -> None:
    code = control.seed_submission(program["id"], status="Triage", severity="Low")["code"]
    _configure_intigriti(control, receiver)
    validate = {"statusTrigger": enums.trigger_id("Validate")}
    assert api.put(f"/submissions/{code}/state", json=validate).status_code == 200
    severity = {"id": enums.severity_id("High")}
    assert api.put(f"/submissions/{code}/severity", json=severity).status_code == 204
    note = {"message": "synced to SEC-1"}
    assert api.post(f"/submissions/{code}/comments/internal", json=note).status_code == 201
    reference = {"reference": "SEC-1", "url": "https://jira.example/browse/SEC-1"}
    assert api.put(f"/submissions/{code}/internal-reference", json=reference).status_code == 204
    got = _intigriti_after(receiver)
    assert events(got, "x-intigriti-event") == [
        "SubmissionStatusChanged",
        "SubmissionSeverityChanged",
        "SubmissionMessagePlaced",
    ]
    status, severity_changed, message = (d.json() for d in got)
    assert status["fromStatus"]["value"] == "Triage"
    assert status["toStatus"]["value"] == "Pending"
    assert status["closeReason"] is None
    assert severity_changed["fromSeverity"]["value"] == "Low"
    assert severity_changed["toSeverity"]["value"] == "High"
    assert message["isInternal"] is True
    # The integration user acts, not the human of the control API.
    for payload in (status, severity_changed, message):
        assert payload["userId"] != HUMAN_USER.user_id
        assert payload["userRole"] == "Company admin"


def test_intigriti_conversation_emits_only_new_messages(
    control: IntigritiControl, program: dict[str, Any], receiver: Receiver
) -> None:
    sub = control.seed_submission(program["id"], status="Triage", submitter="nullbyte")
    code = sub["code"]
    _configure_intigriti(control, receiver)
    reply = control.post_message(code, "more details", attachments=[("a.txt", b"a")])
    control.post_message(code, "triage note", author="company", internal=True)
    # Edits and deletes have no webhook class (reference §6): they send nothing.
    control.edit_message(code, reply["messageId"], "more details, v2")
    control.delete_message(code, reply["messageId"])
    got = _intigriti_after(receiver)
    assert events(got, "x-intigriti-event") == ["SubmissionMessagePlaced"] * 2
    researcher, company = (d.json() for d in got)
    assert (researcher["isInternal"], researcher["userRole"]) == (False, "Researcher")
    assert researcher["userId"] != HUMAN_USER.user_id
    assert (company["isInternal"], company["userRole"]) == (True, HUMAN_USER.role)
    assert company["userId"] == HUMAN_USER.user_id
    assert control.webhook_stats()["emitted"] == {"SubmissionMessagePlaced": 2}


def test_intigriti_rejected_test_event_leaves_the_webhook_inactive(
    control: IntigritiControl, program: dict[str, Any], receiver: Receiver
) -> None:
    receiver.default_status = 500
    control.configure_webhook(receiver.url, SECRET, retries=1)
    got = receiver.wait_for(2)
    stats = control.wait_webhooks_idle()
    assert events(got, "x-intigriti-event") == ["TestEvent", "TestEvent"]
    assert stats["active"] is False and stats["failed"] == 1
    assert stats["by_status"] == {"500": 2}
    control.seed_submission(program["id"])
    stats = control.wait_webhooks_idle()
    assert len(receiver.settle()) == 2
    assert stats["dropped"] == 1


def test_intigriti_retries_duplicates_and_reset(
    control: IntigritiControl, program: dict[str, Any], receiver: Receiver
) -> None:
    _configure_intigriti(control, receiver, duplicate=True)
    receiver.statuses = [500]  # the first copy's first attempt fails once
    sub = control.seed_submission(program["id"])
    got = _intigriti_after(receiver)
    assert events(got, "x-intigriti-event") == ["SubmissionCreated"] * 3
    assert got[0].body == got[1].body == got[2].body
    assert len({d.headers["x-intigriti-digest"] for d in got}) == 1
    stats = control.webhook_stats()
    assert stats["retries"] == 1 and stats["sent"] == 3
    assert sub["code"] == got[0].json()["submissionCode"]
    control.reset()  # removes the webhook, as it forgets everything else
    assert control.webhook_stats() == {"configured": False}
    control.seed_submission(control.seed_program()["id"])
    time.sleep(0.3)
    assert len(receiver.got) == 4


def test_intigriti_disable_stops_deliveries(
    control: IntigritiControl, program: dict[str, Any], receiver: Receiver
) -> None:
    _configure_intigriti(control, receiver)
    control.disable_webhook()
    control.seed_submission(program["id"])
    time.sleep(0.3)
    assert len(receiver.got) == 1


# ===================================================================== Jira


@pytest.fixture
def jira_control(jira_sim: JiraSimulator) -> JiraControl:
    jira_sim.control.reset()
    return jira_sim.control


@pytest.fixture
def jira_api(jira_sim: JiraSimulator, jira_control: JiraControl) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=jira_sim.base_url, headers={"Authorization": basic_header()}, timeout=10
    ) as http:
        yield http


def _check_jira(delivery: Received) -> dict[str, Any]:
    assert delivery.headers["x-hub-signature"] == jira_signature(SECRET, delivery.body)
    assert delivery.headers["x-atlassian-webhook-identifier"]
    assert delivery.headers["content-type"].startswith("application/json")
    payload = delivery.json()
    assert payload["webhookEvent"] in {
        "jira:issue_created",
        "jira:issue_updated",
        "jira:issue_deleted",
        "comment_created",
        "comment_updated",
        "comment_deleted",
    }
    assert abs(payload["timestamp"] / 1000 - time.time()) < 600  # epoch milliseconds
    issue = payload["issue"]
    assert {"id", "key", "self", "fields"} <= set(issue)
    assert issue["self"].endswith(f"/rest/api/2/issue/{issue['id']}")
    assert {"summary", "status", "priority", "updated"} <= set(issue["fields"])
    return payload


def test_jira_sends_nothing_without_a_webhook(
    jira_control: JiraControl, jira_api: httpx.Client, receiver: Receiver
) -> None:
    key = jira_control.create_issue("SEC", "quiet")["key"]
    jira_control.set_status(key, "In Progress")
    body = {"fields": {"summary": "still quiet"}}
    assert jira_api.put(f"/rest/api/2/issue/{key}", json=body).status_code == 204
    time.sleep(0.3)
    assert receiver.got == []
    assert jira_control.webhook_stats() == {"configured": False}


def test_jira_rest_changes_emit_signed_events(
    jira_sim: JiraSimulator,
    jira_control: JiraControl,
    jira_api: httpx.Client,
    receiver: Receiver,
) -> None:
    jira_control.configure_webhook(receiver.url, SECRET)
    fields = {
        "project": {"key": "SEC"},
        "issuetype": {"name": "Task"},
        "summary": "old",
        "priority": {"name": "High"},
    }
    created = jira_api.post("/rest/api/2/issue", json={"fields": fields})
    assert created.status_code == 201
    key = created.json()["key"]
    edit = {"fields": {"summary": "new"}}
    assert jira_api.put(f"/rest/api/2/issue/{key}", json=edit).status_code == 204
    assert jira_api.delete(f"/rest/api/2/issue/{key}").status_code == 204
    got = receiver.settle()
    payloads = [_check_jira(d) for d in got]
    assert [p["webhookEvent"] for p in payloads] == [
        "jira:issue_created",
        "jira:issue_updated",
        "jira:issue_deleted",
    ]
    assert len({d.headers["x-atlassian-webhook-identifier"] for d in got}) == 3
    created_event, updated, deleted = payloads
    assert created_event["issue"]["key"] == key
    assert created_event["issue"]["fields"]["priority"]["name"] == "High"
    assert created_event["issue"]["self"].startswith(jira_sim.base_url)
    assert created_event["user"]["emailAddress"] == "syncd@example.com"
    assert updated["issue"]["fields"]["summary"] == "new"
    assert updated["changelog"]["items"] == [
        {
            "field": "summary",
            "fieldtype": "jira",
            "fieldId": "summary",
            "from": None,
            "fromString": "old",
            "to": None,
            "toString": "new",
        }
    ]
    assert deleted["issue"]["key"] == key
    stats = jira_control.webhook_stats()
    assert stats["sent"] == 3 and stats["failed"] == 0 and stats["by_status"] == {"204": 3}


def test_jira_comment_events(
    jira_control: JiraControl, jira_api: httpx.Client, receiver: Receiver
) -> None:
    key = jira_control.create_issue("SEC", "with comments")["key"]
    jira_control.configure_webhook(receiver.url, SECRET)
    posted = jira_api.post(f"/rest/api/2/issue/{key}/comment", json={"body": "first"})
    assert posted.status_code == 201
    comment_id = posted.json()["id"]
    path = f"/rest/api/2/issue/{key}/comment/{comment_id}"
    assert jira_api.put(path, json={"body": "edited"}).status_code == 200
    assert jira_api.delete(path).status_code == 204
    human_id = jira_control.add_comment(key, "a human speaks")
    got = receiver.settle()
    payloads = [_check_jira(d) for d in got]
    assert [p["webhookEvent"] for p in payloads] == [
        "comment_created",
        "comment_updated",
        "comment_deleted",
        "comment_created",
    ]
    assert [p["comment"]["id"] for p in payloads] == [comment_id] * 3 + [human_id]
    assert [p["comment"]["body"] for p in payloads] == [
        "first",
        "edited",
        "edited",
        "a human speaks",
    ]
    for payload in payloads:
        assert {"id", "self", "author", "body", "updateAuthor", "created", "updated"} <= set(
            payload["comment"]
        )
        assert payload["issue"]["key"] == key


def test_jira_control_comment_changes_emit(
    jira_control: JiraControl, receiver: Receiver
) -> None:
    key = jira_control.create_issue("SEC", "human comments")["key"]
    jira_control.configure_webhook(receiver.url, SECRET)
    comment_id = jira_control.add_comment(key, "note", internal=True)
    jira_control.update_comment(key, comment_id, body="note, edited", internal=False)
    jira_control.delete_comment(key, comment_id)
    payloads = [_check_jira(d) for d in receiver.settle()]
    assert [p["webhookEvent"] for p in payloads] == [
        "comment_created",
        "comment_updated",
        "comment_deleted",
    ]
    assert [p["comment"]["jsdPublic"] for p in payloads] == [False, True, True]
    assert payloads[1]["comment"]["body"] == "note, edited"
    assert payloads[1]["comment"]["updateAuthor"]["emailAddress"] == "analyst@example.com"


def test_jira_control_api_edits_emit(jira_control: JiraControl, receiver: Receiver) -> None:
    jira_control.configure_webhook(receiver.url, SECRET)
    key = jira_control.create_issue("SEC", "human made")["key"]
    jira_control.set_status(key, "Done")
    jira_control.set_priority(key, "Low")
    jira_control.delete(key)
    got = receiver.settle()
    payloads = [_check_jira(d) for d in got]
    assert [p["webhookEvent"] for p in payloads] == [
        "jira:issue_created",
        "jira:issue_updated",
        "jira:issue_updated",
        "jira:issue_deleted",
    ]
    status_items = {i["field"]: i for i in payloads[1]["changelog"]["items"]}
    assert status_items["status"]["toString"] == "Done"
    assert status_items["resolution"]["toString"] == "Done"
    assert payloads[1]["issue"]["fields"]["status"]["name"] == "Done"
    assert payloads[2]["changelog"]["items"][0]["fieldId"] == "priority"
    assert payloads[2]["changelog"]["items"][0]["toString"] == "Low"
    assert payloads[0]["user"]["emailAddress"] == "analyst@example.com"


def test_jira_duplicates_carry_the_same_identifier(
    jira_control: JiraControl, receiver: Receiver
) -> None:
    jira_control.configure_webhook(receiver.url, SECRET, duplicate=True)
    first = jira_control.create_issue("SEC", "one")["key"]
    jira_control.create_issue("SEC", "two")
    got = receiver.settle()
    assert len(got) == 4
    ids = [d.headers["x-atlassian-webhook-identifier"] for d in got]
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[0] != ids[2]
    assert got[0].body == got[1].body
    assert got[0].json()["issue"]["key"] == first
    assert jira_control.webhook_stats()["emitted"] == {"jira:issue_created": 1 + 1}


def test_jira_retries_a_500_with_the_same_identifier(
    jira_control: JiraControl, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    jira_control.configure_webhook(receiver.url, SECRET, retries=3)
    jira_control.create_issue("SEC", "flaky receiver")
    got = receiver.settle()
    assert len(got) == 3
    assert len({d.headers["x-atlassian-webhook-identifier"] for d in got}) == 1
    assert [d.headers.get("x-atlassian-webhook-retry") for d in got] == [None, "1", "2"]
    assert got[0].body == got[2].body
    stats = jira_control.webhook_stats()
    assert stats["by_status"] == {"500": 1, "503": 1, "204": 1}
    assert stats["retries"] == 2 and stats["sent"] == 1 and stats["failed"] == 0


def test_jira_gives_up_after_max_attempts_and_skips_client_errors(
    jira_control: JiraControl, receiver: Receiver
) -> None:
    receiver.default_status = 500
    jira_control.configure_webhook(receiver.url, SECRET, retries=2)
    jira_control.create_issue("SEC", "dead receiver")
    assert len(receiver.settle()) == 3  # 1 + 2 retries
    assert jira_control.wait_webhooks_idle()["failed"] == 1
    receiver.default_status = 401  # Atlassian does not retry a plain 4xx
    jira_control.create_issue("SEC", "refused")
    assert len(receiver.settle()) == 4
    stats = jira_control.wait_webhooks_idle()
    assert stats["failed"] == 2 and stats["by_status"] == {"500": 3, "401": 1}


def test_jira_connection_errors_are_retried(jira_control: JiraControl) -> None:
    # A port nobody listens on: connect errors count and are retried, then given up.
    with BackgroundServer(Starlette(), host="127.0.0.1", port=0) as closed:
        url = closed.base_url + "/hook"
    jira_control.configure_webhook(url, SECRET, retries=1)
    jira_control.create_issue("SEC", "nobody home")
    stats = jira_control.wait_webhooks_idle()
    assert stats["attempts"] == 2 and stats["failed"] == 1
    assert all(k.startswith("error:") for k in stats["by_status"])


def test_jira_reorder_shuffles_but_loses_nothing(
    jira_control: JiraControl, receiver: Receiver
) -> None:
    jira_control.configure_webhook(receiver.url, SECRET, reorder=True, seed=7)
    keys = [jira_control.create_issue("SEC", f"issue {n}")["key"] for n in range(6)]
    got = receiver.settle(quiet=0.5)
    received = [d.json()["issue"]["key"] for d in got]
    assert sorted(received) == sorted(keys)
    assert received != keys


def test_jira_delay_holds_deliveries_back(jira_control: JiraControl, receiver: Receiver) -> None:
    jira_control.configure_webhook(receiver.url, SECRET, delay_seconds=0.6)
    started = time.monotonic()
    jira_control.create_issue("SEC", "late")
    time.sleep(0.3)
    assert receiver.got == []
    (delivery,) = receiver.wait_for(1)
    assert delivery.at - started >= 0.6


def test_jira_reset_and_disable_remove_the_webhook(
    jira_control: JiraControl, receiver: Receiver
) -> None:
    jira_control.configure_webhook(receiver.url, SECRET)
    jira_control.reset()
    assert jira_control.webhook_stats() == {"configured": False}
    jira_control.create_issue("SEC", "after reset")
    jira_control.configure_webhook(receiver.url, SECRET)
    jira_control.disable_webhook()
    jira_control.create_issue("SEC", "after disable")
    time.sleep(0.3)
    assert receiver.got == []


def _sender_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "webhook-sender")


def test_intigriti_webhook_is_stopped_with_the_simulator(receiver: Receiver) -> None:
    with IntigritiSimulator() as sim:
        sim.control.configure_webhook(receiver.url, SECRET, delay_seconds=30)
        receiver.wait_for(1)
        running = _sender_threads()
        program = sim.control.seed_program()
        sim.control.seed_submission(program["id"])  # held back by the delay, then dropped
        started = time.monotonic()
    assert time.monotonic() - started < 5  # stopping does not wait for the delay
    assert _sender_threads() == running - 1
    assert len(receiver.got) == 1
