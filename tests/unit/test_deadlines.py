"""GDPR Art. 12(3) deadlines counted per Reg. 1182/71 Art. 3 (DOMAIN.md examples first)."""

from __future__ import annotations

import datetime as dt

import pytest

from rcrm_desktop.core import deadlines
from rcrm_desktop.core.deadlines import (
    HolidayCalendar,
    add_months,
    can_extend,
    days_left,
    due_date,
    easter_sunday,
    extended_due_date,
    status,
)
from rcrm_desktop.errors import ValidationError

D = dt.date
NO_HOLIDAYS = HolidayCalendar([], spec="none")


# ---------------------------------------------------------------- DOMAIN.md examples


def test_31_march_2026_is_due_30_april_thursday() -> None:
    due = due_date(D(2026, 3, 31))
    assert due == D(2026, 4, 30)
    assert due.weekday() == 3  # Thursday


def test_31_january_2026_ends_on_saturday_and_moves_to_monday() -> None:
    assert add_months(D(2026, 1, 31), 1) == D(2026, 2, 28)
    assert D(2026, 2, 28).weekday() == 5
    assert due_date(D(2026, 1, 31)) == D(2026, 3, 2)


def test_5_march_to_5_april_when_5_april_is_a_working_day() -> None:
    assert D(2027, 4, 5).weekday() == 0  # Monday, after Easter Monday 2027 (29 March)
    assert due_date(D(2027, 3, 5)) == D(2027, 4, 5)


def test_5_march_2026_lands_on_easter_sunday_and_easter_monday() -> None:
    # 5 April 2026 is Easter Sunday; 6 April is Easter Monday (SK and CZ): due Tuesday 7 April.
    assert easter_sunday(2026) == D(2026, 4, 5)
    assert due_date(D(2026, 3, 5)) == D(2026, 4, 7)
    # Without holidays only the weekend counts: Monday 6 April.
    assert due_date(D(2026, 3, 5), holidays=NO_HOLIDAYS) == D(2026, 4, 6)


def test_5_march_2025_lands_on_saturday() -> None:
    assert due_date(D(2025, 3, 5)) == D(2025, 4, 7)


# ---------------------------------------------------------------- month ends and leap years


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        (D(2028, 1, 31), D(2028, 2, 29)),  # leap year: 29 Feb 2028 is a Tuesday
        (D(2028, 1, 29), D(2028, 2, 29)),
        (D(2027, 1, 29), D(2027, 3, 1)),  # 28 Feb 2027 is a Sunday → Monday 1 March
        (D(2028, 2, 29), D(2028, 3, 29)),
        (D(2026, 5, 31), D(2026, 6, 30)),
        (D(2026, 8, 31), D(2026, 9, 30)),
        (D(2026, 10, 31), D(2026, 11, 30)),
        (D(2026, 7, 30), D(2026, 8, 31)),  # 30 August 2026 is a Sunday → Monday 31
    ],
)
def test_month_ends(received: dt.date, expected: dt.date) -> None:
    assert due_date(received) == expected


def test_29_february_2028_is_a_tuesday() -> None:
    assert D(2028, 2, 29).weekday() == 1
    assert due_date(D(2028, 1, 31)).weekday() == 1


def test_add_months_crosses_years() -> None:
    assert add_months(D(2025, 11, 30), 3) == D(2026, 2, 28)
    assert add_months(D(2025, 12, 31), 2) == D(2026, 2, 28)
    assert add_months(D(2027, 12, 31), 2) == D(2028, 2, 29)


# ---------------------------------------------------------------- weekends and holidays


def test_weekend_moves_to_monday() -> None:
    assert due_date(D(2026, 4, 18)) == D(2026, 5, 18)  # Monday, plain
    assert due_date(D(2026, 6, 13)) == D(2026, 7, 13)  # 13 July 2026 is a Monday
    assert due_date(D(2026, 6, 11)) == D(2026, 7, 13)  # 11 July Saturday → Monday 13


def test_new_year_is_a_holiday() -> None:
    # Received 1 December 2025 → 1 January 2026 (Thursday, a holiday) → Friday 2 January.
    assert due_date(D(2025, 12, 1)) == D(2026, 1, 2)
    # 2026: 1 January 2027 is a Friday holiday → Monday 4 January.
    assert due_date(D(2026, 12, 1)) == D(2027, 1, 4)


def test_christmas_run_of_holidays() -> None:
    # 24 Nov 2027 → 24 Dec 2027 (Friday, Christmas Eve) → 25/26 weekend+holidays → Monday 27.
    assert due_date(D(2027, 11, 24)) == D(2027, 12, 27)


def test_good_friday_and_easter_monday() -> None:
    assert easter_sunday(2027) == D(2027, 3, 28)
    assert due_date(D(2027, 2, 26)) == D(2027, 3, 30)  # Good Friday 26 March → Tuesday after Easter Monday


@pytest.mark.parametrize("year,easter", [(2024, D(2024, 3, 31)), (2025, D(2025, 4, 20)), (2026, D(2026, 4, 5)),
                                         (2027, D(2027, 3, 28)), (2028, D(2028, 4, 16)), (2038, D(2038, 4, 25))])
def test_easter(year: int, easter: dt.date) -> None:
    assert easter_sunday(year) == easter


