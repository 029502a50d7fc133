"""Knowledge times are read one way for `as_of`, `changed_since` and `rapport freeze --as-of`:
RFC 3339 as BI tools write it, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.knowledge_time import TimeTextError, parse_knowledge_time

OFFSETS = st.sampled_from(
    [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
)


@given(st.datetimes(min_value=datetime(1970, 1, 2), timezones=OFFSETS))
def test_an_rfc_3339_time_reads_as_itself_in_utc_however_it_is_written(moment: datetime) -> None:
    text = moment.isoformat()
    expected = moment.astimezone(UTC)
    assert parse_knowledge_time(text) == expected
    assert parse_knowledge_time(text.lower()) == expected  # `t`, and `z` where it is UTC
    if text.endswith("+00:00"):
        assert parse_knowledge_time(text[:-6] + "z") == expected
    if "+" in text:  # an unencoded '+' in a query string arrives as a space
        assert parse_knowledge_time(text.replace("+", " ")) == expected
    assert parse_knowledge_time(text.replace("T", " ")) == expected
    assert parse_knowledge_time(text[:-3] + text[-2:]) == expected  # `+0200`


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-05-01T00:00Z", datetime(2025, 5, 1, tzinfo=UTC)),  # no seconds
        ("2025-05-01T00:00:00.1234567891Z", datetime(2025, 5, 1, 0, 0, 0, 123456, tzinfo=UTC)),
        ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        ("0001-01-01T00:00:00+14:00", datetime(1970, 1, 1, tzinfo=UTC)),  # nothing known then
        (" 2025-05-01T02:00:00+02:00 ", datetime(2025, 5, 1, tzinfo=UTC)),
    ],
)
def test_edges_read_as_said(text: str, expected: datetime) -> None:
    assert parse_knowledge_time(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2025-05-01T00:00:00", "no time zone"),
        ("2025-05-01", "not an rfc 3339 time"),
        ("2025-W18-4T00:00:00Z", "not an rfc 3339 time"),
        ("20250501T000000Z", "not an rfc 3339 time"),
        ("2025-05-01T00Z", "not an rfc 3339 time"),
        ("2025-05-01T00:00:00Z\x00garbage", "not an rfc 3339 time"),
        ("2025-05-01T00:00:00Zjunk", "not an rfc 3339 time"),
        ("2025-13-01T00:00:00Z", "not a valid time"),
        ("2025-05-01T24:00:00Z", "not a valid time"),
        ("2025-05-01T00:00:00+24:00", "not a valid time"),
        ("", "not an rfc 3339 time"),
    ],
)
def test_anything_else_is_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(TimeTextError) as refused:
        parse_knowledge_time(text)
    assert reason in str(refused.value).lower()


def test_a_long_text_is_not_echoed_back_whole() -> None:
    with pytest.raises(TimeTextError) as refused:
        parse_knowledge_time("x" * 5000)
    assert len(str(refused.value)) < 200
    assert "5000 characters" in str(refused.value)
