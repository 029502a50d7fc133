"""The live read API under uvicorn: schemathesis against its own OpenAPI, and pandas as a BI client.

schemathesis generates requests from `/openapi.json` (valid and invalid ones) and checks every answer:
no 5xx, a documented status, content type and headers, a body that matches its schema, and bad input
rejected with a 4xx. pandas reads CSV answers straight over HTTP, as a BI tool would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bench.api.dataset import Dataset, load
from bench.api.server import serving
from services.api.app import create_app
from shared.catalog.loader import default_catalog
from shared.db.engine import make_engine, upgrade
from shared.settings import Settings

SHARE = "behorighet-gymnasiet-ak9"
MONTHLY = "ekonomiskt-bistand-hushall"
EXAMPLES = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API on a SQLite read model holding three years of Stockholm data; its base URL."""
    url = f"sqlite:///{tmp_path_factory.mktemp('live') / 'api.db'}"
    upgrade(url)
    engine = make_engine(url)
    catalog = default_catalog()
    load(engine, catalog, list(Dataset(catalog, years=range(2023, 2026)).observations()))
    with serving(create_app(Settings(database_url=url), engine=engine, catalog=catalog)) as base:
        yield base
    engine.dispose()


def operations(live: str) -> list[Any]:
    """Every operation of the OpenAPI document the live server publishes."""
    schema = schemathesis.openapi.from_url(f"{live}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_answer_matches_the_openapi(live: str, mode: GenerationMode) -> None:
    # schemathesis' own pytest loader does not run on this pytest; its strategies do.
    found = operations(live)
    assert len(found) >= 14
    unsatisfiable = []
    for operation in found:
        if mode.is_negative and not (len(operation.query) or len(operation.path_parameters)):
            continue  # nothing to get wrong

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=CHECKS)

        try:
            check()
        except Unsatisfiable:
            unsatisfiable.append(operation.label)
    # An operation whose only parameter is a free-text id has no invalid input to generate.
    assert set(unsatisfiable) <= {"GET /v1/namnder/{id}"}


def test_every_field_is_documented_with_an_example(live: str) -> None:
    document = httpx.get(f"{live}/openapi.json").json()
    missing = []
    for name, component in document["components"]["schemas"].items():
        for field, spec in component.get("properties", {}).items():
            if not spec.get("description"):
                missing.append(f"{name}.{field}: description")
            nested = "$ref" in spec or any("$ref" in s for s in spec.get("anyOf", []))
            nested |= spec.get("type") == "array" and "$ref" in spec.get("items", {})
            if not nested and "examples" not in spec and name not in {"Page", "Problem"}:
                missing.append(f"{name}.{field}: examples")
    assert missing == []


def test_pandas_reads_the_same_numbers_as_json(live: str) -> None:
    path = f"/v1/indikatorer/{MONTHLY}/observationer"
    items = httpx.get(f"{live}{path}", params={"limit": 50000}).json()["items"]
    frame = pd.read_csv(f"{live}{path}?format=csv&limit=50000")
    assert len(frame) == len(items) > 1000
    assert list(frame["area"]) == [i["area"] for i in items]
    assert list(frame["period"]) == [i["period"] for i in items]
    for column in ("value", "numerator", "denominator", "coverage", "period_start"):
        expected = [float("nan") if i[column] is None else i[column] for i in items]
        assert frame[column].tolist() == pytest.approx(expected, nan_ok=True)
    received = pd.to_datetime(frame["received_at"], utc=True, format="ISO8601")
    json_received = pd.to_datetime(
        pd.Series([i["received_at"] for i in items]), utc=True, format="ISO8601"
    )
    assert (
        received.fillna(pd.Timestamp(0, tz="UTC"))
        == json_received.fillna(pd.Timestamp(0, tz="UTC"))
    ).all()

    goals = pd.read_csv(f"{live}/v1/etappmal?format=csv")
    json_goals = httpx.get(f"{live}/v1/etappmal").json()["items"]
    assert goals["status"].tolist() == [g["status"] for g in json_goals]
    assert goals["latest_value"].tolist() == pytest.approx([g["latest_value"] for g in json_goals])
    assert goals["counts_i_fas"].tolist() == [g["counts"]["i_fas"] for g in json_goals]


def test_pandas_sends_accept_text_csv(live: str) -> None:
    frame = pd.read_csv(
        f"{live}/v1/omraden/rinkeby-kista/indikatorer", storage_options={"Accept": "text/csv"}
    )
    rows = httpx.get(f"{live}/v1/omraden/rinkeby-kista/indikatorer").json()["items"]
    assert frame["indicator"].tolist() == [r["indicator"] for r in rows]
    share = frame.set_index("indicator").loc[SHARE]
    row = next(r for r in rows if r["indicator"] == SHARE)
    assert share["gap"] == pytest.approx(row["gap"])
    assert share["city_value"] == pytest.approx(row["city_value"])
