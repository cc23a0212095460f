"""``syncd explain CODE`` and ``syncd resync CODE``: one submission, looked at and synced.

``explain`` reads the link row, both sides live, and asks the executor in dry-run mode
what it would do now; it writes nothing. ``resync`` releases a blocked, parked or failing
link (audited as the operator's act) and syncs that one submission at once, under the
same claim protocol as every other writer.

Everything printed from the APIs (a title is researcher-written) goes through
``_safe``: control characters are shown escaped, never sent to the terminal.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from syncd.errors import CredentialError, RemoteError
from syncd.records import Issue, Submission
from syncd.store.repository import AuditEntry, AuditRecord, LinkRecord
from syncd.sync.executor import Outcome, Summary
from syncd.wiring import Runtime

#: how much of the audit history explain shows, newest first
AUDIT_LIMIT = 30

_BASES = (
    ("severity", "base_severity"),
    ("status", "base_status"),
    ("reference", "base_internal_reference"),
    ("cvss", "base_cvss"),
    ("duplicate", "base_duplicate"),
    ("payouts", "base_payouts"),
    ("payout_total", "base_payout_total"),
    ("description", "base_description"),
    ("attachments", "base_attachments"),
)


@dataclass
class Explanation:
    code: str
    link: LinkRecord | None
    submission: Submission | None = None
    submission_error: str | None = None
    issue: Issue | None = None
    issue_error: str | None = None
    plan: list[str] = field(default_factory=list)
    outcome: str = ""
    audit: list[AuditRecord] = field(default_factory=list)


def explain(runtime: Runtime, code: str) -> Explanation:
    """Needs a dry-run runtime (its executor plans and never writes)."""
    assert runtime.executor.options.dry_run, "explain plans with a dry-run executor"
    link = runtime.repository.get_link(code)
    found = Explanation(code, link)
    try:
        found.submission = runtime.intigriti.get_submission(code)
    except CredentialError:
        raise
    except RemoteError as exc:
        found.submission_error = f"{type(exc).__name__}: {exc}"
    if link is not None and link.issue_id:
        try:
            found.issue = runtime.jira.get_issue(link.issue_id)
        except CredentialError:
            raise
        except RemoteError as exc:
            found.issue_error = f"{type(exc).__name__}: {exc}"
    summary = Summary()
    found.outcome = runtime.executor.sync(code, found.submission, found.issue, summary)
    found.plan = summary.plan_lines
    found.audit = runtime.repository.recent_audit(submission=code, limit=AUDIT_LIMIT)
    return found


@dataclass
class Resync:
    before: LinkRecord | None
    outcome: Outcome
    summary: Summary


def resync(runtime: Runtime, code: str) -> Resync:
    """Release the link and sync it now (a new submission: create its issue)."""
    repository = runtime.repository
    before = repository.get_link(code)
    summary = Summary()
    if before is None:
        # no link yet: what a poll would do with a new submission
        submission = runtime.intigriti.get_submission(code)
        outcome = runtime.executor.refresh(code, summary, submission=submission)
        return Resync(None, outcome, summary)
    note = f"released by an operator (syncd resync) from {before.state}"
    if before.error:
        note += f"; was: {before.error}"
    repository.release(
        code, [AuditEntry(code, "*", "operator", before.state, None, "resync", note)]
    )
    outcome = runtime.executor.refresh(code, summary)
    return Resync(before, outcome, summary)


# -- rendering -------------------------------------------------------------------------


def _safe(value: object) -> str:
    """Text from outside shown as data: control and format characters escaped."""
    if value is None:
        return "-"
    text = str(value)
    return "".join(
        ch.encode("unicode_escape").decode() if unicodedata.category(ch)[0] == "C" else ch
        for ch in text
    )


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "-"


def render_explanation(found: Explanation) -> str:
    lines = [f"submission {found.code}"]
    link = found.link
    if link is None:
        lines.append("  link: none (syncd has not linked this submission to a Jira issue)")
    else:
        lines.append(
            f"  link: {link.state}, issue {link.issue_key or '-'} (id {link.issue_id or '-'}),"
            f" program {_safe(link.program_id)}"
        )
        if link.error:
            lines.append(f"  reason: {_safe(link.error)}")
        if link.attempts:
            lines.append(f"  failed attempts: {link.attempts}")
        if link.unmapped:
            lines.append(f"  unmapped: {_safe(link.unmapped)}")
        if link.claim_instance:
            since = _when(link.claim_since)
            lines.append(f"  claimed by instance {link.claim_instance} since {since}")
        lines.append(f"  last reconciled version: {_when(link.intigriti_seen_at)}")
        lines.append("  base values (what both sides agreed on at the last sync):")
        for name, attribute in _BASES:
            value = getattr(link, attribute)
            if value is not None:
                lines.append(f"    {name:<13}{_safe(value)[:120]}")
    lines.append("  Intigriti now:")
    if found.submission is not None:
        s = found.submission
        lines.extend(
            [
                f"    title        {_safe(s.title)[:120]}",
                f"    status       {_safe(s.status)}"
                + (f" / {_safe(s.close_reason)}" if s.close_reason else ""),
                f"    severity     {_safe(s.severity)}",
                f"    cvss         {_safe(s.cvss_vector)}",
                f"    reference    {_safe(s.internal_reference)}",
                f"    updated      {_when(s.updated_at)}",
            ]
        )
    else:
        lines.append(f"    not read: {_safe(found.submission_error)}")
    lines.append("  Jira now:")
    if found.issue is not None:
        i = found.issue
        lines.extend(
            [
                f"    issue        {_safe(i.key)} in {_safe(i.project)}",
                f"    status       {_safe(i.status)}"
                + (f" / {_safe(i.resolution)}" if i.resolution else ""),
                f"    priority     {_safe(i.priority)}",
                f"    cvss         {_safe(i.cvss)}",
                f"    updated      {_when(i.updated_at)}",
            ]
        )
    elif found.issue_error is not None:
        lines.append(f"    not read: {_safe(found.issue_error)}")
    else:
        lines.append("    no linked issue")
    lines.append(f"  plan now ({found.outcome}):")
    lines.extend(f"    {_safe(line)}" for line in found.plan or ["(nothing to do)"])
    lines.append(f"  history (newest first, up to {AUDIT_LIMIT}):")
    if not found.audit:
        lines.append("    (none)")
    for entry in found.audit:
        change = f"{_safe(entry.old_value)[:40]} -> {_safe(entry.new_value)[:40]}"
        detail = f"  ({_safe(entry.detail)[:160]})" if entry.detail else ""
        lines.append(
            f"    {_when(entry.at)}  {entry.field:<12} {entry.direction:<13} {entry.outcome:<12}"
            f" {change}{detail}"
        )
    return "\n".join(lines)


def explanation_json(found: Explanation) -> str:
    def record(value: Any) -> Any:
        if value is None:
            return None
        items = {f.name: getattr(value, f.name) for f in fields(value)}
        return {
            key: (item.isoformat() if isinstance(item, datetime) else item)
            for key, item in items.items()
            if isinstance(item, (str, int, float, bool, datetime, type(None)))
        }

    return json.dumps(
        {
            "submission": found.code,
            "link": record(found.link),
            "intigriti": record(found.submission),
            "intigriti_error": found.submission_error,
            "jira": record(found.issue),
            "jira_error": found.issue_error,
            "outcome": found.outcome,
            "plan": found.plan,
            "history": [record(entry) for entry in found.audit],
        },
        indent=2,
        sort_keys=True,
    )


def render_resync(code: str, result: Resync) -> str:
    before = result.before
    was = "no link" if before is None else before.state
    lines = [f"resync {code}: was {was}, now {result.outcome}"]
    summary = result.summary
    if summary.created:
        lines.append("  created its Jira issue")
    for key, count in sorted(summary.writes.items()):
        field_name, direction = key.split(":", 1)
        lines.append(f"  updated {field_name} {direction.replace('_', ' ')}: {count}")
    for reason in [*summary.blocked.values(), *summary.failures.values()]:
        lines.append(f"  reason: {_safe(reason)}")
    for holder in summary.deferred.values():
        lines.append(f"  {_safe(holder)}: try again when that process is done")
    return "\n".join(lines)
