"""Periods: every format, its calendar position, and chronological order."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.catalog import PeriodType
from shared.domain.periods import (
    MONTHS_PER_PERIOD,
    Period,
    PeriodError,
    add_months,
    decimal_year,
    parse_period,
    period_type_of,
    periods_in,
)

SUBPERIODS = {
    PeriodType.YEAR: 1,
    PeriodType.TERTIAL: 3,
    PeriodType.QUARTER: 4,
    PeriodType.MONTH: 12,
    PeriodType.TERM: 2,
}


def text_of(kind: PeriodType, year: int, index: int) -> str:
    """The canonical text of a period, written independently of the parser."""
    suffix = {
        PeriodType.YEAR: "",
        PeriodType.TERTIAL: f"-T{index}",
        PeriodType.QUARTER: f"-Q{index}",
        PeriodType.MONTH: f"-{index:02d}",
        PeriodType.TERM: "-VT" if index == 1 else "-HT",
    }[kind]
    return f"{year}{suffix}"


@st.composite
def periods(draw: st.DrawFn, kind: PeriodType | None = None) -> Period:
    kind = kind or draw(st.sampled_from(list(PeriodType)))
    year = draw(st.integers(1900, 2998))
    index = draw(st.integers(1, SUBPERIODS[kind]))
    return parse_period(text_of(kind, year, index))


@pytest.mark.parametrize(
    ("text", "kind", "index", "start", "end", "decimal"),
    [
        ("2025", PeriodType.YEAR, 1, date(2025, 1, 1), date(2026, 1, 1), 2025.0),
        ("2025-T1", PeriodType.TERTIAL, 1, date(2025, 1, 1), date(2025, 5, 1), 2025.0),
        ("2025-T2", PeriodType.TERTIAL, 2, date(2025, 5, 1), date(2025, 9, 1), 2025 + 1 / 3),
        ("2025-T3", PeriodType.TERTIAL, 3, date(2025, 9, 1), date(2026, 1, 1), 2025 + 2 / 3),
        ("2025-Q1", PeriodType.QUARTER, 1, date(2025, 1, 1), date(2025, 4, 1), 2025.0),
        ("2025-Q3", PeriodType.QUARTER, 3, date(2025, 7, 1), date(2025, 10, 1), 2025.5),
        ("2025-Q4", PeriodType.QUARTER, 4, date(2025, 10, 1), date(2026, 1, 1), 2025.75),
        ("2025-01", PeriodType.MONTH, 1, date(2025, 1, 1), date(2025, 2, 1), 2025.0),
        ("2025-04", PeriodType.MONTH, 4, date(2025, 4, 1), date(2025, 5, 1), 2025.25),
        ("2025-12", PeriodType.MONTH, 12, date(2025, 12, 1), date(2026, 1, 1), 2025 + 11 / 12),
        ("2025-VT", PeriodType.TERM, 1, date(2025, 1, 1), date(2025, 7, 1), 2025.0),
        ("2025-HT", PeriodType.TERM, 2, date(2025, 7, 1), date(2026, 1, 1), 2025.5),
        ("1900", PeriodType.YEAR, 1, date(1900, 1, 1), date(1901, 1, 1), 1900.0),
        ("2999-12", PeriodType.MONTH, 12, date(2999, 12, 1), date(3000, 1, 1), 2999 + 11 / 12),
    ],
)
def test_valid_periods_parse_to_their_calendar_position(
    text: str, kind: PeriodType, index: int, start: date, end: date, decimal: float
) -> None:
    period = parse_period(text)
    assert (period.text, period.type, period.index) == (text, kind, index)
    assert period.year == int(text[:4])
    assert (period.start, period.end) == (start, end)
    assert period.decimal_start == pytest.approx(decimal, abs=1e-12)
    assert period_type_of(text) is kind
    assert str(period) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "24",
        "20245",
        "2024-",
        "2024-T0",
        "2024-T4",
        "2024-Q0",
        "2024-Q5",
        "2024-00",
        "2024-13",
        "2024-1",
        "2024-001",
        "2024-vt",
        "2024-ht",
        "2024-t1",
        "2024-q1",
        "2024-H1",
        "2024-W01",
        "2024-S1",
        " 2024",
        "2024 ",
        "2024\n",
        "2024-01-01",
        "1899",
        "3000",
        "0000",
        "２０２４",
        "2024–T1",
        "2024/01",
        "T1-2024",
    ],
)
def test_invalid_periods_raise_a_period_error_that_names_the_text(text: str) -> None:
    with pytest.raises(PeriodError, match=r"period|year") as caught:
        parse_period(text)
    assert repr(text) in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_non_string_is_not_a_period() -> None:
    with pytest.raises(PeriodError):
        parse_period(2024)  # type: ignore[arg-type]


def test_expected_type_is_enforced() -> None:
    assert parse_period("2024-Q2", PeriodType.QUARTER).index == 2
    with pytest.raises(PeriodError, match="quarter period, expected tertial"):
        parse_period("2024-Q2", PeriodType.TERTIAL)


def test_decimal_year_of_target_years_and_periods() -> None:
    assert decimal_year(2030) == 2030.0
    assert isinstance(decimal_year(2030), float)
    assert decimal_year("2025-HT") == 2025.5
    assert decimal_year(parse_period("2025-T2")) == pytest.approx(2025.3333333333)
    with pytest.raises(PeriodError):
        decimal_year(True)
    with pytest.raises(PeriodError):
        decimal_year("2030-H2")


def test_periods_of_different_types_order_by_start_then_longest_first() -> None:
    texts = ["2024-07", "2024-Q3", "2024-HT", "2024-01", "2024-VT", "2024", "2023-T3", "2024-T2"]
    ordered = [p.text for p in sorted(map(parse_period, texts))]
    expected = ["2023-T3", "2024", "2024-VT", "2024-01", "2024-T2", "2024-HT", "2024-Q3", "2024-07"]
    assert ordered == expected


def test_comparison_with_non_periods_is_not_supported() -> None:
    with pytest.raises(TypeError):
        _ = parse_period("2024") < "2025"


@given(st.sampled_from(list(PeriodType)), st.integers(1900, 2999), st.data())
def test_canonical_texts_round_trip(kind: PeriodType, year: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(1, SUBPERIODS[kind]))
    period = parse_period(text_of(kind, year, index))
    assert (period.type, period.year, period.index) == (kind, year, index)
    assert period == parse_period(period.text)
    assert hash(period) == hash(parse_period(period.text))
    # decimal_start is the start date's month position, as the contract defines it.
    assert period.decimal_start == pytest.approx(year + (period.start.month - 1) / 12, abs=1e-9)
    assert add_months(period.start, MONTHS_PER_PERIOD[kind]) == period.end


@given(st.sampled_from(list(PeriodType)).flatmap(lambda k: st.lists(periods(k), min_size=2)))
def test_periods_of_one_type_sort_chronologically(items: list[Period]) -> None:
    ordered = sorted(items)
    assert ordered == sorted(items, key=lambda p: (p.year, p.index))
    for earlier, later in pairwise(ordered):
        assert earlier <= later
        assert earlier.start <= later.start
        assert earlier.decimal_start <= later.decimal_start
        if earlier != later:
            assert earlier.end <= later.start  # periods of one type never overlap


@given(periods(), periods())
def test_order_is_total_and_agrees_with_start(a: Period, b: Period) -> None:
    assert (a < b) + (b < a) + (a == b) == 1
    if a.start < b.start:
        assert a < b


@given(st.dates(date(1900, 1, 1), date(2999, 1, 1)), st.integers(0, 1200))
def test_add_months_lands_in_the_right_month_and_clamps(day: date, months: int) -> None:
    moved = add_months(day, months)
    assert (moved.year * 12 + moved.month) - (day.year * 12 + day.month) == months
    last_day = ((moved.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)).day
    assert moved.day == min(day.day, last_day)


def test_add_months_clamps_to_the_end_of_a_short_month() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2023, 1, 31), 1) == date(2023, 2, 28)
    assert add_months(date(2024, 11, 30), 3) == date(2025, 2, 28)
    assert add_months(date(2024, 12, 15), 1) == date(2025, 1, 15)


@pytest.mark.parametrize("kind", list(PeriodType))
def test_periods_in_years_are_every_period_of_the_type_in_order(kind: PeriodType) -> None:
    texts = periods_in(kind, range(2023, 2026))
    expected = [
        text_of(kind, y, i) for y in range(2023, 2026) for i in range(1, SUBPERIODS[kind] + 1)
    ]
    assert texts == expected
    parsed = [parse_period(t, kind) for t in texts]
    assert parsed == sorted(parsed)
    assert periods_in(kind, []) == []
