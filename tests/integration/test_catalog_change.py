"""A changed catalog takes effect at the aggregator's start without a rebuild, on SQLite and
PostgreSQL: a read model built under catalog A, then started with catalog B (an area moved from
2021, an etappmål's target changed), equals a full rebuild under B and the oracle under B; only
the periods whose tree changed are re-projected, and a second start changes nothing. And through
`stadspuls serve aggregate` on real Kafka: a worker started with B re-projects without replaying."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from services.aggregate.catalog_start import take_effect
from shared.catalog.diff import Effect
from shared.catalog.loader import CATALOG_PATH, load_catalog_text
from shared.db.catalog_versions import catalog_history
from shared.db.engine import make_engine, upgrade
from shared.db.schema import etappmal_status, indicator_status, series, series_versions
from shared.domain.areas import last_day
from shared.domain.catalog import Catalog
from shared.domain.observation import Observation, as_utc
from shared.domain.rollup import InvalidObservationError, RollupEngine
from shared.readmodel.projections import Projector
from shared.readmodel.store import SeriesStore
from shared.settings import Settings
from tests.aggregator import env_of, wait_until_oracle
from tests.services import ServiceProcess, produce, read_model_mismatches
from tests.streams import StreamMaker

TEXT = CATALOG_PATH.read_text(encoding="utf-8")
RINKEBY = "  - {id: rinkeby, name: Rinkeby, level: stadsdel, parent: rinkeby-kista}"
MOVED = (
    "  - {id: rinkeby, name: Rinkeby, level: stadsdel, parents: [{id: rinkeby-kista, "
    "valid_to: 2020-12-31}, {id: spanga-tensta, valid_from: 2021-01-01}]}"
)
TARGET = "target: {value: 92.0, year: 2030"
MOVED_ON = date(2021, 1, 1)
NOW = datetime(2026, 6, 1, tzinfo=UTC)


ENDED = RINKEBY[:-1] + ", valid_to: 2020-12-31}"


def _catalogs(folder: Path, changed: str = "") -> tuple[tuple[Path, Catalog], tuple[Path, Catalog]]:
    """The bundled catalog (A) and `changed` (B; by default Rinkeby moved, another target)."""
    assert TEXT.count(RINKEBY) == 1
    assert TEXT.count(TARGET) == 1
    changed = changed or TEXT.replace(RINKEBY, MOVED).replace(
        TARGET, "target: {value: 95.0, year: 2030"
    )
    old, new = folder / "a.yaml", folder / "b.yaml"
    old.write_text(TEXT, encoding="utf-8")
    new.write_text(changed, encoding="utf-8")
    return (old, load_catalog_text(TEXT)), (new, load_catalog_text(changed))


def _build(engine: Engine, catalog: Catalog, events: list[Observation]) -> None:
    """Apply what the catalog places, in batches, as the aggregator's writer does."""
    store, projector, check = (
        SeriesStore(engine, catalog),
        Projector(catalog),
        RollupEngine(catalog),
    )
    placed = [e for e in events if _placeable(check, e)]
    for start in range(0, len(placed), 200):
        store.apply(placed[start : start + 200], projector)


def _placeable(engine: RollupEngine, obs: Observation) -> bool:
    try:
        engine.check(obs)
    except InvalidObservationError:
        return False
    return True


def _rows(engine: Engine) -> dict[tuple[str, ...], dict[str, Any]]:
    with engine.connect() as conn:
        found = conn.execute(select(series)).mappings()
        return {
            (r["indicator"], r["area"], r["period"], r["gender"]): {
                k: v for k, v in r.items() if k not in {"committed_at"}
            }
            for r in found
        }


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, datetime) and isinstance(b, datetime):  # SQLite's are naive UTC
        return as_utc(a) == as_utc(b)
    return a == b


def _summaries(engine: Engine) -> tuple[dict[str, Any], dict[str, Any]]:
    with engine.connect() as conn:
        statuses = {
            r.indicator: r.document
            for r in conn.execute(
                select(indicator_status).where(
                    indicator_status.c.gender == "T", indicator_status.c.area == "stockholm"
                )
            )
        }
        goals = {r.etappmal: r.document for r in conn.execute(select(etappmal_status))}
    return statuses, goals


def _same_as_a_rebuild(
    engine: Engine, catalog: Catalog, events: list[Observation], folder: Path
) -> dict[tuple[str, ...], dict[str, Any]]:
    """Assert the read model equals a full rebuild under `catalog` and the oracle; its rows."""
    url = f"sqlite:///{folder / 'rebuilt.db'}"
    upgrade(url)
    rebuilt = make_engine(url)
    _build(rebuilt, catalog, events)
    with rebuilt.begin() as conn:
        Projector(catalog).refresh(conn, catalog.indicator, NOW)
    mine, theirs = _rows(engine), _rows(rebuilt)
    assert set(mine) == set(theirs)
    differ = [
        (key, name)
        for key, row in mine.items()
        for name, value in row.items()
        if not _same(value, theirs[key][name])
    ]
    assert differ == []
    assert _summaries(engine) == _summaries(rebuilt)
    rebuilt.dispose()
    check = RollupEngine(catalog)
    assert read_model_mismatches(engine, catalog, [e for e in events if _placeable(check, e)]) == []
    return mine


