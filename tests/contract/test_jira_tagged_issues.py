"""``JiraAdapter.tagged_issues``: the sweep's search for one chunk of submission codes,
against the Jira simulator over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog
from jira_adapter_fixtures import api_counts, make_adapter, new_issue, unique_code

from syncd.simulators.jira import JiraSimulator, JiraSimulatorOptions
from syncd.tracker import JiraAdapter

POST_SEARCH_JQL = "POST /rest/api/2/search/jql"


@pytest.fixture(scope="module")
def sim() -> Iterator[JiraSimulator]:
    with JiraSimulator() as simulator:
        yield simulator


@pytest.fixture
def fresh(sim: JiraSimulator) -> Iterator[JiraSimulator]:
    sim.control.clear_faults()
    sim.control.set_search_lag(0)
    sim.control.reset_counters()
    yield sim
    sim.control.clear_faults()


@pytest.fixture
def adapter(fresh: JiraSimulator) -> Iterator[JiraAdapter]:
    made, _ = make_adapter(fresh)
    made.warm_up()
    fresh.control.reset_counters()
    yield made
    made.close()


def test_finds_the_issues_of_the_codes_asked_by_either_tag_in_one_request(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    by_label, by_property, other = unique_code("TAG"), unique_code("PROP"), unique_code("NO")
    labelled = adapter.create_issue(new_issue(by_label))
    relabelled = adapter.create_issue(new_issue(by_property))
    adapter.create_issue(new_issue(other))
    # a human dropped the per-submission label: the entity property still names it
    fresh.control.set_labels(relabelled.key, ["intigriti"])
    fresh.control.reset_counters()
    batch = adapter.tagged_issues([by_label, by_property, unique_code("NONE")])
    assert sorted(i.id for i in batch.issues) == sorted([labelled.id, relabelled.id])
    assert {i.submission_code for i in batch.issues} == {by_label, by_property}
    assert batch.server_time is not None
    assert api_counts(fresh) == {POST_SEARCH_JQL: 1}


def test_issues_without_syncd_label_are_left_out_as_by_the_full_search(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    code = unique_code("UNL")
    created = adapter.create_issue(new_issue(code))
    fresh.control.set_labels(created.key, [f"intigriti-{code}"])
    assert created.id not in {i.id for i in adapter.changed_issues(None).issues}
    assert adapter.tagged_issues([code]).issues == ()


def test_pages_through_a_chunk_larger_than_a_page(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    codes = [unique_code("PAGE") for _ in range(105)]
    created = {adapter.create_issue(new_issue(code)).id for code in codes}
    fresh.control.reset_counters()
    batch = adapter.tagged_issues(codes)
    assert {i.id for i in batch.issues} == created
    assert api_counts(fresh) == {POST_SEARCH_JQL: 2}


def test_no_codes_is_no_request(fresh: JiraSimulator, adapter: JiraAdapter) -> None:
    assert adapter.tagged_issues([]).issues == ()
    assert api_counts(fresh) == {}


def test_falls_back_to_labels_when_property_jql_is_refused(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    code = unique_code("FALL")
    created = adapter.create_issue(new_issue(code))
    stranger, _ = make_adapter(fresh)
    stranger.warm_up()
    fresh.control.fail_next(POST_SEARCH_JQL, status=400)
    with structlog.testing.capture_logs() as logs:
        first = stranger.tagged_issues([code])
        again = stranger.tagged_issues([code])
    assert [i.id for i in first.issues] == [created.id]
    assert [i.id for i in again.issues] == [created.id]
    assert [e["event"] for e in logs].count("jira_property_search_unavailable") == 1
    stranger.close()


def test_data_center_pages_by_offset_in_post_bodies() -> None:
    with JiraSimulator(JiraSimulatorOptions(deployment_type="Server")) as dc:
        adapter, _ = make_adapter(
            dc, email="", api_token=None, personal_access_token=dc.options.personal_access_token
        )
        codes = [unique_code("DCT") for _ in range(102)]
        created = {adapter.create_issue(new_issue(code)).id for code in codes}
        dc.control.reset_counters()
        batch = adapter.tagged_issues(codes)
        assert {i.id for i in batch.issues} == created
        assert api_counts(dc) == {"POST /rest/api/2/search": 2}
        adapter.close()
