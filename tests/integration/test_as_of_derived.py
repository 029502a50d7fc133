"""A moment derived from another one kept (`past.derive`) holds the same rows, byte for byte, as
the moment built from the versions alone (`past.build`), on SQLite and PostgreSQL: for random
pairs of times, earlier and later than the base, for a report's moment (counted by its positions
in the canonical topic), for a base that counts exactly the same versions and while the aggregator
commits versions the moment does not count; and through the API, a moment's answers are the same
bytes derived as built, and the same with its summaries projected as answers read them as with
every summary projected when the moment was made, for every endpoint."""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select

from services.api import queries
from services.api.app import create_app
from services.api.moments import PastContexts
from services.api.past import (
    THROWAWAY,
    Moment,
    PastModel,
    build,
    changed_groups,
    counted_by,
    derive,
    last_version_id,
    nearest,
    newest_known,
    positions,
)
from shared.db.engine import make_engine
from shared.db.schema import metadata, series
from shared.settings import Settings
from tests.integration.test_history import Model
from tests.integration.test_history import model as model  # the fixture
from tests.streams import StreamMaker

Dump = dict[str, list[tuple[object, ...]]]


def _dump(engine: Engine) -> Dump:
    """Every table of a past model as stored (SQLite's own text for times), in key order."""
    tables: Dump = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            order = ", ".join(c.name for c in (table.primary_key.columns or table.columns))
            rows = conn.exec_driver_sql(f"SELECT * FROM {table.name} ORDER BY {order}")
            tables[table.name] = [tuple(r) for r in rows]
    return tables


def _moment(engine: Engine, as_of: datetime) -> Moment:
    last, counted = counted_by(engine, as_of)
    return Moment(as_of, last, counted=counted)


def _same(model: Model, moment: Moment, base: PastModel, of: Moment) -> None:
    with model.engine.connect() as conn:  # reading only after a shared prefix misses none
        assert nearest(conn, moment, [of])[1] == changed_groups(conn, moment, of), moment
    built = build(model.engine, moment, model.catalog, eager=True)  # every table compared
    derived = derive(model.engine, moment, model.catalog, [(of, base)], eager=True)
    try:
        want, got = _dump(built.engine), _dump(derived.engine)
        assert want["series"], "the moment counts rows"
        assert got == want, (moment, of)
        assert derived.state == built.state
    finally:
        built.close()
        derived.close()


