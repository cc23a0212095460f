"""``IntigritiSimulator``: the app on a loopback port, plus ``serve`` for the CLI."""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType, TracebackType

from syncd.simulators.intigriti.app import build_app
from syncd.simulators.intigriti.context import SimContext
from syncd.simulators.intigriti.control import IntigritiControl
from syncd.simulators.intigriti.options import IntigritiSimulatorOptions
from syncd.simulators.server import SimulatorServer

API_PATH = "/external/company/v2.0"


class IntigritiSimulator:
    def __init__(self, options: IntigritiSimulatorOptions | None = None) -> None:
        self.options = options or IntigritiSimulatorOptions()
        self._ctx = SimContext(self.options)
        self._app = build_app(self._ctx)
        self._server: SimulatorServer | None = None
        self._control: IntigritiControl | None = None

    def start(self) -> IntigritiSimulator:
        server = SimulatorServer(
            self._app, host=self.options.host, port=self.options.port, clock=self._ctx.clock.now
        )
        server.start()
        self._server = server
        self._control = IntigritiControl(server.base_url)
        return self

    def stop(self) -> None:
        # The webhook thread goes with the simulator, as a stopped service sends nothing.
        self._ctx.store.set_webhooks(None)
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> IntigritiSimulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _running(self) -> SimulatorServer:
        if self._server is None:
            raise RuntimeError("the Intigriti simulator is not running; call start() first")
        return self._server

    @property
    def base_url(self) -> str:
        return self._running().base_url

    @property
    def api_url(self) -> str:
        return self.base_url + API_PATH

    @property
    def token_url(self) -> str:
        return self.base_url + "/connect/token"

    @property
    def authorize_url(self) -> str:
        return self.base_url + "/connect/authorize"

    @property
    def control(self) -> IntigritiControl:
        self._running()
        assert self._control is not None
        return self._control


def serve(
    port: int,
    options: IntigritiSimulatorOptions | None = None,
    *,
    on_start: Callable[[IntigritiSimulator], None] | None = None,
) -> None:
    """Run a simulator until SIGINT/SIGTERM; the first line printed is its base URL.

    ``on_start`` runs after that line (``syncd sim`` seeds data and prints the rest).
    """
    opts = dataclasses.replace(options or IntigritiSimulatorOptions(), port=port)
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with IntigritiSimulator(opts) as sim:
            sys.stdout.write(sim.base_url + "\n")
            sys.stdout.flush()
            if on_start is not None:
                on_start(sim)
            stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
