"""The Intigriti adapter against the simulator over real HTTP: reads, writes, failures."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import structlog
from intigriti_client_fixtures import ScriptedServer, make_adapter, options_for

from syncd.errors import (
    AmbiguousWrite,
    MalformedResponse,
    NotAllowed,
    NotFound,
    Rejected,
    TransientError,
)
from syncd.intigriti.adapter import IntigritiAdapter
from syncd.intigriti.tokens import MemoryTokenStore
from syncd.records import OAuthToken
from syncd.simulators.intigriti.simulator import IntigritiSimulator

STATE = "/submissions/{submissionCode}/state"


@pytest.fixture(scope="module")
def sim() -> Iterator[IntigritiSimulator]:
    with IntigritiSimulator() as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def clean(sim: IntigritiSimulator) -> None:
    sim.control.reset()


@pytest.fixture
def program(sim: IntigritiSimulator) -> dict[str, Any]:
    return sim.control.seed_program(name="Acme")


@pytest.fixture
def adapter(sim: IntigritiSimulator) -> Iterator[IntigritiAdapter]:
    with make_adapter(sim) as made:
        yield made


def seed(sim: IntigritiSimulator, program: dict[str, Any], **fields: Any) -> str:
    return str(sim.control.seed_submission(program["id"], **fields)["code"])


# -- reads ------------------------------------------------------------------------------


def test_changed_submissions_is_one_request_and_parses_every_field(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    code = seed(
        sim,
        program,
        status="Pending",
        severity="High",
        vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N",
        internal_reference="SEC-1",
        internal_reference_url="https://jira.example/browse/SEC-1",
    )
    seed(sim, program, status="Triage")

    batch = adapter.changed_submissions(None)

    assert batch.failures == ()
    assert len(batch.submissions) == 2
    sub = next(s for s in batch.submissions if s.code == code)
    assert (sub.program_id, sub.status, sub.severity) == (program["id"], "Pending", "High")
    assert sub.cvss_vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N"
    assert sub.cvss_score is not None
    assert (sub.internal_reference, sub.internal_reference_url) == (
        "SEC-1",
        "https://jira.example/browse/SEC-1",
    )
    assert sub.updated_at.tzinfo is UTC
    assert sim.control.count("GET", "/submissions") == 1
    assert adapter.request_counts() == {
        ("GET /submissions", "200"): 1,
    }


def test_updated_since_is_sent_as_epoch_seconds(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    now = int(sim.control.clock()["now"])
    seed(sim, program, updated_at=now - 7200)
    recent = seed(sim, program, updated_at=now - 60)

    batch = adapter.changed_submissions(datetime.fromtimestamp(now - 600, tz=UTC))

    assert [s.code for s in batch.submissions] == [recent]


def test_program_filter_is_applied_to_the_company_wide_list(sim: IntigritiSimulator) -> None:
    wanted = sim.control.seed_program(name="Wanted")
    other = sim.control.seed_program(name="Other")
    code = seed(sim, wanted)
    seed(sim, other)
    with make_adapter(sim, programs=(wanted["id"],)) as adapter:
        assert [s.code for s in adapter.changed_submissions(None).submissions] == [code]
    assert sim.control.count("GET", "/submissions") == 1


def test_one_malformed_submission_leaves_the_rest_parsed(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    good = [seed(sim, program) for _ in range(3)]
    unknown = seed(sim, program)
    broken = seed(sim, program)
    sim.control.set_malformed(unknown, "unknown_enum")
    sim.control.set_malformed(broken, "bad_shape")

    with structlog.testing.capture_logs() as logs:
        batch = adapter.changed_submissions(None)

    assert sorted(s.code for s in batch.submissions) == sorted(good)
    by_item = {f.item: f for f in batch.failures}
    assert set(by_item) == {unknown, broken}
    assert by_item[unknown].field == "state.status.id"
    assert by_item[broken].field in {"createdAt", "state"}
    warned = [e for e in logs if e["event"] == "intigriti_item_unparsable"]
    assert {e["item"] for e in warned} == {unknown, broken}


def test_a_body_that_is_not_json_is_malformed(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    sim.control.set_malformed(seed(sim, program), "invalid_json")
    with pytest.raises(MalformedResponse) as info:
        adapter.changed_submissions(None)
    assert info.value.route == "GET /submissions"


def test_detail_includes_the_report(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    code = seed(sim, program, cwe="CWE-79", endpoint="/profile", poc="<script>1</script>")
    sub = adapter.get_submission(code)
    assert sub.code == code
    assert sub.report is not None
    assert sub.report.cwe == "CWE-79"
    assert sub.report.endpoint == "/profile"
    assert sub.report.poc_description == "<script>1</script>"


def test_malformed_detail_is_an_item_error(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    code = seed(sim, program)
    sim.control.set_malformed(code, "unknown_enum")
    with pytest.raises(MalformedResponse) as info:
        adapter.get_submission(code)
    assert getattr(info.value, "item", None) == code


def test_programs_and_events(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    code = seed(sim, program)
    sim.control.edit_submission(code, message="please add a PoC video")
    (listed,) = adapter.list_programs()
    assert (listed.id, listed.name) == (program["id"], "Acme")
    events = adapter.events(code)
    assert len(events) >= 2
    assert all(e.created_at.tzinfo is UTC for e in events)


def test_unknown_submission_is_not_found(adapter: IntigritiAdapter) -> None:
    with pytest.raises(NotFound) as info:
        adapter.get_submission("NOPE-00000000")
    assert info.value.status == 404
    assert info.value.route == "GET /submissions/{code}"


# -- writes -----------------------------------------------------------------------------


def test_severity_and_internal_reference_are_written(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    code = seed(sim, program, severity="Low")
    vector = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    adapter.set_severity(code, "Critical", vector)
    adapter.set_internal_reference(code, "SEC-9", "https://jira.example/browse/SEC-9")
    seen = sim.control.submission(code)
    assert (seen["severity"], seen["vector"]) == ("Critical", vector)
    assert (seen["internalReference"], seen["internalReferenceUrl"]) == (
        "SEC-9",
        "https://jira.example/browse/SEC-9",
    )
    adapter.set_internal_reference(code, None, None)
    assert sim.control.submission(code)["internalReference"] is None


def test_unknown_severity_name_is_rejected_without_a_request(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    code = seed(sim, program)
    with pytest.raises(Rejected, match="Catastrophic"):
        adapter.set_severity(code, "Catastrophic", None)
    assert sim.control.count("PUT", "/submissions/{submissionCode}/severity") == 0


def test_multi_step_move_sends_each_trigger(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    code = seed(sim, program, status="Triage")
    adapter.move_to_status(adapter.get_submission(code), "Accepted", None)
    assert sim.control.submission(code)["status"] == "Accepted"
    assert sim.control.count("PUT", STATE, 200) == 2


def test_reject_carries_the_close_reason(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    code = seed(sim, program, status="Pending")
    adapter.move_to_status(adapter.get_submission(code), "Closed", "Informative")
    seen = sim.control.submission(code)
    assert (seen["status"], seen["closeReason"]) == ("Closed", "Informative")


def test_reject_without_a_close_reason_is_refused_locally(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    code = seed(sim, program, status="Pending")
    with pytest.raises(Rejected, match="close reason"):
        adapter.move_to_status(adapter.get_submission(code), "Closed", None)
    assert sim.control.count("PUT", STATE) == 0


def test_a_move_the_server_forbids_is_not_allowed_with_its_reason(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    code = seed(sim, program, status="Pending")
    stale = adapter.get_submission(code)
    sim.control.edit_submission(code, status="Closed", close_reason="Spam")  # a human did it
    with pytest.raises(NotAllowed) as info:
        adapter.move_to_status(stale, "Accepted", None)
    assert info.value.status == 403
    assert info.value.route == "PUT /submissions/{code}/state"
    assert str(info.value) != "PUT /submissions/{code}/state: HTTP 403"  # carries a reason
    assert sim.control.count("PUT", STATE, 403) == 1


def test_an_unreachable_status_is_not_allowed_without_a_request(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    code = seed(sim, program, status="Accepted")
    with pytest.raises(NotAllowed, match="no status trigger"):
        adapter.move_to_status(adapter.get_submission(code), "Triage", None)
    assert sim.control.count("PUT", STATE) == 0


def test_missing_write_scope_is_not_allowed(
    sim: IntigritiSimulator, program: dict[str, Any]
) -> None:
    code = seed(sim, program)
    minted = sim.control.mint_token(scopes=["company_external_api", "core_platform:read"])
    with make_adapter(sim, minted=minted) as reader:
        with pytest.raises(NotAllowed, match="scope"):
            reader.set_severity(code, "High", None)
        assert reader.get_submission(code).code == code


def test_comments_return_their_message_id(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    code = seed(sim, program)
    internal = adapter.add_internal_note(code, "tracked in SEC-1")
    external = adapter.message_researcher(code, "thanks, we are on it")
    assert internal and external and internal != external
    assert len(sim.control.submission(code)["messages"]) == 2


# -- failures and retries ---------------------------------------------------------------


def test_5xx_on_a_read_is_retried_with_backoff(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    seed(sim, program)
    sim.control.fail_next(2, route="GET /submissions", status=503)
    assert len(adapter.changed_submissions(None).submissions) == 1
    assert sim.control.count("GET", "/submissions", 503) == 2
    assert sim.control.count("GET", "/submissions", 200) == 1


def test_persistent_5xx_becomes_a_transient_error(
    sim: IntigritiSimulator, adapter: IntigritiAdapter
) -> None:
    sim.control.fail_next(10, route="GET /programs", status=500)
    with pytest.raises(TransientError) as info:
        adapter.list_programs()
    assert info.value.status == 500
    assert sim.control.count("GET", "/programs", 500) == 4  # max_attempts of the fixture


def test_5xx_on_a_comment_is_not_resent(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    code = seed(sim, program)
    sim.control.fail_next(1, route="POST /submissions/*/comments/internal", status=500)
    with pytest.raises(TransientError):
        adapter.add_internal_note(code, "hello")
    assert sim.control.count("POST", "/submissions/{submissionCode}/comments/internal") == 1


def test_a_dropped_comment_is_an_ambiguous_write_and_never_resent(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    code = seed(sim, program)
    sim.control.drop_after_commit(1, route="POST /submissions/*/comments/internal")
    with pytest.raises(AmbiguousWrite):
        adapter.add_internal_note(code, "hello")
    assert sim.control.count("POST", "/submissions/{submissionCode}/comments/internal") == 1
    assert len(sim.control.submission(code)["messages"]) == 1  # it was applied after all


def test_a_dropped_absolute_put_is_resent(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    code = seed(sim, program, severity="Low")
    sim.control.drop_after_commit(1, route="PUT /submissions/*/severity")
    adapter.set_severity(code, "High", None)
    assert sim.control.submission(code)["severity"] == "High"
    assert sim.control.count("PUT", "/submissions/{submissionCode}/severity") == 2


def test_a_dropped_status_trigger_is_ambiguous(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    code = seed(sim, program, status="Triage")
    sim.control.drop_after_commit(1, route="PUT /submissions/*/state")
    with pytest.raises(AmbiguousWrite):
        adapter.move_to_status(adapter.get_submission(code), "Pending", None)
    assert sim.control.count("PUT", STATE) == 1


def test_a_stalled_read_times_out_and_is_retried(
    sim: IntigritiSimulator, program: dict[str, Any]
) -> None:
    seed(sim, program)
    sim.control.stall_next(1, seconds=2.0, route="GET /submissions")
    with make_adapter(sim, timeout_seconds=0.3) as adapter:
        assert len(adapter.changed_submissions(None).submissions) == 1
        assert adapter.request_counts()[("GET /submissions", "ReadTimeout")] == 1


def test_429_with_retry_after_seconds_pauses_the_bucket_and_retries(
    sim: IntigritiSimulator, adapter: IntigritiAdapter
) -> None:
    sim.control.rate_limit_storm(2, retry_after=1, route="GET /programs")
    with structlog.testing.capture_logs() as logs:
        assert adapter.list_programs() == []
    assert sim.control.count("GET", "/programs", 429) == 2
    assert sim.control.count("GET", "/programs", 200) == 1
    assert adapter.quota_stats()["read"].paused_by_server == 2
    pauses = [e["pause_s"] for e in logs if e["event"] == "intigriti_rate_limited"]
    assert pauses == [1.0, 1.0]


def test_429_on_a_comment_is_resent_because_it_was_refused(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    code = seed(sim, program)
    sim.control.rate_limit_storm(1, retry_after=1, route="POST /submissions/*/comments/*")
    adapter.message_researcher(code, "once")
    assert len(sim.control.submission(code)["messages"]) == 1


def test_429_with_an_http_date_is_honoured() -> None:
    # The simulator's fault API sends delta-seconds only; a scripted server sends a date.
    server = ScriptedServer().start()
    try:
        when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
        server.then(429, {"Retry-After": when})
        token = OAuthToken("scripted-access", None, None)
        adapter = IntigritiAdapter(options_for(server.base_url), MemoryTokenStore(token))
        with adapter, structlog.testing.capture_logs() as logs:
            assert adapter.list_programs() == []
        (pause,) = [e["pause_s"] for e in logs if e["event"] == "intigriti_rate_limited"]
        assert 0.0 < pause <= 2.0
        assert [m for m, _, _ in server.requests] == ["GET", "GET"]
        assert adapter.quota_stats()["read"].paused_by_server == 1
    finally:
        server.stop()


def test_backfill_calls_work_and_are_counted(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    seed(sim, program)
    with adapter.backfill():
        assert len(adapter.changed_submissions(None).submissions) == 1
    assert adapter.quota_stats()["read"].granted == 1


def test_logs_carry_routes_and_statuses_but_no_secrets(
    sim: IntigritiSimulator, program: dict[str, Any]
) -> None:
    minted = sim.control.mint_token()
    store = MemoryTokenStore()
    code = seed(sim, program)
    with (
        make_adapter(sim, store=store, refresh_token=minted["refresh_token"]) as adapter,
        structlog.testing.capture_logs() as logs,
    ):
        adapter.set_severity(code, "Medium", None)
        sim.control.revoke_token(adapter.oauth.access_token())
        adapter.get_submission(code)
    stored = store.load()
    assert stored is not None
    secrets = {minted["refresh_token"], stored.access_token, stored.refresh_token, "demo-secret"}
    requests = [e for e in logs if e["event"] == "intigriti_request"]
    assert {(e["route"], e["status"]) for e in requests} >= {
        ("PUT /submissions/{code}/severity", 204),
        ("GET /submissions/{code}", 401),
        ("GET /submissions/{code}", 200),
        ("POST /connect/token", 200),
    }
    text = repr(logs)
    assert not [s for s in secrets if s and s in text]


def test_adapter_options_are_frozen(sim: IntigritiSimulator) -> None:
    options = options_for(sim.base_url)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.api_url = "elsewhere"  # type: ignore[misc]


# -- the full listing read as a stream (all_submissions): the same submissions and
# failures as the one-shot read, in chunks, from a body never held whole in memory ------


def test_the_stream_gives_what_the_one_shot_read_gives_in_chunks(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    codes = sim.control.seed_submissions(program["id"], 23)
    broken = codes[7]
    sim.control.set_malformed(broken, "bad_shape")
    whole = adapter.changed_submissions(None)

    listing = adapter.all_submissions()
    try:
        chunks = list(listing.chunks(5))
    finally:
        listing.close()

    assert listing.codes == frozenset(codes)
    assert listing.count == 23
    assert [len(c.submissions) + len(c.failures) for c in chunks] == [5, 5, 5, 5, 3]
    streamed = [s for c in chunks for s in c.submissions]
    assert streamed == list(whole.submissions)
    assert [f for c in chunks for f in c.failures] == list(whole.failures)
    assert [f.item for c in chunks for f in c.failures] == [broken]
    assert listing.server_time is not None
    assert sim.control.count("GET", "/submissions") == 2  # one read each


def test_a_body_that_is_not_json_fails_before_any_chunk(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    sim.control.seed_submissions(program["id"], 3)
    sim.control.set_malformed(sim.control.seed_submissions(program["id"], 1)[0], "invalid_json")
    with pytest.raises(MalformedResponse) as info:
        adapter.all_submissions()
    assert info.value.route == "GET /submissions"


def test_a_half_body_is_malformed_as_in_the_one_shot_read(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    sim.control.seed_submissions(program["id"], 40)
    sim.control.truncate_next(2, route="GET /submissions")
    with pytest.raises(MalformedResponse):
        adapter.changed_submissions(None)
    with pytest.raises(MalformedResponse):
        adapter.all_submissions()


def test_a_dropped_answer_is_asked_again_and_the_file_holds_one_answer(
    sim: IntigritiSimulator, program: dict[str, Any], adapter: IntigritiAdapter
) -> None:
    codes = sim.control.seed_submissions(program["id"], 40)
    sim.control.drop_after_commit(1, route="GET /submissions")
    listing = adapter.all_submissions()
    try:
        streamed = [s.code for c in listing.chunks(100) for s in c.submissions]
    finally:
        listing.close()
    assert sorted(streamed) == sorted(codes)
    assert sim.control.count("GET", "/submissions") >= 2  # the dropped one and the retry