def test_a_derived_moment_holds_the_rows_of_one_built_from_scratch(model: Model) -> None:
    maker = StreamMaker(model.catalog, seed=21)
    events = maker.stream(900, years=range(2022, 2025))
    for start in range(0, len(events), 60):
        model.deliver(events[start : start + 60])
    times = sorted(e.received_at for e in events)
    rng = random.Random(7)
    base_time = times[len(times) // 2]
    of = _moment(model.engine, base_time)
    base = build(model.engine, of, model.catalog)
    try:
        # a moment before the next version received counts the same ones: nothing to compute
        after = min(t for t in times if t > base_time)
        same = _moment(model.engine, base_time + (after - base_time) / 2)
        later = _moment(model.engine, times[-1])
        with model.engine.connect() as conn:
            assert changed_groups(conn, same, of) == set()
            assert changed_groups(conn, later, of), "later versions change some groups"
            newest = newest_known(conn, later)
            assert nearest(conn, later, [of, same, later]) == (2, set(), newest)
        _same(model, same, base, of)
        for moment in sorted(rng.sample(times[10:], 5)):  # earlier and later than the base
            _same(model, _moment(model.engine, moment), base, of)
        # a report counts its positions in the canonical topic
        up_to = last_version_id(model.engine, received_by=times[len(times) // 3])
        report = Moment(times[-1], up_to, positions(model.engine, up_to))
        _same(model, report, base, of)
    finally:
        base.close()


def test_an_as_of_answer_is_the_same_derived_or_built(model: Model) -> None:
    """Through the API: a moment's answers after other moments were kept (so it is derived)
    are the bytes of the same moment asked of a fresh app (so it is built)."""
    maker = StreamMaker(model.catalog, seed=22)
    events = maker.stream(500, years=range(2023, 2025))
    for start in range(0, len(events), 50):
        model.deliver(events[start : start + 50])
    times = sorted(e.received_at for e in events)
    paths = ["/v1/etappmal", "/v1/namnder", "/v1/indikatorer", "/v1/omraden/rinkeby/indikatorer"]
    rfc = [t.isoformat().replace("+00:00", "Z") for t in (times[100], times[300], times[-1])]
    derived = {}
    for as_of in rfc:  # the second and third moments derive from the ones kept before
        for path in paths:
            derived[as_of, path] = model.get(path, as_of=as_of).content
    assert _derived_count(model) == 2
    url = model.engine.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url), engine=model.engine, catalog=model.catalog)
    with TestClient(app) as fresh:  # the first moment asked of it is built, the others derived
        for as_of in reversed(rfc):
            for path in paths:
                answer = fresh.get(path, params={"as_of": as_of})
                assert answer.status_code == 200, answer.text
                assert answer.content == derived[as_of, path], (as_of, path)


def _derived_count(model: Model) -> float:
    text = model.get("/metrics").text
    for line in text.splitlines():
        if line.startswith("stadspuls_api_past_derived_total "):
            return float(line.split()[1])
    return 0.0


def test_a_moment_derived_while_the_aggregator_commits_counts_only_its_versions(
    model: Model,
) -> None:
    maker = StreamMaker(model.catalog, seed=23)
    events = maker.stream(400, years=range(2023, 2025))
    for start in range(0, len(events), 50):
        model.deliver(events[start : start + 50])
    times = sorted(e.received_at for e in events)
    of = _moment(model.engine, times[len(times) // 2])
    moment = _moment(model.engine, times[-1])
    # versions received before the moment's as_of but recorded after it was named: not counted
    late = [
        maker.observation(model.catalog.indicator[e.indicator], e.area, e.period, e.gender)
        for e in events[:120]
    ]
    late = [o.model_copy(update={"received_at": times[0], "updated_at": times[-1]}) for o in late]
    base = build(model.engine, of, model.catalog)
    stop = threading.Event()

    def commit() -> None:
        for start in range(0, len(late), 10):
            if stop.is_set():
                return
            model.deliver(late[start : start + 10])

    writer = threading.Thread(target=commit)
    writer.start()
    try:
        derived = [
            derive(model.engine, moment, model.catalog, [(of, base)], eager=True) for _ in range(3)
        ]
    finally:
        stop.set()
        writer.join()
        base.close()
    built = build(model.engine, moment, model.catalog, eager=True)
    try:
        assert last_version_id(model.engine) > moment.last_version_id, "the writer committed"
        want = _dump(built.engine)
        for model_ in derived:
            assert _dump(model_.engine) == want
    finally:
        built.close()
        for model_ in derived:
            model_.close()


def _answers(client: TestClient, paths: list[str], as_of: str) -> dict[str, bytes]:
    """Every path's answer at `as_of` (JSON, and CSV where a list offers it)."""
    found = {}
    for path in paths:
        for fmt in (None, "csv"):
            params = {"as_of": as_of} | ({"format": fmt} if fmt else {})
            answer = client.get(path, params=params)
            if fmt and answer.status_code != 200:
                continue  # no CSV of this answer
            assert answer.status_code == 200, (path, answer.text)
            found[f"{path} {fmt}"] = answer.content
    return found


def test_a_lazily_projected_moment_answers_as_an_eagerly_projected_one(model: Model) -> None:
    """Every endpoint, in an order that projects each kind of summary on a different first
    demand, gives the bytes of an app whose moments project everything when made, for a built
    and a derived moment; each kind is projected only when an answer reads it."""
    maker = StreamMaker(model.catalog, seed=23)
    events = maker.stream(500, years=range(2023, 2025))
    for start in range(0, len(events), 50):
        model.deliver(events[start : start + 50])
    times = sorted(e.received_at for e in events)
    catalog = model.catalog
    indicator, goal, namnd = catalog.indikatorer[0].id, catalog.etappmal[0].id, catalog.namnder[0]
    area = next(a.id for a in catalog.omraden if a.id != catalog.root)
    paths = [
        f"/v1/omraden/{area}/indikatorer",  # reads no summary
        "/v1/etappmal",
        f"/v1/etappmal/{goal}",
        f"/v1/namnder/{namnd.id}",
        "/v1/namnder",
        "/v1/indikatorer",
        f"/v1/indikatorer/{indicator}",
        f"/v1/indikatorer/{indicator}/observationer",
        f"/v1/indikatorer/{indicator}/historik",
        "/v1/omraden",
        f"/v1/omraden/{area}",
        "/v1/catalog",
    ]
    url = model.engine.url.render_as_string(hide_password=False)
    apps = [create_app(Settings(database_url=url), engine=model.engine, catalog=catalog)]
    apps.append(create_app(Settings(database_url=url), engine=model.engine, catalog=catalog))
    whens = [times[200], times[-1]]
    with TestClient(apps[0]) as lazy, TestClient(apps[1]) as eager:
        eager_past: PastContexts = apps[1].state.past
        eager_past.eager = True
        lazy_past: PastContexts = apps[0].state.past
        for when in whens:  # the first moment built, the second derived
            as_of = when.isoformat().replace("+00:00", "Z")
            lazy.get(paths[0], params={"as_of": as_of})
            (model_of,) = [m for k, m in lazy_past._closers.items() if k[0].as_of == when]
            assert model_of.projections is not None
            assert model_of.projections.projected == set(), "an area's rows read no summary"
            lazy.get("/v1/etappmal", params={"as_of": as_of})
            assert model_of.projections.projected == {"status"}
            assert _answers(lazy, paths, as_of) == _answers(eager, paths, as_of), as_of
            assert model_of.projections.projected == {"status", "namnd", "risk"}
            (eager_of,) = [m for k, m in eager_past._closers.items() if k[0].as_of == when]
            _same_series(model_of, eager_of, indicator, when)
        # the derived moment's kept rows carry the base's stamp: the reads put its own in
        with model_of.engine.connect() as conn:
            stamps = conn.execute(select(series.c.committed_at).distinct()).scalars().all()
        assert len(stamps) == 2, stamps


def _same_series(lazy: PastModel, eager: PastModel, indicator: str, when: datetime) -> None:
    """The series rows of both, all and changed since before, at and after their `as_of`."""
    for since in (None, when - timedelta(days=1), when, when + timedelta(microseconds=1)):
        where = queries.SeriesFilter(indicator, changed_since=since)
        with lazy.engine.connect() as mine, eager.engine.connect() as theirs:
            got = queries.series_page(mine, where, 100_000, 0)
            assert got == queries.series_page(theirs, where, 100_000, 0), since
            assert got[0] > 0 or (since is not None and since > when), since


def test_a_moments_writer_takes_the_throwaway_journal_mode_alone(tmp_path: Path) -> None:
    """The pragmas a moment's writer is given replace the writer's defaults of the same name:
    its file never goes through WAL (a switch that cost a derived moment tens of ms)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}", pragmas=THROWAWAY)
    statements: list[str] = []

    @event.listens_for(engine, "first_connect")  # before the engine's own "connect" listener
    def _trace(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(statements.append)

    try:
        with engine.begin() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "off"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # defaults kept
    finally:
        engine.dispose()
    journal = [s for s in statements if "journal_mode=" in s]
    assert journal == ["PRAGMA journal_mode=OFF"], statements


def test_concurrent_first_reads_of_a_moment_get_one_projection(model: Model) -> None:
    """Threads reading a moment's nämnd rollups at once, before any was projected, all get the
    rows an eager moment stores, each its own objects."""
    maker = StreamMaker(model.catalog, seed=24)
    events = maker.stream(300, years=range(2023, 2025))
    model.deliver(events)
    moment = _moment(model.engine, max(e.received_at for e in events))
    lazy = build(model.engine, moment, model.catalog)
    eager = build(model.engine, moment, model.catalog, eager=True)
    try:
        assert lazy.projections is not None
        projections = lazy.projections
        found: list[dict[str, tuple[object, object]]] = []
        start = threading.Barrier(6)

        def read() -> None:
            start.wait()
            with lazy.engine.connect() as conn:
                found.append(queries.namnd_documents(conn))

        threads = [threading.Thread(target=read) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with eager.engine.connect() as conn:
            want = queries.namnd_documents(conn)
        assert want
        assert found == [want] * 6
        assert len({id(f[next(iter(f))][0]) for f in found}) == 6, "each read its own documents"
        assert projections.projected == {"status", "namnd"}
    finally:
        lazy.close()
        eager.close()
