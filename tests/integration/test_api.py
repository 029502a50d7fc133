"""The read API over HTTP on a read model filled by the aggregator's own code, on SQLite and PostgreSQL.

One read model per database holds four years of the Stockholm data set (written by `SeriesStore`
with the aggregator's projections); the API runs under uvicorn on a free port.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from bench.api.dataset import Dataset, load
from bench.api.server import serving
from services.api.app import create_app
from shared.catalog.loader import default_catalog
from shared.db.engine import make_engine, upgrade
from shared.db.schema import etappmal_status, namnd_rollup, series
from shared.domain.catalog import Catalog
from shared.domain.observation import Observation
from shared.infra.postgres import LocalPostgres
from shared.infra.wait import wait_for
from shared.settings import Settings

YEARS = range(2022, 2026)
SHARE = "behorighet-gymnasiet-ak9"  # ratio, year, every level, T/K/M
MONTHLY = "inskrivna-arbetslosa-18-64"  # ratio, month, every level, T/K/M


@dataclass
class Api:
    """A loaded read model and the API serving it."""

    url: str
    engine: Engine
    catalog: Catalog
    observations: list[Observation]
    http: httpx.Client

    def get(self, path: str, **params: Any) -> httpx.Response:
        """GET a path; fails the test on any 5xx."""
        response = self.http.get(path, params=params or None)  # {} would drop the path's query
        assert response.status_code < 500, response.text
        return response

    def all_rows(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a list, page by page."""
        rows: list[dict[str, Any]] = []
        while True:
            page = self.get(path, **params, offset=len(rows), limit=2000).json()
            rows += page["items"]
            if len(rows) >= page["total"] or not page["items"]:
                return rows


def _database(kind: str, tmp: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'api.db'}"
        return
    postgres: LocalPostgres = request.getfixturevalue("postgres")
    name = f"api_{uuid.uuid4().hex[:10]}"
    yield postgres.create_database(name)
    postgres.drop_database(name)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """Four years of Stockholm data in a fresh read model, and the API on it."""
    catalog = default_catalog()
    for url in _database(request.param, tmp_path_factory.mktemp("api"), request):
        upgrade(url)
        engine = make_engine(url)
        observations = list(Dataset(catalog, years=YEARS).observations())
        load(engine, catalog, observations)
        app = create_app(Settings(database_url=url), engine=engine, catalog=catalog)
        with serving(app) as base, httpx.Client(base_url=base, timeout=30) as http:
            yield Api(url, engine, catalog, observations, http)
        engine.dispose()


def parse_csv(response: httpx.Response) -> list[dict[str, str]]:
    """The rows of a CSV answer."""
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))


def same(cell: str, value: Any) -> bool:
    """A CSV cell holds a JSON value."""
    if value is None:
        return cell == ""
    if isinstance(value, bool):
        return cell == ("true" if value else "false")
    if isinstance(value, int | float):
        return float(cell) == float(value)
    return cell == str(value)


def resolve(item: dict[str, Any], parts: list[str]) -> Any:
    """The JSON value behind a flattened CSV column such as `counts_indikatorer_i_fas`."""
    for i in range(len(parts), 0, -1):
        head, rest = "_".join(parts[:i]), parts[i:]
        if head in item:
            if not rest or item[head] is None:
                return item[head]
            if isinstance(item[head], dict):
                return resolve(item[head], rest)
    raise AssertionError(f"column {'_'.join(parts)} is not in the JSON item")


def stored_series(api: Api, indicator: str) -> dict[tuple[str, str, str], float]:
    with api.engine.connect() as conn:
        rows = conn.execute(
            select(series.c.area, series.c.period, series.c.gender, series.c.value).where(
                series.c.indicator == indicator, series.c.value.is_not(None)
            )
        )
        return {(r.area, r.period, r.gender): r.value for r in rows}


