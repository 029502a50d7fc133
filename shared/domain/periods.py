"""Reporting periods (`2024`, `2024-T1`, `2024-Q3`, `2024-04`, `2024-VT`) as ordered values.

Pure: no I/O. A period covers the half-open interval [`start`, `end`); `decimal_start` is the
position the status method uses (CONTRACT: `2025-T2` → 2025.333…, `2025-HT` → 2025.5).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import cached_property, lru_cache

from shared.domain.catalog import PeriodType

MIN_YEAR = 1900
MAX_YEAR = 2999

# [0-9], not \d: \d would accept other scripts' digits; fullmatch, not $: $ accepts a trailing "\n".
_PATTERN = re.compile(r"(?P<year>[0-9]{4})(?:-(?P<sub>T[1-3]|Q[1-4]|0[1-9]|1[0-2]|VT|HT))?")

MONTHS_PER_PERIOD: dict[PeriodType, int] = {
    PeriodType.YEAR: 12,
    PeriodType.TERTIAL: 4,
    PeriodType.QUARTER: 3,
    PeriodType.MONTH: 1,
    PeriodType.TERM: 6,
}

_SUFFIXES: dict[PeriodType, tuple[str, ...]] = {
    PeriodType.YEAR: ("",),
    PeriodType.TERTIAL: ("-T1", "-T2", "-T3"),
    PeriodType.QUARTER: ("-Q1", "-Q2", "-Q3", "-Q4"),
    PeriodType.MONTH: tuple(f"-{m:02d}" for m in range(1, 13)),
    PeriodType.TERM: ("-VT", "-HT"),
}

# Tie-break between types that start on the same day: the longer period sorts first.
_TYPE_RANK = {t: -months for t, months in MONTHS_PER_PERIOD.items()}


class PeriodError(ValueError):
    """A text that is not a period, or not of the expected period type."""


def add_months(day: date, months: int) -> date:
    """The same day-of-month `months` later (clamped to the month's last day)."""
    total = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(total, 12)
    return date(year, month0 + 1, min(day.day, _days_in_month(year, month0 + 1)))


def _days_in_month(year: int, month: int) -> int:
    nxt = date(year + month // 12, month % 12 + 1, 1)
    return (nxt - date(year, month, 1)).days


@dataclass(frozen=True, order=False)
class Period:
    """One reporting period; `index` is 1-based within the year (1 for a year, VT=1, HT=2).

    Periods are parsed once per text (`parse_period` is memoised) and compared very often (every
    status sorts its series), so what is derived from the fields is computed once per object.
    """

    text: str
    type: PeriodType
    year: int
    index: int

    @property
    def months(self) -> int:
        """Length of the period in months."""
        return MONTHS_PER_PERIOD[self.type]

    @cached_property
    def start(self) -> date:
        """First day of the period (VT starts 1 January, HT 1 July)."""
        return date(self.year, (self.index - 1) * self.months + 1, 1)

    @cached_property
    def end(self) -> date:
        """Exclusive end: the first day of the next period of the same type."""
        return add_months(self.start, self.months)

    @property
    def decimal_start(self) -> float:
        """The start in decimal years: year + (index − 1)·months/12."""
        return self.year + (self.index - 1) * self.months / 12

    @cached_property
    def sort_key(self) -> tuple[date, int]:
        """Chronological key: start date, then longer periods before shorter ones."""
        return (self.start, _TYPE_RANK[self.type])

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Period):
            return NotImplemented
        return self.sort_key < other.sort_key

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Period):
            return NotImplemented
        return self.sort_key <= other.sort_key

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Period):
            return NotImplemented
        return self.sort_key > other.sort_key

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Period):
            return NotImplemented
        return self.sort_key >= other.sort_key

    def __str__(self) -> str:
        return self.text


def periods_in(period_type: PeriodType, years: Iterable[int]) -> list[str]:
    """Every period of `period_type` in `years`, in order: `2024-T1`, `2024-T2`, `2024-T3`, …"""
    return [f"{year}{suffix}" for year in years for suffix in _SUFFIXES[period_type]]


def parse_period(text: str, expected: PeriodType | None = None) -> Period:
    """Parse a period text; raise PeriodError if malformed or not of the `expected` type."""
    if not isinstance(text, str):
        raise PeriodError(f"{text!r} is not a period: a period is a text like 2024 or 2024-Q1")
    period = _parse(text)
    if expected is not None and period.type is not expected:
        raise PeriodError(f"{text!r} is a {period.type.value} period, expected {expected.value}")
    return period


@lru_cache(maxsize=4096)  # the aggregator parses the same few period texts over and over
def _parse(text: str) -> Period:
    match = _PATTERN.fullmatch(text)
    if match is None:
        raise PeriodError(
            f"{text!r} is not a period: use 2024, 2024-T1..T3, 2024-Q1..Q4, 2024-01..12,"
            " 2024-VT or 2024-HT"
        )
    year = int(match["year"])
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise PeriodError(f"{text!r}: year must be between {MIN_YEAR} and {MAX_YEAR}")
    sub = match["sub"]
    if sub is None:
        return Period(text, PeriodType.YEAR, year, 1)
    if sub in ("VT", "HT"):
        return Period(text, PeriodType.TERM, year, 1 if sub == "VT" else 2)
    if sub[0] == "T":
        return Period(text, PeriodType.TERTIAL, year, int(sub[1]))
    if sub[0] == "Q":
        return Period(text, PeriodType.QUARTER, year, int(sub[1]))
    return Period(text, PeriodType.MONTH, year, int(sub))


def period_type_of(text: str) -> PeriodType:
    """The period type of a period text; raise PeriodError if it is not a period."""
    return parse_period(text).type


def decimal_year(year_or_period: int | str | Period) -> float:
    """A target year (`2030` → 2030.0) or a period's start as decimal years."""
    if isinstance(year_or_period, Period):
        return year_or_period.decimal_start
    if isinstance(year_or_period, bool):
        raise PeriodError(f"{year_or_period!r} is not a year or period")
    if isinstance(year_or_period, int):
        return float(year_or_period)
    return parse_period(year_or_period).decimal_start
