"""The planner's content fields: CVSS, close reasons as resolutions, the duplicate relation,
payouts, the description and attachments (syncd.sync.plan)."""

from __future__ import annotations

import dataclasses
from typing import Any

from test_plan import NOW, VECTOR, link, sub
from test_plan import iss as plain_issue

from syncd.records import Attachment, Payouts, SubmissionReport
from syncd.sync.content import build_description, fallback_escape
from syncd.sync.mapping import FieldRule, Mapping, SyncState, canonical_cvss, default_mapping
from syncd.sync.plan import (
    Bases,
    LinkJiraDuplicate,
    LinkView,
    Plan,
    RecordBase,
    RecordJiraPayouts,
    Related,
    SetIntigritiCvss,
    SetIntigritiSeverity,
    SetJiraCvss,
    SetJiraDescription,
    SetJiraPriority,
    TransitionJira,
    UploadAttachments,
    description_digest,
    plan,
)

OTHER = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:L/A:N"  # same class (High), another vector
M = dataclasses.replace(default_mapping(default_project="SEC"), cvss_field=True)


def iss(**changes: Any) -> Any:
    """The steady-state issue, with the vector in its CVSS field."""
    return plain_issue(**{"cvss": VECTOR, **changes})


def rules(m: Mapping = M, **fields: FieldRule) -> Mapping:
    return dataclasses.replace(m, fields=dataclasses.replace(m.fields, **fields))


def bases(**values: Any) -> LinkView:
    base = Bases(severity="High", status="accepted", internal_reference="SEC-1", cvss=VECTOR)
    return link(bases=dataclasses.replace(base, **values))


def run(lnk: LinkView, s: Any, i: Any, m: Mapping = M, **kw: Any) -> Plan:
    return plan(lnk, s, i, m, now=NOW, **kw)


# -- CVSS ---------------------------------------------------------------------------------------


def test_canonical_cvss_orders_metrics_and_keeps_what_it_cannot_parse() -> None:
    assert canonical_cvss("CVSS:3.1/C:H/AV:N/AC:L/PR:N/UI:N/S:U/I:N/A:N") == VECTOR
    assert canonical_cvss(" cvss:3.1/AV:N ") == "CVSS:3.1/AV:N"
    assert canonical_cvss("not a vector") == "notavector"
    assert canonical_cvss("") is None and canonical_cvss(None) is None


def test_a_vector_change_within_one_severity_class_goes_to_jira_alone() -> None:
    result = run(bases(), sub(cvss_vector=OTHER), iss(cvss=VECTOR))
    assert [type(a) for a in result.actions] == [SetJiraCvss]
    (write,) = result.actions
    assert isinstance(write, SetJiraCvss) and write.cvss == OTHER and write.new_base == OTHER


def test_a_vector_changed_in_jira_goes_to_intigriti_with_the_severity_kept() -> None:
    result = run(bases(), sub(cvss_vector=VECTOR), iss(cvss=OTHER))
    (write,) = result.actions
    assert isinstance(write, SetIntigritiCvss)
    assert (write.severity, write.vector, write.new_base) == ("High", OTHER, OTHER)


def test_severity_and_vector_changing_together_make_one_write() -> None:
    result = run(bases(), sub(severity="Critical", cvss_vector=OTHER), iss(cvss=VECTOR))
    assert [type(a) for a in result.actions] == [SetJiraPriority, RecordBase]
    priority, record = result.actions
    assert isinstance(priority, SetJiraPriority) and priority.cvss == OTHER
    assert record == RecordBase("cvss", OTHER)


def test_jira_severity_and_vector_changing_together_make_one_intigriti_write() -> None:
    result = run(bases(), sub(), iss(priority="Highest", cvss=OTHER))
    assert [type(a) for a in result.actions] == [SetIntigritiSeverity, RecordBase]
    severity, record = result.actions
    assert isinstance(severity, SetIntigritiSeverity) and severity.vector == OTHER
    assert record == RecordBase("cvss", OTHER)


def test_clearing_the_vector_is_a_change_like_another() -> None:
    result = run(bases(), sub(cvss_vector=None), iss(cvss=VECTOR))
    (write,) = result.actions
    assert isinstance(write, SetJiraCvss) and write.cvss == "" and write.new_base == ""