def test_etappmal_serve_the_aggregators_documents(api: Api) -> None:
    page = api.get("/v1/etappmal").json()
    assert page["total"] == len(api.catalog.etappmal) == len(page["items"])
    with api.engine.connect() as conn:
        stored = {r.etappmal: r.document for r in conn.execute(select(etappmal_status))}
    assert set(stored) == {g.id for g in api.catalog.etappmal}
    city = stored_series(api, SHARE)
    for item in page["items"]:
        doc = stored[item["id"]]
        assert item["status"] == doc["status"]
        assert item["counts"] == doc["counts"]
        assert [i["status"] for i in item["indicators"]] == [i["status"] for i in doc["indicators"]]
        assert item["area"] == "stockholm"
        assert item["gender"] == "T"
        assert item["computed_at"] is not None
        headline = item["indicators"][0]
        assert headline["indicator"] == item["headline"]
        assert item["latest_value"] == headline["latest_value"]
        assert item["responsible"] == doc["responsible"]
    goal = next(i for i in page["items"] if i["id"] == "behorighet-gymnasiet")
    assert goal["latest_period"] == "2025"
    assert goal["latest_value"] == pytest.approx(city[("stockholm", "2025", "T")])
    assert goal["baseline"] == {"period": "2019", "value": 86.2, "example": True}
    assert goal["indicators"][0]["inputs"]["x0"] == 86.2
    statuses = {i["status"] for i in page["items"]}
    assert statuses & {"i_fas", "viss_framgang", "ingen_framgang", "forsamring", "uppnatt"}


def test_etappmal_filters(api: Api) -> None:
    every = api.get("/v1/etappmal").json()["items"]
    status = every[0]["status"]
    only = api.get("/v1/etappmal", status=status).json()
    assert only["total"] == sum(1 for i in every if i["status"] == status)
    led = api.get("/v1/etappmal", namnd="utbildningsnamnden").json()["items"]
    assert {i["id"] for i in led} == {
        g.id
        for g in api.catalog.etappmal
        if "utbildningsnamnden" in {r.namnd for r in g.responsible}
    }
    areas = api.get("/v1/etappmal", malomrade="boende-och-stadsmiljo").json()["items"]
    assert {i["malomrade"] for i in areas} == {"boende-och-stadsmiljo"}
    assert len(areas) == 2


def test_status_for_another_area_and_gender_uses_that_series(api: Api) -> None:
    item = api.get("/v1/etappmal/behorighet-gymnasiet", area="rinkeby-kista", gender="K").json()
    assert item["area"] == "rinkeby-kista"
    assert item["gender"] == "K"
    headline = item["indicators"][0]
    values = stored_series(api, SHARE)
    assert headline["latest_period"] == "2025"
    assert headline["latest_value"] == pytest.approx(values[("rinkeby-kista", "2025", "K")])
    assert headline["periods"] == len(YEARS)
    assert headline["inputs"]["xt"] == pytest.approx(headline["latest_value"])
    city = api.get("/v1/etappmal/behorighet-gymnasiet").json()
    assert city["latest_value"] != headline["latest_value"]


def test_namnd_rollup(api: Api) -> None:
    rollup = api.get("/v1/namnder/rinkeby-kista-sdn").json()
    with api.engine.connect() as conn:
        doc = conn.execute(
            select(namnd_rollup.c.document).where(namnd_rollup.c.namnd == "rinkeby-kista-sdn")
        ).scalar_one()
    assert rollup["type"] == "stadsdelsnamnd"
    assert rollup["area"] == "rinkeby-kista"
    assert rollup["etappmal"] == doc["etappmal"]
    assert rollup["indikatorer"] == doc["indikatorer"]
    assert sum(rollup["counts"]["etappmal"].values()) == len(rollup["etappmal"]) > 0
    assert sum(rollup["counts"]["indikatorer"].values()) == len(rollup["indikatorer"]) > 0
    values = stored_series(api, SHARE)
    row = next(r for r in rollup["area_comparison"] if r["indicator"] == SHARE)
    assert row["area_value"] == pytest.approx(values[("rinkeby-kista", row["period"], "T")])
    assert row["city_value"] == pytest.approx(values[("stockholm", row["period"], "T")])
    assert row["gap"] == pytest.approx(row["area_value"] - row["city_value"])
    kinds = api.get("/v1/namnder", type="bolagsstyrelse").json()
    assert kinds["total"] == 3
    assert {i["type"] for i in kinds["items"]} == {"bolagsstyrelse"}


