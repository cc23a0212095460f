"""Every route syncd uses, answered by the simulator on /v2.1, validated against Intigriti's
own OpenAPI document (reference/intigriti-openapi-v2.1.json) with openapi-core.

Spec quirks, handled openly (see ``_load_spec``):

* The spec's server is ``https://api.intigriti.com/external/company``. The simulator's
  loopback URL is added as a second server so paths resolve; nothing else about the
  request changes.
* NSwag writes inheritance as ``allOf: [Base, {own props}]`` with
  ``additionalProperties: false`` on *both* branches (``CompanyUserViewModel``,
  ``ResearcherViewModel``, ``SubmissionDetailsStateViewModel``). Under JSON Schema rules no
  object with properties from both branches can satisfy that (each branch forbids the
  other's properties), so every real response would fail. We merge such ``allOf``
  branches into one object schema with the union of the properties, still with
  ``additionalProperties: false``: exactly as strict as the author meant, and no more
  lenient than that.
* NSwag writes a nullable reference as ``{"nullable": true, "oneOf": [{"$ref": ...}]}``
  with no ``type``. OpenAPI 3.0.3 says ``nullable`` only acts together with ``type``, and
  openapi-core follows that, so ``null`` fails such a property even though the author
  clearly allows it. We rewrite it to ``{"anyOf": [{"$ref": ...}, {"enum": [null]}]}``,
  which allows exactly "that object, or null".
* ``SubmissionEventViewModel`` declares only ``type``, ``createdAt``, ``visibility`` and
  ``user`` (closed), but the reference (§4.5) says real responses are polymorphic: a
  message event also carries ``message``, ``attachments``, ``destroyMessageMetadata``,
  ``lastEditedAt`` and ``deletedAt``. The event schema becomes "the spec's closed base, or
  the base plus exactly those five fields, all present" (``_with_message_events``): any
  other extra property, or a message event missing one, still fails.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from intigriti_fixtures import (  # noqa: F401 - fixtures are registered by import
    api_client,
    fixture_control,
    fixture_intigriti_sim,
)
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.validation.response.exceptions import InvalidData
from openapi_schema_validator import OAS30Validator
from reference_docs import reference_document
from werkzeug.datastructures import Headers, ImmutableMultiDict

from syncd.simulators.intigriti import IntigritiControl, IntigritiSimulator

SPEC_NAME = "intigriti-openapi-v2.1.json"


def _spec_file() -> Path:
    return reference_document(SPEC_NAME)


def _nullable_refs(node: Any) -> Any:
    """Rewrite NSwag's nullable ``oneOf`` references (see module doc)."""
    if isinstance(node, list):
        return [_nullable_refs(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable_refs(value) for key, value in node.items()}
    options = node.get("oneOf")
    if node.get("nullable") is True and "type" not in node and isinstance(options, list):
        rest = {k: v for k, v in node.items() if k not in ("nullable", "oneOf")}
        return {**rest, "anyOf": [*options, {"enum": [None]}]}
    return node


def _merge_closed_all_of(node: Any, schemas: dict[str, Any]) -> Any:
    """Replace ``allOf`` of closed object schemas by one closed object (see module doc)."""
    if isinstance(node, list):
        return [_merge_closed_all_of(item, schemas) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _merge_closed_all_of(value, schemas) for key, value in node.items()}
    parts = node.get("allOf")
    if isinstance(parts, list) and len(parts) > 1:
        resolved = [
            schemas[p["$ref"].rsplit("/", 1)[-1]] if "$ref" in p else p for p in parts
        ]
        if all(p.get("additionalProperties") is False for p in resolved):
            merged: dict[str, Any] = {"type": "object", "additionalProperties": False}
            properties: dict[str, Any] = {}
            required: list[str] = []
            for part in resolved:
                properties.update(part.get("properties", {}))
                required.extend(part.get("required", []))
            merged["properties"] = properties
            if required:
                merged["required"] = required
            rest = {k: v for k, v in node.items() if k != "allOf"}
            return {**rest, **merged}
    return node


# The message fields of an event (reference §4.5), typed as the simulator documents them.
_MESSAGE_ATTACHMENT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["url", "name", "code", "type"],
    "properties": {
        "url": {"type": "string"},
        "name": {"type": "string"},
        "code": {"type": "integer", "format": "int32"},
        "type": {"type": "string"},
    },
}
MESSAGE_EVENT_FIELDS: dict[str, Any] = {
    "message": {"type": "string", "nullable": True},
    "attachments": {"type": "array", "items": _MESSAGE_ATTACHMENT},
    "destroyMessageMetadata": {"type": "object", "nullable": True},
    "lastEditedAt": {"type": "integer", "format": "int64", "nullable": True},
    "deletedAt": {"type": "integer", "format": "int64", "nullable": True},
}


