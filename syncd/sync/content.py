"""What a new Jira issue says about a submission (creation content).

Researcher-written text (title, report, asset names, even the CVSS vector) is untrusted:
it is cleaned of control and invisible format characters, and every piece that lands in
the wiki-markup description goes through ``escape`` so it renders literally (no markup,
no mentions, no macros, no links). ``escape`` is a parameter so this module stays free of
Jira code: production passes the Jira adapter's wiki escaper.

Jira limits (counted in UTF-16 code units, as Java counts string length): the summary is
at most 255 characters and single-line; the description at most 32,767 characters. When
the report does not fit, it is cut, with a note and the link to the full submission.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence

from syncd.records import NewIssue, Submission
from syncd.sync.mapping import Mapping

SUMMARY_LIMIT = 255
DESCRIPTION_LIMIT = 32_767
#: cap for one inline field (asset, endpoint, ...): enough for any honest value
INLINE_LIMIT = 500
ELLIPSIS = "…"

Escape = Callable[[str], str]

_LINE_BREAKS = re.compile(r"\r\n|[\r\n\u2028\u2029\x0b\x0c\x85]")
_SUSPECT = re.compile(r"[^\x20-\x7e\n]")
_PLAIN_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
SAFE_URL = re.compile(r"^https?://[^\s|\[\]{}<>\"'\\]+$")
# Characters with a meaning somewhere in Jira wiki markup (text effects, links, macros,
# tables, lists, headings, emoticons, mentions, line breaks).
_WIKI_SPECIAL = frozenset("\\*_-+^~?{}[]|!#:@()&.=")


def utf16_len(text: str) -> int:
    """Length as Jira (Java) counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def cap_utf16(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """``text`` cut to at most ``limit`` UTF-16 units, ending in ``ellipsis`` when cut."""
    if utf16_len(text) <= limit:
        return text
    budget = limit - utf16_len(ellipsis)
    out: list[str] = []
    used = 0
    for ch in text:
        size = 2 if ord(ch) > 0xFFFF else 1
        if used + size > budget:
            break
        out.append(ch)
        used += size
    return "".join(out).rstrip() + ellipsis


def _keep(ch: str) -> bool:
    # Cc: control characters (terminal escapes, NUL); Cf: invisible format characters
    # (bidi overrides, zero-width spaces, BOM); Cs: lone surrogates (not encodable).
    return unicodedata.category(ch) not in {"Cc", "Cf", "Cs"}


def _strip_invisible(text: str, replacement: str) -> str:
    # Only characters outside printable ASCII need a category lookup; reports are mostly
    # ASCII, so this stays fast on megabyte-sized text.
    return _SUSPECT.sub(lambda m: m.group() if _keep(m.group()) else replacement, text)


def sanitize_line(text: str | None) -> str:
    """One clean line: control/format characters removed, whitespace collapsed."""
    if not text:
        return ""
    return " ".join(_strip_invisible(_LINE_BREAKS.sub(" ", text), " ").split())


def sanitize_block(text: str | None) -> str:
    """Multi-line text: newlines normalised, tabs to spaces, other controls removed."""
    if not text:
        return ""
    normalised = _LINE_BREAKS.sub("\n", text).replace("\t", "    ")
    cleaned = _strip_invisible(normalised, "")
    return "\n".join(line.rstrip() for line in cleaned.split("\n")).strip("\n")


def fallback_escape(text: str) -> str:
    """A conservative stand-in for the Jira adapter's wiki escaper.

    Backslash-escapes every character that has a meaning anywhere in wiki markup, which
    renders literally (if not prettily). Production passes the adapter's escaper.
    """
    return "".join("\\" + ch if ch in _WIKI_SPECIAL else ch for ch in text)


def summary_for(code: str, title: str | None) -> str:
    """``[<code>] <title>``: single line, cleaned, at most 255 UTF-16 units."""
    clean_title = sanitize_line(title) or "(no title)"
    return cap_utf16(f"[{sanitize_line(code)}] {clean_title}", SUMMARY_LIMIT)


def _submission_link(submission: Submission) -> str:
    """Markup naming the submission: a link when code and URL are plain, else words.

    No researcher text goes in here, and nothing escaped: escapers may emit blocks, which
    cannot sit inside a link.
    """
    code = submission.code.strip()
    url = (submission.web_url or "").strip()
    if not _PLAIN_CODE.match(code):
        return "the submission"
    if SAFE_URL.match(url):
        return f"[{code}|{url}]"
    return code


def _facts(submission: Submission, mapping: Mapping) -> str:
    """The submission's facts as plain ``Name: value`` lines (escaped as one block)."""

    def one(text: str | None) -> str:
        return cap_utf16(sanitize_line(text), INLINE_LIMIT)

    rows: list[tuple[str, str]] = [("Submission", one(submission.code))]
    canonical = mapping.canonical_severity_from_intigriti(submission.severity)
    priority = mapping.priority_for(canonical)
    severity = one(submission.severity) or "(not set)"
    rows.append(("Severity", f"{severity} (Jira priority {priority})" if priority else severity))
    if submission.cvss_vector:
        rows.append(("CVSS vector", one(submission.cvss_vector)))
    if submission.cvss_score is not None and math.isfinite(submission.cvss_score):
        rows.append(("CVSS score", f"{submission.cvss_score:g}"))
    rows.append(("Program", one(submission.program_id)))
    report = submission.report
    if report is not None:
        rows.extend(
            (name, one(value))
            for name, value in (
                ("Asset", report.asset),
                ("Endpoint", report.endpoint),
                ("Type", report.type_name),
                ("Category", report.category),
                ("CWE", report.cwe),
            )
            if one(value)
        )
        if one(report.original_title) and one(report.original_title) != one(submission.title):
            rows.append(("Original title", one(report.original_title)))
    if one(submission.researcher):
        rows.append(("Researcher", one(submission.researcher)))
    if one(submission.duplicate_of):
        rows.append(("Duplicate of", one(submission.duplicate_of)))
    return "\n".join(f"{name}: {value}" for name, value in rows)


def _attachment_lines(submission: Submission, escape: Escape) -> list[str]:
    """The report's attachments as links back to Intigriti (never copied by default).

    The API lists each attachment by code and URL only (a name and size are known once
    syncd fetched the file); a URL that is not a plain https link is shown as text.
    """
    report = submission.report
    if report is None or not report.attachments:
        return []
    lines = [f"h3. Attachments ({len(report.attachments)})"]
    for attachment in report.attachments[:100]:
        label = cap_utf16(sanitize_line(attachment.name or attachment.code), INLINE_LIMIT)
        size = f" ({_size(attachment.size)})" if attachment.size is not None else ""
        url = attachment.url.strip()
        if SAFE_URL.match(url) and url.startswith("https://"):
            lines.append(f"* [{link_text(label)}|{url}]{size}")
        else:
            lines.append(f"* {escape(label)}{size}: {escape(cap_utf16(url, INLINE_LIMIT))}")
    if len(report.attachments) > 100:
        lines.append(f"* … and {len(report.attachments) - 100} more on Intigriti")
    return lines


def link_text(text: str) -> str:
    """Text safe inside ``[text|url]``: only letters, digits and a few plain marks."""
    return "".join(ch if ch.isalnum() or ch in " ._-" else "_" for ch in text) or "attachment"


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


def _header(submission: Submission, mapping: Mapping, escape: Escape) -> list[str]:
    return [
        f"h2. Intigriti submission {_submission_link(submission)}",
        escape(_facts(submission, mapping)),
    ]


def _report_sections(submission: Submission) -> list[tuple[str, str]]:
    report = submission.report
    if report is None:
        return []
    sections = [
        ("Proof of concept", sanitize_block(report.poc_description)),
        ("Impact", sanitize_block(report.impact)),
        ("Recommended solution", sanitize_block(report.recommended_solution)),
    ]
    return [(title, text) for title, text in sections if text]


def _render(
    header: Sequence[str],
    sections: Sequence[tuple[str, str]],
    budget: int,
    tail: Sequence[str],
    escape: Escape,
) -> str:
    """The description with at most ``budget`` raw report characters."""
    parts = ["\n".join(header)]
    left = budget
    for title, text in sections:
        if left <= 0:
            break
        shown = text[:left]
        left -= len(shown)
        parts.append(f"h3. {title}\n{escape(shown)}")
    parts.append("\n".join(tail))
    return "\n\n".join(parts)


def build_description(
    submission: Submission,
    mapping: Mapping,
    *,
    include_report: bool,
    escape: Escape,
    limit: int = DESCRIPTION_LIMIT,
) -> str:
    """The wiki-markup description, at most ``limit`` UTF-16 units."""
    header = _header(submission, mapping, escape)
    link = _submission_link(submission)
    footer = f"_Created by syncd from Intigriti submission {link}. "
    footer += "Researcher-written text is shown literally._"
    sections = _report_sections(submission) if include_report else []
    total = sum(len(text) for _, text in sections)
    if not include_report:
        tail = [f"_The report is not copied to Jira; read it on Intigriti: {link}_", footer]
        return cap_utf16(_render(header, [], 0, tail, escape), limit)
    if submission.report is None:
        tail = [f"_No report text was available; read it on Intigriti: {link}_", footer]
        return cap_utf16(_render(header, [], 0, tail, escape), limit)

    attachments = _attachment_lines(submission, escape)
    footer_lines = [*attachments, footer] if attachments else [footer]
    full = _render(header, sections, total, footer_lines, escape)
    if utf16_len(full) <= limit:
        return full

    def cut_tail(shown: int) -> list[str]:
        return [
            f"_Report cut to fit Jira's description limit: {shown:,} of {total:,} characters "
            f"shown. Read the full report on Intigriti: {link}_",
            *attachments,
            footer,
        ]

    # Largest prefix of the raw report whose escaped rendering fits. Cutting raw text
    # before escaping never splits an escape sequence.
    def fits(shown: int) -> bool:
        return utf16_len(_render(header, sections, shown, cut_tail(shown), escape)) <= limit

    # Escaping rarely shrinks text, so the answer is almost always below ``limit`` raw
    # characters: probe there first and keep every later probe small.
    low, high = 0, min(total, limit)
    if fits(high):
        low, high = high, total
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    # cap_utf16 is the last resort for an escaper that grows text pathologically.
    return cap_utf16(_render(header, sections, low, cut_tail(low), escape), limit)


def build_new_issue(
    submission: Submission,
    mapping: Mapping,
    *,
    project: str,
    include_report: bool = True,
    label: str = "intigriti",
    escape: Escape,
) -> NewIssue:
    """The issue syncd creates for ``submission`` (Intigriti to Jira, once)."""
    canonical = mapping.canonical_severity_from_intigriti(submission.severity)
    vector = cap_utf16(sanitize_line(submission.cvss_vector), INLINE_LIMIT) or None
    return NewIssue(
        project=project,
        submission_code=submission.code,
        summary=summary_for(submission.code, submission.title),
        description=build_description(
            submission, mapping, include_report=include_report, escape=escape
        ),
        priority=mapping.priority_for(canonical),
        labels=(label,) if label.strip() else (),
        cvss=vector,
        issue_type=mapping.issue_type,
    )
