"""What lands in Jira, end to end: the report, CVSS, close reasons, duplicates, payouts.

`syncd run --reconcile` against both simulators over real HTTP, on SQLite and PostgreSQL.
Assertions read the description as Jira stores it (the wire text syncd sent), and check
that each researcher-written block renders literally: inside a ``{noformat}`` block, Jira
renders nothing until the next ``{noformat}`` tag, so the block's text up to that tag must
be the researcher's text exactly (zero-width spaces aside, which only break a forged tag).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import E2E, e2e_world

ZWSP = "\u200b"
#: what Jira's renderer takes as a noformat tag (any case, optional parameters)
NOFORMAT_TAG = re.compile(r"\{noformat(?::[^}]*)?\}", re.IGNORECASE)
CVSS_FIELD = "customfield_10050"
PAYOUT_FIELD = "customfield_10052"

#: researcher-written proofs of concept that would render as markup if not escaped
HOSTILE_POCS = (
    "Send *this* _payload_ to h1. the [login|javascript:alert(1)] page",
    "{noformat}\nbreak out {noformat} then {html}<script>alert(1)</script>{html}",
    "{NoFormat:title=x}still literal{noformat}",
    "ping [~admin] and [~accountid:5b10ac8d82e05b22cc7d4ef5], see !http://evil/x.png!",
    "{code:java}System.exit(0);{code} {panel}x{panel} {color:red}red{color}",
    "| table | cells |\n||head||\n----\n\\\\ line break, bq. quote, # list\n* bullet",
    "trailing backslash and brace \\{",
)


@pytest.fixture
def e2e(tmp_path: Path, database_url: str) -> Iterator[E2E]:
    yield from e2e_world(tmp_path, database_url)


def assert_ok(result: object) -> None:
    assert getattr(result, "returncode", None) == 0, (
        f"exit {getattr(result, 'returncode', None)}\nstdout:\n{getattr(result, 'stdout', '')}"
        f"\nstderr (tail):\n{str(getattr(result, 'stderr', ''))[-3000:]}"
    )


def literal_blocks(wiki: str) -> list[str]:
    """The text of each ``{noformat}`` block as Jira renders it (literally)."""
    blocks: list[str] = []
    position = 0
    while (opening := NOFORMAT_TAG.search(wiki, position)) is not None:
        closing = NOFORMAT_TAG.search(wiki, opening.end())
        assert closing is not None, f"an unclosed noformat block in {wiki!r}"
        blocks.append(wiki[opening.end() : closing.start()])
        position = closing.end()
    return blocks


def shown(block: str) -> str:
    """What a reader sees of a block: the newlines around the tags and the zero-width
    spaces syncd put inside forged tags are invisible."""
    return block.strip("\n").replace(ZWSP, "")


def section(description: str, title: str) -> str:
    """The literal text of the ``h3. <title>`` section of a description."""
    start = description.index(f"h3. {title}\n")
    blocks = literal_blocks(description[start:])
    assert blocks, f"section {title!r} has no literal block"
    return shown(blocks[0])


def description_of(e2e: E2E, code: str) -> str:
    description = e2e.issue_of(code)["description"]
    assert isinstance(description, str), f"{code}: no description"
    return description


def writes_of_next_pass(e2e: E2E) -> int:
    e2e.reset_counters()
    assert_ok(e2e.reconcile())
    return e2e.writes()


@pytest.mark.slow
def test_a_backfill_carries_each_report_literally_and_cuts_one_over_the_limit(
    e2e: E2E,
) -> None:
    control = e2e.world.intigriti.control
    program = e2e.world.programs[0]
    pocs: dict[str, str] = {}
    for n in range(49):
        poc = f"Step {n}: {HOSTILE_POCS[n % len(HOSTILE_POCS)]}"
        code = str(control.seed_submission(program, status="Triage", poc=poc)["code"])
        pocs[code] = poc
    huge = "A" * 20_000 + " {noformat} " + "B" * 20_000  # over Jira's 32,767 characters
    long_code = str(control.seed_submission(program, status="Triage", poc=huge)["code"])
    control.reset_counters()

    first = e2e.reconcile()

    assert_ok(first)
    assert "created 50" in first.stdout
    # one detail read per created issue (the list has no report), on top of the list reads
    assert control.count("GET", "/submissions/{submissionCode}") >= 50
    for code, poc in pocs.items():
        description = description_of(e2e, code)
        assert "No report text was available" not in description
        assert section(description, "Proof of concept") == poc, code
        # every block of the description renders literally: no tag left open by the text
        for block in literal_blocks(description):
            assert not NOFORMAT_TAG.search(block)
    cut = description_of(e2e, long_code)
    assert len(cut) <= 32_767
    assert "Report cut to fit Jira's description limit" in cut
    assert long_code in cut.split("Report cut to fit", 1)[1]  # the link back
    assert huge.startswith(section(cut, "Proof of concept"))

    assert writes_of_next_pass(e2e) == 0


def test_a_cvss_change_within_one_class_propagates_once_each_way(e2e: E2E) -> None:
    e2e.rewrite_config({"jira": {"cvss_field": CVSS_FIELD}})
    control = e2e.world.intigriti.control
    first_vector = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"  # 7.5 High
    code = e2e.world.report(vector=first_vector)
    assert_ok(e2e.reconcile())
    issue = e2e.issue_of(code)
    assert issue["custom"].get(CVSS_FIELD) == first_vector
    priority = issue["priority"]

    second_vector = "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:N"  # 8.1, still High
    control.edit_submission(code, vector=second_vector)
    e2e.reset_counters()
    assert_ok(e2e.reconcile())
    assert e2e.writes() == 1
    issue = e2e.issue_of(code)
    assert (issue["custom"].get(CVSS_FIELD), issue["priority"]) == (second_vector, priority)
    assert writes_of_next_pass(e2e) == 0

    third_vector = "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:N"  # 7.4, still High
    e2e.world.jira.control.edit(str(issue["key"]), fields={CVSS_FIELD: third_vector})
    e2e.reset_counters()
    assert_ok(e2e.reconcile())
    assert e2e.writes() == 1
    assert e2e.submission(code)["vector"] == third_vector
    assert writes_of_next_pass(e2e) == 0
    assert [
        (row["field"], row["direction"], row["new_value"])
        for row in e2e.audit()
        if row["field"] == "cvss" and row["outcome"] == "ok"
    ] == [("cvss", "to_jira", second_vector), ("cvss", "to_intigriti", third_vector)]


def test_a_close_reason_change_moves_the_jira_resolution_once(e2e: E2E) -> None:
    control = e2e.world.intigriti.control
    code = e2e.world.report(status="Accepted")
    assert_ok(e2e.reconcile())
    control.edit_submission(code, status="Closed", close_reason="Resolved")
    assert_ok(e2e.reconcile())
    issue = e2e.issue_of(code)
    assert (issue["status"], issue["resolution"]) == ("Done", "Done")

    control.edit_submission(code, close_reason="Informative")
    e2e.reset_counters()
    assert_ok(e2e.reconcile())
    issue = e2e.issue_of(code)
    assert (issue["status"], issue["resolution"]) == ("Won't Do", "Won't Do")
    assert writes_of_next_pass(e2e) == 0


def test_a_resolution_change_in_place_maps_to_the_close_reason_both_ways(e2e: E2E) -> None:
    """A workflow with one done status: the close reason lives in the resolution."""
    e2e.rewrite_config(
        {
            "mapping": {
                "projects": {e2e.world.programs[1]: "APP"},
                "states": [
                    {
                        "name": "new",
                        "intigriti": ["Triage", "Pending"],
                        "jira": ["To Do"],
                        "intigriti_writable": False,
                    },
                    {
                        "name": "accepted",
                        "intigriti": ["Accepted"],
                        "jira": ["In Progress", "In Review"],
                    },
                    {
                        "name": "closed:resolved",
                        "intigriti": ["Closed/Resolved"],
                        "jira": ["Done/Done"],
                    },
                    {
                        "name": "closed:wontfix",
                        "intigriti": ["Closed/Informative"],
                        "jira": ["Done/Won't Do"],
                    },
                ],
            }
        }
    )
    control = e2e.world.intigriti.control
    code = e2e.world.report(status="Accepted")
    assert_ok(e2e.reconcile())
    control.edit_submission(code, status="Closed", close_reason="Resolved")
    assert_ok(e2e.reconcile())
    issue = e2e.issue_of(code)
    assert (issue["status"], issue["resolution"]) == ("Done", "Done")

    control.edit_submission(code, close_reason="Informative")
    e2e.reset_counters()
    assert_ok(e2e.reconcile())
    issue = e2e.issue_of(code)
    assert (issue["status"], issue["resolution"]) == ("Done", "Won't Do")
    assert writes_of_next_pass(e2e) == 0

    # The other way: Jira closes an accepted submission (syncd sends Close, Resolved),
    # then a human changes the resolution in place; Intigriti has no Closed -> Closed
    # trigger, so syncd undoes its own close and closes again with the new reason.
    jira = e2e.world.jira.control
    other = e2e.world.report(status="Accepted")
    assert_ok(e2e.reconcile())
    key = str(e2e.issue_of(other)["key"])
    jira.set_status(key, "Done", resolution="Done")
    assert_ok(e2e.reconcile())
    sub: dict[str, Any] = e2e.submission(other)
    assert (sub["status"], sub["closeReason"]) == ("Closed", "Resolved")

    jira.edit(key, fields={"resolution": {"name": "Won't Do"}})
    e2e.reset_counters()
    assert_ok(e2e.reconcile())
    sub = e2e.submission(other)
    assert (sub["status"], sub["closeReason"]) == ("Closed", "Informative")
    assert writes_of_next_pass(e2e) == 0


def test_a_duplicate_is_linked_to_its_original_once(e2e: E2E) -> None:
    control = e2e.world.intigriti.control
    original = e2e.world.report(status="Accepted")
    duplicate = e2e.world.report(status="Triage")
    assert_ok(e2e.reconcile())
    original_key = str(e2e.issue_of(original)["key"])
    duplicate_key = str(e2e.issue_of(duplicate)["key"])

    control.mark_duplicate(duplicate, original)
    assert_ok(e2e.reconcile())

    links = e2e.world.jira.control.links(duplicate_key)
    assert [(link["type"], link["phrase"], link["issue"]) for link in links] == [
        ("Duplicate", "duplicates", original_key)
    ]
    assert writes_of_next_pass(e2e) == 0
    assert len(e2e.world.jira.control.links(duplicate_key)) == 1


def test_payouts_land_in_the_configured_field_once(e2e: E2E) -> None:
    e2e.rewrite_config({"jira": {"payout_field": PAYOUT_FIELD}})
    control = e2e.world.intigriti.control
    code = e2e.world.report(status="Accepted")
    assert_ok(e2e.reconcile())
    assert PAYOUT_FIELD not in e2e.issue_of(code)["custom"]  # nothing paid: nothing said

    control.add_payout(code, 500)
    control.add_payout(code, 50, kind="bonus")
    e2e.reset_counters()
    assert_ok(e2e.reconcile())

    assert e2e.writes() == 1
    wanted = "EUR 550.00 (bounty 500.00, bonus 50.00)"
    assert e2e.issue_of(code)["custom"][PAYOUT_FIELD] == wanted
    assert writes_of_next_pass(e2e) == 0


def test_a_payout_comment_whose_answer_was_lost_is_not_sent_twice(e2e: E2E) -> None:
    e2e.rewrite_config({"jira": {"payout_field": "comment"}})
    control = e2e.world.intigriti.control
    code = e2e.world.report(status="Accepted")
    assert_ok(e2e.reconcile())
    key = str(e2e.issue_of(code)["key"])

    control.add_payout(code, 300)
    e2e.world.jira.control.drop_after_commit(route="POST /rest/api/*/issue/*/comment")
    assert_ok(e2e.reconcile())
    assert writes_of_next_pass(e2e) == 0

    bodies = [c["body"] for c in e2e.world.jira.control.comments(key)]
    payout_comments = [body for body in bodies if "Payouts on Intigriti" in body]
    assert len(payout_comments) == 1
    assert "EUR 300.00 (bounty 300.00, bonus 0.00)" in payout_comments[0]
    outcomes = [row["outcome"] for row in e2e.audit() if row["field"] == "payouts"]
    assert outcomes == ["unknown"]

    control.add_payout(code, 25, kind="bonus")  # a later payout is told, once
    assert_ok(e2e.reconcile())
    assert writes_of_next_pass(e2e) == 0
    bodies = [c["body"] for c in e2e.world.jira.control.comments(key)]
    assert sum("Payouts on Intigriti" in body for body in bodies) == 2
    assert any("EUR 325.00 (bounty 300.00, bonus 25.00)" in body for body in bodies)


def test_attachments_are_uploaded_once_and_a_too_large_one_stays_a_link(e2e: E2E) -> None:
    e2e.rewrite_config({"sync": {"upload_attachments": True, "attachment_max_bytes": 4096}})
    control = e2e.world.intigriti.control
    code = e2e.world.report(status="Triage")
    small = bytes(range(256)) * 4  # 1 KiB, every byte value
    control.add_attachment(code, "request.txt", small, "text/plain")
    control.add_attachment(code, "../../screen capture.png", b"\x89PNG" + b"0" * 8000)

    assert_ok(e2e.reconcile())

    key = str(e2e.issue_of(code)["key"])
    files = e2e.world.jira.control.attachments(key)
    assert [(f["filename"], f["size"]) for f in files] == [("request.txt", len(small))]
    description = description_of(e2e, code)
    assert "h3. Attachments (2)" in description
    assert writes_of_next_pass(e2e) == 0
    assert len(e2e.world.jira.control.attachments(key)) == 1
