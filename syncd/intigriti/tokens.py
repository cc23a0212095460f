"""Where the Intigriti OAuth token pair lives, and the one rule for rotating it.

Intigriti's refresh tokens are single-use (rotated on every refresh, reference §2.3), so a
refresh must be serialised across every thread and process that shares the credentials,
and the new pair must be saved before the old one is needed again: a pair lost between
"server rotated" and "we saved" strands the integration with a dead refresh token.
``TokenStore.rotate`` is that critical section. The database-backed store
(``syncd.store.tokens``) checks that the database takes a write before refreshing, and
keeps a pair whose commit failed in memory and retries it; ``MemoryTokenStore`` serves
tests and single-process tools.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from syncd.logging import register_secret
from syncd.records import OAuthToken

RefreshFn = Callable[[OAuthToken | None], OAuthToken | None]


class TokenStore(Protocol):
    def load(self) -> OAuthToken | None:
        """The stored token, or None when there is none."""
        ...

    def rotate(self, refresh: RefreshFn) -> OAuthToken | None:
        """Under an exclusive lock held across threads AND processes: re-read the stored token,
        call refresh(current); if it returns a token, save it and COMMIT before returning it;
        if it returns None, keep the stored one and return it. A store may fail before
        calling refresh (then nothing is spent), and, when the commit fails after refresh
        returned, keep the new pair (in memory, retrying the commit) and return it rather
        than lose it; it then refreshes from that pair, not from the spent stored one."""
        ...

    def save(self, token: OAuthToken) -> None:
        """Replace the stored token (after a login)."""
        ...


class MemoryTokenStore:
    """A TokenStore in process memory: the lock covers threads only (one process)."""

    def __init__(self, token: OAuthToken | None = None) -> None:
        self._lock = threading.RLock()
        self._token = token
        if token is not None:
            register_secret(token.access_token, token.refresh_token)

    def load(self) -> OAuthToken | None:
        with self._lock:
            return self._token

    def rotate(self, refresh: RefreshFn) -> OAuthToken | None:
        with self._lock:
            fresh = refresh(self._token)
            if fresh is None:
                return self._token
            self.save(fresh)
            return fresh

    def save(self, token: OAuthToken) -> None:
        register_secret(token.access_token, token.refresh_token)
        with self._lock:
            self._token = token

    def __repr__(self) -> str:
        return f"MemoryTokenStore(has_token={self._token is not None})"
