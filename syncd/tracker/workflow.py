"""Jira workflows as graphs of transitions, learned one status at a time.

Jira only lists the transitions available *from an issue's current status*, so the graph
of a workflow (one per project + issue type) is filled in as we see statuses: from the
issue being moved, or from another issue that sits in a status we have not seen yet.
Planning is a breadth-first search over what is known (pure functions, unit-tested).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Edge:
    """One transition: ``transition_id`` leads from ``source`` to ``target``.

    ``resolution_allowed`` is None when the transition screen has no resolution field;
    otherwise the allowed names (empty when the screen does not list them).
    """

    transition_id: str
    name: str
    source: str
    target: str
    resolution_allowed: frozenset[str] | None = None
    resolution_required: bool = False

    @property
    def has_resolution(self) -> bool:
        return self.resolution_allowed is not None


def _norm(status: str) -> str:
    return status.casefold()


def edges_from_transitions(source: str, payload: Mapping[str, Any]) -> tuple[Edge, ...]:
    """Edges out of ``source`` from a ``GET .../transitions?expand=transitions.fields``."""
    edges: list[Edge] = []
    for raw in payload.get("transitions") or []:
        target = (raw.get("to") or {}).get("name")
        if not isinstance(target, str) or raw.get("id") is None:
            continue
        resolution = (raw.get("fields") or {}).get("resolution")
        allowed: frozenset[str] | None = None
        required = False
        if isinstance(resolution, Mapping):
            names = [
                v.get("name")
                for v in resolution.get("allowedValues") or []
                if isinstance(v, Mapping)
            ]
            allowed = frozenset(n for n in names if isinstance(n, str))
            required = bool(resolution.get("required"))
        edges.append(
            Edge(
                transition_id=str(raw["id"]),
                name=str(raw.get("name") or ""),
                source=source,
                target=target,
                resolution_allowed=allowed,
                resolution_required=required,
            )
        )
    return tuple(edges)


@dataclass
class WorkflowGraph:
    """Known transitions of one workflow; ``explored`` statuses have a complete edge list."""

    edges: dict[str, tuple[Edge, ...]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def learn(self, source: str, edges: Iterable[Edge]) -> None:
        with self._lock:
            self.edges[_norm(source)] = tuple(edges)

    def forget(self, source: str) -> None:
        with self._lock:
            self.edges.pop(_norm(source), None)

    def explored(self, status: str) -> bool:
        with self._lock:
            return _norm(status) in self.edges

    def out(self, status: str) -> tuple[Edge, ...]:
        with self._lock:
            return self.edges.get(_norm(status), ())

    def statuses(self) -> set[str]:
        """Every status name seen, as a source or as a target."""
        with self._lock:
            names: dict[str, str] = {}
            for edges in self.edges.values():
                for edge in edges:
                    names.setdefault(_norm(edge.source), edge.source)
                    names.setdefault(_norm(edge.target), edge.target)
            return set(names.values())


def _traversable(edge: Edge, final: bool, resolution: str | None) -> bool:
    """Whether the planner may use ``edge`` (as the last hop when ``final``)."""
    if edge.resolution_required and not (final and resolution is not None):
        # An intermediate hop (or a final one without a wanted resolution) cannot fill
        # a required resolution honestly; avoid it.
        return False
    if final and resolution is not None and edge.resolution_allowed:
        return _norm(resolution) in {_norm(n) for n in edge.resolution_allowed}
    return True


def shortest_path(
    graph: WorkflowGraph,
    start: str,
    target: str,
    resolution: str | None = None,
    *,
    strict: bool = True,
) -> list[Edge] | None:
    """The fewest transitions from ``start`` to ``target`` over the known graph.

    Returns [] when already there and None when the known graph has no path. Among final
    hops of equal length, one whose screen accepts the wanted ``resolution`` is preferred.
    ``strict=False`` ignores resolution screens (to tell "unreachable" from "reachable,
    but not with this resolution").
    """
    if _norm(start) == _norm(target):
        return []
    parents: dict[str, Edge | None] = {_norm(start): None}
    queue: deque[str] = deque([start])
    best: list[Edge] | None = None
    best_rank: tuple[int, int] | None = None
    while queue:
        status = queue.popleft()
        depth = len(_path_to(parents, status))
        if best_rank is not None and depth + 1 > best_rank[0]:
            break
        for edge in graph.out(status):
            if _norm(edge.target) == _norm(target):
                if strict and not _traversable(edge, True, resolution):
                    continue
                wants = resolution is not None
                rank = (depth + 1, 0 if (not wants or edge.has_resolution) else 1)
                if best_rank is None or rank < best_rank:
                    best_rank = rank
                    best = [*_path_to(parents, status), edge]
                continue
            if _norm(edge.target) in parents:
                continue
            if strict and not _traversable(edge, False, resolution):
                continue
            parents[_norm(edge.target)] = edge
            queue.append(edge.target)
    return best


def _path_to(parents: Mapping[str, Edge | None], status: str) -> list[Edge]:
    path: list[Edge] = []
    edge = parents.get(_norm(status))
    while edge is not None:
        path.append(edge)
        edge = parents.get(_norm(edge.source))
    path.reverse()
    return path


def unexplored_frontier(graph: WorkflowGraph, start: str) -> list[tuple[str, list[Edge]]]:
    """Statuses reachable over known edges whose own edges are unknown, nearest first,
    each with the path that reaches it."""
    parents: dict[str, Edge | None] = {_norm(start): None}
    queue: deque[str] = deque([start])
    frontier: list[tuple[str, list[Edge]]] = []
    while queue:
        status = queue.popleft()
        if not graph.explored(status):
            frontier.append((status, _path_to(parents, status)))
            continue
        for edge in graph.out(status):
            if _norm(edge.target) in parents or edge.resolution_required:
                continue
            parents[_norm(edge.target)] = edge
            queue.append(edge.target)
    return frontier


def reachable_from(graph: WorkflowGraph, start: str) -> frozenset[str]:
    """Status names reachable from ``start`` over known edges (``start`` excluded)."""
    seen: dict[str, str] = {_norm(start): start}
    queue: deque[str] = deque([start])
    while queue:
        for edge in graph.out(queue.popleft()):
            if _norm(edge.target) not in seen:
                seen[_norm(edge.target)] = edge.target
                queue.append(edge.target)
    seen.pop(_norm(start))
    return frozenset(seen.values())
