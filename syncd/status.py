"""``syncd status``: what an operator needs to see, gathered from the database only."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from syncd.intigriti.oauth import TokenStatus
from syncd.logging import redacted_copy
from syncd.store.conversation import ENABLED_CURSOR, ConversationLedger
from syncd.store.instances import all_instances
from syncd.store.repository import Repository

#: an instance silent this long is shown as stale (the default instance timeout)
STALE_AFTER = timedelta(seconds=30)
SCHEMA_HINT = "database schema is missing or out of date: run `syncd db upgrade`"
LOGIN_HINT = "run `syncd auth login` to authorize syncd"


@dataclass(frozen=True)
class StatusReport:
    schema_current: bool
    links: dict[str, int] = field(default_factory=dict)
    blocked: list[dict[str, Any]] = field(default_factory=list)
    parked: list[dict[str, Any]] = field(default_factory=list)
    orphaned: list[dict[str, Any]] = field(default_factory=list)
    unmapped: list[dict[str, Any]] = field(default_factory=list)
    unmapped_total: int = 0
    failing: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    cycles: list[dict[str, Any]] = field(default_factory=list)
    instances: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    #: messages <-> comments copied, by direction and state (``to_jira:sent``: n)
    conversation: dict[str, int] = field(default_factory=dict)


def _when(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def format_instant(value: datetime | None) -> str:
    """``2026-12-01 20:04:06 UTC``, or ``never``."""
    if value is None:
        return "never"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(seconds: float) -> str:
    """``1h 05m``, ``4m 10s``, ``12s``."""
    whole = int(abs(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def render_token_status(
    state: TokenStatus | None, *, static: bool, missing: str | None = None
) -> str:
    """What `syncd auth status` prints: key: value lines, never the token, and what to do."""
    if static:
        return "\n".join(
            [
                "mode: static (intigriti.access_token, never refreshed)",
                "has_token: yes",
                "expires: never",
            ]
        )
    if state is None or not state.has_token:
        lines = ["mode: oauth", "has_token: no"]
        if missing:
            lines.append(f"note: {missing}")
        lines.append(f"next: {LOGIN_HINT}")
        return "\n".join(lines)
    expires = format_instant(state.expires_at)
    if state.seconds_left is not None:
        left = format_duration(state.seconds_left)
        if state.seconds_left >= 0:
            expires += f" (in {left})"
        else:
            expires += f" ({left} ago; refreshed when next used)"
    lines = [
        "mode: oauth",
        "has_token: yes",
        f"expires: {expires}",
        f"has_refresh_token: {'yes' if state.has_refresh_token else 'no'}",
        f"scopes: {state.scope or '-'}",
    ]
    if not state.has_refresh_token and state.expires_at is not None:
        lines.append(f"next: when it expires, {LOGIN_HINT} again")
    return "\n".join(lines)


def gather(
    repository: Repository, *, limit: int = 20, stale_after: timedelta = STALE_AFTER
) -> StatusReport:
    if not repository.is_current():
        return StatusReport(schema_current=False)
    now = datetime.now(UTC)
    instances = [
        {
            "id": instance.id,
            "host": instance.host,
            "pid": instance.pid,
            "command": instance.command,
            "role": instance.role,
            "since": _when(instance.role_since),
            "heartbeat": _when(instance.heartbeat_at),
            "alive": now - instance.heartbeat_at < stale_after,
            "version": instance.version,
        }
        for instance in all_instances(repository)
    ]
    duplicates = [
        {
            "submission": duplicate.submission_code,
            "issues": list(duplicate.issue_keys),
            "since": _when(duplicate.first_seen_at),
        }
        for duplicate in repository.duplicate_tags()
    ]
    counts = repository.link_counts()
    blocked = [
        {"submission": link.submission_code, "issue": link.issue_key, "reason": link.error}
        for link in repository.links_in_state("blocked", limit)
    ]
    parked = [
        {"submission": link.submission_code, "reason": link.error}
        for link in repository.links_in_state("parked", limit)
    ]
    orphaned = [
        {"submission": link.submission_code, "issue": link.issue_key, "reason": link.error}
        for link in repository.links_in_state("orphaned", limit)
    ]
    unmapped = [
        {"submission": link.submission_code, "issue": link.issue_key, "reason": link.unmapped}
        for link in repository.unmapped_links(limit)
    ]
    failing = [
        {
            "submission": link.submission_code,
            "issue": link.issue_key,
            "attempts": link.attempts,
            "error": link.error,
        }
        for link in repository.failing_links(limit)
        if link.state not in ("blocked", "parked", "orphaned")
    ]
    conflicts = [
        {
            "at": _when(entry.at),
            "submission": entry.submission_code,
            "field": entry.field,
            "intigriti": entry.old_value,
            "jira": entry.new_value,
            "outcome": entry.outcome,
            "detail": entry.detail,
        }
        for entry in repository.recent_audit(outcome_prefix="conflict", limit=limit)
    ]
    cycles = [
        {
            "source": cursor.source,
            "last_success": _when(cursor.last_success_at),
            "watermark": _when(cursor.watermark),
            "last_error": cursor.last_error,
            "last_error_at": _when(cursor.last_error_at),
            "stats": cursor.last_stats,
        }
        for cursor in repository.cursors()
        if cursor.source != ENABLED_CURSOR  # a date, not a cycle
    ]
    return StatusReport(
        schema_current=True,
        links=counts,
        blocked=blocked,
        parked=parked,
        orphaned=orphaned,
        unmapped=unmapped,
        unmapped_total=repository.count_unmapped(),
        failing=failing,
        conflicts=conflicts,
        cycles=cycles,
        instances=instances,
        duplicates=duplicates,
        conversation=ConversationLedger(repository).counts(),
    )


def render_json(report: StatusReport) -> str:
    return json.dumps(redacted_copy(asdict(report)), indent=2, sort_keys=True)


def _printable(value: Any) -> Any:
    """Text from servers and researchers, made safe for a terminal (no escape sequences)."""
    if isinstance(value, str):
        return "".join(ch if ch.isprintable() else " " for ch in value)
    if isinstance(value, dict):
        return {key: _printable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_printable(item) for item in value]
    return value


def render_text(report: StatusReport) -> str:
    data = _printable(redacted_copy(asdict(report)))
    if not report.schema_current:
        return SCHEMA_HINT
    lines = []
    lines.extend(_instance_lines(data["instances"]))
    total = sum(report.links.values())
    by_state = ", ".join(f"{state} {count}" for state, count in sorted(report.links.items()))
    lines.append(f"links: {total}" + (f" ({by_state})" if by_state else ""))
    for title, key in (
        ("blocked", "blocked"),
        ("parked", "parked"),
        ("orphaned (Jira issue deleted)", "orphaned"),
        ("unmapped", "unmapped"),
        ("failing", "failing"),
    ):
        items = data[key]
        total = report.unmapped_total if key == "unmapped" else len(items)
        lines.append(f"{title}: {total}")
        for item in items:
            who = item.get("submission")
            issue = f" [{item['issue']}]" if item.get("issue") else ""
            reason = item.get("reason") or item.get("error") or ""
            lines.append(f"  {who}{issue}: {reason}")
    lines.append(f"duplicate issues: {len(data['duplicates'])}")
    for item in data["duplicates"]:
        lines.append(
            f"  {item['submission']}: {', '.join(item['issues'])} carry its tag"
            f" (since {item['since']}); syncd syncs the linked one, remove the tag from the others"
        )
    if report.conversation:
        parts = ", ".join(f"{key} {n}" for key, n in sorted(report.conversation.items()))
        lines.append(f"conversation copies: {parts}")
    lines.append(f"recent conflicts: {len(data['conflicts'])}")
    for item in data["conflicts"]:
        lines.append(
            f"  {item['at']} {item['submission']} {item['field']}: intigriti={item['intigriti']}"
            f" jira={item['jira']} -> {item['outcome']}"
        )
    if not data["cycles"]:
        lines.append("cycles: none yet")
    for cycle in data["cycles"]:
        lines.append(
            f"cycle {cycle['source']}: last success {cycle['last_success'] or 'never'}"
            + (
                f", last error {cycle['last_error_at']}: {cycle['last_error']}"
                if cycle["last_error"]
                else ""
            )
        )
        stats = cycle.get("stats") or {}
        future = stats.get("future_timestamps") or {}
        if future.get("count"):
            lines.append(
                f"  future timestamps: {future['count']} ({', '.join(future.get('items', []))})"
                " dated after the server's clock: synced, but they do not move the watermark"
            )
        quota = stats.get("quota")
        if quota:
            for bucket in quota:
                lines.append(
                    f"  quota {bucket['name']}: {bucket['granted']} requests"
                    f" at {bucket['rate_per_minute']:g}/min, waited {bucket['waited_seconds']}s,"
                    f" server pauses {bucket['paused_by_server']}"
                )
    return "\n".join(lines)


def _instance_lines(instances: list[dict[str, Any]]) -> list[str]:
    alive = [i for i in instances if i["alive"]]
    active = [i for i in alive if i["role"] == "active"]
    lines = []
    if active:
        lines.append("active: " + "; ".join(_instance(i) for i in active))
    else:
        lines.append("active: none (no daemon holds the leader lease)")
    for title, role in (
        ("starting (waiting for the start-up checks)", "starting"),
        ("standby", "standby"),
        ("one-shot", "oneshot"),
    ):
        members = [i for i in alive if i["role"] == role]
        if members:
            lines.append(f"{title}: " + "; ".join(_instance(i) for i in members))
    stale = [i for i in instances if not i["alive"]]
    if stale:
        lines.append(
            "stale (no heartbeat; their claims are free): "
            + "; ".join(f"{_instance(i)}, last heartbeat {i['heartbeat']}" for i in stale)
        )
    return lines


def _instance(item: dict[str, Any]) -> str:
    return f"{item['host']} pid {item['pid']} ({item['command']}, since {item['since']})"
