"""A realistic two years of Stockholm data through all three services on real Kafka and PostgreSQL:
every source posts its indicators over HTTP; then etappmål statuses, a nämnd rollup, an area profile
and a CSV series read over HTTP must equal what the reference oracle computes from the same rows."""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Any

import httpx
import pandas as pd
import pytest

from bench.api.dataset import Dataset
from shared.catalog.loader import default_catalog
from shared.domain.observation import Observation, utcnow
from shared.domain.periods import parse_period
from shared.domain.summary import etappmal_summary, indikator_summary
from shared.infra.wait import wait_for
from tests.e2e.client import INDICATOR, create_key
from tests.oracle import OracleRow, city_points, close, oracle_rows
from tests.services import read_metric

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
ROW_FIELDS = (
    "indicator",
    "area",
    "period",
    "gender",
    "value",
    "numerator",
    "denominator",
    "status",
    "updated_at",
    "observation_id",
)


def post_all(stack: dict[str, str], events: list[Observation]) -> None:
    catalog = default_catalog()
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for obs in events:
        row = obs.model_dump(mode="json", include=set(ROW_FIELDS), exclude_none=True)
        by_source[catalog.indicator[obs.indicator].sources[0]].append(row)
    with httpx.Client(timeout=120) as client:
        for source, rows in by_source.items():
            auth = {"Authorization": f"Bearer {create_key(stack, source)}"}
            for start in range(0, len(rows), 5_000):
                chunk = rows[start : start + 5_000]
                answer = client.post(
                    f"{stack['ingest']}/v1/observations", json={"observations": chunk}, headers=auth
                )
                assert answer.status_code == 202, answer.text[:2000]
                assert answer.json()["accepted"] == len(chunk)


def test_a_realistic_year_reads_back_as_the_oracle_computes_it(stack: dict[str, str]) -> None:
    catalog = default_catalog()
    events = list(Dataset(catalog, years=range(2024, 2026)).observations())
    post_all(stack, events)
    wait_for(
        lambda: read_metric(stack["aggregate"], "stadspuls_aggregate_events_total") >= len(events),
        timeout=300,
        interval=0.5,
        what="the aggregator to apply every event",
    )
    api = httpx.Client(base_url=stack["api"], timeout=30)
    rows = oracle_rows(catalog, events)
    now = utcnow()

    expected_ind = {
        i.id: indikator_summary(catalog, i.id, city_points(catalog, rows, i.id), now)
        for i in catalog.indikatorer
    }

    # every etappmål's status, and each of its indicators' inputs
    def statuses_match() -> bool:
        for goal in catalog.etappmal:
            got = api.get(f"/v1/etappmal/{goal.id}").json()
            if got["status"] != etappmal_summary(catalog, goal.id, expected_ind)["status"]:
                return False
        return True

    wait_for(
        statuses_match, timeout=60, interval=0.5, what="etappmål statuses equal to the oracle's"
    )
    for goal in catalog.etappmal:
        got = api.get(f"/v1/etappmal/{goal.id}").json()
        headline = next(i for i in got["indicators"] if i["indicator"] == goal.headline)
        want = expected_ind[goal.headline]
        assert headline["status"] == want["status"]
        assert headline["latest_period"] == want["latest_period"]
        assert close(headline["latest_value"], want["latest_value"])

    # a nämnd rollup: its etappmål and indicators with the oracle's statuses
    rollup = api.get("/v1/namnder/utbildningsnamnden").json()
    goal_status = {
        g.id: etappmal_summary(catalog, g.id, expected_ind)["status"] for g in catalog.etappmal
    }
    assert rollup["etappmal"], rollup
    for goal in rollup["etappmal"]:
        assert goal["status"] == goal_status[goal["id"]]
    for ind in rollup["indikatorer"]:
        assert ind["status"] == expected_ind[ind["id"]]["status"]

    # an area profile: latest value per indicator and its gap to the city
    profile = api.get("/v1/omraden/rinkeby-kista/indikatorer", params={"limit": 1000}).json()[
        "items"
    ]
    assert profile
    for item in profile:
        want_area = latest(rows, item["indicator"], "rinkeby-kista", item["period"])
        want_city = latest(rows, item["indicator"], catalog.root, item["period"])
        assert close(item["value"], want_area.value), item
        if want_city.value is not None and want_area.value is not None:
            assert close(item["gap"], want_area.value - want_city.value), item
    latest_period = max(
        (k[2] for k in rows if k[0] == INDICATOR and k[1] == "rinkeby-kista"),
        key=lambda p: parse_period(p).sort_key,
    )
    assert {i["indicator"]: i["period"] for i in profile}[INDICATOR] == latest_period

    # a CSV series read by a BI-style client equals the JSON and the oracle
    params = {"area": "rinkeby,kista,rinkeby-kista,stockholm", "limit": 10_000}
    frame = pd.read_csv(
        io.StringIO(
            api.get(
                f"/v1/indikatorer/{INDICATOR}/observationer", params={**params, "format": "csv"}
            ).text
        )
    )
    items = api.get(f"/v1/indikatorer/{INDICATOR}/observationer", params=params).json()["items"]
    assert len(frame) == len(items) > 0
    for (_, csv_row), item in zip(frame.iterrows(), items, strict=True):
        key = (INDICATOR, item["area"], item["period"], item["gender"])
        assert (csv_row["area"], str(csv_row["period"]), csv_row["gender"]) == key[1:]
        assert close(float(csv_row["value"]), item["value"])
        assert close(item["value"], rows[key].value)
        assert item["origin"] == rows[key].origin


def latest(
    rows: dict[tuple[str, str, str, str], OracleRow], indicator: str, area: str, period: str
) -> OracleRow:
    return rows[(indicator, area, period, "T")]
