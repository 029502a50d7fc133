"""What the read API answers at a knowledge time, checked against `tests.oracle_as_of`: series
rows and versions, indicator statuses (the city's and areas'), etappmål, nämnd rollups and area
profiles, around the 2020 reorganisation."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient

from shared.domain.areas import last_day
from shared.domain.catalog import Catalog
from shared.domain.observation import Observation
from tests.oracle import close, oracle_versions, version
from tests.oracle_as_of import OracleAt, received_by

PROFILES = ("hagersten-alvsjo", "hagersten-liljeholmen", "alvsjo-stadsdel", "stockholm")
NAMNDER = ("hagersten-alvsjo-sdn", "hagersten-liljeholmen-sdn", "alvsjo-sdn")


def _get(client: TestClient, path: str, **params: Any) -> Any:
    """A 200 answer's JSON; a list's every item."""
    listed = path.startswith("/v1/namnder/")
    response = client.get(path, params=params if listed else {"limit": 50_000, **params})
    assert response.status_code == 200, (path, params, response.text)
    return response.json()


def _rfc(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def check_series(
    client: TestClient, oracle: OracleAt, as_of: str | None, indicators: Iterable[str]
) -> None:
    """Series rows, with their tree, and versions (the present's when `as_of` is None)."""
    at = {} if as_of is None else {"as_of": as_of}
    for indicator in indicators:
        rows = _get(client, f"/v1/indikatorer/{indicator}/observationer", **at)["items"]
        got = {(r["area"], r["period"], r["gender"]): r for r in rows}
        want = {k: r for k, r in oracle.shown(indicator).items() if r.origin is not None}
        assert set(got) == set(want), (indicator, set(got) ^ set(want))
        for key, row in want.items():
            shown = got[key]
            assert shown["origin"] == row.origin, (indicator, key)
            assert close(shown["value"], row.value), (indicator, key, shown, row)
            assert close(shown["coverage"], row.coverage), (indicator, key, shown, row)
            assert shown["tree"] == last_day(key[1]).isoformat(), (indicator, key)
        versions = _get(client, f"/v1/indikatorer/{indicator}/historik", **at)["items"]
        mine = [e for e in oracle.events if e.indicator == indicator]
        listed = sorted(  # the API lists them by series, then in version order
            zip(mine, oracle_versions(mine), range(len(mine)), strict=True),
            key=lambda v: (v[0].area, v[0].gender.value, v[0].period, *version(v[0]), v[2]),
        )
        assert [(v["observation_id"], v["outcome"]) for v in versions] == [
            (str(e.observation_id), outcome) for e, outcome, _ in listed
        ], indicator


def _same_status(got: dict[str, Any], want: Any, what: object) -> None:
    for name in ("status", "trend", "reason", "stale", "latest_period"):
        assert got[name] == want[name], (what, name, got[name], want[name])
    assert close(got["latest_value"], want["latest_value"]), what


def check_summaries(client: TestClient, oracle: OracleAt, as_of: str) -> None:
    for area, gender in (("", "T"), ("hagersten-alvsjo", "K"), ("alvsjo", "T")):
        params = {"as_of": as_of, "gender": gender} | ({"area": area} if area else {})
        docs = oracle.indicators(area, gender)
        for item in _get(client, "/v1/indikatorer", **params)["items"]:
            _same_status(item, docs[item["id"]], (area, gender, item["id"]))
        goals = oracle.goals(area, gender)
        for item in _get(client, "/v1/etappmal", **params)["items"]:
            assert item["status"] == goals[item["id"]]["status"], (area, item["id"])
            assert item["counts"] == goals[item["id"]]["counts"], (area, item["id"])
    namnder = oracle.namnder()
    for item in _get(client, "/v1/namnder", as_of=as_of)["items"]:
        assert item["counts"] == namnder[item["id"]]["counts"], item["id"]
    for namnd in NAMNDER:
        got = _get(client, f"/v1/namnder/{namnd}", as_of=as_of)["area_comparison"]
        want = namnder[namnd]["area_comparison"]
        assert [(c["indicator"], c["period"]) for c in got] == [
            (c["indicator"], c["period"]) for c in want
        ], namnd
        for g, w in zip(got, want, strict=True):
            assert close(g["area_value"], w["area_value"]), (namnd, g, w)
            assert close(g["city_value"], w["city_value"]), (namnd, g, w)


def check_profiles(client: TestClient, oracle: OracleAt, as_of: str) -> None:
    for area in PROFILES:
        for gender in ("T", "M"):
            rows = _get(client, f"/v1/omraden/{area}/indikatorer", as_of=as_of, gender=gender)
            want = oracle.profile(area, gender)
            assert [r["indicator"] for r in rows["items"]] == list(want), area
            for row in rows["items"]:
                expected = want[row["indicator"]]
                what = (area, gender, row["indicator"])
                assert (row["period"], row["status"], row["trend"]) == (
                    expected["period"],
                    expected["status"],
                    expected["trend"],
                ), what
                assert close(row["value"], expected["value"]), what
                assert close(row["city_value"], expected["city_value"]), what


def check_all(
    client: TestClient,
    events: list[Observation],
    moment: datetime,
    catalog: Catalog,
    indicators: Iterable[str],
) -> None:
    """Every answer the oracle can express, at `moment`, under the catalog in force then."""
    oracle = OracleAt(catalog, received_by(events, moment), moment)
    as_of = _rfc(moment)
    check_series(client, oracle, as_of, indicators)
    check_summaries(client, oracle, as_of)
    check_profiles(client, oracle, as_of)
