"""Canonical values: how raw Intigriti and Jira values are compared.

Each synced field is compared in one canonical form per link (DESIGN.md §2):

* severity: the Intigriti severity name that represents a Jira priority class
  (``priority_to_severity[severity_to_priority[name]]``), so ``Exceptional`` and
  ``Critical`` are one class when both map to ``Highest``;
* status: the name of a configured :class:`SyncState` (``accepted``, ``closed:resolved``);
* internal reference: the Jira issue key, upper-cased;
* CVSS: the vector with its metrics in the specification's order (see
  :func:`canonical_cvss`), so two spellings of one vector are one value.

Three more fields flow one way, Intigriti to Jira, compared with a stored base but never
merged: the duplicate relation (``duplicate``), the payout totals (``payouts``) and, when
switched on, the rendered description (``description``).

Many raw values may map to one canonical value, so a move inside one class changes
nothing on the other side. A raw value that maps to nothing gives ``None``: that side has
no opinion and the planner leaves the field alone.

Raw names are matched case-insensitively (Jira status and priority names are unique
regardless of case; Intigriti's own clients compare lowercase names). This module is pure:
no I/O, no configuration files; the settings layer builds a :class:`Mapping`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, replace
from dataclasses import fields as dataclass_fields
from functools import cached_property, lru_cache
from typing import Literal, get_args

Direction = Literal["both", "to_jira", "to_intigriti", "off"]
Policy = Literal["intigriti", "jira", "newest"]
FieldName = Literal[
    "severity", "status", "internal_reference", "cvss", "duplicate", "payouts", "description"
]

#: the fields merged both ways (three-way merge against the base)
FIELDS: tuple[FieldName, ...] = ("severity", "status", "internal_reference", "cvss")
#: the fields that only ever flow from Intigriti to Jira (direction to_jira or off)
ONE_WAY_FIELDS: tuple[FieldName, ...] = ("duplicate", "payouts", "description")
DIRECTIONS: tuple[str, ...] = get_args(Direction)
POLICIES: tuple[str, ...] = get_args(Policy)

#: Intigriti statuses syncd never moves a submission into: Draft belongs to the researcher,
#: no status trigger leads to Triage (only a history-dependent Undo), and Archived is
#: Intigriti's own housekeeping.
UNWRITABLE_INTIGRITI_STATUSES: frozenset[str] = frozenset({"draft", "triage", "archived"})

_ISSUE_KEY = re.compile(r"^[A-Z][A-Z0-9_]+-[1-9][0-9]*$")
# A pasted browse URL (``https://x.atlassian.net/browse/ABC-12``) names a key, too.
_BROWSE_URL = re.compile(r"^https?://\S+/browse/([A-Za-z][A-Za-z0-9_]+-[1-9][0-9]*)/?$")


@lru_cache(maxsize=4096)
def _fold(name: str) -> str:
    """Comparison form of a raw name: case- and surrounding-space-insensitive.

    Cached: a sweep folds the same few status and priority names for every link."""
    return " ".join(name.split()).casefold()


def pairs(values: AbcMapping[str, str]) -> tuple[tuple[str, str], ...]:
    """A dict as the tuple of pairs :class:`Mapping` stores (keeps the mapping hashable)."""
    return tuple((str(k), str(v)) for k, v in values.items())


@dataclass(frozen=True)
class FieldRule:
    """How one field syncs: which way, and who wins a conflict."""

    direction: Direction = "both"
    policy: Policy = "newest"


@dataclass(frozen=True)
class FieldRules:
    severity: FieldRule = FieldRule(policy="intigriti")
    status: FieldRule = FieldRule(policy="newest")
    internal_reference: FieldRule = FieldRule(policy="jira")
    #: takes effect only with a Jira CVSS field configured (``jira.cvss_field``)
    cvss: FieldRule = FieldRule(policy="intigriti")
    #: Intigriti's "duplicate of" relation as a Jira issue link
    duplicate: FieldRule = FieldRule(direction="to_jira")
    #: bounty and bonus totals; takes effect only with ``jira.payout_field`` configured
    payouts: FieldRule = FieldRule(direction="to_jira")
    #: rewrite the description when the report changes (off: it is the team's once made)
    description: FieldRule = FieldRule(direction="off")


def creation_rules(rules: FieldRules) -> FieldRules:
    """The rules of the plan right after syncd created (or found) an issue: creation is
    Intigriti to Jira, once, whatever a field's direction. The new issue holds Jira's
    defaults, no human decision, so it is brought up to the submission (an Accepted
    submission's issue leaves To Do even where status flows only to Intigriti); fields
    that are off stay off. The reference is written back as usual."""

    def initial(rule: FieldRule) -> FieldRule:
        return rule if rule.direction == "off" else replace(rule, direction="to_jira")

    return replace(
        rules,
        severity=initial(rules.severity),
        status=initial(rules.status),
        cvss=initial(rules.cvss),
    )


@dataclass(frozen=True)
class SyncState:
    """One canonical status class.

    ``intigriti`` entries are ``"Status"`` or ``"Status/Close reason"``; the first is where
    syncd moves a submission (empty, or ``intigriti_writable=False``: syncd never moves
    Intigriti into this state, e.g. back to Triage).
    ``jira`` entries are ``"Status"`` or ``"Status/Resolution"`` (a workflow with one done
    status and the close reason in the resolution: ``"Done/Duplicate"``); a
    ``"Status/Resolution"`` entry wins over a bare ``"Status"``. The first entry is where
    syncd moves an issue, with its resolution (or ``jira_resolution``) set on the way.
    """

    name: str
    intigriti: tuple[str, ...]
    jira: tuple[str, ...]
    jira_resolution: str | None = None
    intigriti_writable: bool = True


def split_jira_entry(entry: str) -> tuple[str, str | None]:
    """``"Done/Duplicate"`` -> ("Done", "Duplicate"); ``"Done"`` -> ("Done", None)."""
    status, sep, resolution = entry.partition("/")
    return status.strip(), (resolution.strip() or None) if sep else None


def split_intigriti_entry(entry: str) -> tuple[str, str | None]:
    """``"Closed/Spam"`` -> ("Closed", "Spam"); ``"Triage"`` -> ("Triage", None)."""
    status, sep, reason = entry.partition("/")
    status = " ".join(status.split())
    reason = " ".join(reason.split())
    return status, (reason if sep and reason else None)


@dataclass(frozen=True)
class Mapping:
    """Everything the planner needs to know about values, directions and creation."""

    severity_to_priority: tuple[tuple[str, str], ...]
    priority_to_severity: tuple[tuple[str, str], ...]
    states: tuple[SyncState, ...]
    fields: FieldRules = FieldRules()
    statuses_to_create: tuple[str, ...] = ("Triage", "Pending", "Accepted")
    default_project: str = ""
    project_for_program: tuple[tuple[str, str], ...] = ()
    #: label put on created issues (the Jira adapter adds its own per-submission tag)
    label: str = "intigriti"
    include_report: bool = True
    issue_type: str = "Bug"
    #: the Jira field holding the CVSS vector (``jira.cvss_field``); None: cvss cannot sync
    cvss_field: str | None = None
    #: the Jira issue link type for Intigriti's duplicate relation
    duplicate_link_type: str = "Duplicate"
    #: where payout totals go: a Jira field id, ``"comment"``, or None (not synced)
    payout_target: str | None = None
    #: upload the report's attachments to the issue (off: they are listed as links)
    upload_attachments: bool = False
    attachment_max_bytes: int = 10 * 1024 * 1024

    # -- lookup tables, built once per instance (cached_property writes the instance
    # __dict__ directly, which a frozen dataclass allows) ---------------------------------

    @cached_property
    def _s2p(self) -> dict[str, str]:
        table: dict[str, str] = {}
        for severity, priority in self.severity_to_priority:
            table.setdefault(_fold(severity), priority)
        return table

    @cached_property
    def _p2s(self) -> dict[str, str]:
        table: dict[str, str] = {}
        for priority, severity in self.priority_to_severity:
            table.setdefault(_fold(priority), severity)
        return table

    @cached_property
    def _states_by_name(self) -> dict[str, SyncState]:
        table: dict[str, SyncState] = {}
        for state in self.states:
            table.setdefault(state.name, state)
        return table

    @cached_property
    def _intigriti_index(self) -> dict[tuple[str, str | None], str]:
        table: dict[tuple[str, str | None], str] = {}
        for state in self.states:
            for entry in state.intigriti:
                status, reason = split_intigriti_entry(entry)
                key = (_fold(status), _fold(reason) if reason is not None else None)
                table.setdefault(key, state.name)
        return table

    @cached_property
    def _jira_index(self) -> dict[tuple[str, str | None], str]:
        table: dict[tuple[str, str | None], str] = {}
        for state in self.states:
            for entry in state.jira:
                status, resolution = split_jira_entry(entry)
                key = (_fold(status), _fold(resolution) if resolution else None)
                table.setdefault(key, state.name)
        return table

    @cached_property
    def _create_statuses(self) -> frozenset[str]:
        return frozenset(_fold(s) for s in self.statuses_to_create)

    # -- field rules ------------------------------------------------------------------------

    def rule(self, field_name: FieldName) -> FieldRule:
        """The field's rule; ``off`` where what it needs is not configured (a CVSS field
        for cvss, a payout target for payouts)."""
        return self._rules[field_name]

    @cached_property
    def _rules(self) -> dict[str, FieldRule]:
        # asked several times per link and plan: worked out once per mapping
        rules: dict[str, FieldRule] = {}
        for item in dataclass_fields(self.fields):
            rule: FieldRule = getattr(self.fields, item.name)
            if (item.name == "cvss" and not self.cvss_field) or (
                item.name == "payouts" and not self.payout_target
            ):
                rule = replace(rule, direction="off")
            rules[item.name] = rule
        return rules

    # -- severity ---------------------------------------------------------------------------

    def canonical_severity_from_intigriti(self, name: str | None) -> str | None:
        """The severity class of an Intigriti severity name (None: unset or unmapped)."""
        if name is None:
            return None
        priority = self._s2p.get(_fold(name))
        if priority is None:
            return None
        return self._p2s.get(_fold(priority))

    def canonical_severity_from_jira(self, priority: str | None) -> str | None:
        """The severity class of a Jira priority name (None: unset or unmapped).

        Goes through the Intigriti side once more so both sides land in the same set of
        canonical values even when ``priority_to_severity`` is many-to-one.
        """
        if priority is None:
            return None
        severity = self._p2s.get(_fold(priority))
        if severity is None:
            return None
        return self.canonical_severity_from_intigriti(severity)

    def priority_for(self, canonical: str | None) -> str | None:
        """The Jira priority syncd writes for a severity class."""
        if canonical is None:
            return None
        return self._s2p.get(_fold(canonical))

    def severity_for(self, canonical: str | None) -> str | None:
        """The Intigriti severity syncd writes for a severity class (the class's name)."""
        if canonical is None or _fold(canonical) not in self._s2p:
            return None
        return canonical

    # -- status -----------------------------------------------------------------------------

    def state(self, name: str | None) -> SyncState | None:
        if name is None:
            return None
        return self._states_by_name.get(name)

    def canonical_status_from_intigriti(
        self, status: str | None, close_reason: str | None
    ) -> str | None:
        """The sync state of an Intigriti status (+ close reason), or None when unmapped.

        ``"Status/Reason"`` entries win over a bare ``"Status"`` entry. An Archived
        submission counts as closed with its close reason (an explicit ``Archived`` entry
        wins), so archiving changes nothing on the Jira side.
        """
        if status is None:
            return None
        folded = _fold(status)
        reason = _fold(close_reason) if close_reason and close_reason.strip() else None
        candidates: list[tuple[str, str | None]] = []
        if reason is not None:
            candidates.append((folded, reason))
        candidates.append((folded, None))
        if folded == "archived":
            if reason is not None:
                candidates.append(("closed", reason))
            candidates.append(("closed", None))
        for key in candidates:
            found = self._intigriti_index.get(key)
            if found is not None:
                return found
        return None

    def canonical_status_from_jira(
        self, status: str | None, resolution: str | None = None
    ) -> str | None:
        """The sync state of a Jira status (+ resolution), or None when unmapped."""
        if status is None:
            return None
        folded = _fold(status)
        if resolution and resolution.strip():
            found = self._jira_index.get((folded, _fold(resolution)))
            if found is not None:
                return found
        return self._jira_index.get((folded, None))

    def intigriti_target(self, state: str | None) -> tuple[str, str | None] | None:
        """(status, close reason) syncd moves a submission to for ``state``; None if none."""
        found = self.state(state)
        if found is None or not found.intigriti or not found.intigriti_writable:
            return None
        status, reason = split_intigriti_entry(found.intigriti[0])
        if not status or _fold(status) in UNWRITABLE_INTIGRITI_STATUSES:
            return None
        return status, reason

    def jira_target(self, state: str | None) -> tuple[str, str | None] | None:
        """(status, resolution) syncd moves an issue to for ``state``; None if none."""
        found = self.state(state)
        if found is None or not found.jira:
            return None
        status, resolution = split_jira_entry(found.jira[0])
        return status, resolution or found.jira_resolution

    # -- creation ---------------------------------------------------------------------------

    def should_create(self, status: str | None) -> bool:
        """Whether a submission in this Intigriti status gets a Jira issue."""
        return status is not None and _fold(status) in self._create_statuses

    def project_for(self, program_id: str) -> str | None:
        """The Jira project for a program (the default project when not listed)."""
        for program, project in self.project_for_program:
            if program == program_id and project.strip():
                return project.strip()
        return self.default_project.strip() or None


# -- CVSS ------------------------------------------------------------------------------------

#: base, temporal, environmental and supplemental metrics of CVSS 3.x and 4.0, in the
#: specifications' order; unknown metrics keep their place after these
_CVSS_METRICS = (
    "AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA", "S", "C", "I", "A", "E",
    "RL", "RC", "CR", "IR", "AR", "MAV", "MAC", "MAT", "MPR", "MUI", "MVC", "MVI", "MVA",
    "MSC", "MSI", "MSA", "MS", "MC", "MI", "MA", "Safety", "Automatable", "Recovery", "V",
    "RE", "U",
)
_CVSS_ORDER = {name: index for index, name in enumerate(_CVSS_METRICS)}


def canonical_cvss(vector: str | None) -> str | None:
    """A CVSS vector with its metrics in the specification's order, prefix upper-cased;
    None for nothing. Anything that does not parse as ``metric:value`` pairs is compared
    as written (stripped), so no value is lost."""
    if vector is None or not vector.strip():
        return None
    text = "".join(vector.split())
    parts = text.split("/")
    prefix = parts[0].upper() if parts[0].upper().startswith("CVSS:") else None
    metrics = parts[1:] if prefix else parts
    pairs_: list[tuple[str, str]] = []
    for metric in metrics:
        name, sep, value = metric.partition(":")
        if not sep or not name or not value:
            return text
        pairs_.append((name, value))
    order = {name: index for index, (name, _) in enumerate(pairs_)}
    pairs_.sort(key=lambda p: (_CVSS_ORDER.get(p[0], 1000), order[p[0]]))
    body = "/".join(f"{name}:{value}" for name, value in pairs_)
    return f"{prefix}/{body}" if prefix else body


# -- internal reference ----------------------------------------------------------------------


def looks_like_issue_key(value: str | None) -> bool:
    """Whether ``value`` is a Jira issue key such as ``SEC-12`` (case and spaces ignored)."""
    if value is None:
        return False
    return _ISSUE_KEY.match(value.strip().upper()) is not None


def canonical_reference(value: str | None) -> str | None:
    """The issue key an internal reference names, or None when it names none.

    A bare key (any case) or a pasted Jira browse URL both count.
    """
    if value is None:
        return None
    text = value.strip()
    match = _BROWSE_URL.match(text)
    if match is not None:
        text = match.group(1)
    key = text.upper()
    return key if _ISSUE_KEY.match(key) else None


def canonical_issue_key(key: str | None) -> str | None:
    """The canonical form of a Jira issue key as Jira reports it."""
    if key is None:
        return None
    text = key.strip().upper()
    return text or None


# -- defaults --------------------------------------------------------------------------------


def default_mapping(
    *,
    default_project: str = "",
    project_for_program: Iterable[tuple[str, str]] = (),
) -> Mapping:
    """A mapping for a standard Jira workflow and Intigriti's lifecycle.

    Jira: To Do, In Progress, In Review, Done, Won't Do, Duplicate; priorities Highest ..
    Lowest. Intigriti: Triage/Pending are ``new`` (syncd never moves a submission back
    there), Accepted is ``accepted``, and each close reason belongs to one closed class.
    """
    return Mapping(
        severity_to_priority=(
            ("Exceptional", "Highest"),
            ("Critical", "Highest"),
            ("High", "High"),
            ("Medium", "Medium"),
            ("Low", "Low"),
        ),
        priority_to_severity=(
            ("Highest", "Critical"),
            ("High", "High"),
            ("Medium", "Medium"),
            ("Low", "Low"),
            ("Lowest", "Low"),
        ),
        states=(
            SyncState(
                name="new",
                intigriti=("Triage", "Pending"),
                jira=("To Do",),
                intigriti_writable=False,
            ),
            SyncState(name="accepted", intigriti=("Accepted",), jira=("In Progress", "In Review")),
            SyncState(
                name="closed:resolved",
                intigriti=("Closed/Resolved",),
                jira=("Done",),
                jira_resolution="Done",
            ),
            SyncState(
                name="closed:duplicate",
                intigriti=("Closed/Duplicate",),
                jira=("Duplicate",),
                jira_resolution="Duplicate",
            ),
            SyncState(
                name="closed:wontfix",
                intigriti=(
                    "Closed/Accepted risk",
                    "Closed/Informative",
                    "Closed/Out of scope",
                    "Closed/Spam",
                    "Closed/Not applicable",
                ),
                jira=("Won't Do",),
                jira_resolution="Won't Do",
            ),
        ),
        statuses_to_create=("Triage", "Pending", "Accepted"),
        default_project=default_project,
        project_for_program=tuple(project_for_program),
    )


# -- validation ------------------------------------------------------------------------------


def _check_table(
    pairs_: tuple[tuple[str, str], ...], key: str, problems: list[str]
) -> dict[str, str]:
    seen: dict[str, str] = {}
    for raw_key, value in pairs_:
        if not raw_key.strip() or not value.strip():
            problems.append(f"{key}[{raw_key!r}]: empty name")
            continue
        if _fold(raw_key) in seen:
            problems.append(f"{key}[{raw_key!r}]: listed more than once")
            continue
        seen[_fold(raw_key)] = value
    return seen


def _validate_severity(m: Mapping, problems: list[str]) -> None:
    s2p_key, p2s_key = "mapping.severity_to_priority", "mapping.priority_to_severity"
    s2p = _check_table(m.severity_to_priority, s2p_key, problems)
    p2s = _check_table(m.priority_to_severity, p2s_key, problems)
    if not s2p:
        problems.append(f"{s2p_key}: empty; severity cannot sync")
    if not p2s:
        problems.append(f"{p2s_key}: empty; severity cannot sync")
    for severity, priority in m.severity_to_priority:
        if _fold(priority) not in p2s:
            problems.append(
                f"{s2p_key}[{severity!r}]: priority {priority!r} is missing from {p2s_key}"
            )
    for priority, severity in m.priority_to_severity:
        back = s2p.get(_fold(severity))
        if back is None:
            problems.append(
                f"{p2s_key}[{priority!r}]: severity {severity!r} is missing from {s2p_key}"
            )
            continue
        # syncd writes priority_for(c) for class c = severity and must read the same class
        # back, or its own writes would look like human edits (an echo loop).
        again = p2s.get(_fold(back))
        if again is not None and _fold(again) != _fold(severity):
            problems.append(
                f"{p2s_key}[{priority!r}]: severity {severity!r} maps to priority {back!r}, "
                f"which maps back to {again!r}; syncd's own writes would not read back"
            )


def _validate_states(m: Mapping, problems: list[str]) -> None:
    if not m.states:
        problems.append("mapping.states: empty; status cannot sync")
    names: dict[str, int] = {}
    intigriti_seen: dict[tuple[str, str | None], str] = {}
    jira_seen: dict[str, str] = {}
    for index, state in enumerate(m.states):
        key = f"mapping.states[{index}]"
        if not state.name.strip():
            problems.append(f"{key}.name: empty")
        elif state.name in names:
            problems.append(
                f"{key}.name: {state.name!r} already used by mapping.states[{names[state.name]}]"
            )
        else:
            names[state.name] = index
        if not state.jira:
            problems.append(f"{key}.jira: empty; syncd could not move an issue into {state.name!r}")
        for entry in state.jira:
            status, resolution = split_jira_entry(entry)
            if not status:
                problems.append(f"{key}.jira: empty status name")
                continue
            jira_key = f"{_fold(status)}/{_fold(resolution) if resolution else ''}"
            if jira_key in jira_seen:
                problems.append(f"{key}.jira: {entry!r} already in {jira_seen[jira_key]}")
            else:
                jira_seen[jira_key] = f"{key}.jira"
        if state.jira_resolution is not None and not state.jira_resolution.strip():
            problems.append(f"{key}.jira_resolution: empty; leave it unset instead")
        for position, entry in enumerate(state.intigriti):
            status, reason = split_intigriti_entry(entry)
            if not status:
                problems.append(f"{key}.intigriti: {entry!r} has no status")
                continue
            folded = (_fold(status), _fold(reason) if reason is not None else None)
            if folded in intigriti_seen:
                problems.append(f"{key}.intigriti: {entry!r} already in {intigriti_seen[folded]}")
            else:
                intigriti_seen[folded] = f"{key}.intigriti"
            if position == 0 and state.intigriti_writable:
                if _fold(status) in UNWRITABLE_INTIGRITI_STATUSES:
                    problems.append(
                        f"{key}.intigriti: syncd cannot move a submission to {status!r}; "
                        f"list another status first or mark the state not writable"
                    )
                elif _fold(status) == "closed" and reason is None:
                    problems.append(
                        f"{key}.intigriti: the first entry {entry!r} needs a close reason "
                        f"('Closed/<reason>') for syncd to close a submission"
                    )


def validate_mapping(m: Mapping) -> list[str]:
    """Every problem of a mapping, each naming the offending key; empty when usable."""
    problems: list[str] = []
    _validate_severity(m, problems)
    _validate_states(m, problems)
    for name in FIELDS:
        rule = m.rule(name)
        if rule.direction not in DIRECTIONS:
            problems.append(
                f"mapping.fields.{name}.direction: {rule.direction!r} is not one "
                f"of {', '.join(DIRECTIONS)}"
            )
        if rule.policy not in POLICIES:
            problems.append(
                f"mapping.fields.{name}.policy: {rule.policy!r} is not one of {', '.join(POLICIES)}"
            )
    for name in ONE_WAY_FIELDS:
        direction = getattr(m.fields, name).direction
        if direction not in ("to_jira", "off"):
            problems.append(
                f"mapping.fields.{name}.direction: {direction!r}; this field flows from"
                " Intigriti to Jira only: to_jira or off"
            )
    if m.attachment_max_bytes < 1:
        problems.append("sync.attachment_max_bytes: must be at least 1")
    for index, status in enumerate(m.statuses_to_create):
        if not status.strip():
            problems.append(f"mapping.statuses_to_create[{index}]: empty")
    for program, project in m.project_for_program:
        if not project.strip():
            problems.append(f"mapping.project_for_program[{program!r}]: empty project key")
    if not m.default_project.strip() and m.statuses_to_create and not m.project_for_program:
        problems.append(
            "jira.project: not set, and [mapping.projects] names no project to create issues in"
        )
    if not m.label.strip() or any(ch.isspace() for ch in m.label):
        problems.append(f"mapping.label: {m.label!r} is not a valid Jira label (no spaces)")
    if not m.issue_type.strip():
        problems.append("mapping.issue_type: empty")
    return problems
