"""CSV answers are safe to open in a spreadsheet: comments a source sent that would start a
formula are served with a leading `'`, read back here with the csv module from the live API."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bench.api.dataset import load
from bench.api.server import serving
from services.api.app import create_app
from shared.catalog.loader import default_catalog
from shared.db.engine import make_engine, upgrade
from shared.domain.observation import Observation
from shared.settings import Settings

INDICATOR = "meritvarde-ak9"  # a level: the value is the source's own
COMMENTS = {
    "2021": "=cmd|' /C calc'!A0",
    "2022": "@SUM(1+1)",
    "2023": "-2+3",
    "2024": "vårterminen, 1+1 skolor saknas",
}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[str]:
    """The API on a read model whose rows carry the comments above."""
    url = f"sqlite:///{tmp_path / 'api.db'}"
    upgrade(url)
    engine = make_engine(url)
    catalog = default_catalog()
    start = datetime(2025, 2, 1, tzinfo=UTC)
    observations = [
        Observation(
            observation_id=uuid.uuid4(),
            source="utbildningsforvaltningen",
            received_at=start + timedelta(minutes=i),
            updated_at=start,
            indicator=INDICATOR,
            area="rinkeby",
            period=period,
            value=200.0 + i,
            comment=comment,
        )
        for i, (period, comment) in enumerate(COMMENTS.items())
    ]
    load(engine, catalog, observations)
    with serving(create_app(Settings(database_url=url), engine=engine, catalog=catalog)) as base:
        yield base
    engine.dispose()


def test_csv_comments_that_would_start_a_formula_are_text(api: str) -> None:
    path = f"{api}/v1/indikatorer/{INDICATOR}/observationer"
    params = {"area": "rinkeby", "gender": "T"}
    items = httpx.get(path, params=params).json()["items"]
    answer = httpx.get(path, params=params | {"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [i["comment"] for i in items] == list(COMMENTS.values())  # JSON is left as it is
    assert {r["period"]: r["comment"] for r in rows} == {
        "2021": "'=cmd|' /C calc'!A0",
        "2022": "'@SUM(1+1)",
        "2023": "'-2+3",
        "2024": "vårterminen, 1+1 skolor saknas",
    }
    assert [float(r["value"]) for r in rows] == [i["value"] for i in items]
