"""Jira's timestamp format and the date literals of JQL.

Jira renders instants as ``2025-01-02T03:04:05.678+0100``: milliseconds, and an offset
without a colon, in the requesting user's time zone. JQL date literals have minute
precision and are read in the searching user's time zone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

_ABSOLUTE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
_RELATIVE = re.compile(r"^([+-]?)(\d+)([mhdw]?)$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800, "": 60}


def utc_now() -> datetime:
    """The current instant, truncated to milliseconds as Jira stores it."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond - now.microsecond % 1000)


def format_jira(instant: datetime, tz: ZoneInfo) -> str:
    local = instant.astimezone(tz)
    return (
        local.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{local.microsecond // 1000:03d}"
        + local.strftime("%z")
    )


def format_minute_utc(instant: datetime) -> str:
    """``yyyy-MM-ddTHH:mmZ``, the form of ``X-RateLimit-Reset``."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def parse_jira(text: str) -> datetime:
    """Parse Jira's format (also accepts ISO 8601 with a colon offset or ``Z``)."""
    cleaned = text.strip()
    if cleaned.endswith("Z"):
        cleaned = cleaned[:-1] + "+00:00"
    try:
        parsed = datetime.strptime(cleaned, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        parsed = datetime.fromisoformat(cleaned)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_jql_date(literal: str, tz: ZoneInfo, now: datetime) -> datetime:
    """Turn a JQL date literal into a UTC instant; raise ``ValueError`` if it is not one.

    Absolute literals are wall-clock times in ``tz``; relative ones (``-5m``, ``-2d``)
    count from ``now``; a bare number of digits longer than a relative offset is read as
    epoch milliseconds, as Jira reads an unquoted number.
    """
    text = literal.strip()
    for fmt in _ABSOLUTE_FORMATS:
        try:
            wall = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return wall.replace(tzinfo=tz).astimezone(UTC)
    if text.isdigit() and len(text) >= 10:
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    match = _RELATIVE.match(text)
    if match is not None:
        sign, amount, unit = match.groups()
        delta = timedelta(seconds=int(amount) * _UNIT_SECONDS[unit])
        return now - delta if sign == "-" else now + delta
    raise ValueError(literal)
