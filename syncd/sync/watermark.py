"""Where the next change query starts: a watermark that a bad timestamp cannot freeze.

A poll asks "what changed since the watermark (minus the overlap)?". The watermark is the
newest change the answer showed, but never later than the moment of the read itself,
told by the server's ``Date`` header (its own clock, the one its timestamps come from) or,
without one, by the local clock:

* an item dated after the read (a timestamp in 2099, a skewed writer) does not move the
  watermark; it is reported, so ``syncd status`` can show it, and synced as usual;
* when the server's clock is earlier than the stored watermark, the clock went back (or
  an earlier version stored a future value): the watermark moves back to the read, so
  the next query covers everything changed since the jump;
* ``follow_clock`` (Jira): the query pages through its whole window, so an answer proves
  nothing changed until the read, and the watermark may follow the clock even with no
  items.

Pure: the engine stores the result (``Repository.cycle_succeeded``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

#: item timestamps and the server's Date come from one clock; this absorbs rounding and a
#: server farm whose nodes differ by a little
FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class Advance:
    #: what to store: may be earlier than the current value (``clock_went_back``)
    watermark: datetime | None
    #: (item, timestamp) of items dated after the read, which were left out
    future: tuple[tuple[str, datetime], ...] = ()
    clock_went_back: bool = False


def advance(
    current: datetime | None,
    items: Iterable[tuple[str, datetime]],
    read_at: datetime,
    *,
    follow_clock: bool = False,
) -> Advance:
    """The watermark after a read at ``read_at`` that returned ``items`` (key, updated)."""
    limit = read_at + FUTURE_TOLERANCE
    future: list[tuple[str, datetime]] = []
    newest: datetime | None = None
    for key, updated in items:
        if updated > limit:
            future.append((key, updated))
        elif newest is None or updated > newest:
            newest = updated
    if newest is not None and newest > read_at:
        newest = read_at  # within the tolerance, but never past the read
    if follow_clock:
        newest = read_at
    went_back = clock_went_back(current, read_at)
    if went_back:
        return Advance(newest if newest is not None else read_at, tuple(future), True)
    if newest is None or (current is not None and newest <= current):
        return Advance(current, tuple(future))
    return Advance(newest, tuple(future))


class WatermarkItems:
    """The (key, updated) pairs of a long read, folded as they come to what
    :func:`advance` looks at: the newest not after the read, and every one after it.

    Iterating gives :func:`advance` the same answer as the whole list would, without
    holding one pair per item of a 100,000-item listing.
    """

    def __init__(self, read_at: datetime) -> None:
        self._limit = read_at + FUTURE_TOLERANCE
        self._newest: tuple[str, datetime] | None = None
        self._future: list[tuple[str, datetime]] = []

    def add(self, key: str, updated: datetime) -> None:
        if updated > self._limit:
            self._future.append((key, updated))
        elif self._newest is None or updated > self._newest[1]:
            self._newest = (key, updated)

    def __iter__(self) -> Iterator[tuple[str, datetime]]:
        if self._newest is not None:
            yield self._newest
        yield from self._future


def clock_went_back(watermark: datetime | None, read_at: datetime) -> bool:
    """Whether a read at ``read_at`` shows the clock behind ``watermark``."""
    return watermark is not None and watermark > read_at + FUTURE_TOLERANCE


def trusted_seen(seen: datetime | None, read_at: datetime) -> datetime | None:
    """A link's "version reconciled" mark, unless it lies after the read (then it came
    from a clock that has since gone back, and would hide real changes)."""
    if seen is None or seen > read_at + FUTURE_TOLERANCE:
        return None
    return seen
