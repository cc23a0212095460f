"""Benchmark: Jira requests per sync operation through the production adapter.

Starts the Jira simulator, warms the adapter up (deployment, time zone, fields,
priorities, resolutions, project, one full workflow walk) so the one-time hidden calls are
excluded, then counts the HTTP requests each operation costs with the simulator's
per-route counters. Prints a markdown table; ``run()`` returns the numbers.

    python bench/jira_requests.py
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from syncd.logging import configure_logging
from syncd.records import NewIssue
from syncd.simulators.jira import DEFAULT_API_TOKEN, DEFAULT_EMAIL, JiraSimulator
from syncd.tracker import JiraAdapter, JiraOptions

_codes = itertools.count(1)


def _new(project: str = "SEC") -> NewIssue:
    code = f"BENCH-{next(_codes):04d}"
    return NewIssue(
        project=project,
        submission_code=code,
        summary=f"Benchmark issue {code}",
        description="{noformat}\nbody\n{noformat}",
        priority="High",
        cvss="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    )


def _counted(sim: JiraSimulator, action: Callable[[], object]) -> dict[str, int]:
    sim.control.reset_counters()
    action()
    return {k: v for k, v in sim.control.counters().items() if "/_control" not in k}


def run() -> dict[str, Any]:
    """Requests per operation, after warm-up: ``{operation: {"total": n, "routes": {...}}}``."""
    with JiraSimulator() as sim:
        options = JiraOptions(
            url=sim.base_url,
            email=DEFAULT_EMAIL,
            api_token=DEFAULT_API_TOKEN,
            cvss_field="CVSS",
            requests_per_minute=60_000,
        )
        adapter = JiraAdapter(options)
        cold: dict[str, dict[str, int]] = {}
        cold["warm_up"] = _counted(sim, adapter.warm_up)
        first: list[Any] = []
        cold["first create (project lookup)"] = _counted(
            sim, lambda: first.append(adapter.create_issue(_new()))
        )
        cold["first multi-hop transition (learns workflow)"] = _counted(
            sim, lambda: adapter.transition_to(first[0].id, "Done", "Done")
        )
        cold["first poll"] = _counted(sim, lambda: adapter.changed_issues(None))
        stranger = JiraAdapter(options)  # a fresh process: nothing remembered
        stranger.warm_up()

        issues = [adapter.create_issue(_new()) for _ in range(3)]
        warm: dict[str, dict[str, int]] = {}
        made: list[Any] = []
        warm["create issue"] = _counted(sim, lambda: made.append(adapter.create_issue(_new())))
        warm["priority edit (+ CVSS field)"] = _counted(
            sim, lambda: adapter.set_priority(issues[0].id, "Low", "CVSS:3.1/AV:P")
        )
        warm["transition, 1 hop"] = _counted(
            sim, lambda: adapter.transition_to(issues[0].id, "In Progress", None)
        )
        warm["transition, 3 hops + resolution"] = _counted(
            sim, lambda: adapter.transition_to(issues[1].id, "Done", "Done")
        )
        warm["transition, already there"] = _counted(
            sim, lambda: adapter.transition_to(issues[1].id, "Done", "Done")
        )
        warm["idle poll (nothing changed)"] = _counted(
            sim, lambda: adapter.changed_issues(datetime.now(UTC))
        )
        warm["get issue"] = _counted(sim, lambda: adapter.get_issue(issues[2].id))
        code = made[0].submission_code
        warm["find by tag (created here)"] = _counted(
            sim, lambda: adapter.find_by_submission(code)
        )
        warm["find by tag (other process)"] = _counted(
            sim, lambda: stranger.find_by_submission(code)
        )
        stranger.close()
        adapter.close()
    return {
        "warm": {k: {"total": sum(v.values()), "routes": v} for k, v in warm.items()},
        "cold": {k: {"total": sum(v.values()), "routes": v} for k, v in cold.items()},
    }


def _table(title: str, rows: dict[str, dict[str, Any]]) -> str:
    lines = [f"### {title}", "", "| operation | requests | by route |", "| --- | ---: | --- |"]
    for name, row in rows.items():
        routes = ", ".join(
            f"`{route.replace('/rest/api/2', '')}` x{n}"
            for route, n in sorted(row["routes"].items())
        )
        lines.append(f"| {name} | {row['total']} | {routes} |")
    return "\n".join(lines)


def main() -> None:
    configure_logging("warning")
    result = run()
    print(_table("Jira requests per operation (after warm-up)", result["warm"]))
    print()
    print(_table("One-time costs (cached afterwards)", result["cold"]))


if __name__ == "__main__":
    main()
