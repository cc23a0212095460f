"""The Jira adapter's content writes (links, attachments, comments, text fields, resolution
in place) against the Jira simulator: the real ``jira`` library over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from jira_adapter_fixtures import api_counts, make_adapter, new_issue, unique_code
from jira_sim_fixtures import basic_header

from syncd.errors import AmbiguousWrite, ConfigError, NotAllowed, Rejected
from syncd.records import Issue
from syncd.settings import load_settings
from syncd.simulators.jira import DEFAULT_API_TOKEN, DEFAULT_EMAIL, JiraSimulator
from syncd.tracker import JiraAdapter
from syncd.wiring import build_mapping, jira_options, validate_against_jira

LINK = "POST /rest/api/2/issueLink"
ATTACH = "POST /rest/api/2/issue/{issueIdOrKey}/attachments"
COMMENT = "POST /rest/api/2/issue/{issueIdOrKey}/comment"
PUT_ISSUE = "PUT /rest/api/2/issue/{issueIdOrKey}"
TRANSITION = "POST /rest/api/2/issue/{issueIdOrKey}/transitions"


@pytest.fixture(scope="module")
def sim() -> Iterator[JiraSimulator]:
    with JiraSimulator() as simulator:
        yield simulator


@pytest.fixture
def fresh(sim: JiraSimulator) -> Iterator[JiraSimulator]:
    """The shared simulator with faults, counters and screen settings as seeded."""
    defaults = {"resolution_on_edit_screen": True, "resolution_self_transition": False}
    sim.control.clear_faults()
    sim.control.configure(**defaults)
    sim.control.reset_rate_limits()
    sim.control.reset_counters()
    yield sim
    sim.control.clear_faults()
    sim.control.configure(**defaults)


@pytest.fixture
def adapter(fresh: JiraSimulator) -> Iterator[JiraAdapter]:
    made, _ = make_adapter(fresh)
    made.warm_up()
    fresh.control.reset_counters()
    yield made
    made.close()


def created(adapter: JiraAdapter, fresh: JiraSimulator) -> Issue:
    """A syncd-created issue, with the counters zeroed after it."""
    issue = adapter.create_issue(new_issue(unique_code()))
    fresh.control.reset_counters()
    return issue


# -- duplicate links -------------------------------------------------------------------


def test_link_duplicate_links_once_in_the_duplicates_direction(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    original, duplicate = created(adapter, fresh), created(adapter, fresh)
    adapter.link_duplicate(duplicate.id, original.id)
    adapter.link_duplicate(duplicate.id, original.id)
    assert api_counts(fresh)[LINK] == 1
    # Jira's own reading of the link: the duplicate "duplicates" the original.
    assert fresh.control.links(duplicate.key) == [
        {
            "id": fresh.control.links(duplicate.key)[0]["id"],
            "type": "Duplicate",
            "direction": "outward",
            "phrase": "duplicates",
            "issue": original.key,
        }
    ]
    [seen_from_original] = fresh.control.links(original.key)
    assert (seen_from_original["phrase"], seen_from_original["issue"]) == (
        "is duplicated by",
        duplicate.key,
    )
    assert adapter.get_issue(duplicate.id).duplicates == (original.key,)
    assert adapter.get_issue(original.id).duplicates == ()


def test_a_link_made_by_a_human_is_parsed_and_not_made_again(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    original, duplicate = created(adapter, fresh), created(adapter, fresh)
    fresh.control.link("Duplicate", duplicate.key, original.key)
    fresh.control.link("Blocks", duplicate.key, original.key)  # another type: not a duplicate
    assert adapter.get_issue(duplicate.key).duplicates == (original.key,)
    batch = adapter.changed_issues(None)
    assert {i.key: i.duplicates for i in batch.issues}[duplicate.key] == (original.key,)
    adapter.link_duplicate(duplicate.key, original.key)
    assert LINK not in api_counts(fresh)


def test_a_lost_link_answer_is_resolved_by_looking(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    original, duplicate = created(adapter, fresh), created(adapter, fresh)
    fresh.control.drop_after_commit(route=LINK)
    adapter.link_duplicate(duplicate.id, original.id)  # committed: found on the re-read
    assert api_counts(fresh)[LINK] == 1
    assert [link["issue"] for link in fresh.control.links(duplicate.key)] == [original.key]


def test_a_failed_link_post_is_ambiguous_and_not_retried(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    original, duplicate = created(adapter, fresh), created(adapter, fresh)
    fresh.control.fail_next(LINK, status=500)
    with pytest.raises(AmbiguousWrite):
        adapter.link_duplicate(duplicate.id, original.id)
    assert api_counts(fresh)[LINK] == 1


def test_a_missing_link_type_is_rejected_before_posting(fresh: JiraSimulator) -> None:
    adapter, _ = make_adapter(fresh, duplicate_link_type="Duplicated")
    try:
        original, duplicate = created(adapter, fresh), created(adapter, fresh)
        with pytest.raises(Rejected, match=r"jira\.duplicate_link_type"):
            adapter.link_duplicate(duplicate.id, original.id)
        assert LINK not in api_counts(fresh)
    finally:
        adapter.close()


# -- attachments -----------------------------------------------------------------------


def test_attach_file_uploads_once_per_name(fresh: JiraSimulator, adapter: JiraAdapter) -> None:
    issue = created(adapter, fresh)
    adapter.attach_file(issue.id, "poc.html", b"<script>alert(1)</script>")
    adapter.attach_file(issue.id, "poc.html", b"<script>alert(1)</script>")
    adapter.attach_file(issue.id, "empty.txt", b"")
    assert api_counts(fresh)[ATTACH] == 2
    listed = fresh.control.attachments(issue.key)
    assert [(a["filename"], a["size"]) for a in listed] == [("poc.html", 25), ("empty.txt", 0)]


def test_an_upload_without_the_xsrf_header_is_refused(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    """The simulator holds the adapter to the header: a plain multipart POST gets 403."""
    issue = created(adapter, fresh)
    url = f"{fresh.base_url}/rest/api/2/issue/{issue.key}/attachments"
    headers = {"Authorization": basic_header(DEFAULT_EMAIL, DEFAULT_API_TOKEN)}
    files = {"file": ("a.txt", b"x")}
    refused = httpx.post(url, headers=headers, files=files)
    assert refused.status_code == 403
    assert refused.json()["errorMessages"] == ["XSRF check failed"]
    accepted = httpx.post(url, headers={**headers, "X-Atlassian-Token": "no-check"}, files=files)
    assert accepted.status_code == 200
    assert accepted.json()[0]["filename"] == "a.txt"


def test_a_lost_upload_answer_is_resolved_by_looking(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    issue = created(adapter, fresh)
    fresh.control.drop_after_commit(route=ATTACH)
    adapter.attach_file(issue.id, "report.pdf", b"%PDF-1.7")
    adapter.attach_file(issue.id, "report.pdf", b"%PDF-1.7")
    assert api_counts(fresh)[ATTACH] == 1
    assert len(fresh.control.attachments(issue.key)) == 1


# -- comments, description, text fields, CVSS -----------------------------------------


def test_add_comment_returns_its_id_and_is_never_resent(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    issue = created(adapter, fresh)
    comment_id = adapter.add_comment(issue.id, "Payouts on Intigriti: EUR 50.00")
    [stored] = fresh.control.comments(issue.key)
    assert (stored["id"], stored["body"]) == (comment_id, "Payouts on Intigriti: EUR 50.00")
    fresh.control.fail_next(COMMENT, status=503)
    with pytest.raises(AmbiguousWrite):
        adapter.add_comment(issue.id, "second")
    assert api_counts(fresh)[COMMENT] == 2  # one each, no retry


def test_set_description_and_text_fields(fresh: JiraSimulator, adapter: JiraAdapter) -> None:
    issue = created(adapter, fresh)
    text = "EUR 550.00 (bounty 500.00, bonus 50.00)"
    adapter.set_description(issue.id, "h3. New report")
    adapter.set_text_field(issue.id, "customfield_10052", text)
    adapter.set_text_field(issue.id, "CVSS Score", text)  # a number field, by name
    stored = fresh.control.issue(issue.key)
    assert stored["description"] == "h3. New report"
    assert stored["custom"]["customfield_10052"] == text
    assert stored["custom"]["customfield_10051"] == 550.0
    assert api_counts(fresh)[PUT_ISSUE] == 3


def test_a_number_field_refuses_text_without_a_number(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    issue = created(adapter, fresh)
    with pytest.raises(Rejected, match="takes a number"):
        adapter.set_text_field(issue.id, "customfield_10051", "no payout yet")
    with pytest.raises(Rejected, match="no Jira field"):
        adapter.set_text_field(issue.id, "Bounty", "EUR 1.00")
    assert PUT_ISSUE not in api_counts(fresh)


def test_set_cvss_writes_only_the_cvss_field(fresh: JiraSimulator, adapter: JiraAdapter) -> None:
    issue = created(adapter, fresh)
    vector = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    adapter.set_cvss(issue.id, vector)
    assert adapter.get_issue(issue.id).cvss == vector
    adapter.set_cvss(issue.id, None)
    stored = fresh.control.issue(issue.key)
    assert stored["custom"]["customfield_10050"] is None
    assert stored["priority"] == "High"  # untouched
    assert api_counts(fresh)[PUT_ISSUE] == 2


def test_a_vector_is_refused_by_a_numeric_cvss_field(fresh: JiraSimulator) -> None:
    adapter, _ = make_adapter(fresh, cvss_field="CVSS Score")
    try:
        issue = created(adapter, fresh)
        with pytest.raises(Rejected, match="number field"):
            adapter.set_cvss(issue.id, "CVSS:3.1/AV:N")
        adapter.set_cvss(issue.id, "9.8")
        assert fresh.control.issue(issue.key)["custom"]["customfield_10051"] == 9.8
    finally:
        adapter.close()


# -- resolution in place -----------------------------------------------------------------


def done_issue(adapter: JiraAdapter, fresh: JiraSimulator) -> Issue:
    issue = created(adapter, fresh)
    fresh.control.set_status(issue.key, "Done", resolution="Done")
    fresh.control.reset_counters()
    return issue


def test_resolution_changes_in_place_through_the_edit_screen(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    issue = done_issue(adapter, fresh)
    adapter.transition_to(issue.id, "Done", "Done")  # already so: nothing written
    assert PUT_ISSUE not in api_counts(fresh)
    adapter.transition_to(issue.id, "Done", "Duplicate")
    stored = fresh.control.issue(issue.key)
    assert (stored["status"], stored["resolution"]) == ("Done", "Duplicate")
    counts = api_counts(fresh)
    assert counts[PUT_ISSUE] == 1 and TRANSITION not in counts
    adapter.transition_to(issue.id, "Done", None)  # no resolution asked for: a no-op
    assert fresh.control.issue(issue.key)["resolution"] == "Duplicate"


def test_resolution_changes_through_a_self_transition_without_the_edit_screen(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    fresh.control.configure(resolution_on_edit_screen=False, resolution_self_transition=True)
    issue = done_issue(adapter, fresh)
    adapter.transition_to(issue.id, "Done", "Won't Do")
    stored = fresh.control.issue(issue.key)
    assert (stored["status"], stored["resolution"]) == ("Done", "Won't Do")
    counts = api_counts(fresh)
    assert counts[TRANSITION] == 1 and PUT_ISSUE not in counts


def test_resolution_change_without_any_way_is_not_allowed(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    fresh.control.configure(resolution_on_edit_screen=False)
    issue = done_issue(adapter, fresh)
    with pytest.raises(NotAllowed, match="no resolution field") as caught:
        adapter.transition_to(issue.id, "Done", "Duplicate")
    assert "to itself" in str(caught.value)
    assert fresh.control.issue(issue.key)["resolution"] == "Done"


# -- start-up metadata and validation ----------------------------------------------------


def test_describe_project_reports_link_types_and_screen_fields(
    fresh: JiraSimulator, adapter: JiraAdapter
) -> None:
    created(adapter, fresh)  # one Bug, so the edit screen is read too
    schema = adapter.describe_project("SEC")
    assert {"Duplicate", "Blocks", "Relates"} <= schema.link_types
    assert {"customfield_10050", "CVSS", "customfield_10052", "Payouts"} <= schema.fields
    assert {"summary", "Description"} <= schema.fields


def write_config(tmp_path: Path, fresh: JiraSimulator, link_type: str) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[jira]\nurl = "{fresh.base_url}"\nemail = "{DEFAULT_EMAIL}"\n'
        f'api_token = "{DEFAULT_API_TOKEN}"\nproject = "SEC"\n'
        f'cvss_field = "CVSS"\npayout_field = "Payouts"\nduplicate_link_type = "{link_type}"\n',
        encoding="utf-8",
    )
    return config


def validation_problems(tmp_path: Path, fresh: JiraSimulator, link_type: str) -> str:
    settings = load_settings(str(write_config(tmp_path, fresh, link_type)))
    mapping = build_mapping(settings)
    assert mapping.duplicate_link_type == link_type
    adapter = JiraAdapter(jira_options(settings))
    try:
        assert adapter.options.duplicate_link_type == link_type
        validate_against_jira(mapping, adapter)
    except ConfigError as exc:
        return str(exc)
    finally:
        adapter.close()
    return ""


def test_start_up_names_a_missing_duplicate_link_type(
    fresh: JiraSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)
    problems = validation_problems(tmp_path, fresh, "Duplicated")
    assert "jira.duplicate_link_type: Jira has no issue link type 'Duplicated'" in problems
    assert "Duplicate, Relates" in problems  # what Jira has, to pick from
    assert "jira.duplicate_link_type" not in validation_problems(tmp_path, fresh, "duplicate")
    assert "jira.payout_field" not in validation_problems(tmp_path, fresh, "Duplicate")
