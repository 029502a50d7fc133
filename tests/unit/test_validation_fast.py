"""The fast path accepts exactly what the full rules accept, with the same normalised fields."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.validation import Scope, ValidRow, validate_row
from shared.domain.validation.fast import accept_fast
from tests.factories import (
    INCOME,
    JOBS,
    MERIT,
    NOW,
    SAFETY,
    SCHOOL,
    SHARE,
    SURVEY,
    YOUTH,
    ingest_catalog,
    share_row,
)

CATALOG = ingest_catalog()
ANY = (
    st.none() | st.booleans() | st.integers(-(10**400), 10**400) | st.floats() | st.text(max_size=8)
)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "indicator": st.sampled_from([SHARE, YOUTH, JOBS, SAFETY, INCOME, MERIT, "nope"]),
    "area": st.sampled_from(
        ["stockholm", "rinkeby-kista", "rinkeby", "kista", "atlantis", "", "kista\x00"]
    ),
    "period": st.sampled_from(
        ["2024", "2025", "2026", "2024-T1", "2024-Q2", "2024-05", "2024-VT", "x"]
    ),
    "gender": st.sampled_from(["T", "K", "M", "X", "", None]),
    "status": st.sampled_from(["final", "preliminary", "draft", None]),
    "value": st.sampled_from([71.33, 71.4, 0, -1, 5120, None, True, "1", 200, 340, 341, 1e300]),
    "numerator": st.sampled_from([214, 0, -1, 1.5, None, 10**400, 600, 1e307, 1e15, 1e16]),
    "denominator": st.sampled_from([300, 0, 2, None, float("inf"), 1e-300, 5e-324]),
    "retract": st.sampled_from([False, True, None, 0]),
    "updated_at": st.sampled_from(
        [
            "2025-02-01T08:00:00Z",
            "2025-02-01T09:00:00+01:00",
            "2030-01-01T00:00:00Z",
            "bad",
            None,
            "",
        ]
    ),
    "comment": st.sampled_from(["ok", "x" * 1001, None, 3, "\x1b[31m", "\u202e", "\x00", "a\tb\n"]),
    "observation_id": st.sampled_from(["6f9619ff-8b86-d011-b42d-00c04fc964ff", "42"]),
    "source": ANY,
    "extra": ANY,
}


@st.composite
def rows(draw: st.DrawFn) -> object:
    """Mostly valid-looking rows with a few fields replaced, dropped or added; sometimes not a dict."""
    if draw(st.integers(0, 20)) == 0:
        return draw(ANY)
    row: dict[str, Any] = share_row()
    for name in draw(st.lists(st.sampled_from(sorted(FIELD_VALUES)), max_size=4)):
        row[name] = (
            draw(FIELD_VALUES[name] | ANY)
            if name in ("value", "numerator")
            else draw(FIELD_VALUES[name])
        )
    for name in draw(st.lists(st.sampled_from(sorted(row)), max_size=2)):
        row.pop(name, None)
    return row


@settings(max_examples=400, deadline=None)
@given(st.lists(rows(), min_size=1, max_size=8), st.sampled_from([SCHOOL, SURVEY]))
def test_fast_and_full_rules_agree_row_by_row(batch: list[object], source: str) -> None:
    fast_scope, full_scope = Scope.of(CATALOG, source, NOW), Scope.of(CATALOG, source, NOW)
    for number, raw in enumerate(batch, start=1):
        assert validate_row(raw, fast_scope, number) == validate_row(
            raw, full_scope, number, fast=False
        )


def test_the_fast_path_takes_rows_once_the_batch_has_seen_their_period_and_time() -> None:
    scope = Scope.of(CATALOG, SCHOOL, NOW)
    assert accept_fast(share_row(), scope, 1) is None  # period and timestamp not memoised yet
    first = validate_row(share_row(), scope, 1)
    fast = accept_fast(share_row(area="kista"), scope, 2)
    assert isinstance(first, ValidRow)
    assert isinstance(fast, ValidRow)
    assert fast.fields == {**first.fields, "area": "kista"}


def test_what_a_source_may_write_is_remembered_for_one_day_only() -> None:
    from datetime import timedelta

    from shared.domain.validation import Scopes, validate_batch

    scopes = Scopes(CATALOG)
    new_year = NOW.replace(month=12, day=31)
    # on 1 January the year has begun: accepted (and remembered for that day)
    rows = [share_row(period="2026"), share_row(period="2026", area="kista")]
    for now in (new_year + timedelta(days=1), new_year + timedelta(days=1, hours=1)):
        assert validate_batch(rows, scopes(SCHOOL, now)).accepted == 2
    # a batch received the day before (a retry keeps its first time) may not have it
    refused = validate_batch(rows, scopes(SCHOOL, new_year))
    assert refused.accepted == 0
    assert {e.field for e in refused.errors} == {"period"}
    # a source's batches of one day share what was found, another source's do not
    first, second = scopes(SCHOOL, NOW), scopes(SCHOOL, NOW.replace(minute=1))
    validate_batch([share_row(), share_row(area="kista")], first)  # the first parses the period
    assert second.placed is first.placed
    assert (SHARE, "kista", "2024") in second.placed
    assert scopes(SURVEY, NOW).placed is not first.placed
