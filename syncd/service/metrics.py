"""Prometheus metrics (prometheus-client), every name prefixed ``syncd_``.

Two kinds: counters and histograms the daemon moves as cycles finish (writes by field and
direction, conflicts, cycle durations), and values read when scraped (requests and
retries from each client's tally, quota tokens, link counts from the database, each
side's last successful read and watermark lag). A scrape never fails because the
database is down: the database series are left out and ``syncd_database_up`` says 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from syncd.errors import StoreError
from syncd.quota import TokenBucket
from syncd.store.repository import LinkState, Repository
from syncd.sync.engine import ReadBook
from syncd.sync.executor import Summary
from syncd.tally import RequestTally

SIDES = ("intigriti", "jira")
#: cycles take from a second (an idle poll) to hours (a backfill sweep)
CYCLE_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 4 * 3600)


@dataclass(frozen=True)
class Side:
    """What one API side offers the scrape."""

    name: str
    tally: RequestTally
    buckets: Callable[[], Iterable[TokenBucket]]


class CycleMetrics:
    """Moved by the daemon when a cycle ends."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram(
            "syncd_cycle_duration_seconds",
            "How long a cycle ran (poll_intigriti, poll_jira, sweep)",
            ["cycle"],
            buckets=CYCLE_BUCKETS,
            registry=registry,
        )
        self.cycles = Counter(
            "syncd_cycles",
            "Cycles run, by outcome (ok: ran to its end; crashed: raised)",
            ["cycle", "outcome"],
            registry=registry,
        )
        self.writes = Counter(
            "syncd_writes",
            "Field writes made, by field and direction",
            ["field", "direction"],
            registry=registry,
        )
        self.created = Counter(
            "syncd_issues_created",
            "Jira issues created for submissions (adopted: an existing issue was linked)",
            ["how"],
            registry=registry,
        )
        self.conflicts = Counter(
            "syncd_conflicts", "Fields both sides changed since the last sync", registry=registry
        )
        self.item_outcomes = Counter(
            "syncd_items",
            "Items handled by cycles, by outcome (failed, blocked, parked, unmapped, ...)",
            ["outcome"],
            registry=registry,
        )

    def finished(self, cycle: str, summary: Summary, seconds: float) -> None:
        self.duration.labels(cycle).observe(seconds)
        self.cycles.labels(cycle, "ok").inc()
        for key, count in summary.writes.items():
            field_name, direction = key.split(":", 1)
            self.writes.labels(field_name, direction).inc(count)
        if summary.created:
            self.created.labels("created").inc(summary.created)
        if summary.adopted:
            self.created.labels("adopted").inc(summary.adopted)
        if summary.conflicts:
            self.conflicts.inc(summary.conflicts)
        for outcome, count in summary.outcomes.items():
            if count > 0:
                self.item_outcomes.labels(outcome).inc(count)

    def crashed(self, cycle: str, seconds: float) -> None:
        self.duration.labels(cycle).observe(seconds)
        self.cycles.labels(cycle, "crashed").inc()


class ScrapeCollector(Collector):
    """The values read at scrape time."""

    def __init__(
        self,
        sides: list[Side],
        repository: Repository,
        reads: ReadBook,
        *,
        active: Callable[[], bool],
        ready: Callable[[], bool],
    ) -> None:
        self._sides = sides
        self._repository = repository
        self._reads = reads
        self._active = active
        self._ready = ready

    def collect(self) -> Iterator[Metric]:
        yield from self._requests()
        yield from self._quota()
        yield from self._reads_metrics()
        yield from self._database()
        yield _gauge("syncd_active", "1 while this instance is the active one", self._active())
        yield _gauge("syncd_ready", "1 while /readyz would answer 200", self._ready())

    def _requests(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "syncd_requests",
            "API requests sent, by side, route template and HTTP status (Jira: ok for a"
            " 2xx; an error name when no status came back)",
            labels=["side", "route", "status"],
        )
        limited = CounterMetricFamily(
            "syncd_rate_limited", "429 answers received, by side", labels=["side"]
        )
        retries = CounterMetricFamily(
            "syncd_retries", "Requests retried, by side and route", labels=["side", "route"]
        )
        for side in self._sides:
            throttled = 0
            for (route, status), count in sorted(side.tally.requests().items()):
                requests.add_metric([side.name, route, status], count)
                if status == "429":
                    throttled += count
            limited.add_metric([side.name], throttled)
            for route, count in sorted(side.tally.retries().items()):
                retries.add_metric([side.name, route], count)
        yield from (requests, limited, retries)

    def _quota(self) -> Iterator[Metric]:
        available = GaugeMetricFamily(
            "syncd_quota_tokens_available",
            "Requests the quota bucket would grant at once now",
            labels=["bucket"],
        )
        rate = GaugeMetricFamily(
            "syncd_quota_rate_per_minute", "The bucket's refill rate", labels=["bucket"]
        )
        paused = CounterMetricFamily(
            "syncd_quota_server_pauses",
            "Pauses the server asked for (Retry-After), by bucket",
            labels=["bucket"],
        )
        for side in self._sides:
            for bucket in side.buckets():
                stats = bucket.stats()  # named intigriti-read, intigriti-write, jira
                available.add_metric([stats.name], stats.available)
                rate.add_metric([stats.name], stats.rate_per_minute)
                paused.add_metric([stats.name], stats.paused_by_server)
        yield from (available, rate, paused)

    def _reads_metrics(self) -> Iterator[Metric]:
        success = GaugeMetricFamily(
            "syncd_last_success_timestamp_seconds",
            "When each side was last read successfully by this process (Unix time)",
            labels=["side"],
        )
        failure = GaugeMetricFamily(
            "syncd_last_failure_timestamp_seconds",
            "When a read of each side last failed in this process (Unix time)",
            labels=["side"],
        )
        for side in SIDES:
            at = self._reads.last_success(side)
            if at is not None:
                success.add_metric([side], at)
            failed_at = self._reads.last_failure(side)
            if failed_at is not None:
                failure.add_metric([side], failed_at)
        yield from (success, failure)

    def _database(self) -> Iterator[Metric]:
        try:
            counts = self._repository.link_counts()
            unmapped = self._repository.count_unmapped()
            cursors = self._repository.cursors()
        except StoreError:
            yield _gauge("syncd_database_up", "1 when the database answered this scrape", 0)
            return
        yield _gauge("syncd_database_up", "1 when the database answered this scrape", 1)
        links = GaugeMetricFamily(
            "syncd_links",
            "Links by state (creating, linked, blocked, parked)",
            labels=["state"],
        )
        # every state, zero included, so an alert on blocked > 0 has a series to watch
        for state in sorted({*get_args(LinkState), *counts}):
            links.add_metric([state], counts.get(state, 0))
        yield links
        yield _gauge(
            "syncd_unmapped_links",
            "Links holding a value the mapping cannot place",
            unmapped,
        )
        lag = GaugeMetricFamily(
            "syncd_sync_lag_seconds",
            "How far each side's incremental watermark is behind now",
            labels=["side"],
        )
        now = time.time()
        for cursor in cursors:
            if cursor.source in SIDES and cursor.watermark is not None:
                lag.add_metric([cursor.source], max(0.0, now - cursor.watermark.timestamp()))
        yield lag


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))