def test_cvss_without_a_jira_field_or_switched_off_plans_nothing() -> None:
    no_field = dataclasses.replace(M, cvss_field=False)
    assert run(bases(), sub(cvss_vector=OTHER), iss(cvss=VECTOR), no_field).actions == ()
    off = rules(cvss=FieldRule("off"))
    assert run(bases(), sub(cvss_vector=OTHER), iss(cvss=VECTOR), off).actions == ()


def test_a_vector_already_the_same_written_differently_only_records_the_base() -> None:
    reordered = "CVSS:3.1/C:H/I:N/A:N/AV:N/AC:L/PR:N/UI:N/S:U"
    result = run(bases(cvss=None), sub(cvss_vector=reordered), iss(cvss=VECTOR))
    assert result.actions == (RecordBase("cvss", VECTOR),)


# -- close reasons as resolutions ----------------------------------------------------------------

ONE_DONE = dataclasses.replace(
    M,
    states=(
        SyncState("new", ("Triage", "Pending"), ("To Do",), intigriti_writable=False),
        SyncState("accepted", ("Accepted",), ("In Progress",)),
        SyncState("closed:resolved", ("Closed/Resolved",), ("Done/Fixed", "Done")),
        SyncState("closed:duplicate", ("Closed/Duplicate",), ("Done/Duplicate",)),
    ),
)


def test_a_close_reason_change_of_a_closed_submission_sets_the_resolution() -> None:
    lnk = bases(status="closed:resolved")
    result = run(
        lnk,
        sub(status="Closed", close_reason="Duplicate"),
        iss(status="Done", resolution="Fixed"),
        ONE_DONE,
    )
    (write,) = result.actions
    assert isinstance(write, TransitionJira)
    assert (write.status, write.resolution) == ("Done", "Duplicate")
    assert write.new_base == "closed:duplicate"


def test_a_resolution_change_in_jira_reaches_intigriti_as_a_close_reason() -> None:
    lnk = bases(status="closed:resolved")
    result = run(
        lnk,
        sub(status="Closed", close_reason="Resolved"),
        iss(status="Done", resolution="Duplicate"),
        ONE_DONE,
    )
    (write,) = [a for a in result.actions if not isinstance(a, RecordBase)]
    assert write.field == "status"
    assert (write.status, write.close_reason) == ("Closed", "Duplicate")


def test_a_bare_status_entry_still_matches_any_resolution() -> None:
    assert ONE_DONE.canonical_status_from_jira("Done", "Won't Do") == "closed:resolved"
    assert ONE_DONE.canonical_status_from_jira("Done", "Duplicate") == "closed:duplicate"
    assert ONE_DONE.jira_target("closed:duplicate") == ("Done", "Duplicate")


# -- the duplicate relation ----------------------------------------------------------------------

ORIGINAL = Related("ACME-0", "10000", "SEC-0")


def detail(**changes: Any) -> Any:
    return sub(detail=True, **changes)


def test_a_duplicate_is_linked_to_its_originals_issue_once() -> None:
    s = detail(status="Closed", close_reason="Duplicate", duplicate_of="ACME-0")
    lnk = bases(status="closed:duplicate")
    result = run(lnk, s, iss(status="Duplicate"), original=ORIGINAL)
    (write,) = result.actions
    assert isinstance(write, LinkJiraDuplicate)
    assert write.original == ORIGINAL and write.new_base == "ACME-0"
    # once Jira shows the link, nothing more; and with the base recorded, nothing at all
    linked = iss(status="Duplicate", duplicates=("SEC-0",))
    assert run(lnk, s, linked, original=ORIGINAL).actions == (RecordBase("duplicate", "ACME-0"),)
    done = bases(status="closed:duplicate", duplicate="ACME-0")
    assert run(done, s, linked, original=ORIGINAL).actions == ()


