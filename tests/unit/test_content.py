"""Creation content from untrusted researcher text (syncd.sync.content)."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.records import Submission, SubmissionReport
from syncd.sync.content import (
    DESCRIPTION_LIMIT,
    SUMMARY_LIMIT,
    build_new_issue,
    cap_utf16,
    fallback_escape,
    sanitize_block,
    sanitize_line,
    summary_for,
    utf16_len,
)
from syncd.sync.mapping import default_mapping
from syncd.tracker.markup import escape_wiki

T0 = datetime(2026, 3, 1, tzinfo=UTC)
M = default_mapping(default_project="SEC")
URL = "https://app.intigriti.com/company/submissions/prog-1/ACME-1"
HOSTILE = [
    "{noformat}{html}<script>alert(1)</script>{html}",
    "[~accountid:5b10a2844c20165700ede21g] [click|javascript:alert(1)]",
    "h1. BIG\n----\n* list\n# item\n||a||b||\n!http://evil/x.png!",
    "*bold* _it_ {{mono}} {code}x{code} {color:red}r{color} \\\\ :) (y)",
    "\u202eevil\u202c \x1b[31mred\x1b[0m \x00nul \u200bzw",
]


def sub(**changes: Any) -> Submission:
    base = Submission(
        code="ACME-1",
        program_id="prog-1",
        title="Stored XSS",
        status="Triage",
        close_reason=None,
        severity="Exceptional",
        cvss_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
        cvss_score=10.0,
        internal_reference=None,
        internal_reference_url=None,
        created_at=T0,
        updated_at=T0,
        web_url=URL,
        researcher="eve",
        report=SubmissionReport(
            original_title="Stored XSS",
            type_name="Cross-site scripting",
            category="Injection",
            cwe="CWE-79",
            asset="app.example.com",
            endpoint="/profile",
            poc_description="1. log in\r\n2. set name",
            impact="Account takeover",
            recommended_solution="Encode output",
        ),
    )
    return dataclasses.replace(base, **changes)


class Recorder:
    """A stand-in escaper: replaces each piece with a numbered token and remembers it."""

    def __init__(self) -> None:
        self.pieces: list[str] = []

    def __call__(self, text: str) -> str:
        self.pieces.append(text)
        return f"<<{len(self.pieces) - 1}>>"


def outside_noformat(description: str) -> str:
    """The description with every {noformat} block removed (what Jira would render)."""
    assert description.count("{noformat}") % 2 == 0
    return re.sub(r"\{noformat\}.*?\{noformat\}", "", description, flags=re.DOTALL)


# -- summary ---------------------------------------------------------------------------------


def test_summary_is_code_and_title() -> None:
    assert summary_for("ACME-1", "Stored XSS") == "[ACME-1] Stored XSS"


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("line one\nline two\r\nthree", "[ACME-1] line one line two three"),
        ("tab\tand  spaces ", "[ACME-1] tab and spaces"),
        ("\x1b[31mred\x1b[0m", "[ACME-1] [31mred [0m"),
        ("\u202eevil\u202c", "[ACME-1] evil"),
        ("nul\x00byte", "[ACME-1] nul byte"),
        ("a\u2028b\u2029c", "[ACME-1] a b c"),
        ("lone \ud800 surrogate", "[ACME-1] lone surrogate"),
        ("", "[ACME-1] (no title)"),
        ("  \n ", "[ACME-1] (no title)"),
    ],
)
def test_summary_is_one_clean_line(title: str, expected: str) -> None:
    summary = summary_for("ACME-1", title)
    assert summary == expected
    summary.encode("utf-8")  # no lone surrogates left


def test_summary_capped_in_utf16_units() -> None:
    long = summary_for("ACME-1", "x" * 1000)
    assert len(long) == SUMMARY_LIMIT and long.endswith("…")
    emoji = summary_for("ACME-1", "\U0001f600" * 300)
    assert utf16_len(emoji) <= SUMMARY_LIMIT
    assert utf16_len(emoji) >= SUMMARY_LIMIT - 2
    assert "\ud83d" not in emoji  # never half a surrogate pair


def test_cap_and_length_helpers() -> None:
    assert utf16_len("a\U0001f600") == 3
    assert cap_utf16("abc", 3) == "abc"
    assert cap_utf16("abcdef", 4) == "abc…"
    assert sanitize_block("a\r\nb\rc\x07\n\n") == "a\nb\nc"
    assert sanitize_line(None) == ""
    assert sanitize_line("café \U0001f600 日本 ünï") == "café \U0001f600 日本 ünï"
    assert sanitize_block("x\u200by\ufeff\n\u00a0z") == "xy\n\u00a0z"


# -- fields ----------------------------------------------------------------------------------


def test_new_issue_fields() -> None:
    new = build_new_issue(sub(), M, project="SEC", label="intigriti", escape=escape_wiki)
    assert new.project == "SEC"
    assert new.submission_code == "ACME-1"
    assert new.summary == "[ACME-1] Stored XSS"
    assert new.priority == "Highest"  # Exceptional is in the Critical class
    assert new.labels == ("intigriti",)
    assert new.cvss == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"
    assert new.issue_type == "Bug"
    assert f"[ACME-1|{URL}]" in new.description
    for text in ("app.example.com", "/profile", "CWE-79", "Account takeover", "Encode output",
                 "1. log in\n2. set name", "Severity: Exceptional (Jira priority Highest)",
                 "CVSS score: 10"):
        assert text in new.description, text


def test_unset_severity_gives_no_priority_and_blank_label_no_labels() -> None:
    new = build_new_issue(
        sub(severity=None, cvss_vector="  "), M, project="SEC", label=" ", escape=escape_wiki
    )
    assert new.priority is None
    assert new.labels == ()
    assert new.cvss is None
    assert "Severity: (not set)" in new.description


def test_every_researcher_piece_goes_through_escape() -> None:
    report = SubmissionReport(
        original_title=HOSTILE[0], type_name=HOSTILE[1], category=HOSTILE[2], cwe=HOSTILE[3],
        asset=HOSTILE[4], endpoint=HOSTILE[0], poc_description=HOSTILE[1],
        impact=HOSTILE[2], recommended_solution=HOSTILE[3],
    )
    recorder = Recorder()
    new = build_new_issue(
        sub(title=HOSTILE[2], researcher=HOSTILE[1], cvss_vector=HOSTILE[3], report=report),
        M, project="SEC", escape=recorder,
    )
    rendered = re.sub(r"<<\d+>>", "", new.description)
    for marker in ("script", "accountid", "BIG", "bold", "evil", "{", "!http", "javascript"):
        assert marker not in rendered, marker
    escaped = "\n".join(recorder.pieces)
    for marker in ("script", "accountid", "BIG", "bold", "evil"):
        assert marker in escaped, marker
    assert "\x1b" not in escaped and "\u202e" not in escaped and "\x00" not in escaped


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_renders_literally_with_the_real_escaper(hostile: str) -> None:
    report = SubmissionReport(asset=hostile, poc_description=hostile, impact=hostile,
                              recommended_solution=hostile, type_name=hostile)
    new = build_new_issue(sub(title=hostile, researcher=hostile, report=report), M,
                          project="SEC", escape=escape_wiki)
    visible = outside_noformat(new.description)
    for marker in ("script", "accountid", "BIG", "bold", "evil", "!http", "{html}", "{code}"):
        assert marker not in visible, (marker, visible)


def test_fallback_escape_neutralises_markup() -> None:
    escaped = fallback_escape("*b* [~x] {code} h1. -")
    assert escaped == "\\*b\\* \\[\\~x\\] \\{code\\} h1\\. \\-"


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "https://x/|evil", "https://x/]", "", None, "http://a b"]
)
def test_unsafe_web_url_is_not_linked(url: str | None) -> None:
    new = build_new_issue(sub(web_url=url), M, project="SEC", escape=escape_wiki)
    assert "[ACME-1|" not in new.description
    assert "h2. Intigriti submission ACME-1" in new.description


def test_odd_code_is_never_markup() -> None:
    new = build_new_issue(sub(code="A]|[x"), M, project="SEC", escape=escape_wiki)
    visible = outside_noformat(new.description)
    assert "A]|[x" not in visible
    assert "Submission: A]|[x" in new.description  # still shown, inside the literal block


# -- report handling -------------------------------------------------------------------------


def test_include_report_false_leaves_report_out() -> None:
    new = build_new_issue(sub(), M, project="SEC", include_report=False, escape=escape_wiki)
    assert "Account takeover" not in new.description
    assert "not copied to Jira" in new.description
    assert "app.example.com" in new.description  # facts are still there


def test_missing_report_says_so() -> None:
    new = build_new_issue(sub(report=None), M, project="SEC", escape=escape_wiki)
    assert "No report text was available" in new.description


@pytest.mark.parametrize("escape", [escape_wiki, fallback_escape], ids=["wiki", "fallback"])
@pytest.mark.parametrize("unit", ["a", "\U0001f600", "*", "{noformat}\n"])
def test_huge_report_is_cut_to_the_limit_with_a_note(
    escape: Any, unit: str
) -> None:
    huge = unit * (200_000 // len(unit))
    report = SubmissionReport(poc_description=huge, impact="impact " * 5000,
                              recommended_solution="fix")
    new = build_new_issue(sub(report=report), M, project="SEC", escape=escape)
    description = new.description
    assert utf16_len(description) <= DESCRIPTION_LIMIT
    assert utf16_len(description) > DESCRIPTION_LIMIT - 2000  # cut, not dropped
    assert "Report cut to fit" in description
    assert f"[ACME-1|{URL}]" in description.split("Report cut to fit")[1]
    assert description.rstrip().endswith("shown literally._")
    if escape is escape_wiki:
        outside_noformat(description)  # blocks still balanced after the cut


def test_report_that_fits_is_not_cut() -> None:
    report = SubmissionReport(poc_description="x" * 30_000)
    new = build_new_issue(sub(report=report), M, project="SEC", escape=escape_wiki)
    assert "Report cut" not in new.description
    assert "x" * 30_000 in new.description


def test_pathological_escaper_still_respects_the_limit() -> None:
    def bloat(text: str) -> str:
        return text * 50

    report = SubmissionReport(poc_description="y" * 5000, asset="z" * 400)
    new = build_new_issue(sub(report=report), M, project="SEC", escape=bloat)
    assert utf16_len(new.description) <= DESCRIPTION_LIMIT


@settings(max_examples=150, deadline=None)
@given(
    title=st.text(),
    poc=st.text(max_size=2000),
    asset=st.none() | st.text(max_size=600),
    repeat=st.integers(min_value=1, max_value=40),
)
def test_any_text_gives_a_valid_issue(title: str, poc: str, asset: str | None, repeat: int) -> None:
    report = SubmissionReport(poc_description=poc * repeat, asset=asset, impact=title)
    new = build_new_issue(sub(title=title, report=report), M, project="SEC", escape=escape_wiki)
    assert utf16_len(new.summary) <= SUMMARY_LIMIT
    assert new.summary.startswith("[ACME-1] ")
    assert all(unicodedata.category(ch) not in {"Cc", "Cf", "Cs"} for ch in new.summary)
    assert utf16_len(new.description) <= DESCRIPTION_LIMIT
    new.description.encode("utf-8")
    visible = outside_noformat(new.description)  # blocks balanced
    assert "\x1b" not in new.description
    assert visible.count("[") == visible.count("]")  # only syncd's own links
