"""The Alembic migrations build exactly the schema the code declares, on SQLite and PostgreSQL,
and carry what a database already holds across."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from services.api.caching import read_state
from shared.db.engine import alembic_config, make_engine, upgrade
from shared.db.schema import etappmal_status, metadata, read_model_state, series, series_versions
from shared.domain.observation import as_utc


def test_upgrade_to_head_matches_the_metadata_and_is_idempotent(db_url: str) -> None:
    upgrade(db_url)
    upgrade(db_url)  # a second run changes nothing and does not fail
    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert diff == []
    assert set(metadata.tables) <= tables


@pytest.mark.parametrize("committed", [True, False], ids=["committed", "only-refreshed"])
def test_the_upgrade_to_0003_keeps_the_read_state(db_url: str, committed: bool) -> None:
    upgrade(db_url, "0002")
    engine = make_engine(db_url)
    computed = [datetime(2025, 2, 1, 8, 0, tzinfo=UTC), datetime(2025, 2, 3, 9, 30, tzinfo=UTC)]
    with engine.begin() as conn:
        conn.execute(
            etappmal_status.insert(),
            [
                {"etappmal": f"g{i}", "status": "-", "counts": {}, "document": {}, "computed_at": m}
                for i, m in enumerate(computed)
            ],
        )
        if committed:
            conn.execute(
                read_model_state.insert().values(id=1, revision=7, committed_at=computed[0])
            )
    upgrade(db_url)
    with engine.connect() as conn:
        state = read_state(conn)
    engine.dispose()
    assert state.revision == (7 if committed else 0)
    assert state.refreshed_at is not None
    assert as_utc(state.refreshed_at) == computed[1]


WINNER = (
    "observation_id",
    "source",
    "updated_at",
    "received_at",
    "reported_value",
    "reported_numerator",
    "reported_denominator",
    "reported_status",
)


def test_the_upgrade_to_0005_records_each_winner_as_a_version(db_url: str) -> None:
    upgrade(db_url, "0004")
    engine = make_engine(db_url)
    moment = datetime(2025, 2, 1, 8, 0, tzinfo=UTC)
    base = {
        "indicator": "behorighet-gymnasiet-ak9",
        "period": "2024",
        "gender": "T",
        "area_level": "stadsdel",
        "period_start": 2024.0,
    }
    with engine.begin() as conn:
        conn.execute(
            series.insert(),
            [
                base
                | {
                    "area": "rinkeby",
                    "observation_id": "a" * 36,
                    "source": "skolverket",
                    "updated_at": moment,
                    "received_at": moment,
                    "reported_value": 71.3,
                    "reported_numerator": 214.0,
                    "reported_denominator": 300.0,
                    "reported_status": "final",
                },
                base
                | dict.fromkeys(WINNER)
                | {"area": "spanga-tensta", "area_level": "stadsdelsomrade"},  # computed: no winner
            ],
        )
    upgrade(db_url)
    with engine.connect() as conn:
        rows = [r._asdict() for r in conn.execute(select(series_versions))]
    assert len(rows) == 1
    (row,) = rows
    assert (row["area"], row["observation_id"], row["value"]) == ("rinkeby", "a" * 36, 71.3)
    assert (row["outcome"], row["retract"], row["kafka_offset"]) == ("applied", False, None)
    assert as_utc(row["received_at"]) == moment
    command.downgrade(alembic_config(db_url), "0004")
    with engine.connect() as conn:
        assert "series_versions" not in inspect(conn).get_table_names()
    engine.dispose()
