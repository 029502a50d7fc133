"""Reader tokens: `sr_<token_id>_<secret>`, stored only as HMAC-SHA256 under the `key_secret`.

A token lets its holder see everything, preliminary values too. It is shown once, when created;
`stadspuls readers revoke NAME` revokes a reader's active tokens and the API refuses them within
`ingest_key_cache_seconds`.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select, update

from shared.db.schema import reader_tokens
from shared.tokens import hash_key, same_hash

PREFIX = "sr"
_TOKEN = re.compile(r"^sr_(?P<token_id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{20,128})$")


class ReaderExistsError(ValueError):
    """A reader of that name already holds an active token."""


@dataclass(frozen=True)
class ReaderInfo:
    """What may be shown about a token: never the token nor its hash."""

    token_id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None

    def __str__(self) -> str:
        state = f"revoked {self.revoked_at:%Y-%m-%d %H:%M}" if self.revoked_at else "active"
        return f"{self.name}  {self.token_id}  created {self.created_at:%Y-%m-%d %H:%M}  {state}"


def token_id_of(token: str) -> str | None:
    """The token id inside a well-formed reader token, else None."""
    match = _TOKEN.match(token)
    return match["token_id"] if match else None


def create_reader(engine: Engine, secret: str, name: str) -> str:
    """Store a new token for reader `name` and return it (shown once)."""
    token_id = secrets.token_hex(8)
    token = f"{PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
    with engine.begin() as conn:
        active = select(reader_tokens.c.token_id).where(
            reader_tokens.c.name == name, reader_tokens.c.revoked_at.is_(None)
        )
        if conn.execute(active).first() is not None:
            raise ReaderExistsError(f"reader {name!r} already has an active token; revoke it first")
        conn.execute(
            insert(reader_tokens).values(
                token_id=token_id,
                name=name,
                token_hash=hash_key(secret, token),
                created_at=datetime.now(UTC),
            )
        )
    return token


def revoke_reader(engine: Engine, name: str) -> int:
    """Revoke every active token of reader `name`; how many were revoked."""
    with engine.begin() as conn:
        result = conn.execute(
            update(reader_tokens)
            .where(reader_tokens.c.name == name, reader_tokens.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
    return int(result.rowcount)


def list_readers(engine: Engine) -> list[ReaderInfo]:
    """Every token, oldest first, without secrets."""
    c = reader_tokens.c
    query = select(c.token_id, c.name, c.created_at, c.revoked_at).order_by(
        c.created_at, c.token_id
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [ReaderInfo(r.token_id, r.name, r.created_at, r.revoked_at) for r in rows]


def verify_reader(engine: Engine, secret: str, token: str) -> str | None:
    """The name of the reader whose active token this is, else None."""
    token_id = token_id_of(token)
    if token_id is None:
        return None
    c = reader_tokens.c
    query = select(c.name, c.token_hash).where(c.token_id == token_id, c.revoked_at.is_(None))
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None or not same_hash(secret, token, row.token_hash):
        return None
    return str(row.name)
