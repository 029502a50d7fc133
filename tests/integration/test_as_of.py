"""`as_of` and frozen reports through the aggregator's store and the read API, on SQLite and
PostgreSQL: answers at random times equal the oracle over the versions received by then, and a
frozen report answers the same bytes after later corrections and retractions."""

from __future__ import annotations

import random
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from sqlalchemy import delete, insert, select

import shared.catalog
from bench.api.server import serving
from services.api.app import create_app
from services.api.deps import ApiContext
from services.api.moments import RETIRED
from services.api.rapporter import RapportError, freeze
from shared.db.catalog_versions import record_catalog
from shared.db.schema import catalog_versions, series_versions
from shared.domain.observation import Observation, ObservationStatus
from shared.settings import Settings
from tests.integration.test_history import SHARE, Model
from tests.integration.test_history import model as model  # the fixture
from tests.oracle import close, oracle_rows
from tests.streams import StreamMaker

LISTS = [
    "/v1/indikatorer",
    f"/v1/indikatorer/{SHARE}/observationer",
    f"/v1/indikatorer/{SHARE}/historik",
    "/v1/etappmal",
    "/v1/namnder",
    "/v1/omraden",
    "/v1/omraden/rinkeby/indikatorer",
]
DETAILS = [f"/v1/indikatorer/{SHARE}", "/v1/omraden/rinkeby", "/v1/catalog"]


def _rfc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _answers(model: Model, **params: str) -> dict[str, tuple[bytes, str]]:
    out = {}
    for path in LISTS:
        for fmt in ("json", "csv"):
            response = model.get(path, format=fmt, limit=50_000, **params)
            assert response.status_code == 200, (path, response.text)
            out[f"{path}?{fmt}"] = response.content, response.headers["ETag"]
    for path in DETAILS:
        response = model.get(path, **params)
        assert response.status_code == 200, (path, response.text)
        out[path] = response.content, response.headers["ETag"]
    return out


def _shown(model: Model, **params: str) -> dict[tuple[str, str, str], dict[str, object]]:
    rows = model.get(f"/v1/indikatorer/{SHARE}/observationer", limit=50_000, **params).json()
    return {(r["area"], r["period"], r["gender"]): r for r in rows["items"]}


def test_as_of_equals_the_oracle_at_random_times(model: Model) -> None:
    maker = StreamMaker(model.catalog, seed=11)
    events = [e for e in maker.stream(400, years=range(2022, 2025)) if e.indicator == SHARE]
    events += [maker.observation(model.catalog.indicator[SHARE], "kista", "2023", "T")]
    for start in range(0, len(events), 25):
        model.deliver(events[start : start + 25])
    rng = random.Random(5)
    times = sorted(e.received_at for e in events)
    for moment in [*rng.sample(times, 4), times[-1]]:
        known = [e for e in events if e.received_at <= moment]
        want = {
            k[1:]: row
            for k, row in oracle_rows(model.catalog, known).items()
            if k[0] == SHARE and row.origin is not None
        }
        got = _shown(model, as_of=_rfc(moment))
        assert set(got) == set(want), moment
        for key, row in want.items():
            assert close(got[key]["value"], row.value), (moment, key)
            assert close(got[key]["coverage"], row.coverage), (moment, key)


