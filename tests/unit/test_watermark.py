"""The watermark rules: bounded by the read, reset when the server's clock goes back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from syncd.sync.watermark import FUTURE_TOLERANCE, WatermarkItems, advance, trusted_seen

READ = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
YEAR_2099 = datetime(2099, 1, 1, tzinfo=UTC)


def test_the_newest_change_moves_the_watermark() -> None:
    moved = advance(READ - timedelta(hours=1), [("A", READ - timedelta(minutes=5))], READ)
    assert moved.watermark == READ - timedelta(minutes=5)
    assert moved.future == () and not moved.clock_went_back


def test_a_future_timestamp_is_reported_and_does_not_move_the_watermark() -> None:
    current = READ - timedelta(hours=1)
    items = [("A", READ - timedelta(minutes=5)), ("B", YEAR_2099)]
    moved = advance(current, items, READ)
    assert moved.watermark == READ - timedelta(minutes=5)
    assert moved.future == (("B", YEAR_2099),)


def test_a_timestamp_within_the_tolerance_is_capped_at_the_read() -> None:
    moved = advance(None, [("A", READ + timedelta(seconds=30))], READ)
    assert moved.watermark == READ and moved.future == ()


def test_a_clock_that_went_back_moves_the_watermark_back_to_the_read() -> None:
    # the stored watermark came from the old clock (or from a 2099 item, by an old version)
    moved = advance(READ + timedelta(hours=1), [], READ)
    assert moved.clock_went_back and moved.watermark == READ
    moved = advance(YEAR_2099, [("A", READ - timedelta(seconds=10))], READ)
    assert moved.clock_went_back and moved.watermark == READ - timedelta(seconds=10)


def test_follow_clock_moves_to_the_read_even_without_items() -> None:
    assert advance(READ - timedelta(hours=1), [], READ, follow_clock=True).watermark == READ
    assert advance(READ - timedelta(hours=1), [], READ).watermark == READ - timedelta(hours=1)


def test_an_older_change_never_moves_the_watermark_back() -> None:
    current = READ - timedelta(minutes=1)
    assert advance(current, [("A", READ - timedelta(hours=2))], READ).watermark == current


def test_seen_marks_after_the_read_are_not_trusted() -> None:
    assert trusted_seen(READ - timedelta(hours=1), READ) == READ - timedelta(hours=1)
    assert trusted_seen(READ + FUTURE_TOLERANCE + timedelta(seconds=1), READ) is None
    assert trusted_seen(None, READ) is None


@given(
    current=st.none() | st.datetimes(timezones=st.just(UTC)),
    offsets=st.lists(st.integers(-10**7, 10**9), max_size=20),
    follow=st.booleans(),
)
def test_the_watermark_never_lies_after_the_read(
    current: datetime | None, offsets: list[int], follow: bool
) -> None:
    items = [(str(n), READ + timedelta(seconds=s)) for n, s in enumerate(offsets)]
    moved = advance(current, items, READ, follow_clock=follow)
    if moved.watermark is not None and moved.watermark != current:
        assert moved.watermark <= READ
    if current is not None and current > READ + FUTURE_TOLERANCE:
        assert moved.watermark is not None and moved.watermark <= READ
    assert {key for key, _ in moved.future} == {
        key for key, when in items if when > READ + FUTURE_TOLERANCE
    }


@given(
    offsets=st.lists(st.integers(min_value=-86400, max_value=86400 * 30), max_size=40),
    current_offset=st.none() | st.integers(min_value=-86400, max_value=86400 * 30),
    follow_clock=st.booleans(),
)
def test_folded_items_move_the_watermark_as_the_whole_list_does(
    offsets: list[int], current_offset: int | None, follow_clock: bool
) -> None:
    items = [(f"S-{n}", READ + timedelta(seconds=o)) for n, o in enumerate(offsets)]
    current = None if current_offset is None else READ + timedelta(seconds=current_offset)
    folded = WatermarkItems(READ)
    for key, updated in items:
        folded.add(key, updated)
    assert advance(current, folded, READ, follow_clock=follow_clock) == advance(
        current, items, READ, follow_clock=follow_clock
    )