def test_indicator_with_status_inputs(api: Api) -> None:
    item = api.get(f"/v1/indikatorer/{SHARE}").json()
    assert item["kind"] == "ratio"
    assert item["etappmal"] == ["behorighet-gymnasiet"]
    inputs = item["inputs"]
    assert inputs["t0"] == 2019.0
    assert inputs["t"] == 2025.0
    assert inputs["t_target"] == 2030.0
    assert inputs["ratio"] == pytest.approx(inputs["cagr_actual"] / inputs["cagr_required"])
    assert item["latest_value"] == pytest.approx(
        stored_series(api, SHARE)[("stockholm", "2025", "T")]
    )
    listed = api.get("/v1/indikatorer").json()
    assert listed["total"] == len(api.catalog.indikatorer)
    risk = api.get("/v1/indikatorer", risk_group="halsa").json()["items"]
    assert {i["id"] for i in risk} == {
        i.id for i in api.catalog.indikatorer if i.risk_group == "halsa"
    }


def test_observationer_are_the_read_models_rows(api: Api) -> None:
    rows = api.all_rows(f"/v1/indikatorer/{MONTHLY}/observationer")
    stored = stored_series(api, MONTHLY)
    assert len(rows) == len(stored) > 5_000
    for row in rows:
        assert row["value"] == pytest.approx(stored[(row["area"], row["period"], row["gender"])])
    keys = [(r["area"], r["gender"], r["period_start"]) for r in rows]
    assert keys == sorted(keys)  # stable order, so pages never overlap
    reported = [r for r in rows if r["origin"] == "reported"]
    computed = [r for r in rows if r["origin"] == "computed"]
    assert reported
    assert computed
    assert all(r["status"] == "final" and r["received_at"] and r["source"] for r in reported)
    assert all(r["status"] is None and r["coverage"] == 1.0 for r in computed)
    for r in computed:  # Σnumerator/Σdenominator, never a mean of shares
        assert r["value"] == pytest.approx(100 * r["numerator"] / r["denominator"])


def test_observationer_filters(api: Api) -> None:
    path = f"/v1/indikatorer/{MONTHLY}/observationer"
    every = api.all_rows(path)
    cases: list[tuple[dict[str, Any], Any]] = [
        ({"area": "rinkeby,kista"}, lambda r: r["area"] in {"rinkeby", "kista"}),
        ({"gender": "K"}, lambda r: r["gender"] == "K"),
        ({"level": "stadsdelsomrade"}, lambda r: r["area_level"] == "stadsdelsomrade"),
        ({"origin": "computed"}, lambda r: r["origin"] == "computed"),
        (
            {"from": "2024-03", "to": "2024-05"},
            lambda r: r["period"] in {"2024-03", "2024-04", "2024-05"},
        ),
        ({"from": "2025"}, lambda r: r["period"].startswith("2025")),
        ({"to": "2022-Q1"}, lambda r: r["period"] in {"2022-01", "2022-02", "2022-03"}),
        (
            {"area": "stockholm", "gender": "T", "from": "2023", "to": "2023"},
            lambda r: (
                r["area"] == "stockholm" and r["gender"] == "T" and r["period"].startswith("2023")
            ),
        ),
    ]
    for params, keep in cases:
        expected = [r for r in every if keep(r)]
        got = api.all_rows(path, **params)
        assert got == expected, params
    assert (
        len(api.all_rows(path, area="stockholm", gender="T", **{"from": "2023", "to": "2023"}))
        == 12
    )


def test_paging_says_the_total_and_links_the_next_page(api: Api) -> None:
    path = f"/v1/indikatorer/{SHARE}/observationer"
    first = api.get(path, limit=50)
    body = first.json()
    assert body["limit"] == 50
    assert body["offset"] == 0
    assert len(body["items"]) == 50
    assert int(first.headers["X-Total-Count"]) == body["total"] > 50
    assert 'rel="next"' in first.headers["Link"]
    assert 'rel="prev"' not in first.headers["Link"]
    second = api.get(path, limit=50, offset=50).json()
    assert second["items"][0] != body["items"][-1]
    assert second["total"] == body["total"]
    beyond = api.get(path, limit=50, offset=body["total"]).json()
    assert beyond["items"] == []
    assert beyond["total"] == body["total"]
    # a repeated list filter keeps every value in the links
    two = api.http.get(f"{path}?area=kista&area=husby&limit=2&offset=2")
    assert two.status_code == 200, two.text
    links = two.headers["Link"]
    assert links.count("area=kista&area=husby") == 2, links
    assert "offset=4" in links
    assert "offset=0" in links


