"""The checks a configuration must pass: shared by `syncd doctor` and the start-up of
`syncd run` (and `run --reconcile`), so both judge a configuration the same way.

Each check gives ``CheckResult`` values: a pass, a failure naming the exact config key and
the fix, or a skip (a check that could not run because an earlier one failed). The doctor
prints them as a checklist; start-up turns failures into one ``ConfigError`` (exit 2).

The Jira checks let a transient failure (5xx, 429, timeout, connection refused) propagate
as ``TransientError``: start-up retries it (``syncd.startup``), the doctor reports it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from syncd.errors import ConfigError, NotAllowed, NotFound, Rejected
from syncd.intigriti.enums import CLOSE_REASON, SEVERITY, SUBMISSION_STATUS
from syncd.intigriti.options import DEFAULT_SCOPES
from syncd.settings import Settings
from syncd.sync.mapping import (
    FieldName,
    Mapping,
    split_intigriti_entry,
    split_jira_entry,
    validate_mapping,
)
from syncd.sync.ports import JiraSide, ProjectSchema

Outcome = Literal["pass", "fail", "skip"]

#: the scopes a token must carry for syncd to read and write (``offline_access``: the
#: refresh token that keeps an OAuth login alive; a static token has none to refresh)
NEEDED_SCOPES: tuple[str, ...] = DEFAULT_SCOPES


@dataclass(frozen=True)
class CheckResult:
    """One line of the checklist."""

    #: what was checked, e.g. ``Jira project SEC``
    name: str
    outcome: Outcome
    #: the configuration key at fault (failures)
    key: str = ""
    #: what was found (passes), what is wrong (failures), why not checked (skips)
    detail: str = ""
    #: what to do about a failure
    fix: str = ""

    @property
    def failed(self) -> bool:
        return self.outcome == "fail"

    def problem(self) -> str:
        """``key: what is wrong``, the form error messages have always used."""
        return f"{self.key}: {self.detail}" if self.key else self.detail


def passed(name: str, detail: str = "") -> CheckResult:
    return CheckResult(name, "pass", detail=detail)


def failed(name: str, key: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, "fail", key=key, detail=detail, fix=fix)


def skipped(name: str, reason: str) -> CheckResult:
    return CheckResult(name, "skip", detail=reason)


def failures(results: Iterable[CheckResult]) -> list[CheckResult]:
    return [result for result in results if result.failed]


def raise_for_failures(results: Iterable[CheckResult], heading: str) -> None:
    """ConfigError listing every failure (key, problem, fix); nothing when all passed."""
    found = failures(results)
    if found:
        lines = [f"{r.problem()}\n    fix: {r.fix}" if r.fix else r.problem() for r in found]
        raise ConfigError(f"{heading}:\n  " + "\n  ".join(lines))


# -- settings -------------------------------------------------------------------------


def missing_sync_settings(settings: Settings) -> list[tuple[str, str]]:
    """(key, what it is) for every setting a sync run needs but lacks."""
    jira = settings.jira
    intigriti = settings.intigriti
    missing = []
    if not jira.url:
        missing.append(("jira.url", "the Jira site, e.g. https://example.atlassian.net"))
    if not jira.project and not settings.mapping.projects:
        missing.append(("jira.project", "the key of the Jira project new issues go to"))
    if not jira.personal_access_token and not (jira.email and jira.api_token):
        missing.append(
            (
                "jira.email and jira.api_token",
                "the Jira Cloud user and its API token (Data Center: jira.personal_access_token)",
            )
        )
    if intigriti.access_token is None and not intigriti.client_id:
        missing.append(
            (
                "intigriti.client_id",
                "the OAuth client (and client_secret, redirect_uri; then `syncd auth login`),"
                " or intigriti.access_token",
            )
        )
    return missing


def settings_checks(settings: Settings) -> list[CheckResult]:
    name = "settings a sync run needs"
    where = f" in {settings.config_file}" if settings.config_file else ""
    missing = missing_sync_settings(settings)
    if not missing:
        return [passed(name, "Jira site, project and credentials; Intigriti credentials")]
    return [failed(name, key, f"not set: {what}", f"set it{where}") for key, what in missing]


# -- the mapping, offline -------------------------------------------------------------


def mapping_checks(mapping: Mapping) -> list[CheckResult]:
    """The mapping is consistent, and every Intigriti name in it is one Intigriti knows."""
    results = []
    for problem in validate_mapping(mapping):
        # validate_mapping names the key first: "mapping.states[0].jira: empty ..."
        key, _, detail = problem.partition(": ")
        results.append(
            failed("mapping", key, detail or problem, "correct this value in [mapping]")
        )
    if not results:
        results.append(passed("mapping", f"{len(mapping.states)} sync states, consistent"))
    return results + intigriti_name_checks(mapping)


def _known(table_names: Iterable[str]) -> str:
    return ", ".join(table_names)


def intigriti_name_checks(mapping: Mapping) -> list[CheckResult]:
    """Every Intigriti status, close reason and severity name the mapping uses exists
    (a misspelt one would never match a submission, silently)."""
    name = "Intigriti names in [mapping]"
    results = []
    statuses, reasons = _known(SUBMISSION_STATUS.names()), _known(CLOSE_REASON.names())
    for index, state in enumerate(mapping.states):
        key = f"mapping.states[{index}].intigriti"
        for entry in state.intigriti:
            status, reason = split_intigriti_entry(entry)
            if status and status not in SUBMISSION_STATUS:
                results.append(
                    failed(
                        name,
                        key,
                        f"{status!r} (in {entry!r}) is not an Intigriti submission status",
                        f"use one of: {statuses}",
                    )
                )
            if reason is not None and reason not in CLOSE_REASON:
                results.append(
                    failed(
                        name,
                        key,
                        f"{reason!r} (in {entry!r}) is not an Intigriti close reason",
                        f"use one of: {reasons}",
                    )
                )
    severities = _known(SEVERITY.names())
    named = [(f"mapping.severity_to_priority.{s}", s) for s, _ in mapping.severity_to_priority]
    named += [(f"mapping.priority_to_severity.{p}", s) for p, s in mapping.priority_to_severity]
    for key, severity in named:
        if severity.strip() and severity not in SEVERITY:
            results.append(
                failed(
                    name,
                    key,
                    f"{severity!r} is not an Intigriti severity",
                    f"use one of: {severities}",
                )
            )
    return results or [passed(name, "every status, close reason and severity exists")]


# -- Jira ------------------------------------------------------------------------------


def mapped_projects(mapping: Mapping) -> list[str]:
    projects = {mapping.default_project} | {p for _, p in mapping.project_for_program}
    return sorted(project for project in projects if project.strip())


def project_key(mapping: Mapping, project: str) -> str:
    """The configuration key that names ``project``."""
    programs = [program for program, named in mapping.project_for_program if named == project]
    if project == mapping.default_project or not programs:
        return "jira.project"
    return f"mapping.projects.{programs[0]}"


def jira_checks(mapping: Mapping, jira: JiraSide) -> list[CheckResult]:
    """Every Jira project, issue type, status, resolution, priority, field and link type
    the configuration names exists, and every sync state's status can be reached."""
    projects = mapped_projects(mapping)
    if not projects:
        return [
            failed(
                "Jira projects",
                "jira.project",
                "not set (and [mapping.projects] names none)",
                "set jira.project to the key of the project new issues go to",
            )
        ]
    results: list[CheckResult] = []
    for project in projects:
        results.extend(_project_checks(mapping, jira, project))
    return results


