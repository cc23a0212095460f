"""A faithful Intigriti External Company API (v2.0/v2.1) and identity server on loopback.

See ``IntigritiSimulator`` (start/stop, URLs), ``IntigritiControl`` (seed data, human
edits, faults, counters, tokens) and ``serve`` (``syncd sim intigriti``).
"""

from syncd.simulators.intigriti.control import IntigritiControl
from syncd.simulators.intigriti.options import (
    DEMO_CLIENT,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_REDIRECT_URI,
    IntigritiSimulatorOptions,
    RegisteredClient,
)
from syncd.simulators.intigriti.simulator import IntigritiSimulator, serve

__all__ = [
    "DEMO_CLIENT",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DEMO_REDIRECT_URI",
    "IntigritiControl",
    "IntigritiSimulator",
    "IntigritiSimulatorOptions",
    "RegisteredClient",
    "serve",
]
