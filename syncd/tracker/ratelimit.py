"""Reading Jira's 429 answers, and remembering pauses by their scope.

Jira Cloud says *why* it refused (``RateLimit-Reason``, reference §3.1) and the back-off
should match: a per-issue write limit pauses writes to that one issue, a burst limit slows
that endpoint, and anything else (tenant quota, unknown) pauses the whole Jira bucket.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from syncd.retry_after import parse_retry_after

#: Used when a 429 carries neither Retry-After nor X-RateLimit-Reset.
DEFAULT_RETRY_SECONDS = 5.0


class Scope(enum.Enum):
    ISSUE = "issue"  # jira-per-issue-on-write: only writes to that issue
    ROUTE = "route"  # jira-burst-based: one endpoint + method
    GLOBAL = "global"  # quota reasons or unknown: everything


@dataclass(frozen=True)
class RetryHint:
    seconds: float
    scope: Scope
    reason: str | None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value.strip()
    return None


def parse_reset(value: str | None, now: datetime) -> float | None:
    """Seconds until ``X-RateLimit-Reset`` (``yyyy-MM-ddTHH:mmZ``, seconds optional)."""
    if not value:
        return None
    text = value.strip()
    for fmt in ("%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            when = datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        return max(0.0, (when - now).total_seconds())
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def scope_of(reason: str | None) -> Scope:
    if reason == "jira-per-issue-on-write":
        return Scope.ISSUE
    if reason == "jira-burst-based":
        return Scope.ROUTE
    return Scope.GLOBAL


def retry_hint(headers: Mapping[str, str], now: datetime | None = None) -> RetryHint:
    """How long to wait after a 429 (or a 503 with Retry-After), and for what scope.

    ``Retry-After`` wins; ``X-RateLimit-Reset`` is used when it is missing; with neither,
    ``DEFAULT_RETRY_SECONDS``.
    """
    moment = now or datetime.now(UTC)
    seconds = parse_retry_after(_header(headers, "Retry-After"), moment)
    if seconds is None:
        seconds = parse_reset(_header(headers, "X-RateLimit-Reset"), moment)
    if seconds is None:
        seconds = DEFAULT_RETRY_SECONDS
    reason = _header(headers, "RateLimit-Reason")
    return RetryHint(seconds=seconds, scope=scope_of(reason), reason=reason)


class PauseBoard:
    """Pauses by issue (writes) and by route, until a monotonic deadline. Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._issues: dict[str, float] = {}
        self._routes: dict[str, float] = {}

    def pause_issue(self, issue: str, seconds: float) -> None:
        with self._lock:
            until = self._clock() + seconds
            self._issues[issue] = max(self._issues.get(issue, 0.0), until)

    def pause_route(self, route: str, seconds: float) -> None:
        with self._lock:
            until = self._clock() + seconds
            self._routes[route] = max(self._routes.get(route, 0.0), until)

    def remaining(self, route: str, issue: str | None) -> float:
        """Seconds until a call on ``route`` (writing ``issue``, if any) may go."""
        with self._lock:
            now = self._clock()
            waits = [self._routes.get(route, 0.0) - now]
            if issue is not None:
                waits.append(self._issues.get(issue, 0.0) - now)
            return max(0.0, *waits)

    def snapshot(self) -> dict[str, dict[str, float]]:
        """Active pauses, in seconds left, for ``syncd status`` and tests."""
        with self._lock:
            now = self._clock()
            return {
                "issues": {k: round(v - now, 3) for k, v in self._issues.items() if v > now},
                "routes": {k: round(v - now, 3) for k, v in self._routes.items() if v > now},
            }
