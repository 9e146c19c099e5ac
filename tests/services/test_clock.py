"""The programme's calendar (app/core/clock.py): Italian days, whatever the server's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from app.core import clock


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        # Winter (UTC+1): 23:00 UTC is midnight in Turin.
        (datetime(2024, 2, 15, 22, 59, 59, 999999, tzinfo=UTC), date(2024, 2, 15)),
        (datetime(2024, 2, 15, 23, 0, tzinfo=UTC), date(2024, 2, 16)),
        # Summer (UTC+2): 22:00 UTC is midnight.
        (datetime(2024, 7, 1, 21, 59, 59, 999999, tzinfo=UTC), date(2024, 7, 1)),
        (datetime(2024, 7, 1, 22, 0, tzinfo=UTC), date(2024, 7, 2)),
        # SQLite gives naive timestamps: they are UTC.
        (datetime(2024, 2, 15, 23, 30), date(2024, 2, 16)),
    ],
)
def test_the_day_of_a_timestamp_is_the_italian_day(moment: datetime, day: date) -> None:
    assert clock.day_of(moment) == day


@pytest.mark.parametrize(
    ("day", "first_instant"),
    [
        (date(2024, 2, 16), datetime(2024, 2, 15, 23, 0, tzinfo=UTC)),
        (date(2024, 7, 2), datetime(2024, 7, 1, 22, 0, tzinfo=UTC)),
        # The day summer time starts (31 March 2024) still begins at 23:00 UTC the day before.
        (date(2024, 3, 31), datetime(2024, 3, 30, 23, 0, tzinfo=UTC)),
    ],
)
def test_a_day_starts_at_midnight_in_turin(day: date, first_instant: datetime) -> None:
    start = clock.start_of(day)
    assert start == first_instant
    assert clock.day_of(start) == day
    assert clock.day_of(start - timedelta(microseconds=1)) == day - timedelta(days=1)


def test_the_first_day_there_is_does_not_overflow() -> None:
    """Rome's offset would put 1 January of year 1 before year 1 (a filter such as
    ``awarded_from=0001-01-01`` reaches here): the first instant there is instead."""
    start = clock.start_of(date.min)
    assert start == datetime.min.replace(tzinfo=UTC)
    assert start.astimezone(UTC) == start


def test_today_is_the_italian_day_now() -> None:
    before = clock.day_of(datetime.now(UTC))
    today = clock.today()
    after = clock.day_of(datetime.now(UTC))
    assert before <= today <= after
