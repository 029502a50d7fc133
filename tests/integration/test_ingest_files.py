"""Files from the förvaltningar through the real ingest app and `stadspuls load`, into real Kafka:
an .xlsx made by LibreOffice and a windows-1252 CSV; the good rows land, the bad cells are named."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from services.cli import app as cli
from services.ingest.formats import XLSX
from shared.settings import Settings
from tests.factories import SCHOOL, SHARE
from tests.integration.ingest_helpers import (
    bearer,
    events,
    ingest_settings,
    prepare,
    read_topic,
    running,
)
from tests.workbooks import office_xlsx

URL = "/v1/observations"
#: A nämnd's wide sheet as Swedish Excel writes it; kista's 2024 denominator (F6) is not a number.
WIDE_CSV = (
    f"Indikator:;{SHARE}\n"
    "Kön:;K\n"
    "\n"
    "area;2023 täljare;2023 nämnare;2023;2024 täljare;2024 nämnare;2024\n"
    "rinkeby;214;300;71,33;220;310;70,97\n"
    "kista;120;150;80;130;abc;\n"
)
GOOD = [
    ("rinkeby", "2023", 214, 300, 71.33),
    ("rinkeby", "2024", 220, 310, 70.97),
    ("kista", "2023", 120, 150, 80.0),
]
LONG_CP1252 = (
    "indicator;area;period;gender;value;numerator;denominator;comment\r\n"
    f"{SHARE};rinkeby;2024;M;71,33;214;300;Källa: Skolverket, elever i åk 9 (första året)\r\n"
    f"{SHARE};kista;2024;M;80;120;;Ökning\r\n"
).encode("cp1252")


@pytest.fixture(scope="module")
def office_workbook(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return office_xlsx(WIDE_CSV, "Blad1", tmp_path_factory.mktemp("office"))


@pytest.fixture
def settings(kafka: Any, topic_prefix: str, sqlite_url: str) -> Settings:
    return ingest_settings(kafka.bootstrap, topic_prefix, sqlite_url)


@pytest.fixture
def engine(settings: Settings) -> Engine:
    return prepare(settings)


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with running(settings, engine) as client:
        yield client


def canonical(settings: Settings) -> list[dict[str, Any]]:
    assert settings.kafka_bootstrap
    return events(read_topic(settings.kafka_bootstrap, settings.topic("observations.v1")))


def landed(settings: Settings) -> list[tuple[Any, ...]]:
    keys = ("area", "period", "numerator", "denominator", "value")
    return sorted(tuple(e[k] for k in keys) for e in canonical(settings))


def cells(answer: dict[str, Any]) -> list[tuple[int, str, str, str]]:
    return [(e["row"], e["field"], e["code"], e["cell"]) for e in answer["errors"]]


def test_a_libreoffice_workbook_is_accepted_and_its_bad_cell_named(
    client: TestClient, engine: Engine, settings: Settings, office_workbook: bytes
) -> None:
    headers = {"Content-Type": XLSX, **bearer(engine, settings, SCHOOL)}
    answer = client.post(URL, content=office_workbook, headers=headers)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert (body["received"], body["accepted"], body["rejected"]) == (4, 3, 1)
    assert cells(body) == [
        (4, "denominator", "bad_number", "Blad1!F6"),
    ]
    assert landed(settings) == sorted(GOOD)
    assert {e["gender"] for e in canonical(settings)} == {"K"}


def test_a_windows_1252_csv_keeps_its_letters_and_names_line_and_cell(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    headers = {"Content-Type": "text/csv; charset=windows-1252", **bearer(engine, settings, SCHOOL)}
    answer = client.post(URL, content=LONG_CP1252, headers=headers)
    assert answer.status_code == 202, answer.text
    [error] = answer.json()["errors"]
    assert (error["row"], error["line"], error["cell"]) == (2, 3, "G3")
    assert error["code"] == "missing_denominator"
    [event] = canonical(settings)
    assert event["comment"] == "Källa: Skolverket, elever i åk 9 (första året)"
    assert event["value"] == 71.33
    unknown = client.post(
        URL, content=LONG_CP1252, headers={**headers, "Content-Type": "text/csv; charset=ebcdic"}
    )
    assert (unknown.status_code, unknown.json()["code"]) == (415, "unsupported_charset")


def test_a_file_that_cannot_be_taken_is_a_problem_naming_the_cell(
    client: TestClient, engine: Engine, settings: Settings, office_workbook: bytes
) -> None:
    headers = {"Content-Type": XLSX, **bearer(engine, settings, SCHOOL)}
    answer = client.post(
        URL + "?indicator=meritvarde-ak9", content=office_workbook, headers=headers
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "conflicting_header"
    assert answer.json()["cell"] == "Blad1!B1"
    assert canonical(settings) == []


@pytest.fixture
def cli_env(settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Settings:
    assert settings.kafka_bootstrap
    monkeypatch.setenv("STADSPULS_KAFKA_BOOTSTRAP", settings.kafka_bootstrap)
    monkeypatch.setenv("STADSPULS_TOPIC_PREFIX", settings.topic_prefix)
    monkeypatch.setenv("STADSPULS_DATABASE_URL", settings.database_url)
    return settings


def test_load_sends_a_workbook_as_the_endpoint_would(
    cli_env: Settings, office_workbook: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "behorighet.xlsx"
    path.write_bytes(office_workbook)
    runner = CliRunner()
    dry = runner.invoke(cli, ["load", str(path), "--source", SCHOOL, "--dry-run"])
    assert dry.exit_code == 1, dry.output  # a row is rejected: a script sees it
    report = orjson.loads(dry.stdout)
    assert (report["dry_run"], report["accepted"]) == (True, 3)
    assert cells(report)[0] == (4, "denominator", "bad_number", "Blad1!F6")
    assert canonical(cli_env) == []
    sent = runner.invoke(cli, ["load", str(path), "--source", SCHOOL])
    assert sent.exit_code == 1, sent.output
    assert re.search(r"4 rows, 3 accepted, 1 rejected", sent.stderr)
    assert landed(cli_env) == sorted(GOOD)


def test_load_of_a_clean_csv_exits_zero_and_a_refused_file_says_why(
    cli_env: Settings, tmp_path: Path
) -> None:
    good = tmp_path / "skola.csv"
    good.write_bytes(LONG_CP1252.split(b"\r\n")[0] + b"\r\n" + LONG_CP1252.split(b"\r\n")[1])
    runner = CliRunner()
    result = runner.invoke(
        cli, ["load", str(good), "--source", SCHOOL, "--charset", "windows-1252"]
    )
    assert result.exit_code == 0, result.output
    assert [e["comment"] for e in canonical(cli_env)] == [
        "Källa: Skolverket, elever i åk 9 (första året)"
    ]
    refused = runner.invoke(cli, ["load", str(good), "--source", SCHOOL])  # not UTF-8
    assert refused.exit_code == 1
    assert "bad_encoding" in refused.stderr
    assert "line 2" in refused.stderr