def _project_checks(mapping: Mapping, jira: JiraSide, project: str) -> list[CheckResult]:
    key = project_key(mapping, project)
    name = f"Jira project {project}"
    try:
        schema = jira.describe_project(project)
    except (NotFound, NotAllowed) as exc:
        return [
            failed(
                name,
                key,
                f"Jira project {project!r} does not exist or the syncd user cannot see it"
                f" ({exc})",
                f"create project {project} or give the syncd user Browse Projects permission"
                f" on it, or set {key} to an existing project key",
            )
        ]
    except Rejected as exc:
        return [
            failed(
                name,
                "jira.issue_type",
                str(exc),
                f"set jira.issue_type to an issue type of project {project}, or add"
                f" {mapping.issue_type!r} to the project's issue type scheme",
            )
        ]
    results = [passed(name, f"exists, with issue type {mapping.issue_type!r}")]
    results += _status_checks(mapping, schema)
    results += _resolution_checks(mapping, schema)
    results += _priority_checks(mapping, schema)
    results += _field_checks(mapping, schema)
    results += _transition_checks(mapping, schema)
    return results


def _status_checks(mapping: Mapping, schema: ProjectSchema) -> list[CheckResult]:
    name = f"Jira project {schema.key}: statuses"
    statuses = {s.casefold() for s in schema.statuses}
    has = ", ".join(sorted(schema.statuses))
    results = []
    for index, state in enumerate(mapping.states):
        for entry in state.jira:
            status = split_jira_entry(entry)[0]  # the resolution: _resolution_checks
            if status.casefold() not in statuses:
                results.append(
                    failed(
                        name,
                        f"mapping.states[{index}].jira",
                        f"status {status!r} does not exist in project {schema.key}",
                        f"add {status!r} to the workflow of project {schema.key} (issue type"
                        f" {mapping.issue_type!r}), or name one of its statuses: {has}",
                    )
                )
    return results or [passed(name, "every status [mapping] states name exists")]


