"""Every catalog the aggregator runs with is recorded once, with its hash and when it took effect."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared.db.catalog_versions import catalog_history, record_catalog
from shared.db.engine import make_engine, upgrade
from shared.settings import DEFAULT_CATALOG


def test_a_catalog_is_recorded_once_and_a_changed_one_takes_effect_after_it(
    db_url: str, tmp_path: Path
) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    first = datetime(2026, 1, 1, tzinfo=UTC)
    recorded = record_catalog(engine, DEFAULT_CATALOG, first)
    assert recorded.sha256 == hashlib.sha256(DEFAULT_CATALOG.read_bytes()).hexdigest()
    again = record_catalog(engine, DEFAULT_CATALOG, first + timedelta(days=1))
    assert again.effective_at == recorded.effective_at  # a restart with the same catalog
    changed = tmp_path / "catalog.yaml"
    changed.write_text(DEFAULT_CATALOG.read_text(encoding="utf-8") + "\n# a comment\n")
    later = record_catalog(engine, changed, first + timedelta(days=2))
    back = record_catalog(engine, DEFAULT_CATALOG, first + timedelta(days=3))
    history = catalog_history(engine)
    assert [v.sha256 for v in history] == [recorded.sha256, later.sha256, recorded.sha256]
    assert [v.effective_at for v in history] == [
        first,
        first + timedelta(days=2),
        first + timedelta(days=3),
    ]
    assert back.path == str(DEFAULT_CATALOG)
    engine.dispose()