def test_a_frozen_report_answers_the_same_bytes_after_corrections(model: Model) -> None:
    catalog = model.catalog
    now = datetime.now(UTC)
    maker = StreamMaker(catalog, seed=4)
    share = catalog.indicator[SHARE]

    def made(area: str, period: str, minutes_ago: int, **changes: object) -> Observation:
        obs = maker.observation(share, area, period, "T")
        moment = now - timedelta(minutes=minutes_ago)
        return obs.model_copy(update={"received_at": moment, "updated_at": moment, **changes})

    first = [made(a, p, 120) for a in ("rinkeby", "kista", "tensta") for p in ("2023", "2024")]
    model.deliver(first)
    as_of = now - timedelta(minutes=90)
    with pytest.raises(RapportError, match="future"):
        freeze(model.engine, "T2-2025", now + timedelta(hours=1), None, now)
    rapport = freeze(model.engine, "T2-2025", as_of, "Tertial 2", now)
    with pytest.raises(RapportError, match="frozen already"):
        freeze(model.engine, "T2-2025", as_of, None, now)
    listed = model.get("/v1/rapporter").json()["items"]
    assert [(r["id"], r["title"]) for r in listed] == [("T2-2025", "Tertial 2")]
    assert listed[0]["as_of"] == _rfc(rapport.as_of)
    frozen = _answers(model, rapport="T2-2025")
    assert _answers(model, rapport="T2-2025") == frozen  # served again from the kept model

    # corrections, a retraction, and a version received before as_of but recorded only now
    fix = made("rinkeby", "2023", 0, value=99.0, numerator=99.0, denominator=100.0)
    gone = made("kista", "2023", 0, value=None, numerator=None, denominator=None, retract=True)
    late = made("tensta", "2024", 100, value=1.0, numerator=1.0, denominator=100.0)
    model.deliver([fix, gone, late])
    current = _shown(model, as_of=_rfc(datetime.now(UTC)))
    assert current[("rinkeby", "2023", "T")]["value"] == 99.0  # the present has changed
    assert _answers(model, rapport="T2-2025") == frozen
    # as_of the same time now counts the late version (received by then): not the report's answer
    assert _shown(model, as_of=_rfc(as_of))[("tensta", "2024", "T")]["value"] == 1.0
    assert _shown(model, rapport="T2-2025")[("tensta", "2024", "T")]["value"] != 1.0


def test_as_of_edges(model: Model) -> None:
    maker = StreamMaker(model.catalog, seed=8)
    obs = maker.observation(model.catalog.indicator[SHARE], "rinkeby", "2024", "T")
    model.deliver([obs])
    before = obs.received_at - timedelta(seconds=1)
    path = f"/v1/indikatorer/{SHARE}/observationer"
    empty = model.get(path, as_of=_rfc(before))
    assert empty.status_code == 200
    assert empty.json()["total"] == 0
    assert "X-Data-As-Of" not in empty.headers
    assert model.get("/v1/etappmal", as_of=_rfc(before)).status_code == 200
    future = model.get(path, as_of=_rfc(datetime.now(UTC) + timedelta(hours=1)))
    assert future.status_code == 400
    assert "as_of" in future.text
    assert "future" in future.text
    assert model.get(path, as_of="2025-01-01T00:00:00").status_code == 400
    assert model.get(path, as_of="soon").status_code == 400
    # lenient as BI tools write times: an offset without its colon, no seconds
    for written in ("2025-05-01T00:00:00+0100", "2025-05-01T00:00Z"):
        assert model.get(path, as_of=written).status_code == 200, written
    # before year 1 in UTC (it once overflowed into a 500): nothing was known then
    ancient = model.get(path, as_of="0001-01-01T00:00:00+14:00")
    assert (ancient.status_code, ancient.json()["total"]) == (200, 0)
    assert model.get(path, rapport="no-such").status_code == 404
    empty_id = model.get(path, rapport="")
    assert (empty_id.status_code, empty_id.json()["errors"][0]["parameter"]) == (400, "rapport")
    freeze(model.engine, "R", obs.received_at, None, datetime.now(UTC))
    both = model.get(path, rapport="R", as_of=_rfc(before))
    assert both.status_code == 400
    assert "rapport" in both.text
    assert model.get(path, rapport="R").json()["total"] > 0


