"""MemoryTokenStore honours the TokenStore contract (rotation is one at a time)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from syncd.intigriti.tokens import MemoryTokenStore
from syncd.records import OAuthToken


def token(n: int) -> OAuthToken:
    return OAuthToken(f"access-{n:04d}", f"refresh-{n:04d}", datetime(2030, 1, 1, tzinfo=UTC))


def test_rotate_saves_what_refresh_returns() -> None:
    store = MemoryTokenStore(token(1))
    seen: list[OAuthToken | None] = []

    def refresh(current: OAuthToken | None) -> OAuthToken:
        seen.append(current)
        return token(2)

    assert store.rotate(refresh) == token(2)
    assert seen == [token(1)]
    assert store.load() == token(2)


def test_rotate_keeps_the_stored_token_when_refresh_returns_none() -> None:
    store = MemoryTokenStore(token(1))
    assert store.rotate(lambda current: None) == token(1)
    empty = MemoryTokenStore()
    assert empty.rotate(lambda current: None) is None


def test_a_failing_refresh_leaves_the_stored_token() -> None:
    store = MemoryTokenStore(token(1))

    def refresh(current: OAuthToken | None) -> OAuthToken:
        raise RuntimeError("token endpoint down")

    with pytest.raises(RuntimeError):
        store.rotate(refresh)
    assert store.load() == token(1)


def test_concurrent_rotations_never_overlap_and_each_sees_the_previous_result() -> None:
    store = MemoryTokenStore(token(0))
    inside = threading.Lock()
    overlaps: list[int] = []
    start = threading.Barrier(8)

    def refresh(current: OAuthToken | None) -> OAuthToken:
        assert current is not None
        if not inside.acquire(blocking=False):
            overlaps.append(1)
            return current
        try:
            number = int(current.access_token.split("-")[1])
            return token(number + 1)
        finally:
            inside.release()

    def worker() -> None:
        start.wait()
        for _ in range(10):
            store.rotate(refresh)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []
    assert store.load() == token(80)


def test_repr_shows_no_token() -> None:
    assert "access-0001" not in repr(MemoryTokenStore(token(1)))
