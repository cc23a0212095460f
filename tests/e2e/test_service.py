"""The daemon as a service: /healthz, /readyz, /metrics, and the systemd notify protocol
(both simulators, `syncd run` as a subprocess)."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from concurrency import log_events, stop_all
from harness import E2E, e2e_world, free_port, wait_for
from prometheus_client.parser import text_string_to_metric_families
from test_reconcile import seed_open

POLL = 1.0


@pytest.fixture
def e2e(tmp_path: Path, database_url: str) -> Iterator[E2E]:
    yield from e2e_world(tmp_path, database_url)


@pytest.fixture
def e2e_sqlite(tmp_path: Path, sqlite_url: str) -> Iterator[E2E]:
    yield from e2e_world(tmp_path, sqlite_url)


def _listen(e2e: E2E, **sync: Any) -> str:
    port = free_port()
    polls = {"poll_interval_seconds": POLL, "jira_poll_interval_seconds": POLL, **sync}
    e2e.rewrite_config({"sync": polls, "http": {"listen": f"127.0.0.1:{port}"}})
    return f"http://127.0.0.1:{port}"


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=5)
    except httpx.TransportError:
        return None  # not listening yet


def _role(base: str) -> str | None:
    response = _get(f"{base}/healthz")
    return None if response is None else str(json.loads(response.text).get("role"))


def _status(url: str) -> int | None:
    response = _get(url)
    return None if response is None else response.status_code


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _samples(base: str) -> Samples:
    response = httpx.get(f"{base}/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


def test_health_readiness_and_metrics_of_a_running_daemon(e2e: E2E) -> None:
    codes = seed_open(e2e, 4)
    base = _listen(e2e)
    jira = e2e.world.jira.control
    jira.fail_next("*", count=100_000, status=503)  # no cycle can run yet
    log = e2e.workdir / "daemon.log"
    daemon = e2e.popen("run", log=log)
    try:
        wait_for(lambda: _status(f"{base}/healthz") == 200, timeout=60, what="/healthz")
        ready = _get(f"{base}/readyz")
        assert ready is not None and ready.status_code == 503
        body = ready.json()
        assert body["ok"] is False
        assert {"intigriti_cycle", "jira_cycle", "active"} <= set(body["not_ready"]), body
        assert body["checks"]["database"]["ok"] is True
        assert body["checks"]["jira_cycle"]["detail"] == "no successful jira cycle yet"

        jira.clear_faults()
        wait_for(lambda: _status(f"{base}/readyz") == 200, timeout=90, what="/readyz 200")
        ready = _get(f"{base}/readyz")
        assert ready is not None and ready.json()["not_ready"] == []
        wait_for(
            lambda: all(e2e.submission(c)["internalReference"] for c in codes),
            timeout=60,
            what="the start-up backfill",
        )

        before = _samples(base)
        expected = {
            "syncd_requests_total",
            "syncd_rate_limited_total",
            "syncd_retries_total",
            "syncd_quota_tokens_available",
            "syncd_cycle_duration_seconds_count",
            "syncd_cycles_total",
            "syncd_last_success_timestamp_seconds",
            "syncd_sync_lag_seconds",
            "syncd_links",
            "syncd_unmapped_links",
            "syncd_issues_created_total",
            "syncd_database_up",
            "syncd_active",
            "syncd_ready",
        }
        assert expected <= _names(before), expected - _names(before)
        assert all(name.startswith("syncd_") for name in _names(before))
        # the 503s at start were counted, by side and status
        assert any(
            name == "syncd_requests_total" and dict(labels).get("status") == "503"
            and dict(labels)["side"] == "jira"
            for name, labels in before
        )
        assert _value(before, "syncd_links", state="linked") == 4
        assert ("syncd_links", (("state", "blocked"),)) in before  # zero, but present
        assert _value(before, "syncd_issues_created_total", how="created") == 4
        assert _value(before, "syncd_active") == 1
        for bucket in ("intigriti-read", "intigriti-write", "jira"):
            assert ("syncd_quota_tokens_available", (("bucket", bucket),)) in before

        e2e.world.intigriti.control.edit_submission(codes[0], severity="Critical")
        wait_for(
            lambda: e2e.issue_of(codes[0])["priority"] == "Highest",
            timeout=30,
            what="the severity to reach Jira",
        )
        written = {"field": "severity", "direction": "to_jira"}
        wait_for(
            lambda: _value(_samples(base), "syncd_writes_total", **written)
            == _value(before, "syncd_writes_total", **written) + 1,
            timeout=10,
            what="the write counter to move",
        )
    finally:
        stop_all([daemon])
    assert daemon.returncode == 0
    events = list(log_events(log))
    assert any(e.get("event") == "http_listening" for e in events)
    # idle polls are not news at INFO: many cycles ran, few said so
    idle_lines = [
        e for e in events if e.get("event") == "cycle_done" and e.get("items") == 0
    ]
    assert idle_lines == []


def test_a_standby_is_alive_but_not_ready(e2e_sqlite: E2E) -> None:
    e2e = e2e_sqlite
    seed_open(e2e, 2)
    first_base = _listen(e2e)
    e2e.popen("run", log=e2e.workdir / "first.log")
    try:
        wait_for(lambda: _status(f"{first_base}/readyz") == 200, timeout=90, what="leader ready")
        second_base = _listen(e2e)  # the second process reads the new port
        e2e.popen("run", log=e2e.workdir / "second.log")
        wait_for(lambda: _status(f"{second_base}/healthz") == 200, timeout=60, what="standby")
        wait_for(lambda: _role(second_base) == "standby", timeout=30, what="a standby")
        ready = _get(f"{second_base}/readyz")
        assert ready is not None and ready.status_code == 503
        assert ready.json()["checks"]["active"] == {
            "ok": False,
            "detail": "standby: another instance is active",
        }
        assert _value(_samples(second_base), "syncd_active") == 0
        assert _status(f"{first_base}/readyz") == 200
    finally:
        stop_all(list(e2e.spawned))


def test_a_port_in_use_is_a_configuration_error_naming_the_key(e2e_sqlite: E2E) -> None:
    e2e = e2e_sqlite
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        e2e.rewrite_config({"http": {"listen": f"127.0.0.1:{port}"}})
        result = e2e.syncd("run", timeout=60)
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"http.listen: cannot listen on 127.0.0.1:{port}" in result.stderr


def test_the_daemon_speaks_the_systemd_notify_protocol(e2e_sqlite: E2E, tmp_path: Path) -> None:
    e2e = e2e_sqlite
    seed_open(e2e, 2)
    polls = {"poll_interval_seconds": POLL, "jira_poll_interval_seconds": POLL}
    e2e.rewrite_config({"sync": polls})
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(1.0)
        daemon: subprocess.Popen[str] = e2e.popen(
            "run",
            log=e2e.workdir / "daemon.log",
            env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"},
        )
        messages: list[str] = []

        def received(what: str, count: int = 1) -> bool:
            with contextlib.suppress(TimeoutError):
                messages.append(sock.recv(4096).decode())
            return sum(what in m.split("\n") for m in messages) >= count

        try:
            wait_for(lambda: received("READY=1"), timeout=90, what="READY=1")
            wait_for(lambda: received("WATCHDOG=1", 3), timeout=30, what="watchdog pings")
        finally:
            stop_all([daemon])
        while True:  # what the stop sent
            try:
                messages.append(sock.recv(4096).decode())
            except TimeoutError:
                break
    ready = next(m for m in messages if "READY=1" in m.split("\n"))
    assert "STATUS=active; last " in ready, ready
    assert sum("READY=1" in m.split("\n") for m in messages) == 1
    assert any("STOPPING=1" in m.split("\n") for m in messages)
    # READY came after the first cycle, never before the start-up checks passed
    assert messages.index(ready) < [i for i, m in enumerate(messages) if "WATCHDOG=1" in m][-1]
