"""The `stadspuls` command line: catalog check, keys, database upgrade (SQLite file; no broker)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import NEEDS_REBUILD, app
from services.ingest.keys import list_keys
from shared.catalog.loader import CATALOG_PATH
from shared.db.engine import make_engine

runner = CliRunner()


@pytest.fixture
def env(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("STADSPULS_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("STADSPULS_KEY_SECRET", "cli-test-secret")
    return sqlite_url


def test_catalog_check_accepts_the_shipped_catalog() -> None:
    result = runner.invoke(app, ["catalog", "check", str(CATALOG_PATH)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output


def test_catalog_check_names_file_line_and_field(tmp_path: Path) -> None:
    text = CATALOG_PATH.read_text(encoding="utf-8")
    broken = text.replace("    kind: ratio\n", "    kind: ratiox\n", 1)
    line = text[: text.index("    kind: ratio\n")].count("\n") + 1
    path = tmp_path / "broken.yaml"
    path.write_text(broken, encoding="utf-8")
    result = runner.invoke(app, ["catalog", "check", str(path)])
    assert result.exit_code == 1
    assert f"broken.yaml:{line}:" in result.output
    assert "kind" in result.output
    assert "ratiox" in result.output


def test_catalog_diff_says_per_change_what_takes_effect_at_start(tmp_path: Path) -> None:
    text = CATALOG_PATH.read_text(encoding="utf-8")
    rinkeby = "  - {id: rinkeby, name: Rinkeby, level: stadsdel, parent: rinkeby-kista}"
    moved = text.replace(rinkeby, rinkeby.replace("rinkeby-kista}", "spanga-tensta}"))
    path = tmp_path / "moved.yaml"
    path.write_text(moved.replace("target: {value: 92.0", "target: {value: 95.0"), "utf-8")
    result = runner.invoke(app, ["catalog", "diff", str(CATALOG_PATH), str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "[rollups re-projected at start] area re-parented: rinkeby: rinkeby-kista (always)"
        " → spanga-tensta (always)"
    )
    assert lines[1].startswith("[summaries re-projected at start] etappmål behorighet-gymnasiet")
    assert "2 change(s)" in lines[-1]
    assert "re-projected when the aggregator starts" in lines[-1]


def test_catalog_diff_exits_3_when_the_change_needs_a_rebuild(tmp_path: Path) -> None:
    text = CATALOG_PATH.read_text(encoding="utf-8")
    assert "    kind: ratio" in text
    path = tmp_path / "kind.yaml"
    path.write_text(text.replace("    kind: ratio", "    kind: level", 1), "utf-8")
    result = runner.invoke(app, ["catalog", "diff", str(CATALOG_PATH), str(path)])
    assert result.exit_code == NEEDS_REBUILD == 3, result.output
    assert "needs stadspuls rebuild" in result.output.splitlines()[-1]
    same = runner.invoke(app, ["catalog", "diff", str(CATALOG_PATH), str(CATALOG_PATH)])
    assert same.exit_code == 0, same.output


def test_keys_create_prints_the_key_once_and_stores_only_its_hash(env: str) -> None:
    result = runner.invoke(app, ["keys", "create", "utbildningsforvaltningen", "--label", "test"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("sp_")
    (info,) = list_keys(make_engine(env))
    assert info.source == "utbildningsforvaltningen"
    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0
    assert info.key_id in listed.output
    assert key not in listed.output
    with make_engine(env).connect() as conn:
        stored = conn.exec_driver_sql("SELECT key_hash FROM source_keys").scalar_one()
    assert key not in stored
    revoked = runner.invoke(app, ["keys", "revoke", info.key_id])
    assert revoked.exit_code == 0, revoked.output
    again = runner.invoke(app, ["keys", "revoke", info.key_id])
    assert again.exit_code == 1


def test_keys_create_refuses_an_unknown_source(env: str) -> None:
    result = runner.invoke(app, ["keys", "create", "no-such-source"])
    assert result.exit_code == 2
    assert "unknown source" in result.output


def test_readers_create_prints_the_token_once_and_revoke_ends_it(env: str) -> None:
    from services.api.readers import verify_reader

    result = runner.invoke(app, ["readers", "create", "power-bi"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("sr_")
    assert verify_reader(make_engine(env), "cli-test-secret", token) == "power-bi"
    assert runner.invoke(app, ["readers", "create", "power-bi"]).exit_code == 1  # one at a time
    listed = runner.invoke(app, ["readers", "list"])
    assert "power-bi" in listed.output
    assert token not in listed.output
    with make_engine(env).connect() as conn:
        stored = conn.exec_driver_sql("SELECT token_hash FROM reader_tokens").scalar_one()
    assert token.split("_")[-1] not in stored
    assert runner.invoke(app, ["readers", "revoke", "power-bi"]).exit_code == 0
    assert verify_reader(make_engine(env), "cli-test-secret", token) is None
    assert runner.invoke(app, ["readers", "revoke", "power-bi"]).exit_code == 1


def test_topics_acls_prints_them_and_refuses_what_does_not_go_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STADSPULS_TOPIC_PREFIX", "p1.")
    result = runner.invoke(app, ["topics", "--acls", "--ingest-principal", "User:ingest-x"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["principal", "operation", "resource", "pattern", "name"]
    assert ["User:scb", "Write", "topic", "literal", "p1.stadspuls.observations.raw.v1.scb"] in [
        line.split() for line in lines
    ]
    assert any(line.startswith("User:ingest-x ") for line in lines)
    strimzi = runner.invoke(app, ["topics", "--acls", "--format", "strimzi"])
    assert strimzi.exit_code == 0, strimzi.output
    assert "kind: KafkaUser" in strimzi.output
    for refused in (
        ["topics", "--apply"],
        ["topics", "--acls", "--format", "strimzi", "--apply"],
        ["topics", "--acls", "--format", "xml"],
    ):
        assert runner.invoke(app, refused).exit_code == 2, refused
    shared = runner.invoke(app, ["topics", "--acls", "--aggregate-principal", "User:scb"])
    assert shared.exit_code == 2
    assert "'User:scb' is the principal of both" in shared.output


def test_rapport_freeze_reads_times_as_as_of_does_and_pins_a_catalog(env: str) -> None:
    """A lowercase `z`, a year-1 time (once a traceback) and a time without an offset; with no
    catalog recorded yet, the running one is recorded, so the report has one to keep."""
    early = runner.invoke(app, ["rapport", "freeze", "Y1", "--as-of", "0001-01-01T00:00:00+14:00"])
    assert early.exit_code == 0, early.output
    assert "1970-01-01T00:00:00+00:00" in early.output
    lower = runner.invoke(app, ["rapport", "freeze", "LOW", "--as-of", "2025-05-01t00:00:00z"])
    assert lower.exit_code == 0, lower.output
    naive = runner.invoke(app, ["rapport", "freeze", "N", "--as-of", "2025-05-01T00:00:00"])
    assert naive.exit_code == 1
    assert "--as-of" in naive.output
    assert "time zone" in naive.output
    assert "Traceback" not in naive.output
    with make_engine(env).connect() as conn:
        pinned = conn.exec_driver_sql("SELECT DISTINCT catalog_sha256 FROM rapporter").all()
        recorded = conn.exec_driver_sql("SELECT sha256 FROM catalog_versions").all()
    assert len(recorded) == 1
    assert pinned == recorded
