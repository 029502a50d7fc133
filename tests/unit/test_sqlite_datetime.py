"""The bulk loads' SQLite datetime encoding stores exactly what SQLAlchemy's own processor does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from shared.db.schema import series_versions
from shared.db.upsert import RawTable, sqlite_datetime
from shared.readmodel.versions import VERSION_COLUMNS

ZONES = st.sampled_from([None, UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))])


@given(st.datetimes(timezones=ZONES))
def test_it_equals_sqlalchemys_storage_format(value: datetime) -> None:
    process = sqlite.DATETIME().bind_processor(sqlite.dialect())
    assert process is not None
    assert sqlite_datetime(value) == process(value)


@given(st.lists(st.datetimes(timezones=ZONES), min_size=1, max_size=8), st.data())
def test_a_table_remembering_the_last_datetime_encodes_each_row_as_sqlalchemy(
    values: list[datetime], data: st.DataObject
) -> None:
    """Rows repeat datetime objects (a batch's `recorded_at`) and change them: each row's text
    is what SQLAlchemy stores, whichever came before it."""
    process = sqlite.DATETIME().bind_processor(sqlite.dialect())
    assert process is not None
    table = RawTable(series_versions, VERSION_COLUMNS, sqlite.dialect())
    at = [VERSION_COLUMNS.index(c) for c in ("updated_at", "received_at", "recorded_at")]
    for _ in range(12):
        row: list[object] = [None] * len(VERSION_COLUMNS)
        row[VERSION_COLUMNS.index("retract")] = False
        chosen = [data.draw(st.sampled_from(values)) for _ in at]
        for i, value in zip(at, chosen, strict=True):
            row[i] = value
        encoded = table.encode(row)
        assert [encoded[i] for i in at] == [process(v) for v in chosen]