def _with_message_events(schemas: dict[str, Any]) -> None:
    """The documented message extension of the event schema (see module doc)."""
    base = schemas["SubmissionEventViewModel"]
    message_event = copy.deepcopy(base)
    message_event["properties"].update(copy.deepcopy(MESSAGE_EVENT_FIELDS))
    message_event["required"] = list(MESSAGE_EVENT_FIELDS)
    schemas["SubmissionEventViewModel"] = {"anyOf": [base, message_event]}


@pytest.fixture(scope="module")
def spec_dict(intigriti_sim: IntigritiSimulator) -> dict[str, Any]:
    path = _spec_file()
    raw = json.loads(path.read_text())
    spec = copy.deepcopy(raw)
    schemas = spec["components"]["schemas"]
    # Two passes: a merged schema may itself reference one merged in the first pass.
    for _ in range(2):
        spec["components"]["schemas"] = {
            name: _merge_closed_all_of(schema, schemas) for name, schema in schemas.items()
        }
        schemas = spec["components"]["schemas"]
    spec = dict(_nullable_refs(spec))
    _with_message_events(spec["components"]["schemas"])
    spec["servers"] = [
        *raw.get("servers", []),
        {"url": intigriti_sim.base_url + "/external/company"},
    ]
    return spec


@pytest.fixture(scope="module")
def openapi(spec_dict: dict[str, Any]) -> OpenAPI:
    return OpenAPI.from_dict(spec_dict)


class _Request:
    """openapi-core's Request protocol over an httpx request."""

    def __init__(self, request: httpx.Request) -> None:
        url = urlsplit(str(request.url))
        self.host_url = f"{url.scheme}://{url.netloc}"
        self.path = url.path
        self.method = request.method.lower()
        self.body = request.content or None
        self.content_type = request.headers.get("content-type", "")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.url.params.multi_items())),
            header=Headers(dict(request.headers)),
        )


class _Response:
    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.data = response.content or None
        self.content_type = response.headers.get("content-type", "")
        self.headers = Headers(dict(response.headers))


