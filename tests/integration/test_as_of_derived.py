"""A moment derived from another one kept (`past.derive`) holds the same rows, byte for byte, as
the moment built from the versions alone (`past.build`), on SQLite and PostgreSQL: for random
pairs of times, earlier and later than the base, for a report's moment (counted by its positions
in the canonical topic), for a base that counts exactly the same versions and while the aggregator
commits versions the moment does not count; and through the API, a moment's answers are the same
bytes derived as built."""

from __future__ import annotations

import random
import threading
from datetime import datetime

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from services.api.app import create_app
from services.api.past import (
    Moment,
    PastModel,
    build,
    changed_groups,
    derive,
    last_version_id,
    nearest,
    positions,
)
from shared.db.schema import metadata
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
    return Moment(as_of, last_version_id(engine, received_by=as_of))


def _same(model: Model, moment: Moment, base: PastModel, of: Moment) -> None:
    built = build(model.engine, moment, model.catalog)
    derived = derive(model.engine, moment, model.catalog, [(of, base)])
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
            assert nearest(conn, later, [of, same, later]) == (2, set())
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
        derived = [derive(model.engine, moment, model.catalog, [(of, base)]) for _ in range(3)]
    finally:
        stop.set()
        writer.join()
        base.close()
    built = build(model.engine, moment, model.catalog)
    try:
        assert last_version_id(model.engine) > moment.last_version_id, "the writer committed"
        want = _dump(built.engine)
        for model_ in derived:
            assert _dump(model_.engine) == want
    finally:
        built.close()
        for model_ in derived:
            model_.close()
