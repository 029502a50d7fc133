"""Key storage on SQLite and PostgreSQL: created keys verify, revoked ones do not, nothing secret stored."""

from __future__ import annotations

from pydantic import SecretStr
from sqlalchemy import select

from services.ingest.keys import create_key, list_keys, revoke_key, verify_key
from shared.db.engine import make_engine, upgrade
from shared.db.schema import source_keys
from shared.settings import Settings


def test_create_verify_list_revoke(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    settings = Settings(database_url=db_url, key_secret=SecretStr("a-test-secret"))
    key_id, key = create_key(engine, settings, "utbildningsforvaltningen", "pupil statistics")
    other_id, other = create_key(engine, settings, "arbetsmarknadsforvaltningen")
    assert key.startswith(f"sp_{key_id}_")
    assert verify_key(engine, settings, key) == "utbildningsforvaltningen"
    assert verify_key(engine, settings, other) == "arbetsmarknadsforvaltningen"
    assert verify_key(engine, settings, key[:-2] + "zz") is None
    elsewhere = settings.model_copy(update={"key_secret": SecretStr("another-secret")})
    assert verify_key(engine, elsewhere, key) is None
    with engine.connect() as conn:
        stored = conn.execute(select(source_keys)).all()
    assert all(key not in str(tuple(row)) and other not in str(tuple(row)) for row in stored)
    infos = {info.key_id: info for info in list_keys(engine)}
    assert set(infos) == {key_id, other_id}
    assert infos[key_id].label == "pupil statistics"
    assert "active" in str(infos[key_id])
    assert key not in str(infos[key_id])
    assert revoke_key(engine, key_id)
    assert not revoke_key(engine, key_id)
    assert not revoke_key(engine, "0000000000000000")
    assert verify_key(engine, settings, key) is None
    assert verify_key(engine, settings, other) == "arbetsmarknadsforvaltningen"
    assert (
        list_keys(engine)[0].revoked_at is not None or list_keys(engine)[1].revoked_at is not None
    )