def _validate(openapi: OpenAPI, response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    openapi.validate_response(_Request(response.request), _Response(response))


@pytest.fixture
def world(control: IntigritiControl) -> dict[str, Any]:
    """Varied data: every status, close reasons, a duplicate, unset severity, references,
    attachments and payouts."""
    program = control.seed_program(name="Acme", handle="acme")
    other = control.seed_program(name="Beta", handle="beta")
    pid = program["id"]
    subs = {
        "triage": control.seed_submission(pid, status="Triage"),
        "pending": control.seed_submission(pid, status="Pending", severity=None),
        "accepted": control.seed_submission(
            pid, status="Accepted", internal_reference="SEC-1",
            internal_reference_url="https://jira.example/browse/SEC-1",
        ),
        "closed": control.seed_submission(pid, status="Closed", close_reason="Spam"),
        "archived": control.seed_submission(pid, status="Archived", internal_reference=""),
        "beta": control.seed_submission(other["id"], status="Draft", severity="Exceptional"),
    }
    control.edit_submission(subs["pending"]["code"], message="Could you add a video?")
    # the conversation: a researcher's file, an internal note, an edit and a delete
    pending = subs["pending"]["code"]
    reply = control.post_message(pending, "Video attached", attachments=[("poc.mp4", b"\0")])
    note = control.post_message(pending, "Looks real", author="company", internal=True)
    control.edit_message(pending, reply["messageId"], "Video attached (v2)")
    control.delete_message(pending, note["messageId"])
    # the detail's report content: attachments, reward totals, a duplicate relation
    accepted = subs["accepted"]["code"]
    control.add_attachment(accepted, "poc.png", b"\x89PNG\r\n", "image/png")
    control.add_attachment(accepted, "request log.txt", b"GET / HTTP/1.1\r\n", "text/plain")
    control.add_payout(accepted, 500)
    control.add_payout(accepted, 50.5, kind="bonus")
    control.mark_duplicate(subs["closed"]["code"], accepted)
    return {"program": program, "other": other, "subs": subs}


@pytest.fixture
def v21(
    intigriti_sim: IntigritiSimulator, control: IntigritiControl
) -> httpx.Client:
    token = control.mint_token()["access_token"]
    return api_client(intigriti_sim, token, version="v2.1")


def test_reads_match_the_spec(
    openapi: OpenAPI, v21: httpx.Client, world: dict[str, Any]
) -> None:
    with v21:
        _validate(openapi, v21.get("/programs"), 200)
        for program in (world["program"], world["other"]):
            _validate(openapi, v21.get(f"/programs/{program['id']}"), 200)
            _validate(openapi, v21.get(f"/programs/{program['id']}/submissions"), 200)
        listed = v21.get("/submissions")
        _validate(openapi, listed, 200)
        assert len(listed.json()) == 6
        _validate(openapi, v21.get("/submissions", params={"UpdatedSince": 0}), 200)
        for sub in world["subs"].values():
            _validate(openapi, v21.get(f"/submissions/{sub['code']}"), 200)
            _validate(openapi, v21.get(f"/submissions/{sub['code']}/events"), 200)
        code = world["subs"]["pending"]["code"]
        events = v21.get(f"/submissions/{code}/events", params={"CreatedSince": 0})
        _validate(openapi, events, 200)


def test_writes_match_the_spec(
    openapi: OpenAPI, v21: httpx.Client, world: dict[str, Any]
) -> None:
    triage = world["subs"]["triage"]["code"]
    pending = world["subs"]["pending"]["code"]
    with v21:
        _validate(openapi, v21.put(f"/submissions/{triage}/state", json={"statusTrigger": 2}), 200)
        _validate(openapi, v21.put(f"/submissions/{triage}/state", json={"statusTrigger": 3}), 200)
        duplicate = {"statusTrigger": 1, "closeReason": 2, "duplicateSubmission": triage}
        _validate(openapi, v21.put(f"/submissions/{pending}/state", json=duplicate), 200)
        vector = "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N"
        severity = {"id": 3, "vector": vector}
        _validate(openapi, v21.put(f"/submissions/{triage}/severity", json=severity), 204)
        reference = {"reference": "SEC-7", "url": "https://jira.example/browse/SEC-7"}
        _validate(
            openapi, v21.put(f"/submissions/{triage}/internal-reference", json=reference), 204
        )
        for kind in ("internal", "external"):
            posted = v21.post(f"/submissions/{triage}/comments/{kind}", json={"message": "hi"})
            _validate(openapi, posted, 201)
        # The changed submissions, including duplicateInfo on both sides, still validate.
        for code in (triage, pending):
            _validate(openapi, v21.get(f"/submissions/{code}"), 200)
            _validate(openapi, v21.get(f"/submissions/{code}/events"), 200)
        _validate(openapi, v21.get("/submissions"), 200)


def test_error_bodies_are_error_models(
    spec_dict: dict[str, Any], v21: httpx.Client, world: dict[str, Any], control: IntigritiControl
) -> None:
    schema = copy.deepcopy(spec_dict["components"]["schemas"]["ErrorModel"])
    validator = OAS30Validator(schema)
    triage = world["subs"]["triage"]["code"]
    with v21:
        responses = [
            v21.put(f"/submissions/{triage}/state", json={"statusTrigger": 5}),  # 403
            v21.put(f"/submissions/{triage}/state", json={"statusTrigger": 1}),  # 400
            v21.get("/submissions/NOPE-1"),  # 404
            httpx.get(str(v21.base_url).rstrip("/") + "/programs"),  # 401, no token
        ]
        control.rate_limit_storm(1, retry_after=5)
        responses.append(v21.get("/programs"))  # 429
    assert [r.status_code for r in responses] == [403, 400, 404, 401, 429]
    for response in responses:
        validator.validate(response.json())


def test_malformed_fault_is_caught_by_the_contract(
    openapi: OpenAPI, v21: httpx.Client, world: dict[str, Any], control: IntigritiControl
) -> None:
    # Proves the validation above can fail: a bad_shape item breaks the schema.
    control.set_malformed(world["subs"]["accepted"]["code"], "bad_shape")
    with v21, pytest.raises(InvalidData):
        _validate(openapi, v21.get("/submissions"), 200)


def test_an_extra_property_would_be_caught(
    openapi: OpenAPI, v21: httpx.Client, world: dict[str, Any]
) -> None:
    # Guards the spec rewrites above: they must keep additionalProperties: false biting.
    code = world["subs"]["accepted"]["code"]
    with v21:
        real = v21.get(f"/submissions/{code}")
    _validate(openapi, real, 200)
    for path in (("submitter",), ("state",), ()):
        body = real.json()
        target = body
        for key in path:
            target = target[key]
        target["unexpected"] = 1
        forged = httpx.Response(200, json=body, request=real.request)
        with pytest.raises(InvalidData):
            _validate(openapi, forged, 200)


def test_an_extra_property_on_an_event_would_be_caught(
    openapi: OpenAPI, v21: httpx.Client, world: dict[str, Any]
) -> None:
    # The message extension admits exactly the five §4.5 fields, all of them, nothing more.
    code = world["subs"]["pending"]["code"]
    with v21:
        real = v21.get(f"/submissions/{code}/events")
    _validate(openapi, real, 200)
    events = real.json()
    message_at = next(i for i, e in enumerate(events) if e["type"]["value"] == "Message")
    plain_at = next(i for i, e in enumerate(events) if e["type"]["value"] != "Message")
    forgeries: list[tuple[int, str, Any]] = [
        (message_at, "unexpected", 1),  # an unknown field beside the message fields
        (message_at, "deletedAt", _DROP),  # a message event missing one of them
        (message_at, "attachments", [{"url": "u", "code": 1}]),  # an incomplete attachment
        (plain_at, "messageId", "x"),  # the reference lists no message id
        (plain_at, "message", "only this"),  # one message field on its own
    ]
    for index, key, value in forgeries:
        body = real.json()
        if value is _DROP:
            del body[index][key]
        else:
            body[index][key] = value
        forged = httpx.Response(200, json=body, request=real.request)
        with pytest.raises(InvalidData):
            _validate(openapi, forged, 200)


_DROP = object()
