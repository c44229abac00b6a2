"""Deadlines of data-subject rights requests (GDPR Art. 12(3)).

The rule (GDPR Art. 12(3)): the controller answers "without undue delay and in
any event within one month of receipt of the request"; the period "may be
extended by two further months where necessary", and the requester must be
told of the extension, with the reasons, "within one month of receipt".

How "one month" is counted: EU Regulation (EEC, Euratom) No 1182/71
determining the rules applicable to periods, dates and time limits (the UK
ICO's guidance says the same):

* Art. 3(1): the day of the event (receipt) does not count; the period starts
  the next day.
* Art. 3(2)(c): a period in months ends with the expiry of the last hour of
  the day in the last month that "falls on the same date" as the day from
  which it runs; "if, in a period expressed in months ..., the day on which it
  should expire does not occur in the last month, the period shall end with the
  expiry of the last hour of the last day of that month".
* Art. 3(3): Saturdays, Sundays and public holidays inside the period count.
* Art. 3(4): "where the last day of a period ... is a public holiday, Sunday or
  Saturday, the period shall end with the expiry of the last hour of the
  following working day".
* Art. 2: public holidays are those of the Member State where the action is to
  be taken; working days are all days other than public holidays, Sundays and
  Saturdays.

Hence: received 5 March → due 5 April (moved on when that is a weekend or a
holiday); 31 March 2026 → 30 April 2026; 31 January 2026 → 28 February 2026,
a Saturday → Monday 2 March 2026. An extension counts 1 + 2 = 3 months from
receipt with the same rules (the intermediate month ends are not moved).

The holiday list is configurable (``HolidayCalendar.parse``). The default set
is the union of the Slovak and Czech days off work (``dni pracovného pokoja``
/ ``státní a ostatní svátky``), as they stand in January 2026; an instance in
one country should name only its own (``"SK"`` or ``"CZ"``), since a holiday of
the other country makes a deadline one day later than the law allows.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from rcrm_desktop.errors import ValidationError

#: Months in the ordinary period and the longest extension (GDPR Art. 12(3)).
ANSWER_MONTHS = 1
MAX_EXTENSION_MONTHS = 2

#: A deadline this many days away or closer is "due soon" (shown amber).
DUE_SOON_DAYS = 7

DeadlineStatus = Literal["overdue", "due_soon", "ok"]


def easter_sunday(year: int) -> dt.date:
    """Easter Sunday of the Gregorian calendar (the anonymous Meeus/Jones/Butcher algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


@dataclass(frozen=True)
class Holiday:
    """One public holiday (a day off work).

    ``kind`` is ``"fixed"`` (every year on ``month``/``day``), ``"easter"``
    (``offset`` days from Easter Sunday: −2 Good Friday, +1 Easter Monday) or
    ``"date"`` (once, in ``year``). ``first_year``/``last_year`` bound the
    years a rule applies and ``except_years`` lists years it was suspended,
    because legislatures do change them (Slovakia: 1 September is no day off
    since 2024, 17 November since 2025, 8 May and 15 September not in 2026).
    """

    name: str
    kind: Literal["fixed", "easter", "date"]
    month: int = 0
    day: int = 0
    offset: int = 0
    year: int | None = None
    first_year: int | None = None
    last_year: int | None = None
    except_years: tuple[int, ...] = ()

    def on(self, year: int) -> dt.date | None:
        """The holiday's date in ``year``, or ``None`` when it is not a day off that year."""
        if self.first_year is not None and year < self.first_year:
            return None
        if self.last_year is not None and year > self.last_year:
            return None
        if year in self.except_years:
            return None
        if self.kind == "easter":
            return easter_sunday(year) + dt.timedelta(days=self.offset)
        if self.kind == "date":
            return dt.date(year, self.month, self.day) if year == self.year else None
        try:
            return dt.date(year, self.month, self.day)
        except ValueError:  # 29 February in a common year
            return None

    def describe(self) -> str:
        if self.kind == "easter":
            return f"Easter {self.offset:+d} days"
        if self.kind == "date":
            return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"
        return f"{self.month:02d}-{self.day:02d}"


def _fixed(month: int, day: int, name: str, *, first_year: int | None = None, last_year: int | None = None,
           except_years: tuple[int, ...] = ()) -> Holiday:
    return Holiday(name, "fixed", month=month, day=day, first_year=first_year, last_year=last_year,
                   except_years=except_years)


GOOD_FRIDAY = -2
EASTER_MONDAY = 1

#: Slovak days off work (zákon č. 241/1993 Z. z. as amended; state of January 2026).
SLOVAK_HOLIDAYS: tuple[Holiday, ...] = (
    _fixed(1, 1, "Deň vzniku Slovenskej republiky (Day of the Establishment of the Slovak Republic)"),
    _fixed(1, 6, "Zjavenie Pána (Epiphany)"),
    Holiday("Veľký piatok (Good Friday)", "easter", offset=GOOD_FRIDAY),
    Holiday("Veľkonočný pondelok (Easter Monday)", "easter", offset=EASTER_MONDAY),
    _fixed(5, 1, "Sviatok práce (Labour Day)"),
    _fixed(5, 8, "Deň víťazstva nad fašizmom (Victory over Fascism Day)", except_years=(2026,)),
    _fixed(7, 5, "Sviatok svätého Cyrila a Metoda (St Cyril and Methodius Day)"),
    _fixed(8, 29, "Výročie Slovenského národného povstania (Slovak National Uprising Anniversary)"),
    _fixed(9, 1, "Deň Ústavy Slovenskej republiky (Constitution Day)", last_year=2023),
    _fixed(9, 15, "Sedembolestná Panna Mária (Our Lady of Seven Sorrows)", except_years=(2026,)),
    _fixed(11, 1, "Sviatok všetkých svätých (All Saints' Day)"),
    _fixed(11, 17, "Deň boja za slobodu a demokraciu (Struggle for Freedom and Democracy Day)",
           last_year=2024),
    _fixed(12, 24, "Štedrý deň (Christmas Eve)"),
    _fixed(12, 25, "Prvý sviatok vianočný (Christmas Day)"),
    _fixed(12, 26, "Druhý sviatok vianočný (St Stephen's Day)"),
)

#: Czech public holidays, all days off work (zákon č. 245/2000 Sb. as amended; Good Friday since 2016).
CZECH_HOLIDAYS: tuple[Holiday, ...] = (
    _fixed(1, 1, "Den obnovy samostatného českého státu; Nový rok (Restoration Day; New Year's Day)"),
    Holiday("Velký pátek (Good Friday)", "easter", offset=GOOD_FRIDAY, first_year=2016),
    Holiday("Velikonoční pondělí (Easter Monday)", "easter", offset=EASTER_MONDAY),
    _fixed(5, 1, "Svátek práce (Labour Day)"),
    _fixed(5, 8, "Den vítězství (Victory Day)"),
    _fixed(7, 5, "Den slovanských věrozvěstů Cyrila a Metoděje (St Cyril and Methodius Day)"),
    _fixed(7, 6, "Den upálení mistra Jana Husa (Jan Hus Day)"),
    _fixed(9, 28, "Den české státnosti (St Wenceslas Day, Czech Statehood Day)"),
    _fixed(10, 28, "Den vzniku samostatného československého státu (Independent Czechoslovak State Day)"),
    _fixed(11, 17, "Den boje za svobodu a demokracii (Struggle for Freedom and Democracy Day)"),
    _fixed(12, 24, "Štědrý den (Christmas Eve)"),
    _fixed(12, 25, "1. svátek vánoční (Christmas Day)"),
    _fixed(12, 26, "2. svátek vánoční (St Stephen's Day)"),
)

COUNTRY_HOLIDAYS: dict[str, tuple[Holiday, ...]] = {"SK": SLOVAK_HOLIDAYS, "CZ": CZECH_HOLIDAYS}

#: What ``HolidayCalendar.parse`` gives for an empty setting.
DEFAULT_SPEC = "SK, CZ"

_DATE_RE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_RECURRING_RE = re.compile(r"^(\d{1,2})-(\d{1,2})$")


class HolidayCalendar:
    """A set of public holidays; answers "is this a working day?" (Reg. 1182/71 Art. 2(2)).

    Dates per year are computed once and cached; the calendar is immutable.
    """

    def __init__(self, holidays: Iterable[Holiday], *, spec: str = "") -> None:
        self.holidays: tuple[Holiday, ...] = tuple(holidays)
        self.spec = spec
        self._years: dict[int, dict[dt.date, list[str]]] = {}

    # ------------------------------------------------------------ construction

    @classmethod
    def default(cls) -> HolidayCalendar:
        """Slovak and Czech public holidays together (see the module docstring for the trade-off)."""
        return cls.parse(DEFAULT_SPEC)

    @classmethod
    def for_countries(cls, *codes: str) -> HolidayCalendar:
        return cls.parse(", ".join(codes))

    @classmethod
    def parse(cls, text: str | None) -> HolidayCalendar:
        """Parse a holiday list such as an instance setting.

        Items are separated by commas, semicolons or new lines; each item is

        * a country code (``SK``, ``CZ``): that country's public holidays;
        * ``YYYY-MM-DD``: a single day off (e.g. an extra holiday declared once);
        * ``MM-DD``: a day off every year;

        optionally followed by a label (``12-31 Bank closure``). The calendar
        holds exactly what is listed; an empty text means ``DEFAULT_SPEC``.
        A wrong item raises ``ValidationError`` naming it.
        """
        spec = (text or "").strip()
        if not spec:
            spec = DEFAULT_SPEC
        holidays: list[Holiday] = []
        for raw in re.split(r"[,;\n]+", spec):
            item = raw.strip()
            if not item:
                continue
            head, _, label = item.partition(" ")
            label = label.strip()
            code = head.upper()
            if code in COUNTRY_HOLIDAYS and not label:
                holidays.extend(COUNTRY_HOLIDAYS[code])
                continue
            if match := _DATE_RE.match(head):
                year, month, day = (int(g) for g in match.groups())
                try:
                    dt.date(year, month, day)
                except ValueError as exc:
                    raise ValidationError(f"“{item[:60]}” in the holiday list is not a real date.") from exc
                holidays.append(Holiday(label or "Custom holiday", "date", month=month, day=day, year=year))
                continue
            if match := _RECURRING_RE.match(head):
                month, day = (int(g) for g in match.groups())
                try:
                    dt.date(2000, month, day)  # a leap year, so 02-29 is accepted
                except ValueError as exc:
                    raise ValidationError(f"“{item[:60]}” in the holiday list is not a day of the year.") from exc
                holidays.append(Holiday(label or "Custom holiday", "fixed", month=month, day=day))
                continue
            raise ValidationError(
                f"“{item[:60]}” in the holiday list is not understood: use a country code "
                f"({', '.join(COUNTRY_HOLIDAYS)}), a date YYYY-MM-DD or a yearly day MM-DD, separated by commas."
            )
        return cls(holidays, spec=spec)

    # ------------------------------------------------------------ queries

    def _dates(self, year: int) -> dict[dt.date, list[str]]:
        cached = self._years.get(year)
        if cached is None:
            cached = {}
            for holiday in self.holidays:
                day = holiday.on(year)
                if day is not None:
                    names = cached.setdefault(day, [])
                    if holiday.name not in names:
                        names.append(holiday.name)
            self._years[year] = cached
        return cached

    def is_holiday(self, day: dt.date) -> bool:
        return day in self._dates(day.year)

    def names(self, day: dt.date) -> list[str]:
        """The holidays on ``day`` (several when two countries' lists agree on a day)."""
        return list(self._dates(day.year).get(day, []))

    def is_working_day(self, day: dt.date) -> bool:
        """Reg. 1182/71 Art. 2(2): every day except public holidays, Sundays and Saturdays."""
        return day.weekday() < 5 and not self.is_holiday(day)

    def next_working_day(self, day: dt.date) -> dt.date:
        """``day`` itself when it is a working day, else the first working day after it."""
        while not self.is_working_day(day):
            day += dt.timedelta(days=1)
        return day

    def in_year(self, year: int) -> list[tuple[dt.date, str]]:
        """Every holiday of ``year`` with its name(s), in date order (for the settings screen)."""
        return [(day, "; ".join(names)) for day, names in sorted(self._dates(year).items())]


_DEFAULT_CALENDAR: HolidayCalendar | None = None


def default_calendar() -> HolidayCalendar:
    global _DEFAULT_CALENDAR
    if _DEFAULT_CALENDAR is None:
        _DEFAULT_CALENDAR = HolidayCalendar.default()
    return _DEFAULT_CALENDAR


def instance_calendar() -> HolidayCalendar:
    """The calendar named by the instance setting ``public_holidays``, when the instance declares one.

    Falls back to ``default_calendar()`` while no such option exists or it is empty.
    """
    from rcrm_desktop import settings
    from rcrm_desktop.core.instance import get_setting

    if "public_holidays" not in settings.INSTANCE_OPTIONS:
        return default_calendar()
    text = get_setting("public_holidays")
    return HolidayCalendar.parse(text) if text.strip() else default_calendar()


def add_months(day: dt.date, months: int) -> dt.date:
    """The same date ``months`` later, or the last day of that month when it has no such date.

    Reg. 1182/71 Art. 3(2)(c), second sentence.
    """
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return dt.date(year, month0 + 1, min(day.day, last))


def due_date(received: dt.date, months: int = ANSWER_MONTHS, holidays: HolidayCalendar | None = None) -> dt.date:
    """The last day to answer a request received on ``received`` (GDPR Art. 12(3), Reg. 1182/71 Art. 3).

    The same date ``months`` later; the month's last day when it has no such
    date; moved to the next working day when that is a Saturday, Sunday or
    public holiday of ``holidays`` (default: ``default_calendar()``).
    Guaranteed: the result is a working day and never earlier than the
    calendar date ``months`` later.
    """
    if not 1 <= months <= ANSWER_MONTHS + MAX_EXTENSION_MONTHS:
        raise ValidationError(
            f"A request's period is 1 to {ANSWER_MONTHS + MAX_EXTENSION_MONTHS} months (GDPR Art. 12(3)), "
            f"not {months}."
        )
    calendar_ = holidays if holidays is not None else default_calendar()
    return calendar_.next_working_day(add_months(received, months))


def extended_due_date(received: dt.date, extra_months: int = MAX_EXTENSION_MONTHS,
                      holidays: HolidayCalendar | None = None) -> dt.date:
    """The deadline after extending "by two further months" (GDPR Art. 12(3)).

    Counted from receipt as 1 + ``extra_months`` months in one go (Reg. 1182/71
    Art. 3(2)(c)), so the original due date's move past a weekend does not
    shift the extended one: received 31 Jan 2026 + 2 → 30 April 2026.
    """
    if not 1 <= extra_months <= MAX_EXTENSION_MONTHS:
        raise ValidationError(
            f"A deadline may be extended by 1 or {MAX_EXTENSION_MONTHS} further months (GDPR Art. 12(3)), "
            f"not {extra_months}."
        )
    return due_date(received, ANSWER_MONTHS + extra_months, holidays)


def can_extend(received: dt.date, today: dt.date, holidays: HolidayCalendar | None = None) -> bool:
    """Whether the extension may still be notified (GDPR Art. 12(3): "within one month of receipt").

    True up to and including the original due date: the first month ends with
    the expiry of the due date's last hour (Reg. 1182/71 Art. 3(2)(c)), so an
    extension sent on the due day is in time, one sent the day after is not.
    """
    return today <= due_date(received, ANSWER_MONTHS, holidays)


def effective_due(due_on: dt.date, extended_due_on: dt.date | None) -> dt.date:
    """The deadline in force: the extended one when the request was extended."""
    return extended_due_on if extended_due_on is not None else due_on


def days_left(due: dt.date, today: dt.date) -> int:
    """Calendar days until ``due`` (0 on the due day, negative once overdue)."""
    return (due - today).days


def status(due: dt.date, today: dt.date) -> DeadlineStatus:
    """``overdue`` after the due day; ``due_soon`` when ≤ ``DUE_SOON_DAYS`` days are left; else ``ok``.

    The due day itself is not overdue: the period ends with its last hour.
    """
    left = days_left(due, today)
    if left < 0:
        return "overdue"
    if left <= DUE_SOON_DAYS:
        return "due_soon"
    return "ok"
