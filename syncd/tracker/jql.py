"""JQL text for the adapter's searches, and the time-zone-aware watermark literal.

JQL absolute dates have minute precision and are read in the *searching user's* profile
time zone (reference §1.4), so a UTC watermark is converted to that zone and floored to the
minute. Flooring only widens the window, which is safe: the caller de-duplicates.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: Widest UTC offset in use (UTC+14, Kiribati): with an unknown zone we widen by this much.
_MAX_OFFSET = timedelta(hours=14)
_SAFE_CODE = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


def quote(value: str) -> str:
    """A JQL string literal: double quotes, with backslash and quote escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\n", " ").replace("\r", " ")
    return f'"{escaped}"'


def user_zone(name: str | None) -> tzinfo | None:
    """The ZoneInfo for a Jira ``timeZone`` value, or None when it is missing or unknown."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def watermark_literal(since: datetime, zone: tzinfo | None) -> str:
    """``since`` as a JQL date literal (``yyyy-MM-dd HH:mm``) no later than ``since``.

    ``zone`` is the API user's time zone; None means unknown, and then the literal is
    written in UTC minus the widest offset in use, so whatever zone Jira reads it in, it
    is not later than ``since``. When the local wall time is ambiguous (the repeated hour
    when daylight saving ends), Jira may read it as the later instant, so we step back by
    the offset difference first.
    """
    if since.tzinfo is None or since.utcoffset() is None:
        raise ValueError("since must be timezone-aware")
    if zone is None:
        local = (since - _MAX_OFFSET).astimezone(ZoneInfo("UTC"))
    else:
        local = since.astimezone(zone)
        other = local.replace(fold=1 - local.fold)
        first, second = local.utcoffset(), other.utcoffset()
        if first is not None and second is not None and first != second:
            local = (since - abs(first - second)).astimezone(zone)
    return local.strftime("%Y-%m-%d %H:%M")


def changed_issues_jql(label: str, since_literal: str | None) -> str:
    """All issues carrying ``label`` (updated at or after the literal), oldest first."""
    clauses = [f"labels = {quote(label)}"]
    if since_literal is not None:
        clauses.append(f"updated >= {quote(since_literal)}")
    # key ASC breaks ties between issues updated in the same millisecond (stable paging).
    return " AND ".join(clauses) + " ORDER BY updated ASC, key ASC"


def submission_label(label: str, code: str) -> str | None:
    """The per-submission label ``<label>-<code>``, or None when the code is not label-safe."""
    if not _SAFE_CODE.match(code):
        return None
    return f"{label}-{code}"


def find_submission_jql(
    label: str, property_key: str, code: str, *, with_property: bool = True
) -> str | None:
    """Issues tagged with submission ``code``: by its label, or by entity property.

    Both tags are written at creation. The label is indexed on every Jira; the property
    survives a human editing labels, but Jira Cloud only indexes entity properties for
    JQL when an app declares them, so ``with_property=False`` is the fallback when Jira
    refuses the property clause. None when neither clause can be written (a code that
    is not label-safe, and no property search).
    """
    clauses: list[str] = []
    per_submission = submission_label(label, code)
    if per_submission is not None:
        clauses.append(f"labels = {quote(per_submission)}")
    if with_property:
        clauses.append(f"issue.property[{property_key}].submission = {quote(code)}")
    if not clauses:
        return None
    return " OR ".join(clauses) + " ORDER BY created ASC, key ASC"


def tagged_with_any_jql(
    label: str, property_key: str, codes: Sequence[str], *, with_property: bool = True
) -> str | None:
    """Issues carrying ``label`` and tagged with any of ``codes``: the full search
    (``changed_issues_jql`` without a date) narrowed to one chunk of a sweep.

    Each code is matched as :func:`find_submission_jql` matches one: by its label, or by
    the entity property. None when some code cannot be searched (not label-safe, and no
    property search): the caller must not take its absence for "no issue".
    """
    labels: list[str] = []
    for code in codes:
        per_submission = submission_label(label, code)
        if per_submission is None and not with_property:
            return None
        if per_submission is not None:
            labels.append(quote(per_submission))
    clauses: list[str] = []
    if labels:
        clauses.append(f"labels in ({', '.join(labels)})")
    if with_property and codes:
        values = ", ".join(quote(code) for code in codes)
        clauses.append(f"issue.property[{property_key}].submission in ({values})")
    if not clauses:
        return None
    return f"labels = {quote(label)} AND ({' OR '.join(clauses)}) ORDER BY key ASC"


def sample_in_status_jql(project_id: str, issue_type_id: str, status: str) -> str:
    """One issue of this project and type in ``status`` (to read its transitions)."""
    return (
        f"project = {quote(project_id)} AND issuetype = {quote(issue_type_id)} "
        f"AND status = {quote(status)}"
    )


def sample_of_type_jql(project_id: str, issue_type_id: str) -> str:
    """One issue of this project and type, whatever its status (to read its edit screen)."""
    return f"project = {quote(project_id)} AND issuetype = {quote(issue_type_id)}"
