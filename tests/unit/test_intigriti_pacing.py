"""429 delay parsing and bucket sizing (pure functions of the Intigriti client)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from syncd.intigriti.client import MAX_RATE_LIMIT_PAUSE, paced_rate, retry_after_seconds

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)


def test_retry_after_in_seconds() -> None:
    assert retry_after_seconds({"retry-after": "7"}, NOW) == 7.0


def test_retry_after_as_http_date() -> None:
    header = format_datetime(NOW + timedelta(seconds=12), usegmt=True)
    assert retry_after_seconds({"retry-after": header}, NOW) == 12.0


def test_retry_after_in_the_past_means_now() -> None:
    header = format_datetime(NOW - timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds({"retry-after": header}, NOW) == 0.0


def test_rate_limit_reset_as_epoch_and_as_delta() -> None:
    epoch = str(int((NOW + timedelta(seconds=20)).timestamp()))
    assert retry_after_seconds({"x-ratelimit-reset": epoch}, NOW) == 20.0
    assert retry_after_seconds({"x-ratelimit-reset": "3"}, NOW) == 3.0


def test_the_longer_of_both_headers_wins() -> None:
    headers = {"retry-after": "2", "x-ratelimit-reset": "9"}
    assert retry_after_seconds(headers, NOW) == 9.0


def test_unusable_headers_give_none_and_huge_ones_are_capped() -> None:
    assert retry_after_seconds({}, NOW) is None
    assert retry_after_seconds({"retry-after": "soon-ish"}, NOW) is None
    assert retry_after_seconds({"retry-after": "86400"}, NOW) == MAX_RATE_LIMIT_PAUSE


@pytest.mark.parametrize("quota", [10, 60, 200, 600, 1200, 5000])
def test_a_size_one_bucket_at_the_paced_rate_fits_any_window(quota: int) -> None:
    rate = paced_rate(quota)
    # at most one burst token plus a minute of refill may land in any 60-second window
    assert 1 + rate <= quota
    assert rate >= 0.5 * quota


@pytest.mark.parametrize("quota", [200, 600, 1200])
def test_paced_rate_keeps_at_least_95_percent_of_realistic_quotas(quota: int) -> None:
    assert paced_rate(quota) >= 0.95 * quota
