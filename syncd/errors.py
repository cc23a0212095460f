"""The one error hierarchy of syncd.

Adapters translate library and HTTP errors into these at their boundary, so the sync
core, the CLI and the tests never see an ``httpx`` or ``jira`` exception. Messages never
carry secrets: they name what was wrong (a key, a route, a submission code, a field) and,
for a failed call, the URL, the cause and the config key to change.

    SyncdError
    ├── ConfigError            bad or missing configuration (exit 2)
    ├── CredentialError        credentials rejected or missing; operator action needed (exit 2)
    ├── StoreError             the database failed or is at an unexpected schema
    │   ├── DatabaseBusy       locked by another process or session past busy_timeout_seconds
    │   ├── DiskFull           no space left where the database writes
    │   ├── DatabaseReadOnly   the database refuses writes (file, mount, standby, setting)
    │   ├── DatabaseUnreachable the database cannot be opened or the server not reached
    │   └── TokenNotSaved      a rotated Intigriti token could not be stored (see the message)
    ├── WriteWithdrawn         the caller took a write back just before it was sent
    └── RemoteError            an outside system (Intigriti or Jira) failed a call
        ├── TransientError     5xx, timeouts, dropped connections: worth retrying later
        │   ├── Unreachable    no connection at all (refused, DNS, TLS, connect timeout)
        │   ├── RateLimited    429; ``retry_after`` seconds from the response
        │   └── AmbiguousWrite a write whose outcome is unknown (connection lost after sending)
        ├── NotFound           404
        ├── NotAllowed         403: a move not allowed from the current state, or a missing scope
        ├── Rejected           400/409/422: the request was refused as invalid
        └── MalformedResponse  the response did not match the contract
            └── ItemError      one item (a submission, an issue) could not be parsed
"""

from __future__ import annotations


class SyncdError(Exception):
    """Base of every error syncd raises on purpose."""


class ConfigError(SyncdError):
    """The configuration is invalid; the message names the key (and file)."""


class CredentialError(SyncdError):
    """Credentials are missing, expired beyond refresh, or were rejected."""


class StoreError(SyncdError):
    """The database could not be used. The message names the cause and what to do; the
    subclasses below let callers act on the cause (``syncd/store/errors.py`` picks it)."""


class DatabaseBusy(StoreError):
    """Another process or session held a lock longer than ``busy_timeout_seconds``."""


class DiskFull(StoreError):
    """The filesystem (SQLite) or the server (PostgreSQL) has no space left."""


class DatabaseReadOnly(StoreError):
    """The database accepts reads but refuses writes."""


class DatabaseUnreachable(StoreError):
    """The database file cannot be opened, or the server cannot be reached."""


class TokenNotSaved(StoreError):
    """Intigriti rotated the token pair but the new pair could not be committed before the
    process ends: it is lost, and the message says to run ``syncd auth login``."""


class WriteWithdrawn(SyncdError):
    """The caller withdrew a write at the last moment before it was sent (it no longer
    holds the right to make it: a claim taken over, the leader lease lost). Nothing was
    sent; adapters let it pass through untouched."""


class RemoteError(SyncdError):
    """A call to Intigriti or Jira failed.

    ``system`` is ``"intigriti"`` or ``"jira"``; ``route`` is a route template such as
    ``PUT /submissions/{code}/state`` (never a URL with a token in it); ``status`` is the
    HTTP status when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        system: str,
        route: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.system = system
        self.route = route
        self.status = status


class TransientError(RemoteError):
    """Temporary failure: a later attempt may succeed."""


class Unreachable(TransientError):
    """The connection was never established, so nothing was sent: safe to retry any call.

    The message names the URL, the cause (refused, DNS, TLS, timeout) and the config key.
    """


class RateLimited(TransientError):
    """429 Too Many Requests. ``retry_after`` is in seconds (0 when not given)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float,
        system: str,
        route: str | None = None,
        status: int | None = 429,
    ) -> None:
        super().__init__(message, system=system, route=route, status=status)
        self.retry_after = retry_after


class AmbiguousWrite(TransientError):
    """A write was sent but no answer came back: it may or may not have been applied."""


class NotFound(RemoteError):
    """The object does not exist (or is not visible to this user)."""


class NotAllowed(RemoteError):
    """403: the action is not allowed now (state machine) or by the granted scopes."""


class Rejected(RemoteError):
    """The request was refused as invalid (400, 409, 422)."""


class MalformedResponse(RemoteError):
    """The response body did not match the documented contract."""


class ItemError(MalformedResponse):
    """One item of a response could not be parsed; the others can still be used.

    ``item`` is the submission code or issue key, ``field`` the offending field path.
    """

    def __init__(self, message: str, *, item: str, field: str, system: str) -> None:
        super().__init__(f"{item}: field {field!r}: {message}", system=system)
        self.item = item
        self.field = field