def test_anonymous_final_readers_see_as_of_answers_redacted(model: Model) -> None:
    maker = StreamMaker(model.catalog, seed=9)
    share = model.catalog.indicator[SHARE]
    draft = maker.observation(share, "rinkeby", "2024", "T")
    draft = draft.model_copy(update={"status": ObservationStatus.PRELIMINARY})
    model.deliver([draft, maker.observation(share, "kista", "2024", "T")])
    moment = _rfc(datetime.now(UTC))
    settings = Settings(database_url=str(model.engine.url), api_anonymous="final")
    app = create_app(settings, engine=model.engine, catalog=model.catalog)
    with serving(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        path = f"/v1/indikatorer/{SHARE}/observationer"
        rows = http.get(path, params={"as_of": moment, "limit": 50_000}).json()["items"]
        shown = {(r["area"], r["period"]): r for r in rows if r["gender"] == "T"}
        assert shown[("rinkeby", "2024")]["value"] is None  # preliminary: withheld
        assert shown[("kista", "2024")]["value"] is not None
        assert shown[("stockholm", "2024")]["value"] is None  # a preliminary contribution
    everything = _shown(model, as_of=moment)  # the fixture's API shows anonymous readers all
    assert everything[("rinkeby", "2024", "T")]["value"] is not None


def _builds(model: Model) -> float:
    """How many past moments the API has built (its metric's count)."""
    text = model.get("/metrics").text
    found = re.search(r"^stadspuls_api_past_build_seconds_count (\S+)$", text, re.M)
    assert found is not None, text
    return float(found.group(1))


def test_concurrent_requests_for_a_new_moment_build_it_once(model: Model) -> None:
    maker = StreamMaker(model.catalog, seed=12)
    events = [e for e in maker.stream(200, years=range(2023, 2025)) if e.indicator == SHARE]
    model.deliver(events)
    moment = _rfc(max(e.received_at for e in events))
    before = _builds(model)
    path = f"/v1/indikatorer/{SHARE}/observationer"
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: model.get(path, as_of=moment, limit=50_000), range(6)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert answers[0].json()["total"] > 0
    assert _builds(model) == before + 1
    model.get("/v1/etappmal", as_of=moment)  # another endpoint of the same moment: kept
    assert _builds(model) == before + 1
    earlier = _rfc(min(e.received_at for e in events))
    assert model.get(path, as_of=earlier).status_code == 200
    assert _builds(model) == before + 2


def test_a_winner_the_catalog_then_refuses_leaves_the_best_version_it_places(
    model: Model, tmp_path: Path
) -> None:
    text = (Path(shared.catalog.__file__).parent / "stockholm.yaml").read_text(encoding="utf-8")
    block = text.index(f"  - id: {SHARE}\n")
    bounds = text.index("    max: 100\n", block)
    older = tmp_path / "older.yaml"
    older.write_text(text[:bounds] + "    max: 95\n" + text[bounds + 13 :], encoding="utf-8")
    now = datetime.now(UTC)
    record_catalog(model.engine, older, now - timedelta(hours=2))  # in force for the past hour
    maker = StreamMaker(model.catalog, seed=13)
    base = maker.observation(model.catalog.indicator[SHARE], "rinkeby", "2024", "T")

    def version(minutes_ago: int, value: float) -> Observation:
        moment = now - timedelta(minutes=minutes_ago)
        numbers = {"value": value, "numerator": value, "denominator": 100.0}
        return base.model_copy(
            update={
                "observation_id": uuid4(),
                "updated_at": moment,
                "received_at": moment,
                **numbers,
            }
        )

    model.deliver([version(30, 40.0), version(20, 97.0)])  # 97 is above that catalog's max
    assert _shown(model)[("rinkeby", "2024", "T")]["value"] == 97.0  # the present's catalog
    past = _shown(model, as_of=_rfc(now))
    assert past[("rinkeby", "2024", "T")]["value"] == 40.0
    assert past[("stockholm", "2024", "T")]["value"] == 40.0


def test_a_moment_out_of_the_kept_ones_answers_until_the_next_is_retired(model: Model) -> None:
    maker = StreamMaker(model.catalog, seed=14)
    events = [e for e in maker.stream(120, years=range(2023, 2025)) if e.indicator == SHARE]
    model.deliver(events)
    settings = Settings(database_url=str(model.engine.url))
    past = create_app(settings, engine=model.engine, catalog=model.catalog).state.past
    past.grace = 0.0  # a retired model is deleted at the next retirement
    newest = max(e.received_at for e in events)
    moments = [_rfc(newest + timedelta(seconds=s)) for s in range(6)]
    try:
        held = past.context(moments[0], None)  # a request handed this model, still reading it
        for moment in moments[1:5]:  # kept: 4; the first is retired by the fifth
            past.context(moment, None)
        with held.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM series").scalar_one() > 0
        past.context(moments[5], None)  # the next retirement deletes it
        assert not Path(held.engine.url.database or "").parent.exists()
    finally:
        past.close()


def test_retired_models_wait_for_their_grace_unless_too_many_wait(model: Model) -> None:
    events = StreamMaker(model.catalog, seed=15).stream(60, years=range(2023, 2025))
    model.deliver(events)
    settings = Settings(database_url=str(model.engine.url))
    past = create_app(settings, engine=model.engine, catalog=model.catalog).state.past
    newest = max(e.received_at for e in events)
    moments = [_rfc(newest + timedelta(seconds=s)) for s in range(past.kept + RETIRED + 1)]

    def folder(context: ApiContext) -> Path:
        return Path(context.engine.url.database or "").parent

    try:
        held = [folder(past.context(moment, None)) for moment in moments]
        # every retired model is within its grace: the newest RETIRED of them wait, the oldest
        # one (beyond RETIRED) is deleted
        assert [f.exists() for f in held] == [False, *[True] * (past.kept + RETIRED)]
    finally:
        past.close()
    assert not any(f.exists() for f in held)


@pytest.mark.parametrize(
    "written",
    [
        "2025-05-01T00:00:00z",
        "2025-05-01t00:00:00Z",
        "2025-05-01T00:00:00 01:00",  # an unencoded '+'
        "2025-05-01T00:00+0100",
        "2016-12-31T23:59:60Z",
        "2025-W18-4T00:00:00Z",
        "20250501T000000Z",
        "2025-05-01T00Z",
        "2025-05-01T00:00:00Z\x00garbage",
        "2025-05-01T00:00:00",
    ],
)
def test_as_of_and_changed_since_read_a_time_alike(model: Model, written: str) -> None:
    as_of = model.get(f"/v1/indikatorer/{SHARE}/observationer", as_of=written)
    since = model.get(f"/v1/indikatorer/{SHARE}/observationer", changed_since=written)
    assert as_of.status_code == since.status_code, (as_of.text, since.text)
    if as_of.status_code == 400:
        assert as_of.json()["errors"][0]["parameter"] == "as_of"
        assert since.json()["errors"][0]["parameter"] == "changed_since"
        assert as_of.json()["errors"][0]["message"] == since.json()["errors"][0]["message"]


def test_a_report_keeps_the_catalog_it_was_frozen_with(model: Model, tmp_path: Path) -> None:
    """Frozen with an offset other than UTC's, it counts the catalog in force at that instant
    (SQLite compares stored times as text); frozen before any catalog was recorded, it keeps the
    first recorded, not whichever one the API runs with, and answers as `as_of` does."""
    text = shared.catalog.CATALOG_PATH.read_text(encoding="utf-8")
    block = text.index(f"  - id: {SHARE}\n")
    bounds = text.index("    max: 100\n", block)
    files = {}
    for maximum in (95, 90):
        files[maximum] = tmp_path / f"max-{maximum}.yaml"
        changed = text[:bounds] + f"    max: {maximum}\n" + text[bounds + 13 :]
        files[maximum].write_text(changed, encoding="utf-8")
    now = datetime.now(UTC)
    first = record_catalog(model.engine, files[95], now - timedelta(minutes=15))
    second = record_catalog(model.engine, files[90], now - timedelta(minutes=5))
    two_hours_east = timezone(timedelta(hours=2))
    between = (now - timedelta(minutes=10)).astimezone(two_hours_east)
    assert freeze(model.engine, "EAST", between, None, now).catalog_sha256 == first.sha256
    assert freeze(model.engine, "LATER", now, None, now).catalog_sha256 == second.sha256

    early = freeze(model.engine, "EARLY", now - timedelta(hours=1), None, now)
    assert early.catalog_sha256 == first.sha256
    shown = model.get("/v1/catalog", rapport="EARLY").json()
    same = model.get("/v1/catalog", as_of=_rfc(early.as_of)).json()
    assert shown == same
    (entry,) = [i for i in shown["indikatorer"] if i["id"] == SHARE]
    assert "95" in str(entry), "the first recorded catalog, not the running one (max 100)"


def test_a_batch_of_lower_version_ids_committed_later_joins_the_as_of_answers(
    model: Model,
) -> None:
    """On PostgreSQL two workers' batches may commit out of the order of their version ids: a
    moment asked for in between counts the later batch only. Once the earlier one is in, the
    same `as_of` answers with it, under another ETag, and a moment derived after does too."""
    maker = StreamMaker(model.catalog, seed=15)
    now = datetime.now(UTC)
    early, late = (
        maker.observation(model.catalog.indicator[SHARE], area, "2024", "T").model_copy(
            update={"received_at": now - timedelta(minutes=minutes)}
        )
        for area, minutes in (("rinkeby", 3), ("kista", 2))
    )
    model.deliver([early])
    model.deliver([late])
    versions = series_versions
    with model.engine.begin() as conn:  # the earlier batch, not committed yet
        held = [
            dict(r._mapping)
            for r in conn.execute(select(versions).where(versions.c.area == "rinkeby"))
        ]
        conn.execute(delete(versions).where(versions.c.area == "rinkeby"))
    path = f"/v1/indikatorer/{SHARE}/observationer"
    moment = _rfc(now - timedelta(minutes=1))
    before = model.get(path, as_of=moment, area="rinkeby,kista")
    assert {r["area"] for r in before.json()["items"]} == {"kista"}

    with model.engine.begin() as conn:  # …commits now, with its lower ids
        conn.execute(insert(versions), held)
    after = model.get(path, as_of=moment, area="rinkeby,kista")
    assert {r["area"] for r in after.json()["items"]} == {"rinkeby", "kista"}
    assert after.headers["ETag"] != before.headers["ETag"]
    again = model.http.get(
        path,
        params={"as_of": moment, "area": "rinkeby,kista"},
        headers={"If-None-Match": before.headers["ETag"]},
    )
    assert again.status_code == 200
    later = model.get(path, as_of=_rfc(now), area="rinkeby,kista")  # derived from a kept one
    assert {r["area"] for r in later.json()["items"]} == {"rinkeby", "kista"}


def test_a_recorded_catalog_this_version_cannot_read_is_said_so(model: Model) -> None:
    """An upgrade that tightens the catalog's rules may refuse a catalog recorded before: the
    answers of its time say why instead of failing unexplained; today's still answer."""
    text = shared.catalog.CATALOG_PATH.read_text(encoding="utf-8") + "\nno_such_field: 1\n"
    now = datetime.now(UTC)
    with model.engine.begin() as conn:
        conn.execute(
            insert(catalog_versions).values(
                sha256="f" * 64, effective_at=now - timedelta(hours=1), path="old.yaml", text=text
            )
        )
    path = f"/v1/indikatorer/{SHARE}/observationer"
    refused = model.http.get(path, params={"as_of": _rfc(now - timedelta(minutes=30))})
    assert refused.status_code == 500
    assert "cannot be read by this one" in refused.json()["detail"]
    assert model.get(path).status_code == 200
