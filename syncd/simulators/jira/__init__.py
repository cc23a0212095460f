"""A Jira Cloud (and Data Center) simulator speaking the REST API the ``jira`` library uses.

Public API: ``JiraSimulator``, ``JiraSimulatorOptions``, ``JiraControl``, ``serve``.
"""

from syncd.simulators.jira.control import ControlError, JiraControl
from syncd.simulators.jira.simulator import (
    DEFAULT_API_TOKEN,
    DEFAULT_EMAIL,
    DEFAULT_PAT,
    JiraSimulator,
    JiraSimulatorOptions,
    serve,
)

__all__ = [
    "DEFAULT_API_TOKEN",
    "DEFAULT_EMAIL",
    "DEFAULT_PAT",
    "ControlError",
    "JiraControl",
    "JiraSimulator",
    "JiraSimulatorOptions",
    "serve",
]
