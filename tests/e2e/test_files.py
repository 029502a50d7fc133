"""End to end: a nämnd's workbook, made by LibreOffice, posted over HTTP, served rolled up by the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from services.ingest.formats import XLSX
from shared.infra.wait import wait_for
from tests.e2e.client import INDICATOR, create_key, series_rows
from tests.workbooks import office_xlsx

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

WIDE_CSV = (
    f"Indikator:;{INDICATOR}\n"
    "Kön:;T\n"
    "area;2024 täljare;2024 nämnare;2024\n"
    "rinkeby;214;300;71,33\n"
    "kista;100;200;50\n"
    "sodermalm;ett hundra;400;\n"
)


def test_a_libreoffice_workbook_reaches_the_api_rolled_up(
    stack: dict[str, str], tmp_path: Path
) -> None:
    workbook = office_xlsx(WIDE_CSV, "Blad1", tmp_path)
    auth = {"Authorization": f"Bearer {create_key(stack)}", "Content-Type": XLSX}
    answer = httpx.post(
        f"{stack['ingest']}/v1/observations", content=workbook, headers=auth, timeout=30
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == 2
    assert {e["cell"] for e in answer.json()["errors"]} == {"Blad1!B6"}

    def rinkeby_kista() -> dict[str, Any] | None:
        found = series_rows(stack["api"], area="rinkeby-kista")
        return found[0] if found and found[0]["coverage"] and found[0]["coverage"] >= 0.5 else None

    parent = wait_for(rinkeby_kista, timeout=60, what="the stadsdelsområde rollup in the API")
    assert (parent["numerator"], parent["denominator"]) == (314, 500)
    assert parent["value"] == pytest.approx(100 * 314 / 500)
    (kista,) = series_rows(stack["api"], area="kista")
    assert (kista["value"], kista["numerator"], kista["denominator"]) == (50, 100, 200)
