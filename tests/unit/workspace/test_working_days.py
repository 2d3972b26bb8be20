"""Working days as a Finnish office counts them: weekends, public holidays and the eves that are days off are
not working days, and days are Helsinki's."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from feedback_workspace.working_days import (
    HELSINKI,
    add_working_days,
    is_working_day,
    next_working_day,
    working_days_between,
)


def helsinki(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=HELSINKI)


@pytest.mark.parametrize(
    ("day", "why"),
    [
        (date(2026, 4, 3), "Good Friday"),
        (date(2026, 4, 6), "Easter Monday"),
        (date(2026, 5, 1), "May Day"),
        (date(2026, 5, 14), "Ascension Day"),
        (date(2026, 6, 19), "Midsummer Eve"),
        (date(2026, 12, 24), "Christmas Eve"),
        (date(2026, 12, 25), "Christmas Day"),
        (date(2027, 12, 6), "Independence Day on a Monday"),
        (date(2027, 1, 1), "New Year's Day"),
        (date(2027, 1, 6), "Epiphany"),
        (date(2026, 3, 28), "a Saturday"),
        (date(2026, 3, 29), "a Sunday"),
    ],
)
def test_holidays_eves_and_weekends_are_not_working_days(day: date, why: str) -> None:
    assert not is_working_day(day), why


@pytest.mark.parametrize(
    "day",
    [date(2026, 4, 2), date(2026, 4, 7), date(2026, 6, 18), date(2026, 6, 22), date(2026, 12, 23), date(2026, 12, 28)],
)
def test_ordinary_weekdays_around_the_holidays_are_working_days(day: date) -> None:
    assert is_working_day(day)


def test_a_day_of_waiting_ends_at_the_same_time_on_the_next_working_day() -> None:
    assert add_working_days(helsinki(2026, 3, 23, 10, 0), 1) == helsinki(2026, 3, 24, 10, 0)  # Monday -> Tuesday
    assert add_working_days(helsinki(2026, 3, 27, 10, 0), 1) == helsinki(2026, 3, 30, 10, 0)  # Friday -> Monday


def test_five_working_days_from_a_monday_is_the_next_monday() -> None:
    assert add_working_days(helsinki(2026, 3, 9, 14, 30), 5) == helsinki(2026, 3, 16, 14, 30)


def test_easter_takes_four_days_out_of_the_count() -> None:
    # Thursday 2.4.2026 before Easter: Good Friday 3.4., the weekend and Easter Monday 6.4. are not counted.
    assert add_working_days(helsinki(2026, 4, 2, 9, 0), 1) == helsinki(2026, 4, 7, 9, 0)
    assert add_working_days(helsinki(2026, 4, 2, 9, 0), 5) == helsinki(2026, 4, 13, 9, 0)


def test_midsummer_eve_is_a_day_off() -> None:
    # Thursday 18.6.2026: Midsummer Eve 19.6. and the weekend are skipped.
    assert add_working_days(helsinki(2026, 6, 18, 12, 0), 1) == helsinki(2026, 6, 22, 12, 0)


def test_christmas_from_eve_to_second_day_and_independence_day_are_not_counted() -> None:
    # Wednesday 23.12.2026: 24.-26.12. and Sunday 27.12. are skipped.
    assert add_working_days(helsinki(2026, 12, 23, 9, 0), 1) == helsinki(2026, 12, 28, 9, 0)
    # Friday 3.12.2027: the weekend and Independence Day on Monday 6.12.2027 are skipped.
    assert add_working_days(helsinki(2027, 12, 3, 9, 0), 1) == helsinki(2027, 12, 7, 9, 0)


def test_an_item_arriving_on_a_day_off_starts_waiting_at_the_next_working_days_beginning() -> None:
    # Saturday 4.4.2026 of Easter: counting starts on Tuesday 7.4. at midnight.
    assert add_working_days(helsinki(2026, 4, 4, 15, 0), 0) == helsinki(2026, 4, 7, 0, 0)
    assert add_working_days(helsinki(2026, 4, 4, 15, 0), 1) == helsinki(2026, 4, 8, 0, 0)


def test_days_are_helsinki_days_whatever_the_utc_date() -> None:
    # Friday 27.3.2026 at 23.30 UTC is already Saturday 01.30 in Helsinki: a day off.
    friday_night_utc = datetime(2026, 3, 27, 23, 30, tzinfo=UTC)
    assert add_working_days(friday_night_utc, 1) == helsinki(2026, 3, 31, 0, 0)


def test_the_answer_is_in_utc_and_the_wall_clock_time_holds_across_the_change_to_summer_time() -> None:
    # Summer time starts on Sunday 29.3.2026: Friday 10.00 (UTC+2) to Monday 10.00 (UTC+3).
    due = add_working_days(helsinki(2026, 3, 27, 10, 0), 1)
    assert due.tzinfo is UTC
    assert due == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)


def test_next_working_day_skips_weekends_and_holidays() -> None:
    assert next_working_day(date(2026, 12, 23)) == date(2026, 12, 28)
    assert next_working_day(date(2026, 4, 2)) == date(2026, 4, 7)


def test_whole_working_days_between_two_moments_are_counted() -> None:
    start = helsinki(2026, 4, 2, 9, 0)
    assert working_days_between(start, helsinki(2026, 4, 7, 8, 59)) == 0
    assert working_days_between(start, helsinki(2026, 4, 7, 9, 0)) == 1
    assert working_days_between(start, helsinki(2026, 4, 13, 9, 0)) == 5
    assert working_days_between(start, start) == 0


def test_a_naive_time_or_negative_days_are_refused() -> None:
    with pytest.raises(ValueError):
        add_working_days(datetime(2026, 4, 2, 9, 0), 1)
    with pytest.raises(ValueError):
        add_working_days(helsinki(2026, 4, 2, 9, 0), -1)