def _resolution_checks(mapping: Mapping, schema: ProjectSchema) -> list[CheckResult]:
    """Where Jira listed resolutions (an empty list proves nothing)."""
    name = f"Jira project {schema.key}: resolutions"
    resolutions = {r.casefold() for r in schema.resolutions}
    if not resolutions:
        return []
    fix = f"name one of Jira's resolutions: {', '.join(sorted(schema.resolutions))}"
    results = []
    named = False
    for index, state in enumerate(mapping.states):
        resolution = state.jira_resolution
        if resolution:
            named = True
            if resolution.casefold() not in resolutions:
                results.append(
                    failed(
                        name,
                        f"mapping.states[{index}].jira_resolution",
                        f"{resolution!r} does not exist",
                        fix,
                    )
                )
        for entry in state.jira:
            resolution = split_jira_entry(entry)[1]
            if resolution:
                named = True
                if resolution.casefold() not in resolutions:
                    results.append(
                        failed(
                            name,
                            f"mapping.states[{index}].jira",
                            f"resolution {resolution!r} of {entry!r} does not exist",
                            fix,
                        )
                    )
    if results or not named:
        return results
    return [passed(name, "every resolution [mapping] states name exists")]


def _priority_checks(mapping: Mapping, schema: ProjectSchema) -> list[CheckResult]:
    name = f"Jira project {schema.key}: priorities"
    priorities = {p.casefold() for p in schema.priorities}
    fix = f"name one of Jira's priorities: {', '.join(sorted(schema.priorities))}"
    results = []
    for severity, priority in mapping.severity_to_priority:
        if priority.casefold() not in priorities:
            results.append(
                failed(
                    name,
                    f"mapping.severity_to_priority.{severity}",
                    f"priority {priority!r} does not exist in project {schema.key}",
                    fix,
                )
            )
    for priority, _severity in mapping.priority_to_severity:
        if priority.casefold() not in priorities:
            results.append(
                failed(
                    name,
                    f"mapping.priority_to_severity.{priority}",
                    f"priority does not exist in project {schema.key}",
                    fix,
                )
            )
    return results or [passed(name, "every priority [mapping] names exists")]


def _field_checks(mapping: Mapping, schema: ProjectSchema) -> list[CheckResult]:
    """The fields and link type the content fields write to exist (where Jira told; an
    empty list from Jira proves nothing)."""
    project = schema.key
    name = f"Jira project {project}: fields"
    fields = {field.casefold() for field in schema.fields}
    results = []

    def check(field_id: str | None, field: FieldName, key: str, also: str = "") -> None:
        if not (fields and field_id and field_id != "comment"):
            return
        if mapping.rule(field).direction == "off":
            return
        if field_id.casefold() in fields:
            results.append(passed(name, f"{key} {field_id!r} is on issues of project {project}"))
            return
        results.append(
            failed(
                name,
                key,
                f"no field {field_id!r} on issues of project {project}{also}",
                f"set {key} to the id (customfield_NNNNN) or name of a field on the create"
                f" and edit screens of {mapping.issue_type!r} issues, or add the field there",
            )
        )

    check(mapping.cvss_field, "cvss", "jira.cvss_field")
    check(mapping.payout_target, "payouts", "jira.payout_field", ' (or set it to "comment")')
    links = {link.casefold() for link in schema.link_types}
    wanted = mapping.duplicate_link_type
    if links and mapping.rule("duplicate").direction != "off":
        if wanted.casefold() in links:
            results.append(passed(name, f"issue link type {wanted!r} exists"))
        else:
            has = ", ".join(sorted(schema.link_types))
            results.append(
                failed(
                    name,
                    "jira.duplicate_link_type",
                    f"Jira has no issue link type {wanted!r} (it has {has})",
                    "set jira.duplicate_link_type to one of those",
                )
            )
    return results