def test_a_moved_area_and_a_changed_target_take_effect_at_start_as_a_rebuild_would(
    db_url: str, tmp_path: Path
) -> None:
    (path_a, catalog_a), (path_b, catalog_b) = _catalogs(tmp_path)
    upgrade(db_url)
    engine = make_engine(db_url)
    assert take_effect(engine, path_a, catalog_a, NOW).changes == []  # the first: recorded only
    events = StreamMaker(catalog_a, seed=21).stream(1_500, years=range(2019, 2023))
    events += [
        StreamMaker(catalog_a, seed=22).observation(
            catalog_a.indicator["behorighet-gymnasiet-ak9"], "rinkeby", period, "T"
        )
        for period in ("2020", "2021")
    ]
    _build(engine, catalog_a, events)
    with engine.connect() as conn:
        versions = conn.execute(select(func.count()).select_from(series_versions)).scalar_one()
        stored = sorted(conn.execute(select(series.c.period).distinct()).scalars())

    started = take_effect(engine, path_b, catalog_b, NOW)
    effects = {c.effect for c in started.changes}
    assert effects == {Effect.ROLLUPS, Effect.REPROJECT}
    assert started.reprojected is not None
    assert list(started.reprojected.periods) == [p for p in stored if last_day(p) >= MOVED_ON]
    assert started.reprojected.winners > 0
    assert started.reprojected.dropped == 0
    assert started.summaries == len(catalog_b.indicator)

    mine = _same_as_a_rebuild(engine, catalog_b, events, tmp_path)
    goal = _summaries(engine)[1]["behorighet-gymnasiet"]
    assert goal["target"]["value"] == 95.0
    tensta = mine[("behorighet-gymnasiet-ak9", "spanga-tensta", "2021", "T")]
    assert tensta["n_children"] == 1 + _children(catalog_a, "spanga-tensta")
    with engine.connect() as conn:  # versions are history: a re-projection leaves them alone
        assert conn.execute(select(func.count()).select_from(series_versions)).scalar_one() == (
            versions
        )

    again = take_effect(engine, path_b, catalog_b, NOW)
    assert again.changes == []
    assert again.reprojected is None
    assert again.version == started.version
    engine.dispose()


def _children(catalog: Catalog, area: str) -> int:
    """How many direct children an area has in the catalog's tree of 2021."""
    return len(catalog.trees.on(date(2021, 12, 31)).children[area])


def test_an_ended_area_leaves_its_later_winners_out_as_a_rebuild_would(
    db_url: str, tmp_path: Path
) -> None:
    (path_a, catalog_a), (path_b, catalog_b) = _catalogs(tmp_path, TEXT.replace(RINKEBY, ENDED))
    upgrade(db_url)
    engine = make_engine(db_url)
    take_effect(engine, path_a, catalog_a, NOW)
    maker = StreamMaker(catalog_a, seed=24)
    events = maker.stream(800, years=range(2020, 2023))
    share = catalog_a.indicator["behorighet-gymnasiet-ak9"]
    events += [maker.observation(share, "rinkeby", p, "T") for p in ("2020", "2021", "2022")]
    _build(engine, catalog_a, events)
    started = take_effect(engine, path_b, catalog_b, NOW)
    assert started.reprojected is not None
    assert started.reprojected.dropped >= 2  # rinkeby's 2021 and 2022 at least
    mine = _same_as_a_rebuild(engine, catalog_b, events, tmp_path)
    kept = {key[2] for key in mine if key[1] == "rinkeby"}
    assert "2020" in kept
    assert not {p for p in kept if last_day(p) >= MOVED_ON}
    engine.dispose()


@pytest.mark.kafka
@pytest.mark.timeout(600)
def test_a_worker_started_with_a_changed_catalog_re_projects_without_a_replay(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    (path_a, catalog_a), (path_b, catalog_b) = _catalogs(tmp_path)
    events = StreamMaker(catalog_a, seed=23).stream(2_000, years=range(2019, 2023))
    env = env_of(settings)
    first = ServiceProcess(
        "aggregate", env | {"STADSPULS_CATALOG_PATH": str(path_a)}, tmp_path / "a.log"
    )
    try:
        first.start()
        produce(settings.kafka_bootstrap or "", settings.topic("observations.v1"), events)
        wait_until_oracle(engine, catalog_a, events, timeout=180)
    finally:
        first.stop()
    second = ServiceProcess(
        "aggregate", env | {"STADSPULS_CATALOG_PATH": str(path_b)}, tmp_path / "b.log"
    )
    try:
        second.start()
        wait_until_oracle(engine, catalog_b, events, timeout=180)
        assert second.metric("stadspuls_aggregate_catalog_reprojected", 'what="periods"') > 0
        assert second.metric("stadspuls_aggregate_catalog_changes", 'effect="rollups"') == 1
        # nothing was replayed from Kafka: no event applied by the worker with the new catalog
        assert second.metric("stadspuls_aggregate_events_total", 'outcome="applied"') == 0
    finally:
        second.stop()
    assert "rollups re-projected:" in second.log_path.read_text(errors="replace")
    assert [v.path for v in catalog_history(engine)] == [str(path_a), str(path_b)]
