"""Jira issue JSON (v2) to ``syncd.records.Issue``; nothing else reads issue JSON."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeGuard

from syncd.errors import ItemError
from syncd.records import Issue

#: The fields every read asks for; never ``*all`` (reference §1.2: payload and cost).
BASE_FIELDS: tuple[str, ...] = (
    "summary",
    "status",
    "priority",
    "resolution",
    "updated",
    "labels",
    "project",
    "issuetype",
    "issuelinks",
)


def _is_object(value: object) -> TypeGuard[Mapping[str, Any]]:
    """A JSON object. ``type(...) is dict`` first: what the JSON decoder gives, checked
    without the ABC machinery (a search page has a dozen objects per issue)."""
    return type(value) is dict or isinstance(value, Mapping)


def parse_jira_time(value: str) -> datetime:
    """``2025-01-02T03:04:05.678+0000`` (offset without colon, ms optional) -> aware UTC.

    ``fromisoformat`` (Python 3.11 reads the colon-less offset) is tried first: strptime
    is ten times slower, and a full pass parses two timestamps per issue."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None:
        for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
            try:
                parsed = datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        raise ValueError("not a Jira timestamp")
    if parsed.tzinfo is None:
        raise ValueError("timestamp without offset")
    return parsed.astimezone(UTC)


def _name(fields: Mapping[str, Any], key: str) -> str | None:
    value = fields.get(key)
    if value is None:
        return None
    if not _is_object(value) or not isinstance(value.get("name"), str):
        raise TypeError(f"expected an object with a name, got {type(value).__name__}")
    return str(value["name"])


def submission_code(raw: Mapping[str, Any], label: str, property_key: str) -> str | None:
    """The submission code from our entity property, else from ``<label>-<code>``."""
    props = raw.get("properties")
    if _is_object(props):
        value = props.get(property_key)
        if _is_object(value) and isinstance(value.get("submission"), str):
            return str(value["submission"])
    fields = raw.get("fields")
    labels = fields.get("labels") if _is_object(fields) else None
    if not isinstance(labels, list):
        return None  # no labels, or not a list of them: no tag (parse_issue names the field)
    prefix = f"{label}-"
    for item in labels:
        if isinstance(item, str) and item.startswith(prefix) and len(item) > len(prefix):
            return item[len(prefix) :]
    return None


def duplicated_keys(fields: Mapping[str, Any], link_type: str) -> tuple[str, ...]:
    """Keys of the issues this one duplicates: ``issuelinks`` entries of ``link_type`` that
    show the other end as ``outwardIssue`` (this issue <outward phrase> that one).

    Lenient: a malformed entry is skipped rather than failing the whole issue, because
    linking checks Jira again before it writes (a missed link is never linked twice)."""
    links = fields.get("issuelinks")
    if not isinstance(links, list):
        return ()
    keys: list[str] = []
    for link in links:
        if not _is_object(link):
            continue
        kind, other = link.get("type"), link.get("outwardIssue")
        name = kind.get("name") if _is_object(kind) else None
        key = other.get("key") if _is_object(other) else None
        same_type = isinstance(name, str) and name.casefold() == link_type.casefold()
        if same_type and isinstance(key, str) and key not in keys:
            keys.append(key)
    return tuple(keys)


def _intern(value: str | None) -> str | None:
    return None if value is None else sys.intern(value)


def parse_issue(
    raw: Mapping[str, Any],
    *,
    label: str,
    property_key: str,
    cvss_field: str | None,
    browse_base: str,
    duplicate_link_type: str = "Duplicate",
) -> Issue:
    """One issue; raises ItemError naming the issue and the offending field."""
    item = str(raw.get("key") or raw.get("id") or "?")

    def fail(field: str, message: str) -> ItemError:
        return ItemError(message, item=item, field=field, system="jira")

    issue_id, key = raw.get("id"), raw.get("key")
    if not isinstance(issue_id, str | int) or not isinstance(key, str):
        raise fail("id", "missing id or key")
    fields = raw.get("fields")
    if not _is_object(fields):
        raise fail("fields", "missing fields object")
    current = "status"
    try:
        status = _name(fields, "status")
        if status is None:
            raise TypeError("missing")
        current = "priority"
        priority = _name(fields, "priority")
        current = "resolution"
        resolution = _name(fields, "resolution")
        current = "project"
        project = fields.get("project") or {}
        project_key = project.get("key") if _is_object(project) else None
        if not isinstance(project_key, str):
            project_key = key.rsplit("-", 1)[0]
        current = "updated"
        updated_raw = fields.get("updated")
        if not isinstance(updated_raw, str):
            raise TypeError("missing")
        updated = parse_jira_time(updated_raw)
    except (TypeError, ValueError) as exc:
        raise fail(current, str(exc) or "invalid") from None
    cvss: str | None = None
    if cvss_field is not None:
        value = fields.get(cvss_field)
        if _is_object(value):  # a select option
            value = value.get("value")
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            cvss = str(value)
    # a full search holds every issue at once: the few names that repeat across them are
    # kept once each (interned), not once per issue
    return Issue(
        id=str(issue_id),
        key=key,
        project=sys.intern(project_key),
        status=sys.intern(status),
        priority=_intern(priority),
        resolution=_intern(resolution),
        updated_at=updated,
        submission_code=submission_code(raw, label, property_key),
        cvss=_intern(cvss),
        url=f"{browse_base}/browse/{key}",
        duplicates=duplicated_keys(fields, duplicate_link_type),
    )
