"""Compile a parsed JQL query into a predicate and a sort key over issues.

Values are resolved once at compile time (project keys to ids, date literals to UTC
instants in the searching user's time zone), so evaluating a query over many issues is a
cheap closure call per issue.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from syncd.simulators.jira.catalog import (
    CUSTOM_FIELDS,
    ISSUE_TYPES,
    PRIORITIES,
    RESOLUTIONS,
    STATUS_BY_ID,
    STATUS_CATEGORIES,
    STATUSES,
    Named,
)
from syncd.simulators.jira.jql_parse import BoolOp, Clause, JqlError, Node, Not, Query, Value
from syncd.simulators.jira.model import Issue, IssueCore
from syncd.simulators.jira.timefmt import parse_jql_date

Predicate = Callable[[IssueCore, Issue], bool]
_PROPERTY = re.compile(r"^issue\.property\[(?P<key>[^\]]+)\](?:\.(?P<path>.+))?$", re.I)
_EQUALITY = ("=", "!=", "in", "not in")
_DATE_FORMATS_HINT = (
    "Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', "
    "'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
)


class Resolver(Protocol):
    def project_ids_for(self, ref: str) -> set[int] | None: ...

    def issue_ids_for_key(self, ref: str) -> set[int] | None: ...

    def project_key_of(self, project_id: int) -> str: ...

    def properties_searchable(self) -> bool: ...


@dataclass(frozen=True)
class Compiled:
    predicate: Predicate
    sort_key: Callable[[IssueCore], tuple[Any, ...]]
    descending: tuple[bool, ...]
    bounded: bool


def _no_field(name: str) -> JqlError:
    return JqlError(f"Field '{name}' does not exist or you do not have permission to view it.")


def _bad_operator(operator: str, name: str) -> JqlError:
    return JqlError(f"The operator '{operator.upper()}' is not supported by the '{name}' field.")


def _combine(operator: str, matches: Callable[[IssueCore, Issue], bool]) -> Predicate:
    if operator in ("=", "in", "is"):
        return matches
    return lambda core, issue: not matches(core, issue)


def _named_ids(values: Iterable[Value], catalog: Iterable[Named], field: str) -> set[str | None]:
    items = list(catalog)
    found: set[str | None] = set()
    for value in values:
        if value.empty:
            found.add(None)
            continue
        match = [i.id for i in items if i.id == value.text or i.name.lower() == value.text.lower()]
        if field == "resolution" and value.text.lower() == "unresolved":
            found.add(None)
            continue
        if not match:
            raise JqlError(f"The value '{value.text}' does not exist for the field '{field}'.")
        found.update(match)
    return found


class _Compiler:
    def __init__(self, resolver: Resolver, tz: ZoneInfo, now: datetime) -> None:
        self._resolver = resolver
        self._tz = tz
        self._now = now

    def node(self, node: Node) -> Predicate:
        if isinstance(node, BoolOp):
            children = [self.node(child) for child in node.children]
            if node.op == "and":
                return lambda core, issue: all(child(core, issue) for child in children)
            return lambda core, issue: any(child(core, issue) for child in children)
        if isinstance(node, Not):
            inner = self.node(node.child)
            return lambda core, issue: not inner(core, issue)
        return self.clause(node)

    def clause(self, clause: Clause) -> Predicate:
        name = clause.field.lower()
        op = clause.operator
        if _PROPERTY.match(clause.field):
            if not self._resolver.properties_searchable():
                raise _no_field(clause.field)
            return self._property(clause)
        if name == "project":
            return self._project(clause)
        if name in ("key", "issuekey", "id", "issue"):
            return self._key(clause)
        if name == "labels":
            return self._labels(clause)
        if name in (
            "updated",
            "updateddate",
            "created",
            "createddate",
            "resolved",
            "resolutiondate",
        ):
            return self._date(clause, name)
        if name in ("status", "priority", "resolution", "issuetype", "type", "statuscategory"):
            return self._catalog(clause, name)
        if name in ("summary", "text"):
            if op not in ("~", "!~"):
                raise _bad_operator(op, clause.field)
            needle = clause.values[0].text.lower()
            matches: Predicate = lambda core, issue: needle in core.summary.lower()  # noqa: E731
            return matches if op == "~" else (lambda c, i: not matches(c, i))
        custom = self._custom_field(clause.field)
        if custom is not None:
            return self._custom(clause, custom)
        raise _no_field(clause.field)

    def _check(self, clause: Clause, allowed: tuple[str, ...]) -> None:
        if clause.operator not in allowed:
            raise _bad_operator(clause.operator, clause.field)

    def _project(self, clause: Clause) -> Predicate:
        self._check(clause, _EQUALITY)
        ids: set[int] = set()
        for value in clause.values:
            found = self._resolver.project_ids_for(value.text)
            if found is None:
                raise JqlError(f"The value '{value.text}' does not exist for the field 'project'.")
            ids.update(found)
        return _combine(clause.operator, lambda core, issue: core.project_id in ids)

    def _key(self, clause: Clause) -> Predicate:
        self._check(clause, _EQUALITY)
        ids: set[int] = set()
        for value in clause.values:
            if value.text.isdigit():
                ids.add(int(value.text))
                continue
            found = self._resolver.issue_ids_for_key(value.text)
            if found is None:
                raise JqlError(f"An issue with key '{value.text}' does not exist for field 'key'.")
            ids.update(found)
        return _combine(clause.operator, lambda core, issue: core.id in ids)

    def _labels(self, clause: Clause) -> Predicate:
        self._check(clause, (*_EQUALITY, "is", "is not"))
        if clause.operator in ("is", "is not"):
            return _combine(clause.operator, lambda core, issue: not core.labels)
        wanted = {value.text for value in clause.values if not value.empty}
        wants_empty = any(value.empty for value in clause.values)
        if clause.operator in ("=", "in"):
            return lambda core, issue: (
                bool(wanted.intersection(core.labels)) or (wants_empty and not core.labels)
            )
        # Jira leaves issues without labels out of a negative label clause.
        return lambda core, issue: bool(core.labels) and not wanted.intersection(core.labels)

    def _date(self, clause: Clause, name: str) -> Predicate:
        attribute = {
            "updated": "updated",
            "updateddate": "updated",
            "created": "created",
            "createddate": "created",
            "resolved": "resolutiondate",
            "resolutiondate": "resolutiondate",
        }[name]
        op = clause.operator
        if op in ("is", "is not"):
            return _combine(op, lambda core, issue: getattr(core, attribute) is None)
        self._check(clause, ("=", "!=", ">", ">=", "<", "<=", "in", "not in"))
        instants: list[datetime] = []
        for value in clause.values:
            try:
                instants.append(parse_jql_date(value.text, self._tz, self._now))
            except ValueError:
                raise JqlError(
                    f"Date value '{value.text}' for field '{clause.field}' is invalid. "
                    + _DATE_FORMATS_HINT
                ) from None
        limit = instants[0]

        def get(core: IssueCore) -> datetime | None:
            stamp: datetime | None = getattr(core, attribute)
            return stamp

        compare: dict[str, Callable[[datetime], bool]] = {
            ">=": lambda stamp: stamp >= limit,
            ">": lambda stamp: stamp > limit,
            "<=": lambda stamp: stamp <= limit,
            "<": lambda stamp: stamp < limit,
            "=": lambda stamp: stamp == limit,
            "!=": lambda stamp: stamp != limit,
            "in": lambda stamp: stamp in instants,
            "not in": lambda stamp: stamp not in instants,
        }
        test = compare[op]

        def predicate(core: IssueCore, issue: Issue) -> bool:
            stamp = get(core)
            return stamp is not None and test(stamp)

        return predicate

    def _catalog(self, clause: Clause, name: str) -> Predicate:
        op = clause.operator
        self._check(clause, (*_EQUALITY, "is", "is not"))
        getter: Callable[[IssueCore], str | None]
        if name == "status":
            catalog: list[Named] = [Named(s.id, s.name) for s in STATUSES]
            getter = lambda core: core.status_id  # noqa: E731
        elif name == "statuscategory":
            catalog = [Named(str(c.id), c.name) for c in STATUS_CATEGORIES]
            catalog += [Named(str(c.id), c.key) for c in STATUS_CATEGORIES]
            getter = lambda core: str(STATUS_BY_ID[core.status_id].category.id)  # noqa: E731
        elif name == "priority":
            catalog = list(PRIORITIES)
            getter = lambda core: core.priority_id  # noqa: E731
        elif name == "resolution":
            catalog = list(RESOLUTIONS)
            getter = lambda core: core.resolution_id  # noqa: E731
        else:
            catalog = list(ISSUE_TYPES)
            getter = lambda core: core.issuetype_id  # noqa: E731
        if op in ("is", "is not"):
            return _combine(op, lambda core, issue: getter(core) is None)
        ids = _named_ids(clause.values, catalog, clause.field)
        return _combine(op, lambda core, issue: getter(core) in ids)

    def _custom_field(self, name: str) -> str | None:
        lowered = name.lower()
        for field in CUSTOM_FIELDS.values():
            names = {clause.lower() for clause in field.clause_names} | {field.id}
            if lowered in names:
                return field.id
        return None

    def _custom(self, clause: Clause, field_id: str) -> Predicate:
        op = clause.operator
        if op in ("is", "is not"):
            return _combine(op, lambda core, issue: core.custom.get(field_id) is None)
        numeric = CUSTOM_FIELDS[field_id].schema_type == "number"
        if not numeric:
            self._check(clause, (*_EQUALITY, "~", "!~"))
            if op in ("~", "!~"):
                needle = clause.values[0].text.lower()

                def contains(core: Any, issue: Any) -> bool:
                    return needle in str(core.custom.get(field_id) or "").lower()

                return contains if op == "~" else (lambda c, i: not contains(c, i))
            texts = {value.text for value in clause.values}
            return _combine(op, lambda core, issue: core.custom.get(field_id) in texts)
        try:
            numbers = [float(value.text) for value in clause.values]
        except ValueError:
            raise JqlError(
                f"The value '{clause.values[0].text}' is not a valid number for the field "
                f"'{clause.field}'."
            ) from None
        return _number_predicate(op, numbers, lambda core: core.custom.get(field_id))

    def _property(self, clause: Clause) -> Predicate:
        match = _PROPERTY.match(clause.field)
        assert match is not None
        key = match.group("key")
        path = [part for part in (match.group("path") or "").split(".") if part]

        def lookup(core: IssueCore) -> Any:
            if key not in core.properties:
                return None
            value: Any = core.properties[key]
            for part in path:
                if not isinstance(value, dict) or part not in value:
                    return None
                value = value[part]
            return value

        op = clause.operator
        if op in ("is", "is not"):
            return _combine(op, lambda core, issue: lookup(core) is None)
        if op in (">", ">=", "<", "<="):
            try:
                numbers = [float(value.text) for value in clause.values]
            except ValueError:
                raise _bad_operator(op, clause.field) from None
            return _number_predicate(op, numbers, lookup)
        self._check(clause, _EQUALITY)
        texts = {value.text for value in clause.values}
        return _combine(op, lambda core, issue: _property_text(lookup(core)) in texts)


def _property_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float, str)):
        return str(value)
    return None


def _number_predicate(op: str, numbers: list[float], get: Callable[[IssueCore], Any]) -> Predicate:
    limit = numbers[0]
    tests: dict[str, Callable[[float], bool]] = {
        "=": lambda n: n == limit,
        "!=": lambda n: n != limit,
        ">": lambda n: n > limit,
        ">=": lambda n: n >= limit,
        "<": lambda n: n < limit,
        "<=": lambda n: n <= limit,
        "in": lambda n: n in numbers,
        "not in": lambda n: n not in numbers,
    }
    if op not in tests:
        raise _bad_operator(op, "number")
    test = tests[op]

    def predicate(core: IssueCore, issue: Issue) -> bool:
        value = get(core)
        return isinstance(value, (int, float)) and not isinstance(value, bool) and test(value)

    return predicate


def _sort_getter(name: str, resolver: Resolver) -> Callable[[IssueCore], Any]:
    lowered = name.lower()
    priority_rank = {p.id: -index for index, p in enumerate(PRIORITIES)}
    getters: dict[str, Callable[[IssueCore], Any]] = {
        "updated": lambda core: core.updated,
        "updateddate": lambda core: core.updated,
        "created": lambda core: core.created,
        "createddate": lambda core: core.created,
        "resolutiondate": lambda core: core.resolutiondate,
        "resolved": lambda core: core.resolutiondate,
        "id": lambda core: core.id,
        "key": lambda core: (
            resolver.project_key_of(core.project_id),
            int(core.key.split("-")[-1]),
        ),
        "issuekey": lambda core: (
            resolver.project_key_of(core.project_id),
            int(core.key.split("-")[-1]),
        ),
        "project": lambda core: resolver.project_key_of(core.project_id),
        "priority": lambda core: priority_rank.get(core.priority_id or ""),
        "status": lambda core: STATUS_BY_ID[core.status_id].name,
        "summary": lambda core: core.summary.lower(),
        "issuetype": lambda core: core.issuetype_id,
    }
    if lowered not in getters:
        raise _no_field(name)
    return getters[lowered]


def compile_query(query: Query, resolver: Resolver, tz: ZoneInfo, now: datetime) -> Compiled:
    predicate: Predicate = (
        (lambda core, issue: True)
        if query.where is None
        else (_Compiler(resolver, tz, now).node(query.where))
    )
    getters = [_sort_getter(key.field, resolver) for key in query.order_by]

    def sort_key(core: IssueCore) -> tuple[Any, ...]:
        parts: list[Any] = []
        for getter in getters:
            value = getter(core)
            # Empty values sort after everything else in ascending order.
            parts.append((value is None, value if value is not None else 0))
        return tuple(parts)

    return Compiled(
        predicate=predicate,
        sort_key=sort_key,
        descending=tuple(key.descending for key in query.order_by),
        bounded=query.where is not None,
    )