@pytest.mark.parametrize(
    "path",
    [
        "/v1/etappmal",
        "/v1/namnder",
        "/v1/indikatorer",
        f"/v1/indikatorer/{SHARE}/observationer?area=rinkeby-kista&missing=true",
        "/v1/omraden",
        "/v1/omraden/rinkeby-kista/indikatorer",
    ],
)
def test_csv_holds_the_same_rows_as_json(api: Api, path: str) -> None:
    items = api.get(path).json()["items"]
    by_param = parse_csv(api.get(path + ("&" if "?" in path else "?") + "format=csv"))
    by_accept = api.http.get(path, headers={"Accept": "text/csv"})
    assert parse_csv(by_accept) == by_param
    assert len(by_param) == len(items) > 0
    for item, row in zip(items, by_param, strict=True):
        for name, cell in row.items():
            value = resolve(item, name.split("_"))
            if isinstance(value, list):
                assert cell.count(";") == max(0, len(value) - 1), name
            elif isinstance(value, dict):
                continue
            else:
                assert same(cell, value), (name, cell, value)


def test_area_profile(api: Api) -> None:
    profile = api.get("/v1/omraden/rinkeby-kista").json()
    assert profile["level"] == "stadsdelsomrade"
    assert profile["namnd"] == "rinkeby-kista-sdn"
    rows = {r["indicator"]: r for r in profile["indikatorer"]}
    share = rows[SHARE]
    values = stored_series(api, SHARE)
    assert share["period"] == "2025"
    assert share["value"] == pytest.approx(values[("rinkeby-kista", "2025", "T")])
    assert share["city_value"] == pytest.approx(values[("stockholm", "2025", "T")])
    assert share["gap"] == pytest.approx(share["value"] - share["city_value"])
    assert share["compared_to_city"] == ("battre" if share["gap"] > 0 else "samre")
    assert "risk" in profile
    risk = profile["risk"]
    assert risk["out_of"] == 13  # ranked among the stadsdelsområden
    assert 1 <= risk["rank"] <= 13
    assert risk["composite"] == pytest.approx(
        sum(g["score"] for g in risk["groups"]) / len(risk["groups"])
    )
    assert {g["group"] for g in risk["groups"]} == {
        "sociala_riskfaktorer",
        "halsa",
        "sakerhet_trygghet",
        "forsorjning",
    }
    for group in risk["groups"]:
        assert risk[group["group"]] == pytest.approx(group["score"])
    table = api.get("/v1/omraden/rinkeby-kista/indikatorer").json()
    assert table["items"] == profile["indikatorer"]
    virtual = api.get("/v1/omraden/ytterstaden").json()
    assert virtual["level"] == "virtual"
    assert any(r["value"] is not None for r in virtual["indikatorer"])
    listed = api.get("/v1/omraden", level="stadsdelsomrade").json()["items"]
    former = {a["id"] for a in listed if a["valid_to"] is not None}
    assert former == {"hagersten-liljeholmen", "alvsjo"}  # listed, with validity, never ranked
    assert all(a["risk"]["rank"] is None for a in listed if a["id"] in former)
    areas = api.get("/v1/omraden", level="stadsdelsomrade", valid_on="2025-12-31").json()
    assert areas["total"] == 13
    assert sorted(a["risk"]["rank"] for a in areas["items"]) == sorted(
        1 + sum(b["risk"]["composite"] > a["risk"]["composite"] for b in areas["items"])
        for a in areas["items"]
    )
    assert api.get("/v1/omraden", parent="rinkeby-kista").json()["total"] == 4


def test_catalog_is_the_loaded_catalog(api: Api) -> None:
    from shared.catalog.loader import catalog_document

    assert api.get("/v1/catalog").json() == catalog_document(api.catalog)