def _transition_checks(mapping: Mapping, schema: ProjectSchema) -> list[CheckResult]:
    """Sync states whose Jira status no explored status of the workflow leads to.

    Jira reveals a workflow only through the transitions of existing issues, so a status
    without issues is unexplored and proves nothing either way.
    """
    name = f"Jira project {schema.key}: transitions"
    statuses = {s.casefold() for s in schema.statuses}
    explored = {s.casefold() for s in schema.explored}
    reachable = {
        source.casefold(): {t.casefold() for t in targets}
        for source, targets in schema.reachable.items()
        if source.casefold() in explored
    }
    results = []
    for index, state in enumerate(mapping.states):
        if not state.jira:
            continue
        target_name = split_jira_entry(state.jira[0])[0]
        target = target_name.casefold()
        if target not in statuses:
            continue
        sources = [s for s in reachable if s != target]
        # a path may continue through a status nobody has explored: unknown, not wrong
        known_dead_end = all(reachable[s] <= explored for s in sources)
        if sources and known_dead_end and not any(target in reachable[s] for s in sources):
            results.append(
                failed(
                    name,
                    f"mapping.states[{index}]",
                    f"({state.name}): Jira status {target_name!r} cannot be reached from any"
                    f" other status of project {schema.key}'s workflow",
                    f"add a transition into {target_name!r} to the workflow, or list a"
                    f" reachable status first in mapping.states[{index}].jira",
                )
            )
    if results:
        return results
    if not reachable:
        return [skipped(name, "no issues yet to read the workflow's transitions from")]
    return [passed(name, "every sync state's status can be reached (as far as explored)")]


# -- Intigriti token ---------------------------------------------------------------------


def scope_checks(granted: str, *, static: bool) -> list[CheckResult]:
    """The token carries the scopes syncd needs (unknown for a static token)."""
    name = "Intigriti token scopes"
    if static or not granted.strip():
        return [skipped(name, "the token does not say its scopes; the read above worked")]
    have = set(granted.split())
    missing = [scope for scope in NEEDED_SCOPES if scope not in have]
    if missing:
        return [
            failed(
                name,
                "intigriti.scopes",
                f"the stored token lacks {', '.join(missing)} (it has {granted})",
                "list them in intigriti.scopes (or leave the key out for the default), grant"
                " them to the integration at Intigriti, then run `syncd auth login`",
            )
        ]
    return [passed(name, granted)]


def program_checks(settings: Settings, visible: Iterable[str]) -> list[CheckResult]:
    """Every program the configuration names is one the token can see (a program it
    cannot see would sync nothing, without any error)."""
    name = "Intigriti programs"
    seen = set(visible)
    fix = "use the program's id as GET /programs lists it, or grant the integration access"
    results = [
        failed(name, "intigriti.programs", f"the token cannot see program {program!r}", fix)
        for program in settings.intigriti.programs
        if program not in seen
    ]
    results += [
        failed(name, f"mapping.projects.{program}", "the token cannot see this program", fix)
        for program in settings.mapping.projects
        if program not in seen
    ]
    return results or [passed(name, f"{len(seen)} visible, every configured one among them")]


class VisibilityLookup(Protocol):
    """What the conversation check asks of Jira (the Jira adapter has both)."""

    def project_roles(self, key: str) -> frozenset[str]: ...

    def group_exists(self, name: str) -> bool: ...


def conversation_checks(
    settings: Settings, projects: Iterable[str], jira: VisibilityLookup
) -> list[CheckResult]:
    """Internal Intigriti notes land in Jira only restricted to the configured role or
    group: it must exist (in every synced project, for a role), or nothing starts."""
    conversation = settings.conversation
    if conversation.direction == "off":
        return [skipped("Conversation sync", "[conversation] direction is off")]
    wanted = conversation.internal_visibility
    key = "conversation.internal_visibility"
    if conversation.internal_visibility_type == "group":
        if jira.group_exists(wanted):
            return [passed(f"Jira group {wanted}", "restricts comments from internal notes")]
        return [
            failed(
                f"Jira group {wanted}",
                key,
                f"no Jira group is named {wanted!r}",
                "name an existing group, or set internal_visibility_type = \"role\"",
            )
        ]
    results: list[CheckResult] = []
    for project in projects:
        roles = jira.project_roles(project)
        if wanted in roles:
            results.append(passed(f"Jira role {wanted} in {project}", "restricts internal notes"))
        else:
            results.append(
                failed(
                    f"Jira role {wanted} in {project}",
                    key,
                    f"project {project} has no role {wanted!r} (roles: {_known(sorted(roles))})",
                    "name one of the project's roles",
                )
            )
    return results
