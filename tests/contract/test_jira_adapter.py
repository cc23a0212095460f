"""The Jira adapter against the Jira simulator, real ``jira`` library over real HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import structlog
from jira_adapter_fixtures import api_counts, issues_tagged, make_adapter, new_issue, unique_code

from syncd.errors import (
    AmbiguousWrite,
    CredentialError,
    MalformedResponse,
    NotAllowed,
    NotFound,
    Rejected,
    TransientError,
)
from syncd.simulators.jira import JiraSimulator, JiraSimulatorOptions
from syncd.tracker import JiraAdapter
from syncd.tracker.workflow import Edge

CREATE = "POST /rest/api/2/issue"
PUT_ISSUE = "PUT /rest/api/2/issue/{issueIdOrKey}"
GET_ISSUE = "GET /rest/api/2/issue/{issueIdOrKey}"
TRANSITION = "POST /rest/api/2/issue/{issueIdOrKey}/transitions"
SEARCH_JQL = "GET /rest/api/2/search/jql"


@pytest.fixture(scope="module")
def sim() -> Iterator[JiraSimulator]:
    with JiraSimulator() as simulator:
        yield simulator


@pytest.fixture
def fresh(sim: JiraSimulator) -> Iterator[JiraSimulator]:
    """The shared simulator with faults, lag and counters reset for this test."""
    sim.control.clear_faults()
    sim.control.set_search_lag(0)
    sim.control.reset_rate_limits()
    sim.control.reset_counters()
    yield sim
    sim.control.clear_faults()
    sim.control.set_search_lag(0)


@pytest.fixture
def adapter(fresh: JiraSimulator) -> Iterator[JiraAdapter]:
    made, _ = make_adapter(fresh)
    made.warm_up()
    fresh.control.reset_counters()
    yield made
    made.close()


# -- creation and duplicate protection ----------------------------------------------------


def test_create_tags_the_issue_in_one_post(fresh: JiraSimulator, adapter: JiraAdapter) -> None:
    code = unique_code()
    issue = adapter.create_issue(new_issue(code, labels=("extra",)))
    stored = fresh.control.issue(issue.key)
    assert stored["labels"] == ["intigriti", f"intigriti-{code}", "extra"]
    assert stored["properties"] == {"syncd": {"submission": code}}
    assert stored["priority"] == "High"
    assert stored["custom"]["customfield_10050"].startswith("CVSS:3.1/")
    assert (issue.submission_code, issue.status, issue.priority) == (code, "To Do", "High")
    # Warm caches: one project lookup (first use of SEC), the POST, one read-back.
    counts = api_counts(fresh)
    assert counts[CREATE] == 1 and counts[GET_ISSUE] == 1
    assert sum(counts.values()) <= 3


def test_lost_create_response_is_found_by_tag_not_created_twice(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    code = unique_code("LOST")
    fresh.control.drop_after_commit(count=1)
    with pytest.raises(AmbiguousWrite):
        adapter.create_issue(new_issue(code))
    # The library did not re-send the POST after the dropped connection.
    assert api_counts(fresh)[CREATE] == 1
    # A restarted daemon (fresh adapter, nothing in memory) looks the tag up first.
    restarted, _ = make_adapter(fresh)
    found = restarted.find_by_submission(code)
    assert found is not None and found.submission_code == code
    assert len(issues_tagged(fresh, code)) == 1
    restarted.close()


def test_failed_create_with_5xx_is_ambiguous_and_not_retried(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    fresh.control.fail_next("POST /rest/api/2/issue", status=502)
    with pytest.raises(AmbiguousWrite):
        adapter.create_issue(new_issue(unique_code()))
    assert api_counts(fresh)[CREATE] == 1


def test_search_lag_does_not_hide_our_own_creates(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    code = unique_code("LAG")
    fresh.control.set_search_lag(300)
    created = adapter.create_issue(new_issue(code))
    # The index really is behind: a process that did not create it cannot see it yet.
    stranger, _ = make_adapter(fresh)
    assert stranger.find_by_submission(code) is None
    since = created.updated_at - timedelta(minutes=2)
    assert created.id not in {i.id for i in stranger.changed_issues(since).issues}
    stranger.close()
    # The creating process still finds it (so it never creates a second one) ...
    found = adapter.find_by_submission(code)
    assert found is not None and found.id == created.id
    # ... and its own polls see it through reconcileIssues.
    assert created.id in {i.id for i in adapter.changed_issues(since).issues}
    assert len(issues_tagged(fresh, code)) == 1


def test_find_by_submission_after_a_human_removed_the_label(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    code = unique_code()
    created = adapter.create_issue(new_issue(code))
    fresh.control.set_labels(created.key, [])
    stranger, _ = make_adapter(fresh)
    found = stranger.find_by_submission(code)
    assert found is not None and found.id == created.id
    assert stranger.find_by_submission(unique_code("NONE")) is None
    stranger.close()


# -- edits and transitions ----------------------------------------------------------------


def test_set_priority_is_one_request(fresh: JiraSimulator, adapter: JiraAdapter) -> None:
    created = adapter.create_issue(new_issue(unique_code()))
    fresh.control.reset_counters()
    adapter.set_priority(created.id, "low", "CVSS:3.1/AV:P")
    assert api_counts(fresh) == {PUT_ISSUE: 1}
    stored = fresh.control.issue(created.key)
    assert stored["priority"] == "Low"
    assert stored["custom"]["customfield_10050"] == "CVSS:3.1/AV:P"
    with pytest.raises(Rejected, match="no priority"):
        adapter.set_priority(created.id, "Catastrophic", None)


def test_multi_hop_transition_sets_the_resolution_on_the_last_screen(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    created = adapter.create_issue(new_issue(unique_code()))
    fresh.control.reset_counters()
    adapter.transition_to(created.id, "Done", "Done")
    stored = fresh.control.issue(created.key)
    assert (stored["status"], stored["resolution"]) == ("Done", "Done")
    assert api_counts(fresh)[TRANSITION] == 3  # To Do -> In Progress -> In Review -> Done
    # The graph is cached per workflow now: the next multi-hop move lists no transitions.
    second = adapter.create_issue(new_issue(unique_code()))
    fresh.control.reset_counters()
    adapter.transition_to(second.id, "Done", "Done")
    assert api_counts(fresh) == {GET_ISSUE: 1, TRANSITION: 3}


def test_one_hop_with_resolution_screen_and_no_op(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    created = adapter.create_issue(new_issue(unique_code()))
    adapter.transition_to(created.id, "Won't Do", "Won't Do")
    stored = fresh.control.issue(created.key)
    assert (stored["status"], stored["resolution"]) == ("Won't Do", "Won't Do")
    fresh.control.reset_counters()
    adapter.transition_to(created.id, "won't do", "Won't Do")  # already there
    assert api_counts(fresh) == {GET_ISSUE: 1}


def test_transition_needing_a_resolution_without_one_is_rejected(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    created = adapter.create_issue(new_issue(unique_code()))
    with pytest.raises(Rejected):
        adapter.transition_to(created.id, "Duplicate", None)
    with pytest.raises(Rejected, match="no resolution"):
        adapter.transition_to(created.id, "Done", "Fixed-ish")
    assert fresh.control.issue(created.key)["status"] == "To Do"


def test_transitions_follow_the_issue_id_after_a_move(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    code = unique_code()
    created = adapter.create_issue(new_issue(code))
    moved = fresh.control.move(created.key, "APP")
    adapter.transition_to(created.id, "In Progress", None)
    now = adapter.get_issue(created.id)
    assert now.key == moved["key"] != created.key
    assert (now.project, now.status) == ("APP", "In Progress")
    found = adapter.find_by_submission(code)
    assert found is not None and found.key == now.key


def test_transition_after_a_human_moved_the_issue(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    created = adapter.create_issue(new_issue(unique_code()))
    fresh.control.set_status(created.key, "In Review")
    adapter.transition_to(created.id, "Done", "Done")
    assert fresh.control.issue(created.key)["status"] == "Done"


# -- rate limits and failures -------------------------------------------------------------


def test_per_issue_write_429_pauses_only_that_issue(fresh: JiraSimulator) -> None:
    other_writes: list[int] = []

    def sleep(seconds: float) -> None:
        # While issue A waits out its 429, a write to issue B goes straight through.
        sleeps.append(seconds)
        if not other_writes:
            before = len(sleeps)
            adapter.set_priority(second.id, "Lowest", None)
            other_writes.append(len(sleeps) - before)

    sleeps: list[float] = []
    adapter, _ = make_adapter(fresh, sleep=sleep)
    first = adapter.create_issue(new_issue(unique_code()))
    second = adapter.create_issue(new_issue(unique_code()))
    fresh.control.inject(
        "rate_limit",
        f"PUT /rest/api/2/issue/{first.id}",
        count=1,
        retry_after=3,
        reason="jira-per-issue-on-write",
    )
    fresh.control.reset_counters()
    adapter.set_priority(first.id, "Highest", None)
    assert sleeps[0] == 3.0  # Retry-After honoured (tenacity wait before the retry)
    assert other_writes == [0]  # the other issue's write did not wait at all
    state = adapter.rate_limit_state()
    assert state["bucket_paused_by_server"] == 0  # not a global pause
    assert api_counts(fresh)[PUT_ISSUE] == 3  # A refused, B, A again
    assert fresh.control.issue(first.key)["priority"] == "Highest"
    assert fresh.control.issue(second.key)["priority"] == "Lowest"
    adapter.close()


def test_quota_429_pauses_the_whole_bucket(fresh: JiraSimulator, adapter: JiraAdapter) -> None:
    fresh.control.rate_limit_storm(
        1, route="GET *", retry_after=2, reason="jira-quota-tenant-based"
    )
    with structlog.testing.capture_logs() as logs:
        adapter.changed_issues(None)
    assert adapter.rate_limit_state()["bucket_paused_by_server"] == 1
    limited = [e for e in logs if e["event"] == "jira_rate_limited"]
    assert limited and limited[0]["scope"] == "global" and limited[0]["retry_after"] == 2.0


def test_5xx_on_a_read_is_retried_with_backoff(fresh: JiraSimulator) -> None:
    adapter, sleeps = make_adapter(fresh)
    created = adapter.create_issue(new_issue(unique_code()))
    fresh.control.fail_next(f"GET /rest/api/2/issue/{created.id}", count=2, status=500)
    fresh.control.reset_counters()
    assert adapter.get_issue(created.id).id == created.id
    assert api_counts(fresh)[GET_ISSUE] == 3
    assert len(sleeps.calls) == 2 and all(s > 0 for s in sleeps.calls)
    adapter.close()


def test_errors_are_translated(fresh: JiraSimulator, adapter: JiraAdapter) -> None:
    with pytest.raises(NotFound):
        adapter.get_issue("999999")
    wrong, _ = make_adapter(fresh, api_token="wrong-secret-value")
    with pytest.raises(CredentialError) as caught:
        wrong.get_issue("1")
    assert "wrong-secret-value" not in str(caught.value)
    stalled, _ = make_adapter(fresh, timeout_seconds=0.3, retry_attempts=2)
    stalled.warm_up()
    fresh.control.stall(2.0, route="GET /rest/api/2/search/jql", count=2)
    with pytest.raises(TransientError):
        stalled.changed_issues(None)
    stalled.close()


# -- polling ------------------------------------------------------------------------------


def test_watermark_in_a_non_utc_user_time_zone(fresh: JiraSimulator) -> None:
    email = "la-bot@example.com"
    fresh.control.add_user(email, api_token="la-token", time_zone="America/Los_Angeles")
    adapter, _ = make_adapter(fresh, email=email, api_token="la-token", label="wm-la")
    since = datetime.now(UTC).replace(second=40, microsecond=0) - timedelta(hours=3)
    stamps = {
        "before": since - timedelta(minutes=2),
        "same_minute": since - timedelta(seconds=30),  # the minute floor widens to this
        "after": since + timedelta(seconds=30),
        "later": since + timedelta(hours=1),
    }
    keys: dict[str, str] = {}
    for name, stamp in stamps.items():
        made = fresh.control.create_issue("SEC", name, labels=["wm-la"])
        fresh.control.set_timestamps(made["key"], updated=stamp)
        keys[name] = made["key"]
    with structlog.testing.capture_logs() as logs:
        batch = adapter.changed_issues(since)
    found = {i.key for i in batch.issues}
    assert found == {keys["same_minute"], keys["after"], keys["later"]}
    # The literal is the watermark's wall time in Los Angeles, not in UTC.
    event = next(e for e in logs if e["event"] == "jira_changed_issues")
    expected = since.astimezone(ZoneInfo("America/Los_Angeles")).strftime("%Y-%m-%d %H:%M")
    assert event["since"] == expected != since.strftime("%Y-%m-%d %H:%M")
    assert [i.key for i in adapter.changed_issues(None).issues] == [
        keys["before"], keys["same_minute"], keys["after"], keys["later"]
    ]
    adapter.close()


def test_cloud_paging_never_touches_the_removed_search(fresh: JiraSimulator) -> None:
    adapter, _ = make_adapter(fresh, label="bulk-page")
    fresh.control.bulk_create("APP", 230, labels=["bulk-page"])
    fresh.control.reset_counters()
    batch = adapter.changed_issues(None)
    assert len(batch.issues) == 230 and batch.failures == ()
    assert len({i.id for i in batch.issues}) == 230
    counts = api_counts(fresh)
    assert counts[SEARCH_JQL] == 3  # 100 + 100 + 30, by nextPageToken
    assert not any(route.endswith("/search") for route in counts)
    adapter.close()


def test_describe_project(fresh: JiraSimulator, adapter: JiraAdapter) -> None:
    fresh.control.add_project("DESC")
    for status in ("To Do", "In Progress", "In Review", "Done"):
        fresh.control.create_issue("DESC", status, issuetype="Bug", status=status)
    schema = adapter.describe_project("DESC")
    assert {"To Do", "In Progress", "In Review", "Done", "Won't Do"} <= schema.statuses
    assert "High" in schema.priorities and "Duplicate" in schema.resolutions
    assert schema.reachable["To Do"] >= {"In Progress", "In Review", "Done", "Won't Do"}
    assert "To Do" in schema.reachable["Done"]
    assert "Duplicate" not in schema.reachable  # no issue sits there: unknown, not a dead end
    assert schema.explored == {"To Do", "In Progress", "In Review", "Done"}
    # Read-only: describing moved nothing.
    assert sorted(i["status"] for i in fresh.control.issues("DESC")) == sorted(
        ["To Do", "In Progress", "In Review", "Done"]
    )


# -- Data Center --------------------------------------------------------------------------


def test_data_center_uses_offset_search_and_a_bearer_token() -> None:
    with JiraSimulator(JiraSimulatorOptions(deployment_type="Server")) as dc:
        adapter, _ = make_adapter(
            dc, email="", api_token=None, personal_access_token=dc.options.personal_access_token
        )
        code = unique_code("DC")
        created = adapter.create_issue(new_issue(code))
        dc.control.bulk_create("SEC", 120, labels=["intigriti"])
        dc.control.reset_counters()
        batch = adapter.changed_issues(None)
        assert len(batch.issues) == 121
        found = adapter.find_by_submission(code)
        assert found is not None and found.id == created.id
        counts = api_counts(dc)
        assert counts.get("GET /rest/api/2/search") == 2
        assert not any("search/jql" in route for route in counts)
        adapter.close()


def test_429_on_create_is_retried_once_the_server_asks(
    fresh: JiraSimulator,
) -> None:
    adapter, sleeps = make_adapter(fresh)
    adapter.warm_up()
    code = unique_code("RL")
    fresh.control.rate_limit_storm(1, route="POST /rest/api/2/issue", retry_after=2)
    fresh.control.reset_counters()
    created = adapter.create_issue(new_issue(code))
    # A 429 means "not processed": safe to send again, after Retry-After.
    assert api_counts(fresh)[CREATE] == 2
    assert 2.0 in sleeps.calls
    assert [i["id"] for i in issues_tagged(fresh, code)] == [created.id]
    adapter.close()


def test_lost_transition_answer_is_resolved_by_reading_the_status(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    created = adapter.create_issue(new_issue(unique_code()))
    fresh.control.drop_after_commit(route="POST /rest/api/2/issue/*/transitions", count=1)
    adapter.transition_to(created.id, "Done", "Done")
    stored = fresh.control.issue(created.key)
    assert (stored["status"], stored["resolution"]) == ("Done", "Done")
    assert api_counts(fresh)[TRANSITION] == 3  # the dropped hop was applied, not repeated


def test_each_thread_gets_its_own_client(fresh: JiraSimulator, adapter: JiraAdapter) -> None:
    created = adapter.create_issue(new_issue(unique_code()))
    fresh.control.reset_counters()
    results: list[str] = []
    worker = threading.Thread(target=lambda: results.append(adapter.get_issue(created.id).key))
    worker.start()
    worker.join()
    assert results == [created.key]
    # The new thread built its own client without asking serverInfo again: the
    # deployment type, server version and caches were shared.
    assert api_counts(fresh) == {GET_ISSUE: 1}


def test_tag_lookup_falls_back_to_the_label_when_property_jql_is_refused(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    code = unique_code()
    created = adapter.create_issue(new_issue(code))
    stranger, _ = make_adapter(fresh)
    stranger.warm_up()
    # Jira Cloud refuses JQL on an entity property no app has declared for indexing.
    fresh.control.fail_next("GET /rest/api/2/search/jql", status=400)
    with structlog.testing.capture_logs() as logs:
        found = stranger.find_by_submission(code)
        again = stranger.find_by_submission(code)
    assert found is not None and found.id == created.id
    assert again is not None and again.id == created.id
    events = [e["event"] for e in logs]
    assert events.count("jira_property_search_unavailable") == 1
    stranger.close()


def test_burst_429_pauses_only_that_endpoint(fresh: JiraSimulator) -> None:
    adapter, sleeps = make_adapter(fresh, api_token="demo-api-token")
    adapter.warm_up()
    fresh.control.rate_limit_storm(
        1, route="GET /rest/api/2/search/jql", retry_after=4, reason="jira-burst-based"
    )
    with structlog.testing.capture_logs() as logs:
        adapter.changed_issues(None)
    state = adapter.rate_limit_state()
    assert state["bucket_paused_by_server"] == 0
    assert list(state["pauses"]["routes"]) == ["GET /search/jql"]
    assert sleeps.calls[0] == 4.0
    assert "demo-api-token" not in repr(logs)
    adapter.close()


def test_numeric_cvss_field_takes_scores_and_skips_vectors(fresh: JiraSimulator) -> None:
    adapter, _ = make_adapter(fresh, cvss_field="cvss score")
    created = adapter.create_issue(new_issue(unique_code(), cvss="CVSS:3.1/AV:N"))
    assert "customfield_10051" not in fresh.control.issue(created.key)["custom"]
    adapter.set_priority(created.id, "Medium", "7.5")
    stored = fresh.control.issue(created.key)
    assert (stored["priority"], stored["custom"]["customfield_10051"]) == ("Medium", 7.5)
    assert adapter.get_issue(created.id).cvss == "7.5"
    adapter.close()


def test_400_carries_jiras_messages_and_403_is_not_allowed(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    code = unique_code()
    with pytest.raises(Rejected) as caught:
        adapter.create_issue(new_issue(code, labels=("x" * 300,)))
    assert caught.value.status == 400
    assert "255 characters" in str(caught.value)
    assert issues_tagged(fresh, code) == []
    created = adapter.create_issue(new_issue(code))
    fresh.control.fail_next(f"PUT /rest/api/2/issue/{created.id}", status=403)
    with pytest.raises(NotAllowed):
        adapter.set_priority(created.id, "Low", None)
    assert api_counts(fresh)[PUT_ISSUE] == 1  # a 403 is not retried


def test_503_with_retry_after_on_a_create_is_ambiguous(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    fresh.control.fail_next("POST /rest/api/2/issue", status=503, retry_after=1)
    with pytest.raises(AmbiguousWrite):
        adapter.create_issue(new_issue(unique_code()))
    assert api_counts(fresh)[CREATE] == 1


def test_503_with_retry_after_on_a_read_waits_and_retries(fresh: JiraSimulator) -> None:
    adapter, sleeps = make_adapter(fresh)
    adapter.warm_up()
    fresh.control.fail_next("GET /rest/api/2/search/jql", status=503, retry_after=1)
    assert adapter.changed_issues(None).failures == ()
    assert sleeps.calls[0] == 1.0
    assert api_counts(fresh)[SEARCH_JQL] == 2
    adapter.close()


def test_forced_cloud_mode_skips_server_info(fresh: JiraSimulator) -> None:
    adapter, _ = make_adapter(fresh, deployment="cloud", cvss_field=None)
    adapter.changed_issues(None)
    counts = api_counts(fresh)
    assert "GET /rest/api/2/serverInfo" not in counts
    assert counts[SEARCH_JQL] >= 1
    adapter.close()


def test_a_stale_search_sample_does_not_teach_a_wrong_workflow(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    fresh.control.add_project("STALE")
    made = fresh.control.create_issue("STALE", "sample", issuetype="Bug", status="In Progress")
    fresh.control.set_search_lag(300)
    fresh.control.settle_search()  # the index has seen it in In Progress ...
    fresh.control.set_status(made["key"], "Done", resolution="Done")  # ... not in Done
    with structlog.testing.capture_logs() as logs:
        schema = adapter.describe_project("STALE")
    # Search said "In Progress", the issue is in Done: its transitions are Done's, not
    # In Progress's, so nothing is learned for In Progress.
    assert "In Progress" not in schema.explored
    assert any(e["event"] == "jira_workflow_sample_moved" for e in logs)


def test_truncated_answers(fresh: JiraSimulator, adapter: JiraAdapter) -> None:
    code = unique_code()
    fresh.control.malformed("POST /rest/api/2/issue")
    with pytest.raises(AmbiguousWrite):  # the create was applied; its answer is unreadable
        adapter.create_issue(new_issue(code))
    found = adapter.find_by_submission(code)
    assert found is not None
    fresh.control.malformed("GET /rest/api/2/search/jql")
    with pytest.raises(MalformedResponse):
        adapter.changed_issues(None)


def test_moving_to_a_status_the_workflow_lacks_moves_nothing(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    created = adapter.create_issue(new_issue(unique_code()))
    with pytest.raises(Rejected, match="no status 'Blocked'"):
        adapter.transition_to(created.id, "Blocked", None)
    assert TRANSITION not in api_counts(fresh)
    assert fresh.control.issue(created.key)["status"] == "To Do"


def test_a_changed_profile_time_zone_is_picked_up(fresh: JiraSimulator) -> None:
    email = "tz-bot@example.com"
    fresh.control.add_user(email, api_token="tz-token", time_zone="UTC")
    adapter, _ = make_adapter(fresh, email=email, api_token="tz-token", label="tz-change")
    adapter.catalog.zone_ttl_seconds = 0  # re-read myself on every poll (default: 15 min)
    since = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    with structlog.testing.capture_logs() as logs:
        adapter.changed_issues(since)
        fresh.control.update_user(email, time_zone="America/Los_Angeles")
        adapter.changed_issues(since)
    literals = [e["since"] for e in logs if e["event"] == "jira_changed_issues"]
    assert literals == ["2026-07-01 12:00", "2026-07-01 05:00"]
    assert any(e["event"] == "jira_user_time_zone_changed" for e in logs)
    adapter.close()


def test_revoked_token_is_a_credential_error(fresh: JiraSimulator) -> None:
    email = "revoked-bot@example.com"
    fresh.control.add_user(email, api_token="soon-revoked-token")
    adapter, _ = make_adapter(fresh, email=email, api_token="soon-revoked-token")
    adapter.warm_up()
    fresh.control.revoke_api_token(email)
    fresh.control.reset_counters()
    with pytest.raises(CredentialError) as caught:
        adapter.changed_issues(None)
    assert "soon-revoked-token" not in str(caught.value)
    assert api_counts(fresh) == {SEARCH_JQL: 1}  # a 401 is not retried
    adapter.close()


def test_a_stale_cached_transition_is_relearned(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    created = adapter.create_issue(new_issue(unique_code()))
    project = adapter.catalog.project("SEC")
    graph = adapter.catalog.graph(project.id, project.issue_type_id("Bug"))
    # As if an admin had edited the workflow since we cached it: transition 999 is gone.
    graph.learn("To Do", [Edge("999", "Start", "To Do", "In Progress")])
    fresh.control.reset_counters()
    adapter.transition_to(created.id, "In Progress", None)
    assert fresh.control.issue(created.key)["status"] == "In Progress"
    counts = api_counts(fresh)
    assert counts[TRANSITION] == 2  # the stale id (400), then the relearned one
    assert counts["GET /rest/api/2/issue/{issueIdOrKey}/transitions"] == 1
    assert {e.transition_id for e in graph.out("To Do")} >= {"11"}
