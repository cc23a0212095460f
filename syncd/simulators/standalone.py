"""``syncd sim intigriti|jira``: one simulator alone, seeded, with what a config needs.

The first line printed is the base URL (scripts read it); then the URLs and credentials,
and a ``config.toml`` snippet that works unchanged. The Intigriti and Jira snippets
together (plus nothing else) make a complete config for ``syncd run``.
"""

from __future__ import annotations

import errno
import json
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from syncd.errors import ConfigError
from syncd.simulators.intigriti import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_REDIRECT_URI,
    IntigritiSimulator,
    IntigritiSimulatorOptions,
)
from syncd.simulators.intigriti import serve as serve_intigriti
from syncd.simulators.jira import JiraSimulator, JiraSimulatorOptions
from syncd.simulators.jira import serve as serve_jira
from syncd.simulators.world import PROGRAM_NAMES, seed_submissions

SNIPPET_BEGIN = "# --- syncd config.toml snippet: {system} simulator ---"
SNIPPET_END = "# --- end of snippet ---"
#: the second program's submissions go to this project (the first's to [jira] project)
SECOND_PROJECT = "APP"
#: human-made Jira issues of ``syncd sim jira --seed``: status, priority
JIRA_MIX: tuple[tuple[str, str], ...] = (
    ("To Do", "Medium"),
    ("In Progress", "High"),
    ("To Do", "Low"),
    ("In Review", "Highest"),
    ("Done", "Medium"),
)


def _toml(key: str, value: Any) -> str:
    # a JSON string or list of strings is valid TOML
    return f"{key} = {json.dumps(value)}"


@contextmanager
def _port_errors(port: int) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            why = "is in use" if exc.errno == errno.EADDRINUSE else "may not be used by this user"
            raise ConfigError(
                f"port {port} on 127.0.0.1 {why}: choose another with --port N "
                "(--port 0 picks a free one)"
            ) from None
        raise


def split(count: int) -> tuple[int, int]:
    """``count`` submissions over two programs, two thirds to the first (as in the demo)."""
    second = count // 3
    return count - second, second


def describe_intigriti(
    sim: IntigritiSimulator, programs: list[tuple[str, str, int]], access_token: str
) -> str:
    base = sim.base_url
    program_lines = [
        f"    {program_id}  {name} ({count} submissions)" for program_id, name, count in programs
    ]
    lines = [
        f"Intigriti simulator on {base} (Ctrl-C stops it)",
        f"  API URL        {sim.api_url}",
        f"  token URL      {sim.token_url}",
        f"  authorize URL  {sim.authorize_url}  (a consent page with an Approve button)",
        f"  client id      {DEMO_CLIENT_ID}",
        f"  client secret  {DEMO_CLIENT_SECRET}",
        f"  redirect URL   {DEMO_REDIRECT_URI}",
        f"  access token   {access_token}  (non-expiring, simulator only)",
        "  programs",
        *program_lines,
        f"  control API    {base}/_control/  (seed data, edit as a triager would)",
        "",
        "Put this in config.toml, together with the snippet of `syncd sim jira`:",
        "",
        SNIPPET_BEGIN.format(system="Intigriti"),
        "[intigriti]",
        _toml("api_url", sim.api_url),
        _toml("token_url", sim.token_url),
        _toml("authorize_url", sim.authorize_url),
        _toml("client_id", DEMO_CLIENT_ID),
        _toml("client_secret", DEMO_CLIENT_SECRET),
        _toml("redirect_uri", DEMO_REDIRECT_URI),
        "# A non-expiring token, so this works at once. To try the OAuth login instead,",
        "# delete the next line and run `syncd auth login`.",
        _toml("access_token", access_token),
        "",
    ]
    if len(programs) > 1:
        lines += [
            "# the second program's issues go to Jira project "
            f"{SECOND_PROJECT}, the first's to [jira] project",
            "[mapping.projects]",
            f"{json.dumps(programs[1][0])} = {json.dumps(SECOND_PROJECT)}",
            "",
        ]
    lines.append(SNIPPET_END)
    return "\n".join(lines)


def describe_jira(sim: JiraSimulator, issues: int) -> str:
    options = sim.options
    projects = ", ".join(options.projects)
    return "\n".join(
        [
            f"Jira simulator (Cloud) on {sim.base_url} (Ctrl-C stops it)",
            f"  email          {options.email}",
            f"  API token      {options.api_token}  (Basic auth, as Jira Cloud)",
            f"  personal token {options.personal_access_token}  (Bearer, as Data Center)",
            f"  projects       {projects} (standard workflow: To Do, In Progress, In Review,"
            " Done, Won't Do, Duplicate)",
            f"  issues         {issues} made by a human (not synced)",
            f"  control API    {sim.base_url}/_control/  (edit issues as a human would)",
            "",
            "Put this in config.toml, together with the snippet of `syncd sim intigriti`:",
            "",
            SNIPPET_BEGIN.format(system="Jira"),
            "[jira]",
            _toml("url", sim.base_url),
            _toml("email", options.email),
            _toml("api_token", options.api_token),
            _toml("project", options.projects[0]),
            "",
            SNIPPET_END,
        ]
    )


def _say(out: TextIO) -> Callable[[str], None]:
    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    return say


def run_intigriti(port: int, seed: int, out: TextIO) -> None:
    """Serve the Intigriti simulator with two programs and ``seed`` submissions."""
    say = _say(out)

    def on_start(sim: IntigritiSimulator) -> None:
        control = sim.control
        rng = random.Random(7)
        programs = []
        for name, count in zip(PROGRAM_NAMES, split(seed), strict=False):
            program_id = str(control.seed_program(name=name)["id"])
            seed_submissions(control, program_id, count, rng)
            programs.append((program_id, name, count))
        token = str(control.mint_token(non_expiring=True)["access_token"])
        say(describe_intigriti(sim, programs, token))

    with _port_errors(port):
        serve_intigriti(port, IntigritiSimulatorOptions(), on_start=on_start)


def run_jira(port: int, seed: int, out: TextIO) -> None:
    """Serve the Jira simulator (projects SEC and APP) with ``seed`` human-made issues."""
    say = _say(out)

    def on_start(sim: JiraSimulator) -> None:
        control = sim.control
        projects = sim.options.projects
        for index in range(seed):
            status, priority = JIRA_MIX[index % len(JIRA_MIX)]
            control.create_issue(
                projects[index % len(projects)],
                f"Existing work item {index + 1}",
                priority=priority,
                status=status,
                resolution="Done" if status == "Done" else None,
            )
        say(describe_jira(sim, seed))

    with _port_errors(port):
        serve_jira(port, JiraSimulatorOptions(), on_start=on_start)
