"""Helpers for the Jira adapter's contract tests (plain functions, no conftest).

The tests run the real ``jira`` library over loopback HTTP against the Jira simulator.
``make_adapter`` injects a recording ``sleep`` so waits the adapter asks for (Retry-After,
backoff) are asserted on, not slept through; faults are count-limited, so a retry after a
skipped wait meets a healthy server.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from syncd.records import NewIssue
from syncd.simulators.jira import DEFAULT_API_TOKEN, DEFAULT_EMAIL, JiraSimulator
from syncd.tracker import JiraAdapter, JiraOptions

_codes = itertools.count(1)


def unique_code(prefix: str = "SUB") -> str:
    return f"{prefix}-{next(_codes):05d}"


@dataclass
class Sleeps:
    """A ``sleep`` that records the requested seconds instead of sleeping."""

    calls: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make_adapter(
    sim: JiraSimulator, *, sleep: Any = None, **overrides: Any
) -> tuple[JiraAdapter, Sleeps]:
    sleeps = Sleeps()
    values: dict[str, Any] = {
        "url": sim.base_url,
        "email": DEFAULT_EMAIL,
        "api_token": DEFAULT_API_TOKEN,
        "cvss_field": "CVSS",
        "timeout_seconds": 5.0,
        "requests_per_minute": 60_000,
    }
    values.update(overrides)
    adapter = JiraAdapter(JiraOptions(**values), sleep=sleep or sleeps)
    return adapter, sleeps


def new_issue(code: str, **overrides: Any) -> NewIssue:
    values: dict[str, Any] = {
        "project": "SEC",
        "submission_code": code,
        "summary": f"Reflected XSS ({code})",
        "description": "{noformat}\nresearcher text\n{noformat}",
        "priority": "High",
        "cvss": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
    }
    values.update(overrides)
    return NewIssue(**values)


def issues_tagged(sim: JiraSimulator, code: str) -> list[dict[str, Any]]:
    """Every issue in the simulator carrying this submission's property (ground truth)."""
    return [
        issue
        for issue in sim.control.issues()
        if (issue.get("properties") or {}).get("syncd", {}).get("submission") == code
    ]


def api_counts(sim: JiraSimulator) -> dict[str, int]:
    """Request counters without the control API's own routes."""
    return {k: v for k, v in sim.control.counters().items() if "/_control" not in k}
