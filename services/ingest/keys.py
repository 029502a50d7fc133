"""Source keys: `sp_<key_id>_<secret>`, stored only as HMAC-SHA256 under the server's `key_secret`.

The plaintext key is shown once, when it is created. A key is looked up by its id and checked with
a constant-time comparison; a revoked key is refused. Keys never appear in logs or reprs.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select, update

from shared.db.schema import source_keys
from shared.settings import Settings
from shared.tokens import HASH_SCHEME as HASH_SCHEME
from shared.tokens import hash_key as hash_key
from shared.tokens import same_hash

PREFIX = "sp"
_KEY = re.compile(r"^sp_(?P<key_id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{20,128})$")


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown about a key: never the key nor its hash."""

    key_id: str
    source: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None

    def __str__(self) -> str:
        state = f"revoked {self.revoked_at:%Y-%m-%d %H:%M}" if self.revoked_at else "active"
        label = f"  {self.label}" if self.label else ""
        return f"{self.key_id}  {self.source}  created {self.created_at:%Y-%m-%d %H:%M}  {state}{label}"


@dataclass(frozen=True)
class StoredKey:
    """A key's row as the verifier needs it."""

    key_id: str
    source: str
    key_hash: str
    revoked: bool


def key_id_of(key: str) -> str | None:
    """The key id inside a well-formed key, else None."""
    match = _KEY.match(key)
    return match["key_id"] if match else None


def matches(secret: str, key: str, stored: StoredKey) -> bool:
    """Whether `key` is the active key `stored` (constant-time on the hash)."""
    return same_hash(secret, key, stored.key_hash) and not stored.revoked


def create_key(
    engine: Engine, settings: Settings, source: str, label: str | None = None
) -> tuple[str, str]:
    """Create and store a key for `source`; return (key_id, plaintext key), the key shown once."""
    key_id = secrets.token_hex(8)
    key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    with engine.begin() as conn:
        conn.execute(
            insert(source_keys).values(
                key_id=key_id,
                source=source,
                key_hash=hash_key(settings.key_secret.get_secret_value(), key),
                label=label,
                created_at=datetime.now(UTC),
            )
        )
    return key_id, key


def revoke_key(engine: Engine, key_id: str) -> bool:
    """Revoke an active key; False when there is no such active key."""
    with engine.begin() as conn:
        result = conn.execute(
            update(source_keys)
            .where(source_keys.c.key_id == key_id, source_keys.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
    return result.rowcount == 1


def list_keys(engine: Engine) -> list[KeyInfo]:
    """Every key, oldest first, without secrets."""
    cols = source_keys.c
    query = select(cols.key_id, cols.source, cols.label, cols.created_at, cols.revoked_at)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(cols.created_at, cols.key_id)).all()
    return [KeyInfo(r.key_id, r.source, r.label, r.created_at, r.revoked_at) for r in rows]


def load_key(engine: Engine, key_id: str) -> StoredKey | None:
    """The stored key with this id, or None."""
    cols = source_keys.c
    query = select(cols.key_id, cols.source, cols.key_hash, cols.revoked_at).where(
        cols.key_id == key_id
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return StoredKey(row.key_id, row.source, row.key_hash, row.revoked_at is not None)


def verify_key(engine: Engine, settings: Settings, key: str) -> str | None:
    """The source of an active, matching key; None for anything else."""
    key_id = key_id_of(key)
    stored = load_key(engine, key_id) if key_id else None
    if stored is None or not matches(settings.key_secret.get_secret_value(), key, stored):
        return None
    return stored.source
