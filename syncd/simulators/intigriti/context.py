"""Everything one simulator instance holds, passed to every HTTP handler."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse

from syncd.simulators.intigriti.faults import Counters, Faults
from syncd.simulators.intigriti.model import Clock
from syncd.simulators.intigriti.oauth import OAuthServer
from syncd.simulators.intigriti.options import IntigritiSimulatorOptions
from syncd.simulators.intigriti.ratelimit import RateLimiter
from syncd.simulators.intigriti.store import Store
from syncd.simulators.journal import WriteJournal


@dataclass
class SimContext:
    options: IntigritiSimulatorOptions
    clock: Clock = field(default_factory=Clock)
    store: Store = field(init=False)
    oauth: OAuthServer = field(init=False)
    limiter: RateLimiter = field(init=False)
    faults: Faults = field(default_factory=Faults)
    counters: Counters = field(default_factory=Counters)
    journal: WriteJournal = field(default_factory=WriteJournal)

    def __post_init__(self) -> None:
        self.store = Store(self.clock, seed=self.options.seed)
        self.oauth = OAuthServer(self.clock, self.options)
        self.limiter = RateLimiter(
            self.clock.now,
            read=self.options.read_rate_per_minute,
            write=self.options.write_rate_per_minute,
        )


def error_response(
    status: int, code: str, title: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """An ``ErrorModel``-shaped body (the only error schema the reference documents, §5)."""
    body: dict[str, Any] = {
        "identifier": str(uuid.uuid4()),
        "title": title,
        "status": status,
        "code": code,
        "extraParameters": None,
    }
    return JSONResponse(body, status_code=status, headers=headers)