def test_country_calendars_differ() -> None:
    sk = HolidayCalendar.for_countries("SK")
    cz = HolidayCalendar.for_countries("CZ")
    both = HolidayCalendar.default()
    # 28 September (Czech Statehood Day) 2026 is a Monday.
    assert cz.is_holiday(D(2026, 9, 28)) and not sk.is_holiday(D(2026, 9, 28))
    assert both.is_holiday(D(2026, 9, 28))
    # 29 August: Slovak only.
    assert sk.is_holiday(D(2025, 8, 29)) and not cz.is_holiday(D(2025, 8, 29))
    assert due_date(D(2026, 8, 28), holidays=sk) == D(2026, 9, 28)
    assert due_date(D(2026, 8, 28), holidays=cz) == D(2026, 9, 29)


def test_slovak_changes_over_the_years() -> None:
    sk = HolidayCalendar.for_countries("SK")
    assert sk.is_holiday(D(2023, 9, 1)) and not sk.is_holiday(D(2024, 9, 1))
    assert sk.is_holiday(D(2024, 11, 17)) and not sk.is_holiday(D(2025, 11, 17))
    assert not sk.is_holiday(D(2026, 5, 8)) and sk.is_holiday(D(2027, 5, 8))
    assert not sk.is_holiday(D(2026, 9, 15)) and sk.is_holiday(D(2025, 9, 15))
    cz = HolidayCalendar.for_countries("CZ")
    assert not cz.is_holiday(D(2015, 4, 3)) and cz.is_holiday(D(2016, 3, 25))  # Good Friday since 2016


def test_holidays_are_listed_with_names() -> None:
    listed = dict(HolidayCalendar.default().in_year(2026))
    assert "Easter Monday" in listed[D(2026, 4, 6)]
    assert "Good Friday" in listed[D(2026, 4, 3)]
    assert "Jan Hus" in listed[D(2026, 7, 6)]
    assert len(HolidayCalendar.for_countries("CZ").in_year(2026)) == 13


def test_parse_custom_list() -> None:
    cal = HolidayCalendar.parse("2026-04-30 Company day; 12-31, 01-02\nSK")
    assert cal.is_holiday(D(2026, 4, 30)) and not cal.is_holiday(D(2027, 4, 30))
    assert cal.names(D(2026, 4, 30)) == ["Company day"]
    assert cal.is_holiday(D(2031, 12, 31)) and cal.is_holiday(D(2031, 1, 2))
    assert cal.is_holiday(D(2026, 8, 29))  # from SK
    assert not cal.is_holiday(D(2026, 9, 28))  # CZ not listed
    assert due_date(D(2026, 3, 30), holidays=cal) == D(2026, 5, 4)  # 30 Apr custom, 1 May, weekend


def test_parse_empty_gives_default_and_bad_items_are_named() -> None:
    assert HolidayCalendar.parse("").is_holiday(D(2026, 7, 6))
    assert HolidayCalendar.parse(None).spec == deadlines.DEFAULT_SPEC
    for bad in ("2026-02-30", "13-01", "tomorrow", "DE"):
        with pytest.raises(ValidationError, match="holiday list"):
            HolidayCalendar.parse(bad)


def test_recurring_29_february_only_in_leap_years() -> None:
    cal = HolidayCalendar.parse("02-29")
    assert cal.is_holiday(D(2028, 2, 29))
    assert not cal.is_holiday(D(2027, 2, 28))


# ---------------------------------------------------------------- extension


def test_extension_counts_three_months_from_receipt() -> None:
    assert extended_due_date(D(2026, 3, 31), 2) == D(2026, 6, 30)
    # 31 Jan 2026: one month ends Sat 28 Feb (→ 2 March) but the extension counts from receipt: 30 April.
    assert extended_due_date(D(2026, 1, 31), 2) == D(2026, 4, 30)
    assert extended_due_date(D(2026, 1, 31), 1) == D(2026, 3, 31)
    # 5 Feb 2026 + 3 months = 5 May 2026 (Tuesday).
    assert extended_due_date(D(2026, 2, 5)) == D(2026, 5, 5)
    # Received 1 October 2026 + 3 = 1 January 2027 (holiday, Friday) → Monday 4 January.
    assert extended_due_date(D(2026, 10, 1)) == D(2027, 1, 4)


def test_extension_limits() -> None:
    for bad in (0, 3, -1):
        with pytest.raises(ValidationError, match="extended"):
            extended_due_date(D(2026, 1, 10), bad)
    with pytest.raises(ValidationError, match="1 to 3 months"):
        due_date(D(2026, 1, 10), 4)


def test_can_extend_only_within_the_first_month() -> None:
    received = D(2026, 1, 31)  # due Monday 2 March 2026
    assert can_extend(received, D(2026, 2, 20))
    assert can_extend(received, D(2026, 3, 2))  # the due day itself is still within the period
    assert not can_extend(received, D(2026, 3, 3))


# ---------------------------------------------------------------- days left and status


def test_days_left_and_status() -> None:
    due = D(2026, 4, 30)
    assert days_left(due, D(2026, 4, 30)) == 0
    assert days_left(due, D(2026, 5, 2)) == -2
    assert status(due, D(2026, 5, 1)) == "overdue"
    assert status(due, D(2026, 4, 30)) == "due_soon"
    assert status(due, D(2026, 4, 23)) == "due_soon"  # 7 days left
    assert status(due, D(2026, 4, 22)) == "ok"  # 8 days left
    assert deadlines.effective_due(due, None) == due
    assert deadlines.effective_due(due, D(2026, 6, 30)) == D(2026, 6, 30)


def test_due_date_is_always_a_working_day_and_not_early() -> None:
    cal = HolidayCalendar.default()
    day = D(2025, 1, 1)
    while day < D(2029, 1, 1):
        due = due_date(day, holidays=cal)
        assert cal.is_working_day(due)
        assert due >= add_months(day, 1)
        assert (due - add_months(day, 1)).days <= 5
        day += dt.timedelta(days=1)
