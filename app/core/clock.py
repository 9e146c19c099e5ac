"""The programme's calendar.

The programme's days are Italian days (Europe/Rome): a grant made at 00:30 in Turin is dated
that day, whatever the server's zone, and every date the service compares (acceptance,
payments, claims, repayments, receipts, de minimis periods, publication) is read from here.
Timestamps stay in UTC; a stored timestamp's day is ``day_of(moment)``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

ROME = ZoneInfo("Europe/Rome")


def today() -> date:
    """The programme's calendar day now."""
    return datetime.now(ROME).date()


def day_of(moment: datetime) -> date:
    """The programme's calendar day of ``moment`` (a naive one is UTC, as SQLite returns it)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ROME).date()


def start_of(day: date) -> datetime:
    """The first instant of the programme's calendar ``day`` (for the first day there is,
    the first instant there is: Rome's offset would put it before year 1)."""
    if day == date.min:
        return datetime.min.replace(tzinfo=UTC)
    return datetime.combine(day, time.min, tzinfo=ROME)