def test_a_duplicate_of_an_unlinked_original_waits_and_a_listed_one_asks_for_the_detail() -> None:
    s = detail(status="Closed", close_reason="Duplicate", duplicate_of="ACME-0")
    lnk = bases(status="closed:duplicate")
    assert run(lnk, s, iss(status="Duplicate")).actions == ()
    listed = sub(status="Closed", close_reason="Duplicate")
    assert run(lnk, listed, iss(status="Duplicate")).needs_detail
    off = rules(duplicate=FieldRule("off"))
    assert not run(lnk, listed, iss(status="Duplicate"), off).needs_detail


# -- payouts --------------------------------------------------------------------------------------

PAYOUT_FIELD = dataclasses.replace(M, payout_target="customfield_10060")
PAID = Payouts(total=550.0, bounty=500.0, bonus=50.0, currency="EUR")


def test_payouts_go_to_the_configured_field_when_they_change() -> None:
    result = run(bases(), detail(payouts=PAID), iss(), PAYOUT_FIELD)
    (write,) = result.actions
    assert isinstance(write, RecordJiraPayouts)
    assert write.text == "EUR 550.00 (bounty 500.00, bonus 50.00)"
    assert (write.target, write.total) == ("customfield_10060", "550.00")
    done = bases(payouts=write.new_base, payout_total="550.00")
    assert run(done, detail(payouts=PAID), iss(), PAYOUT_FIELD).actions == ()


def test_a_new_payout_seen_in_the_list_asks_for_the_detail() -> None:
    done = bases(payouts=PAID.describe(), payout_total="550.00")
    assert not run(done, sub(total_payout=550.0), iss(), PAYOUT_FIELD).needs_detail
    assert run(done, sub(total_payout=800.0), iss(), PAYOUT_FIELD).needs_detail


def test_nothing_paid_is_not_announced_and_payouts_are_off_without_a_target() -> None:
    zero = Payouts(0.0, 0.0, 0.0, "EUR")
    result = run(bases(), detail(payouts=zero), iss(), PAYOUT_FIELD)
    assert all(isinstance(a, RecordBase) for a in result.actions) and result.actions
    assert run(bases(), detail(payouts=PAID), iss(), M).actions == ()


# -- the description and attachments ---------------------------------------------------------------

FOLLOW_REPORT = rules(description=FieldRule("to_jira"))


def test_a_changed_report_rewrites_the_description_only_when_switched_on() -> None:
    changed = detail(report=SubmissionReport(poc_description="new steps", impact="worse"))
    assert run(bases(), changed, iss(), M).actions == ()  # off by default
    (write,) = run(bases(), changed, iss(), FOLLOW_REPORT).actions
    assert isinstance(write, SetJiraDescription)
    assert "new steps" in write.description
    text = build_description(changed, FOLLOW_REPORT, include_report=True, escape=fallback_escape)
    assert write.new_base == description_digest(text)
    same = bases(description=write.new_base)
    assert run(same, changed, iss(), FOLLOW_REPORT).actions == ()


def test_a_new_version_in_the_list_asks_for_the_detail_when_the_description_follows() -> None:
    seen = dataclasses.replace(bases(), intigriti_seen_at=NOW)
    newer = sub(updated_at=NOW.replace(year=NOW.year + 1))
    assert run(seen, newer, iss(), FOLLOW_REPORT).needs_detail
    assert not run(seen, sub(updated_at=NOW), iss(), FOLLOW_REPORT).needs_detail


def test_attachments_are_uploaded_once_when_uploading_is_on() -> None:
    upload = dataclasses.replace(M, upload_attachments=True, attachment_max_bytes=1000)
    files = (Attachment("a1", "https://x/a1"), Attachment("a2", "https://x/a2"))
    s = detail(report=SubmissionReport(poc_description="p", attachments=files))
    (write,) = run(bases(), s, iss(), upload).actions
    assert isinstance(write, UploadAttachments)
    assert [a.code for a in write.attachments] == ["a1", "a2"] and write.new_base == "a1,a2"
    (rest,) = run(bases(attachments="a1"), s, iss(), upload).actions
    assert isinstance(rest, UploadAttachments)
    assert rest.attachments == (files[1],)
    assert run(bases(attachments="a1,a2"), s, iss(), upload).actions == ()
    assert run(bases(), s, iss(), M).actions == ()  # off by default
