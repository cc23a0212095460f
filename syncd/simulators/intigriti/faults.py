"""Injected faults and per-route request counters.

A fault rule names a route pattern (``fnmatch`` against ``"METHOD /template"`` and
``"METHOD /path"``, both without the version prefix, e.g. ``"PUT /submissions/*/state"``;
a pattern starting with ``/`` ignores the method; ``*`` matches everything) and fires
either for the next ``count`` matching requests (deterministic) or with a ``probability``
from a seeded generator. Kinds: ``error`` (answer ``status``), ``rate_limit`` (429 with
``Retry-After``), ``stall`` (sleep ``seconds`` first), ``drop`` (run the handler, commit,
then cut the connection mid-response).
"""

from __future__ import annotations

import fnmatch
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

KINDS = ("error", "rate_limit", "stall", "drop", "truncate")


@dataclass
class FaultRule:
    id: int
    kind: str
    route: str
    remaining: int | None
    probability: float | None
    status: int
    seconds: float
    retry_after: int
    rng: random.Random = field(repr=False)
    fired: int = 0

    def matches(self, method: str, template: str, path: str) -> bool:
        if self.route.startswith("/"):
            return fnmatch.fnmatchcase(template, self.route) or fnmatch.fnmatchcase(
                path, self.route
            )
        return fnmatch.fnmatchcase(f"{method} {template}", self.route) or fnmatch.fnmatchcase(
            f"{method} {path}", self.route
        )

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "route": self.route,
            "remaining": self.remaining,
            "probability": self.probability,
            "status": self.status,
            "seconds": self.seconds,
            "retry_after": self.retry_after,
            "fired": self.fired,
        }


class Faults:
    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._next_id = 1
        self._lock = threading.Lock()

    def add(
        self,
        kind: str,
        *,
        route: str = "*",
        count: int | None = 1,
        probability: float | None = None,
        seed: int = 0,
        status: int = 500,
        seconds: float = 30.0,
        retry_after: int = 30,
    ) -> dict[str, Any]:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        if probability is not None and not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        if probability is None and (count is None or count < 1):
            raise ValueError("count must be >= 1 unless a probability is given")
        with self._lock:
            rule = FaultRule(
                id=self._next_id,
                kind=kind,
                route=route,
                remaining=count if probability is None else None,
                probability=probability,
                status=status,
                seconds=seconds,
                retry_after=retry_after,
                rng=random.Random(seed),
            )
            self._next_id += 1
            self._rules.append(rule)
            return rule.view()

    def take(self, method: str, template: str, path: str) -> dict[str, FaultRule]:
        """The rules that fire for this request, at most one per kind (consumed)."""
        fired: dict[str, FaultRule] = {}
        with self._lock:
            for rule in self._rules:
                if rule.kind in fired or not rule.matches(method, template, path):
                    continue
                if rule.probability is not None:
                    if rule.rng.random() >= rule.probability:
                        continue
                elif not rule.remaining:
                    continue
                else:
                    rule.remaining -= 1
                rule.fired += 1
                fired[rule.kind] = rule
            self._rules = [r for r in self._rules if r.remaining != 0]
        return fired

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.view() for r in self._rules]

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()


class Counters:
    """Requests served, by (method, route template, status)."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str, int]] = Counter()
        self._lock = threading.Lock()

    def record(self, method: str, template: str, status: int) -> None:
        with self._lock:
            self._counts[(method, template, status)] += 1

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"method": m, "route": r, "status": s, "count": c}
                for (m, r, s), c in sorted(self._counts.items())
            ]

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
