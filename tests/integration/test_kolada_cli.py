"""`stadspuls pull kolada --dry-run` against a local Kolada: the per-row report, exit codes."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from typer.testing import CliRunner

from services.cli import app
from shared.catalog.loader import default_catalog
from tests.kolada_helpers import expected_values
from tests.kolada_server import FakeKolada, kolada_server, v3

runner = CliRunner()


@pytest.fixture
def fake(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKolada]:
    with kolada_server() as fake:
        monkeypatch.setenv("STADSPULS_DATABASE_URL", sqlite_url)
        monkeypatch.setenv("STADSPULS_KOLADA_BASE_URL", v3(fake))
        monkeypatch.setenv("STADSPULS_CONNECTOR_BACKOFF_SECONDS", "0.05")
        monkeypatch.delenv("STADSPULS_KAFKA_BOOTSTRAP", raising=False)
        yield fake


def test_a_dry_run_prints_the_per_row_report_of_what_kolada_holds(fake: FakeKolada) -> None:
    result = runner.invoke(app, ["pull", "kolada", "--dry-run"])
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    # the bundled catalog backfills from 2015: the recorded values of those years are the rows
    catalog = default_catalog()
    want = {k: v for k, v in expected_values(catalog, ["data.json"]).items() if k[1] >= "2015"}
    assert report["dry_run"] is True
    assert (report["received"], report["accepted"], report["rejected"]) == (len(want), len(want), 0)
    assert report["errors"] == []
    assert (report["fetched"], report["skipped"]) == (len(want), 0)  # the nulls are before 2015
    assert all("/year/2015," in r for r in fake.requests)


def test_a_dry_run_reports_rows_the_rules_reject_with_where_they_came_from(
    fake: FakeKolada,
) -> None:
    # a value outside the indicator's bounds (meritvärde ≤ 340) is rejected, named by its coordinates
    for item in fake.items:
        if item["kpi"] == "N15505" and item["period"] == 2020:
            item["values"][0]["value"] = 999.0
    result = runner.invoke(app, ["pull", "kolada", "--dry-run"])
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    (error,) = report["errors"]
    assert error["where"] == "N15505/0180/2020/T"
    assert (error["field"], error["code"]) == ("value", "value_out_of_range")
    assert report["rejected"] == 1


def test_a_failed_pull_exits_1_naming_the_url(fake: FakeKolada) -> None:
    fake.fail_next(404)
    result = runner.invoke(app, ["pull", "kolada", "--dry-run"])
    assert result.exit_code == 1
    assert f"{fake.base}/v3/data/kpi/" in result.stderr
    assert "client_error" in result.stderr


def test_pull_refuses_a_source_no_connector_pulls(fake: FakeKolada) -> None:
    result = runner.invoke(app, ["pull", "scb", "--dry-run"])
    assert result.exit_code == 2
    assert "kolada" in result.stderr  # it names the sources that are pulled
    result = runner.invoke(app, ["pull", "kolada", "--since", "yesterday", "--dry-run"])
    assert result.exit_code == 2


def test_serve_connector_needs_the_name_of_a_pulled_source(fake: FakeKolada) -> None:
    assert runner.invoke(app, ["serve", "connector"]).exit_code == 2
    assert runner.invoke(app, ["serve", "ingest", "kolada"]).exit_code == 2
    result = runner.invoke(app, ["serve", "connector", "scb"])
    assert result.exit_code == 2
    assert "pulled sources: kolada" in result.stderr
