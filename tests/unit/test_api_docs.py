"""docs/api.md lists exactly the CSV columns the API sends."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from services.api.csv import header
from services.api.schemas.areas import OmradeOut, ProfileRow
from services.api.schemas.catalog import IndikatorOut
from services.api.schemas.series import SeriesRow, VersionRow
from services.api.schemas.status import EtappmalOut, NamndRollup

DOC = Path(__file__).parents[2] / "docs" / "api.md"
MODELS: dict[str, type[BaseModel]] = {
    m.__name__: m
    for m in (EtappmalOut, NamndRollup, IndikatorOut, SeriesRow, VersionRow, OmradeOut, ProfileRow)
}


def test_documented_csv_columns_are_the_columns_sent() -> None:
    documented = {
        name: re.findall(r"`([a-z0-9_]+)`", line.split(":", 1)[1])
        for name, line in re.findall(r"<!-- csv:(\w+) -->(.*)", DOC.read_text(encoding="utf-8"))
    }
    assert set(documented) == set(MODELS)
    for name, model in MODELS.items():
        assert documented[name] == header(model), name
