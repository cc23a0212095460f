"""Run the Jira simulator: in-process for tests (``JiraSimulator``) or alone (``serve``)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType, TracebackType

from syncd.simulators.jira import webhooks
from syncd.simulators.jira.app import JiraApp
from syncd.simulators.jira.control import JiraControl
from syncd.simulators.jira.control_routes import HUMAN_EMAIL
from syncd.simulators.jira.faults import FaultBoard
from syncd.simulators.jira.state import JiraState, Settings
from syncd.simulators.server import SimulatorServer

DEFAULT_EMAIL = "syncd@example.com"
DEFAULT_API_TOKEN = "demo-api-token"
DEFAULT_PAT = "demo-personal-access-token"


@dataclass(frozen=True)
class JiraSimulatorOptions:
    """How a simulator starts. Everything here can also be changed later via the control API.

    ``deployment_type`` ``"Cloud"`` serves ``/search/jql`` (old ``/search`` answers 410);
    any other value (``"Server"``, ``"DataCenter"``) is Data Center mode: ``/rest/api/2``
    only, offset-paged ``/search``.
    """

    port: int = 0
    base_path: str = ""
    deployment_type: str = "Cloud"
    email: str = DEFAULT_EMAIL
    api_token: str = DEFAULT_API_TOKEN
    personal_access_token: str = DEFAULT_PAT
    time_zone: str = "UTC"
    human_time_zone: str = "Europe/Brussels"
    #: the projects the default mapping and the demo use (programs beyond the first go to APP)
    projects: tuple[str, ...] = ("SEC", "APP")
    search_lag_seconds: float = 0.0
    burst_capacity: int = 1000
    burst_refill_per_second: float = 1000.0
    issue_write_capacity: int = 100
    issue_write_refill_per_second: float = 50.0


def build_state(options: JiraSimulatorOptions) -> JiraState:
    settings = Settings(
        deployment_type=options.deployment_type,
        search_lag_seconds=options.search_lag_seconds,
        burst_capacity=options.burst_capacity,
        burst_refill_per_second=options.burst_refill_per_second,
        issue_write_capacity=options.issue_write_capacity,
        issue_write_refill_per_second=options.issue_write_refill_per_second,
    )
    state = JiraState(settings=settings)
    state.add_user(
        options.email,
        display_name="syncd integration",
        api_token=options.api_token,
        pat=options.personal_access_token,
        time_zone=options.time_zone,
        name="syncd",
    )
    state.add_user(
        HUMAN_EMAIL, display_name="Ana Lyst", time_zone=options.human_time_zone, name="analyst"
    )
    for key in options.projects:
        state.add_project(key, f"{key.title()} project")
    return state


class JiraSimulator:
    """A Jira site on loopback: ``with JiraSimulator() as jira: jira.base_url ...``."""

    def __init__(self, options: JiraSimulatorOptions | None = None) -> None:
        self.options = options or JiraSimulatorOptions()
        self.state = build_state(self.options)
        self.faults = FaultBoard()
        self.app = JiraApp(
            self.state,
            self.faults,
            self.options.base_path,
            lambda: build_state(self.options),
        )
        self._server = SimulatorServer(
            self.app, port=self.options.port, clock=lambda: self.state.now().timestamp()
        )
        self._control: JiraControl | None = None

    @property
    def base_url(self) -> str:
        return self._server.base_url + self.options.base_path.rstrip("/")

    @property
    def control(self) -> JiraControl:
        if self._control is None:
            self._control = JiraControl(self.base_url)
        return self._control

    def start(self) -> JiraSimulator:
        self._server.start()
        return self

    def stop(self) -> None:
        # The webhook thread goes with the simulator, as a stopped site sends nothing.
        webhooks.install(self.state, None)
        if self._control is not None:
            self._control.close()
        self._server.stop()

    def __enter__(self) -> JiraSimulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    port: int,
    options: JiraSimulatorOptions | None = None,
    *,
    on_start: Callable[[JiraSimulator], None] | None = None,
) -> None:
    """Run until SIGINT/SIGTERM; the first line printed is the base URL.

    ``on_start`` runs after that line (``syncd sim`` seeds data and prints the rest).
    """
    chosen = options or JiraSimulatorOptions()
    if port != chosen.port:
        chosen = JiraSimulatorOptions(**{**chosen.__dict__, "port": port})
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        simulator = JiraSimulator(chosen).start()
    except BaseException:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        raise
    try:
        print(simulator.base_url, flush=True)
        if on_start is not None:
            on_start(simulator)
        stop.wait()
    finally:
        simulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
