"""The bulk loads' SQLite datetime encoding stores exactly what SQLAlchemy's own processor does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from shared.db.upsert import sqlite_datetime

ZONES = st.sampled_from([None, UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))])


@given(st.datetimes(timezones=ZONES))
def test_it_equals_sqlalchemys_storage_format(value: datetime) -> None:
    process = sqlite.DATETIME().bind_processor(sqlite.dialect())
    assert process is not None
    assert sqlite_datetime(value) == process(value)
