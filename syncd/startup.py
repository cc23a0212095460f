"""Start-up checks that a passing outage cannot turn into a crash or a restart loop.

The checks against Jira (projects, issue types, statuses, priorities, workflow) need Jira
to answer. A definite answer that the configuration is wrong is a ``ConfigError`` (exit 2,
naming the key). A transient failure (5xx, 429, timeout, connection refused) is retried
with backoff: the daemon waits as long as it takes, reporting itself as starting; the
one-shot waits up to its budget and then fails naming what was unreachable (exit 1).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from syncd.errors import RateLimited, RemoteError, TransientError

log = structlog.get_logger(__name__)

#: first and longest wait between attempts
FIRST_DELAY = 1.0
MAX_DELAY = 60.0


class StartupTimedOut(RemoteError):
    """An outside system stayed unreachable for the whole start-up budget."""


class Interrupted(Exception):
    """A stop signal arrived while waiting for the start-up checks."""


@dataclass(frozen=True)
class Target:
    """What the checks talk to, for messages: ``Jira at https://...``."""

    system: str
    url: str

    def __str__(self) -> str:
        return f"{self.system} at {self.url}"


def run_with_retries(
    check: Callable[[], None],
    target: Target,
    *,
    budget_seconds: float | None,
    stop: threading.Event,
    on_retry: Callable[[str], None] = lambda _reason: None,
) -> int:
    """Run ``check`` until it passes; returns the number of failed attempts before that.

    ``budget_seconds`` None waits forever (the daemon); otherwise ``StartupTimedOut`` after
    that long. Any error that is not transient (a ConfigError, a 404 turned into one, a
    CredentialError) propagates at once: waiting would not change the answer.
    """
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    delay = FIRST_DELAY
    failures = 0
    last_reason = ""
    while True:
        try:
            check()
            if failures:
                log.info("startup_checks_passed", target=str(target), after_failures=failures)
            return failures
        except TransientError as exc:
            failures += 1
            reason = f"{type(exc).__name__}: {exc}"
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise StartupTimedOut(
                    f"{target} did not answer the start-up checks for {budget_seconds:g} s"
                    f" ({failures} attempts; last: {reason})",
                    system=target.system.lower(),
                ) from None
            # a 429 says how long to wait; other failures back off exponentially
            step = max(exc.retry_after, FIRST_DELAY) if isinstance(exc, RateLimited) else delay
            wait = step if remaining is None else min(step, remaining)
            # The full sentence is said once: the daemon logs it when it first appears or
            # changes; a one-shot says it in its final error. Repeats name the kind only.
            shown = reason if budget_seconds is None and reason != last_reason else None
            last_reason = reason
            log.warning(
                "startup_check_failed",
                target=str(target),
                error=shown or type(exc).__name__,
                attempt=failures,
                retry_in_seconds=round(wait, 1),
            )
            on_retry(reason)
            if stop.wait(wait):
                raise Interrupted from None
            if not isinstance(exc, RateLimited):
                delay = min(delay * 2, MAX_DELAY)
