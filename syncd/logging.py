"""structlog set-up: JSON lines off a TTY, readable console output on one, secrets masked.

The redaction processor runs last before rendering, on every event from syncd and from
the standard-library loggers of httpx, urllib3 and the ``jira`` library. It masks:

* every secret value registered with ``register_secret`` (the settings register theirs
  at start, the token store registers each token it loads or saves), wherever it appears
  in any string of the event, nested dicts and lists included;
* the values of keys that name a credential (``authorization``, ``access_token``, ...);
* ``Bearer``/``Basic`` credentials in any string.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import threading
from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any, Literal

import structlog
from rich.console import Console
from structlog.typing import EventDict, Processor, WrappedLogger

MASK = "***"
_MIN_SECRET_LENGTH = 4

_SENSITIVE_KEY = re.compile(
    r"(authorization|password|passwd|secret|api_token|access_token|refresh_token|"
    r"personal_access_token|client_secret|cookie|code_verifier)",
    re.IGNORECASE,
)
_AUTH_SCHEME = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


class SecretRegistry:
    """The set of secret strings to mask. Thread-safe; values are never logged."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None

    def add(self, values: Iterable[str | None]) -> None:
        fresh = {v for v in values if v and len(v) >= _MIN_SECRET_LENGTH}
        with self._lock:
            if fresh <= self._secrets:
                return
            self._secrets = self._secrets | fresh
            # longest first, so a secret that contains another is masked whole
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def clear(self) -> None:
        with self._lock:
            self._secrets = frozenset()
            self._pattern = None

    def mask(self, text: str) -> str:
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        return _AUTH_SCHEME.sub(lambda m: f"{m.group(1)} {MASK}", text)


SECRETS = SecretRegistry()


def register_secret(*values: str | None) -> None:
    """Make these values masked in every log event from now on."""
    SECRETS.add(values)


def _is_sensitive(key: object, value: object) -> bool:
    return isinstance(key, str) and bool(value) and _SENSITIVE_KEY.search(key) is not None


def _redact(value: Any, registry: SecretRegistry) -> Any:
    if isinstance(value, str):
        return registry.mask(value)
    if isinstance(value, dict):
        return {
            key: MASK if _is_sensitive(key, item) else _redact(item, registry)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_redact(v, registry) for v in value]
    if isinstance(value, BaseException):
        return registry.mask(f"{type(value).__name__}: {value}")
    if value is None or isinstance(value, (int, float, bool)):
        return value
    return registry.mask(str(value))


def redact_secrets(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask secrets anywhere in the event."""
    redacted = _redact(dict(event_dict), SECRETS)
    assert isinstance(redacted, dict)
    return redacted


def _render_format(fmt: Literal["auto", "json", "console"], stream: Any) -> str:
    if fmt != "auto":
        return fmt
    isatty = getattr(stream, "isatty", None)
    return "console" if callable(isatty) and isatty() else "json"


def configure_logging(
    level: str = "info",
    fmt: Literal["auto", "json", "console"] = "auto",
    *,
    stream: Any = None,
) -> None:
    """Configure structlog and route standard-library logging through the same pipeline."""
    stream = stream if stream is not None else sys.stderr
    numeric_level = logging.getLevelName(level.upper())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_secrets,
    ]
    renderer: Processor
    if _render_format(fmt, stream) == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    else:
        renderer = structlog.processors.JSONRenderer(sort_keys=True)

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(numeric_level)
    # third-party chatter: request URLs at INFO are noise (and may carry query secrets)
    # (APScheduler says "Running job ..." and "executed successfully" for every cycle)
    noisy_loggers = (
        "httpx",
        "httpcore",
        "urllib3",
        "requests_oauthlib",
        "uvicorn.access",
        "alembic",
        "apscheduler",
    )
    for noisy in noisy_loggers:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, numeric_level))

    structlog.configure(
        processors=[
            *shared[:-2],
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            redact_secrets,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


_HANDLER_NAME = "syncd"


class _ConsoleLines:
    """A text stream that hands whole lines to a rich console (which keeps a live display
    such as a progress bar below them instead of writing into it)."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._console.out(line, highlight=False)
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._console.out(self._pending, highlight=False)
            self._pending = ""


@contextlib.contextmanager
def logs_above_live_display(console: Console, *, level: int = logging.WARNING) -> Iterator[None]:
    """While a live display (a progress bar) owns the terminal, terminal log lines below
    ``level`` are held back and the others are printed through ``console``, above it.

    A log handler writing to the terminal itself would put its lines into the middle of
    the bar. Logs that do not go to a terminal (a file, a pipe) are left alone.
    """
    handler = next(
        (h for h in logging.getLogger().handlers if h.get_name() == _HANDLER_NAME), None
    )
    if not isinstance(handler, logging.StreamHandler):
        yield
        return
    stream = handler.stream
    isatty = getattr(stream, "isatty", None)
    if not (callable(isatty) and isatty()):
        yield
        return
    previous_level = handler.level
    handler.setStream(_ConsoleLines(console))
    handler.setLevel(max(level, previous_level))
    try:
        yield
    finally:
        handler.setStream(stream)
        handler.setLevel(previous_level)


def redacted_copy(event: MutableMapping[str, Any]) -> dict[str, Any]:
    """Redact an event dict outside the logging pipeline (used by `status` output)."""
    result = _redact(dict(event), SECRETS)
    assert isinstance(result, dict)
    return result