def test_caching_headers_and_conditional_requests(api: Api) -> None:
    for path in (
        "/v1/etappmal",
        "/v1/etappmal/behorighet-gymnasiet",
        "/v1/catalog",
        f"/v1/indikatorer/{SHARE}/observationer?format=csv",
    ):
        first = api.get(path)
        etag = first.headers["ETag"]
        assert first.status_code == 200
        assert etag.startswith('W/"')
        newest = max(o.received_at for o in api.observations)
        assert first.headers["X-Data-As-Of"] == newest.isoformat().replace("+00:00", "Z")
        assert "max-age" in first.headers["Cache-Control"]
        # the second answer is replayed from the memo: the same bytes and headers
        replayed = api.get(path)
        assert replayed.content == first.content
        for name in (
            "ETag",
            "X-Data-As-Of",
            "Content-Type",
            "Cache-Control",
            "Vary",
            "X-Total-Count",
            "Link",
            "Content-Disposition",
            "Content-Encoding",
        ):
            assert replayed.headers.get(name) == first.headers.get(name), name
        again = api.http.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["ETag"] == etag
        assert again.headers["X-Data-As-Of"]
        assert api.http.get(path, headers={"If-None-Match": 'W/"other"'}).status_code == 200
    plain = api.http.get("/v1/etappmal", headers={"Accept-Encoding": "identity"})
    packed = api.http.get("/v1/etappmal", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert int(packed.headers["content-length"]) < len(plain.content) / 3
    assert packed.json() == plain.json()
    json_tag = api.get("/v1/etappmal").headers["ETag"]
    assert api.get("/v1/etappmal", format="csv").headers["ETag"] != json_tag


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/v1/etappmal?limit=0", "limit"),
        ("/v1/etappmal?limit=50001", "limit"),
        ("/v1/etappmal?offset=-1", "offset"),
        ("/v1/etappmal?offset=99999999999999999999999", "offset"),
        ("/v1/etappmal?format=xml", "format"),
        ("/v1/etappmal?status=bra", "status"),
        ("/v1/etappmal?area=atlantis", "area"),
        ("/v1/etappmal?gender=X", "gender"),
        ("/v1/etappmal?namnd=nope", "namnd"),
        ("/v1/indikatorer?etappmal=nope", "etappmal"),
        (f"/v1/indikatorer/{SHARE}/observationer?from=2024-13", "from"),
        (f"/v1/indikatorer/{SHARE}/observationer?to=last", "to"),
        (f"/v1/indikatorer/{SHARE}/observationer?level=kommun", "level"),
        (f"/v1/indikatorer/{SHARE}/observationer?origin=guessed", "origin"),
        (f"/v1/indikatorer/{SHARE}/observationer?area=%00", "area"),
        (f"/v1/indikatorer/{SHARE}/observationer?missing=maybe", "missing"),
        ("/v1/omraden?parent=nowhere", "parent"),
        ("/v1/omraden?ytterstad=perhaps", "ytterstad"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(api: Api, path: str, parameter: str) -> None:
    response = api.http.get(path)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400
    assert parameter in problem["detail"]
    assert [e["parameter"] for e in problem["errors"]] == [parameter]


IDS = {
    "etappmal": "behorighet-gymnasiet",
    "namnder": "rinkeby-kista-sdn",
    "indikatorer": SHARE,
    "omraden": "rinkeby-kista",
}


def test_unknown_query_parameters_are_400_naming_them_on_every_v1_endpoint(api: Api) -> None:
    document = api.get("/openapi.json").json()
    templates = [t for t in document["paths"] if t.startswith("/v1/")]
    assert len(templates) == 13
    for template in templates:
        path = template.replace("{id}", IDS.get(template.split("/")[2], ""))
        parameters = document["paths"][template]["get"].get("parameters", [])
        known = sorted(p["name"] for p in parameters if p["in"] == "query")
        assert {"as_of", "rapport"} <= set(known), path  # every read endpoint answers as of a time
        assert api.get(path).status_code == 200, path
        response = api.http.get(path, params={"aera": "rinkeby"})
        assert response.status_code == 400, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert [e["parameter"] for e in problem["errors"]] == ["aera"], path
        assert problem["errors"][0]["location"] == "query"
        assert "'aera'" in problem["detail"]
        assert all(name in problem["detail"] for name in known), (path, problem["detail"])
        assert "400" in document["paths"][template]["get"]["responses"]


def test_every_unknown_parameter_is_named_beside_valid_ones(api: Api) -> None:
    response = api.http.get("/v1/etappmal?area=rinkeby-kista&aera=x&limt=5&limit=2")
    assert response.status_code == 400
    assert [e["parameter"] for e in response.json()["errors"]] == ["aera", "limt"]
    assert api.get("/v1/etappmal?area=rinkeby-kista&limit=2").status_code == 200


def test_an_accept_of_only_xml_is_406_even_for_an_answer_memoised(api: Api) -> None:
    path = "/v1/etappmal"
    assert api.get(path).status_code == 200  # rendered, so memoised for replays
    for _ in range(2):
        refused = api.http.get(path, headers={"Accept": "application/xml"})
        assert refused.status_code == 406, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert "application/json or text/csv" in refused.json()["detail"]
    assert api.http.get("/v1/catalog", headers={"Accept": "application/xml"}).status_code == 406
    fallback = api.http.get(path, headers={"Accept": "application/xml, */*;q=0.1"})
    assert (fallback.status_code, fallback.headers["content-type"]) == (200, "application/json")
    chosen = api.http.get(path + "?format=csv", headers={"Accept": "application/xml"})
    assert chosen.status_code == 200
    assert chosen.headers["content-type"].startswith("text/csv")


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/v1/omraden/kista?gender=K&gender=M", "gender"),
        ("/v1/indikatorer/behorighet-gymnasiet-ak9?area=kista&area=husby", "area"),
        ("/v1/indikatorer/behorighet-gymnasiet-ak9/historik?area=kista&area=husby", "area"),
        ("/v1/etappmal?limit=5&limit=6", "limit"),
    ],
)
def test_a_single_valued_parameter_given_twice_is_400_naming_it(
    api: Api, path: str, named: str
) -> None:
    response = api.http.get(path)
    assert response.status_code == 400, response.text
    assert [e["parameter"] for e in response.json()["errors"]] == [named]
    assert "given 2 times" in response.json()["detail"]
    # a list parameter may be repeated: its values add up
    assert api.get("/v1/etappmal?status=forsamring&status=i_fas").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/v1/etappmal/nope",
        "/v1/namnder/nope",
        "/v1/indikatorer/nope",
        "/v1/indikatorer/nope/observationer",
        "/v1/omraden/nope",
        "/v1/omraden/nope/indikatorer",
        "/v1/nothing-here",
    ],
)
def test_unknown_ids_are_404_with_a_clear_message(api: Api, path: str) -> None:
    response = api.http.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]
    assert "nope" in detail or "nothing-here" in detail


