"""A plan as readable diff lines, for ``--dry-run``.

One line per action or note, for example::

    ACME-1234  status     jira: To Do -> In Progress (accepted)
    ACME-1234  severity   intigriti: Medium -> High (High)

Values can carry researcher text (a summary, a typed reference), so every value is
cleaned of control characters before it reaches a terminal.
"""

from __future__ import annotations

from syncd.sync.content import cap_utf16, sanitize_line
from syncd.sync.plan import (
    Action,
    AdoptIssue,
    CreateIssue,
    MoveIntigritiStatus,
    Plan,
    RecordBase,
    RecordConflict,
    ResumeCreate,
    SetIntigritiReference,
    SetIntigritiSeverity,
    SetJiraPriority,
    TransitionJira,
)

_FIELD_WIDTH = 10
_SHORT = {"internal_reference": "reference"}


def _v(value: str | None, limit: int = 120) -> str:
    """A value for a terminal: one clean line, or ``(none)``."""
    text = sanitize_line(value)
    return cap_utf16(text, limit) if text else "(none)"


def _describe(action: Action) -> tuple[str, str]:
    """(field column, text) for one action."""
    match action:
        case CreateIssue(project=project, new_issue=new):
            priority = f", priority {_v(new.priority)}" if new.priority else ""
            return "create", f"jira: new {_v(new.issue_type)} in {_v(project)}: " + (
                f"{_v(new.summary)!r}{priority}"
            )
        case ResumeCreate(new_issue=new, attempted_at=attempted):
            when = f" (intent from {attempted.isoformat()})" if attempted else ""
            then = "create if none" if new is not None else "do not create this cycle"
            return "create", f"jira: look up the tagged issue first, {then}{when}"
        case AdoptIssue(issue_key=key, reason=reason):
            return "link", f"jira: link to existing issue {_v(key)} ({_v(reason)})"
        case SetJiraPriority(priority=priority, cvss=cvss, new_base=base, previous=prev):
            extra = f", CVSS {_v(cvss)}" if cvss else ""
            return "severity", f"jira: {_v(prev)} -> {_v(priority)} ({_v(base)}){extra}"
        case TransitionJira(status=status, resolution=res, new_base=base, previous=prev):
            extra = f", resolution {_v(res)}" if res else ""
            return "status", f"jira: {_v(prev)} -> {_v(status)} ({_v(base)}){extra}"
        case SetIntigritiSeverity(severity=severity, new_base=base, previous=prev):
            return "severity", f"intigriti: {_v(prev)} -> {_v(severity)} ({_v(base)})"
        case MoveIntigritiStatus(status=status, close_reason=reason, new_base=base, previous=p):
            target = f"{status}/{reason}" if reason else status
            return "status", f"intigriti: {_v(p)} -> {_v(target)} ({_v(base)})"
        case SetIntigritiReference(reference=ref, previous=prev):
            return "reference", f"intigriti: {_v(prev)} -> {_v(ref)}"
        case RecordBase(field=field, value=value):
            return _SHORT.get(field, field), f"in step at {_v(value)} (base recorded)"
        case RecordConflict():
            return _SHORT.get(action.field, action.field), (
                f"conflict: intigriti {_v(action.intigriti_value)}, jira "
                f"{_v(action.jira_value)}, base {_v(action.base)}; {action.winner} wins "
                f"(policy {action.policy})"
            )
    return "?", _v(repr(action))  # pragma: no cover - every Action type is matched above


def describe_plan(plan: Plan) -> list[str]:
    """Human-readable lines for every action and note of ``plan`` (empty plan: none)."""
    code = _v(plan.code)
    lines: list[str] = []
    for action in plan.actions:
        field, text = _describe(action)
        lines.append(f"{code}  {field:<{_FIELD_WIDTH}} {text}")
    for note in plan.notes:
        lines.append(f"{code}  {'note':<{_FIELD_WIDTH}} {_v(note, 400)}")
    return lines
