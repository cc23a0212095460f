"""The Intigriti OAuth token pair in the database: a rotation that cannot lose a token.

Intigriti's refresh tokens are single-use: once the token endpoint has answered a refresh,
the stored refresh token is spent and the new one exists only in this process until it is
committed. ``DatabaseTokenStore.rotate`` therefore works in three layers:

1. **Before the refresh**, inside the locked transaction (PostgreSQL: a transaction
   advisory lock and ``FOR UPDATE``; SQLite: ``BEGIN IMMEDIATE``), it proves the database
   takes a write: it writes the token row (flushed, not committed), and on SQLite makes
   sure the space reserve beside the database holds its 1 MiB (``syncd/store/reserve.py``).
   A database that is locked, unreachable or read-only, or a disk too full for the
   reserve, fails here, with its cause named, and the old refresh token is not spent.
2. **If the commit of the new pair still fails**, it is retried once at once, on a new
   connection (a terminated session is usually over by then); on SQLite's full disk the
   reserve is deleted first, to free its space for this retry.
3. **If that fails too** (the disk filled beyond the reserve, the server is gone for
   longer), the new pair is kept in memory: ``rotate``
   returns it, so this process goes on with the new access token, later refreshes start
   from the pair in memory (never from the spent one in the database), and a background
   thread retries the commit with backoff (1 s doubling to 60 s) until it lands. A retry
   writes only if the row still holds the refresh token that was spent (or already holds
   the new pair: a commit whose answer was lost may have landed); a row changed by
   someone else (``syncd auth login``) is left alone. ``close()`` (when the repository is
   closed: the end of a one-shot run, the daemon's stop) retries for up to
   ``save_budget_seconds`` (15 s) more, then logs ``oauth_token_lost`` and raises
   ``TokenNotSaved``, saying that ``syncd auth login`` is needed.

What remains unprotected: the process dying between the token endpoint's answer and the
commit (``kill -9``, power loss: a window of one commit, milliseconds), or dying, being
killed, or running out of retry budget while a pair is held in memory only (e.g. a
container runtime that kills syncd sooner than 15 s after SIGTERM, or the daemon's own
forced exit when an HTTP call is still running 9 s after SIGTERM, which skips
``close()``). In those cases the new refresh token is gone and the next run asks for
``syncd auth login``. The pair held in memory also belongs to this process alone: another
process sharing the database reads the spent token until the commit lands.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from syncd.errors import DatabaseReadOnly, DiskFull, StoreError, SyncdError, TokenNotSaved
from syncd.logging import register_secret
from syncd.records import OAuthToken
from syncd.store.reserve import SpaceReserve
from syncd.store.sealing import TokenSealer
from syncd.store.tables import OAuthTokenRow

if TYPE_CHECKING:
    from syncd.store.repository import Repository

log = structlog.get_logger(__name__)

RefreshFn = Callable[[OAuthToken | None], OAuthToken | None]

#: how long ``close()`` keeps retrying to save a pair held in memory (below the 30 s
#: TimeoutStopSec of contrib/syncd.service, with room for the daemon's own stop)
SAVE_BUDGET_SECONDS = 15.0
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0

NOT_SPENT = (
    "The Intigriti token was not refreshed, so the stored refresh token is still valid:"
    " nothing is lost."
)


@dataclass(frozen=True)
class _Pending:
    """A rotated pair that is not in the database yet."""

    token: OAuthToken
    #: the refresh token the database still holds (spent), None when it holds no token
    stored_refresh: str | None
    rotated_at: datetime
    error: StoreError
    attempts: int = 0


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; they were written as UTC
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def open_token(row: OAuthTokenRow | None, sealer: TokenSealer) -> OAuthToken | None:
    """The token a row holds (None for no row, or a row without an access token)."""
    if row is None or not row.access_token:
        return None
    access = sealer.open(row.access_token)
    refresh = sealer.open(row.refresh_token)
    if access is None:  # pragma: no cover - checked above
        return None
    register_secret(access, refresh)
    return OAuthToken(
        access_token=access,
        refresh_token=refresh,
        expires_at=_aware(row.expires_at),
        scope=row.scope or "",
    )


class DatabaseTokenStore:
    """The OAuth token pair in the database (implements ``syncd.intigriti.tokens.TokenStore``).

    One instance per repository and provider (``Repository.token_store``), so every
    thread of the process sees a pair held in memory.
    """

    def __init__(
        self,
        repository: Repository,
        provider: str,
        sealer: TokenSealer,
        *,
        reserve: SpaceReserve | None,
        save_budget_seconds: float = SAVE_BUDGET_SECONDS,
    ) -> None:
        self._repository = repository
        self._provider = provider
        self._sealer = sealer
        self._reserve = reserve
        self._budget = save_budget_seconds
        self._lock_name = f"syncd-oauth-{provider}"
        # guards _pending; held across a rotation so threads of this process queue here
        self._lock = threading.RLock()
        self._pending: _Pending | None = None
        self._retrier: threading.Thread | None = None
        self._closing = threading.Event()

    # -- TokenStore --------------------------------------------------------------------

    def load(self) -> OAuthToken | None:
        with self._lock:
            if self._pending is not None:
                return self._pending.token

        def work(session: Session) -> OAuthToken | None:
            return open_token(session.get(OAuthTokenRow, self._provider), self._sealer)

        result: OAuthToken | None = self._repository._run(work, what="reading OAuth token")
        return result

    def save(self, token: OAuthToken) -> None:
        """Replace the stored pair (a login): a pair held in memory is superseded."""
        with self._lock:
            self._repository._run(
                lambda session: self._write(session, token), what="saving the Intigriti token"
            )
            self._pending = None

    def clear(self) -> None:
        def work(session: Session) -> None:
            row = session.get(OAuthTokenRow, self._provider)
            if row is not None:
                session.delete(row)

        with self._lock:
            self._repository._run(work, what="clearing OAuth token")
            self._pending = None

    def rotate(self, refresh: RefreshFn) -> OAuthToken | None:
        with self._lock:
            pending = self._pending
            if pending is not None:
                # the live pair is the one in memory: the database's is spent
                fresh = refresh(pending.token)
                if fresh is None:
                    return pending.token
                register_secret(fresh.access_token, fresh.refresh_token)
                self._pending = replace(pending, token=fresh)
                log.warning("oauth_token_rotated_in_memory", attempts=pending.attempts)
                return fresh
            return self._rotate_in_database(refresh)

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def holds_unsaved_token(self) -> bool:
        with self._lock:
            return self._pending is not None

    def close(self) -> None:
        """Stop retrying in the background; give a pair held in memory its last chance."""
        self._closing.set()
        retrier = self._retrier
        if retrier is not None:
            retrier.join()
        deadline = time.monotonic() + self._budget
        delay = 0.5
        while self.holds_unsaved_token:
            if self._save_pending():
                return
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(delay, left))
            delay = min(delay * 2, 5.0)
        with self._lock:
            pending = self._pending
        if pending is None:
            return
        log.critical(
            "oauth_token_lost",
            cause=type(pending.error).__name__,
            error=str(pending.error),
            attempts=pending.attempts,
        )
        raise TokenNotSaved(
            "Intigriti rotated the token pair at"
            f" {pending.rotated_at.isoformat(timespec='seconds')} but it could not be saved"
            f" ({pending.error}). syncd kept it in memory and retried {pending.attempts} times"
            f" (the last {self._budget:g} s before exiting); it is lost with this process, and"
            " the refresh token in the database was already used. Once the database is"
            " writable again, run `syncd auth login`."
        )

    # -- the rotation ------------------------------------------------------------------

    def _rotate_in_database(self, refresh: RefreshFn) -> OAuthToken | None:
        engine = self._repository.engine
        errors = self._repository.errors
        current: OAuthToken | None = None
        fresh: OAuthToken | None = None
        try:
            with engine.connect() as connection, Session(bind=connection) as session:
                session.begin()
                self._lock_row(session)
                row = session.get(OAuthTokenRow, self._provider, with_for_update=True)
                current = open_token(row, self._sealer)
                self._prove_writable(session, row)
                fresh = refresh(current)
                if fresh is None:
                    session.rollback()  # drop the proving write
                    return current
                self._write(session, fresh)
                session.commit()
            return fresh
        except SQLAlchemyError as exc:
            if fresh is None:
                error = errors.store_error(exc, "refreshing the Intigriti token")
                raise type(error)(f"{error} {NOT_SPENT}") from exc
            error = errors.store_error(exc, "saving the rotated Intigriti token")
        return self._after_failed_commit(fresh, current, error)

    def _lock_row(self, session: Session) -> None:
        if self._repository.engine.dialect.name == "postgresql":
            # a transaction-scoped advisory lock also covers the first bootstrap, when
            # there is no row yet for FOR UPDATE to lock
            session.execute(select(func.pg_advisory_xact_lock(func.hashtext(self._lock_name))))

    def _prove_writable(self, session: Session, row: OAuthTokenRow | None) -> None:
        """Fail now, before the refresh token is spent, if the commit cannot succeed."""
        if self._reserve is not None:
            try:
                self._reserve.ensure()
            except OSError as exc:
                error = self._repository.errors.os_error(
                    exc, "reserving space for the Intigriti token rotation"
                )
                if not isinstance(error, (DiskFull, DatabaseReadOnly)):
                    # not the disk or the directory refusing (whose commit would fail too):
                    # go on without the reserve, the pair kept in memory still covers it
                    log.warning("token_space_reserve_unavailable", error=str(error))
                else:
                    raise type(error)(f"{error} {NOT_SPENT}") from exc
        if row is None:
            session.add(OAuthTokenRow(provider=self._provider, scope="", updated_at=_utcnow()))
        else:
            row.updated_at = _utcnow()
        session.flush()

    def _after_failed_commit(
        self, fresh: OAuthToken, current: OAuthToken | None, error: StoreError
    ) -> OAuthToken:
        """The commit of a rotated pair failed: retry once at once, then keep it in memory."""
        spent = current.refresh_token if current is not None else None
        released = (
            isinstance(error, DiskFull) and self._reserve is not None and self._reserve.release()
        )
        if released:
            log.warning("token_space_reserve_released", cause="DiskFull", error=str(error))
        try:
            outcome = self._commit_rotated(fresh, spent)
        except StoreError as again:
            error = again
        else:
            if released:
                log.warning(
                    "oauth_token_saved_from_reserve",
                    outcome=outcome,
                    message=(
                        f"{error} The rotated Intigriti token was saved in the space syncd"
                        " keeps for it. Free space before the next token refresh, which"
                        " otherwise stops before spending the refresh token."
                    ),
                )
            else:
                log.warning("oauth_token_saved", outcome=outcome, attempts=1, after=str(error))
            return fresh
        with self._lock:
            self._pending = _Pending(fresh, spent, _utcnow(), error)
        log.error(
            "oauth_token_not_saved",
            cause=type(error).__name__,
            error=str(error),
            message=(
                "Intigriti rotated the token pair but it could not be saved: syncd keeps the"
                " new pair in memory, goes on with it and retries saving it with backoff."
                " Fix the cause above before this process stops, or run `syncd auth login`"
                " afterwards."
            ),
        )
        self._start_retrier()
        return fresh

    def _commit_rotated(
        self, token: OAuthToken, stored_refresh: str | None
    ) -> Literal["saved", "already", "superseded"]:
        """Write ``token`` if the row still holds ``stored_refresh`` (compare-and-set)."""

        def work(session: Session) -> Literal["saved", "already", "superseded"]:
            self._lock_row(session)
            row = session.get(OAuthTokenRow, self._provider, with_for_update=True)
            stored = open_token(row, self._sealer)
            if stored is not None and (stored.access_token, stored.refresh_token) == (
                token.access_token,
                token.refresh_token,
            ):
                return "already"  # the commit whose answer was lost did land
            if (stored.refresh_token if stored is not None else None) != stored_refresh:
                return "superseded"  # someone stored another token meanwhile (a login)
            self._write(session, token)
            return "saved"

        outcome: Literal["saved", "already", "superseded"] = self._repository._run(
            work, what="saving the rotated Intigriti token"
        )
        return outcome

    # -- retrying a pair held in memory ------------------------------------------------

    def _start_retrier(self) -> None:
        if self._retrier is not None and self._retrier.is_alive():
            return
        self._retrier = threading.Thread(
            target=self._retry_loop, name="oauth-token-save", daemon=True
        )
        self._retrier.start()

    def _retry_loop(self) -> None:
        delay = RETRY_FIRST_SECONDS
        while not self._closing.wait(delay):
            if self._save_pending():
                return
            delay = min(delay * 2, RETRY_MAX_SECONDS)

    def _save_pending(self) -> bool:
        """One attempt to commit the pair held in memory; True when none is left."""
        with self._lock:
            pending = self._pending
            if pending is None:
                return True
            try:
                outcome = self._commit_rotated(pending.token, pending.stored_refresh)
            except StoreError as exc:
                if isinstance(exc, DiskFull) and self._reserve is not None:
                    self._reserve.release()
                self._pending = replace(pending, error=exc, attempts=pending.attempts + 1)
                log.warning(
                    "oauth_token_save_failed",
                    cause=type(exc).__name__,
                    error=str(exc),
                    attempts=pending.attempts + 1,
                )
                return False
            except SyncdError as exc:  # e.g. the token key no longer opens the row
                self._pending = replace(pending, attempts=pending.attempts + 1)
                log.error("oauth_token_save_failed", cause=type(exc).__name__, error=str(exc))
                return False
            self._pending = None
        if outcome == "superseded":
            log.warning("oauth_token_superseded", attempts=pending.attempts + 1)
        else:
            log.info("oauth_token_saved", outcome=outcome, attempts=pending.attempts + 1)
        return True

    # -- writing -----------------------------------------------------------------------

    def _write(self, session: Session, token: OAuthToken) -> None:
        register_secret(token.access_token, token.refresh_token)
        row = session.get(OAuthTokenRow, self._provider)
        if row is None:
            row = OAuthTokenRow(provider=self._provider)
            session.add(row)
        row.access_token = self._sealer.seal(token.access_token)
        row.refresh_token = self._sealer.seal(token.refresh_token)
        row.expires_at = token.expires_at
        row.scope = token.scope
        row.updated_at = _utcnow()
