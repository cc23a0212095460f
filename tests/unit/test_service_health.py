"""The liveness and readiness rules (/healthz, /readyz, the systemd watchdog), and the
notify protocol against a real Unix socket."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from syncd.service.health import MIN_STALL_SECONDS, ServiceState
from syncd.service.notify import Notifier


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _state(clock: Clock) -> ServiceState:
    state = ServiceState(poll_intervals={"intigriti": 60, "jira": 30}, tick_limit=60, clock=clock)
    state.tick("starting")
    return state


def test_an_active_daemon_whose_scheduler_stopped_is_not_alive() -> None:
    clock = Clock()
    state = _state(clock)
    running = [True]
    state.term_started(lambda: running[0])
    assert state.liveness(lambda: clock.now, lambda: False).ok
    running[0] = False
    check = state.liveness(lambda: clock.now, lambda: False)
    assert not check.ok and check.detail == "the scheduler is not running"


def test_work_that_stops_moving_is_stuck_unless_it_waits_for_quota() -> None:
    clock = Clock()
    state = _state(clock)
    state.term_started(lambda: True)
    last_request = clock.now
    assert state.stall_limit == MIN_STALL_SECONDS  # 10 intervals of 60 s is no more
    clock.now += MIN_STALL_SECONDS - 1
    state.tick("active")
    assert state.liveness(lambda: last_request, lambda: False).ok
    clock.now += 2
    state.tick("active")
    stuck = state.liveness(lambda: last_request, lambda: False)
    assert not stuck.ok and "no request sent for" in stuck.detail
    assert state.liveness(lambda: last_request, lambda: True).ok  # a long Retry-After


def test_a_silent_main_loop_is_not_alive_in_any_serving_role() -> None:
    clock = Clock()
    state = _state(clock)
    state.tick("standby")
    clock.now += 61
    check = state.liveness(lambda: 0.0, lambda: False)
    assert not check.ok and "silent for 61 s" in check.detail
    state.tick("standby")
    assert state.liveness(lambda: 0.0, lambda: False).ok


def test_readiness_wants_each_side_read_within_three_poll_intervals() -> None:
    state = _state(Clock())
    now = time.time()
    seen = {"intigriti": now - 179, "jira": now - 91}
    checks = {c.name: c for c in state.cycles_check(seen.get)}
    assert checks["intigriti_cycle"].ok
    assert not checks["jira_cycle"].ok
    assert "limit 90 s: 3 poll intervals" in checks["jira_cycle"].detail
    never = {c.name: c for c in state.cycles_check(lambda _side: None)}
    assert never["jira_cycle"].detail == "no successful jira cycle yet"


@pytest.fixture
def notify_socket(tmp_path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(0.5)
    return sock


def _drain(sock: socket.socket) -> list[str]:
    messages = []
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except TimeoutError:
            return messages


def test_ready_is_said_once_and_pings_come_at_half_the_interval(
    notify_socket: socket.socket,
) -> None:
    env = {"NOTIFY_SOCKET": notify_socket.getsockname(), "WATCHDOG_USEC": "2000000"}
    notifier = Notifier(env)
    assert notifier.watchdog_every == 1.0
    notifier.ready("active; first cycle")
    notifier.ready("active; again")
    notifier.watchdog()
    notifier.watchdog()  # too soon: not sent
    notifier.status("active; 3 items")
    notifier.status("active; 3 items")  # unchanged: not sent
    assert _drain(notify_socket) == [
        "READY=1\nSTATUS=active; first cycle",
        "WATCHDOG=1",
        "STATUS=active; 3 items",
    ]
    notify_socket.close()


def test_an_abstract_socket_address_is_reached(tmp_path: Path) -> None:
    name = f"syncd-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(0.5)
        Notifier({"NOTIFY_SOCKET": "@" + name}).ready("up")
        assert sock.recv(4096) == b"READY=1\nSTATUS=up"


def test_no_watchdog_for_another_process_and_nothing_without_a_socket(
    notify_socket: socket.socket,
) -> None:
    other = Notifier(
        {
            "NOTIFY_SOCKET": notify_socket.getsockname(),
            "WATCHDOG_USEC": "1000000",
            "WATCHDOG_PID": str(os.getpid() + 1),
        }
    )
    assert other.watchdog_every is None
    other.watchdog()
    assert _drain(notify_socket) == []
    silent = Notifier({})
    assert not silent.enabled
    silent.ready("up")  # no socket: nothing happens, nothing fails
    notify_socket.close()