def _renders(api: Api, route: str) -> float:
    text = api.get("/metrics").text
    prefix = f'stadspuls_api_renders_total{{route="{route}"}}'
    return sum(float(x.split()[-1]) for x in text.splitlines() if x.startswith(prefix))


def test_renders_count_answers_rendered_not_those_from_the_memo(api: Api) -> None:
    # a page no other test asks for, so its first answer is rendered, not the memo's
    path, route = "/v1/indikatorer?limit=37&offset=3", "/v1/indikatorer"
    before = _renders(api, route)
    first = api.get(path)
    wait_for(lambda: _renders(api, route) >= before + 1, timeout=10, what="the render counted")
    for _ in range(3):  # the same read state: the memo's answer, or a 304
        assert api.get(path).content == first.content
        again = api.http.get(path, headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304
    assert _renders(api, route) == before + 1


def test_metrics_count_requests_by_route_template(api: Api) -> None:
    api.get("/v1/etappmal/behorighet-gymnasiet")
    api.http.get("/v1/etappmal/nope")
    api.http.get("/v1/definitely/unknown")
    text = api.get("/metrics").text
    assert 'route="/v1/etappmal/{id}"' in text
    assert "behorighet-gymnasiet" not in text
    assert 'route="unmatched"' in text
    assert "definitely" not in text
    line = next(
        x
        for x in text.splitlines()
        if x.startswith("stadspuls_http_requests_total{")
        and 'route="/v1/etappmal/{id}"' in x
        and 'status="404"' in x
    )
    assert 'service="api"' in line
    assert 'method="GET"' in line
    assert float(line.split()[-1]) >= 1
    assert "stadspuls_http_request_duration_seconds_bucket{" in text


def test_head_is_the_get_without_its_body(api: Api) -> None:
    for path in ("/healthz", "/metrics", "/v1/etappmal", "/v1/omraden/rinkeby?gender=K"):
        got = api.http.get(path)
        head = api.http.head(path)
        assert (head.status_code, head.content) == (200, b""), path
        assert head.headers["content-type"] == got.headers["content-type"], path
        if "etag" in got.headers:
            assert head.headers["etag"] == got.headers["etag"], path
    assert api.http.head("/v1/etappmal/nope").status_code == 404


def test_health(api: Api) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz").json()
    assert ready["status"] == "ready"
    assert ready["revision"] > 0
    assert ready["schema_revision"]
