"""Finnish working days: Monday to Friday, except public holidays and the eves that are days off.

`holidays.Finland` lists the public holidays, Midsummer Eve and Christmas Eve with them (days off by the
collective agreements the county follows). Days are days in Helsinki: an item that arrives on Friday evening
in Helsinki arrived on a Friday, whatever the UTC date.

"N working days after" a moment is that moment's wall-clock time on the Nth working day after its day; a
moment on a day off counts from the start of the next working day. So an item that arrived on Monday at
10.00 has waited one working day on Tuesday at 10.00, one that arrived on Friday at 10.00 on Monday at 10.00,
and one that arrived on Saturday on Tuesday at 00.00.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

HELSINKI = ZoneInfo("Europe/Helsinki")
SATURDAY = 5


@lru_cache(maxsize=64)
def _holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.Finland(years=year))


def is_working_day(day: date) -> bool:
    """Whether `day` is a working day in Finland."""
    return day.weekday() < SATURDAY and day not in _holidays(day.year)


def next_working_day(day: date) -> date:
    """The first working day after `day`."""
    day += timedelta(days=1)
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def add_working_days(moment: datetime, days: int) -> datetime:
    """The moment `days` working days after `moment` (an aware datetime), in UTC."""
    if moment.tzinfo is None:
        raise ValueError("an aware datetime is needed")
    if days < 0:
        raise ValueError("days must not be negative")
    local = moment.astimezone(HELSINKI)
    day, clock = local.date(), local.time().replace(tzinfo=None)
    if not is_working_day(day):
        day, clock = next_working_day(day), time(0)
    for _ in range(days):
        day = next_working_day(day)
    return datetime.combine(day, clock, HELSINKI).astimezone(UTC)


def working_days_between(start: datetime, end: datetime) -> int:
    """How many whole working days have passed from `start` to `end` (0 if `end` is not later)."""
    passed = 0
    while add_working_days(start, passed + 1) <= end:
        passed += 1
    return passed
