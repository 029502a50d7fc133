"""The canonical event of a valid row, as every ingest path publishes it, and its deterministic ids.

A `ValidRow` becomes an `observation.v1` event (see `Observation`): the row's fields plus `schema`,
`observation_id`, `source`, `received_at`, and `updated_at` defaulting to `received_at`. The ids a
path derives are UUIDv5 in one namespace, so a retry or a redelivery carries the same ids and is a
harmless repeat downstream. Pure: the caller brings the source, the time and the id.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import orjson

from shared.domain.observation import SCHEMA
from shared.domain.validation import ValidRow

#: Namespace of every derived observation id (from a request's Idempotency-Key and row, or from
#: a raw message's place in its topic).
ID_NAMESPACE = uuid.UUID("6c1d8f0e-2f57-4f0b-9a51-6b7f3e1d2c4a")


def event_of(row: ValidRow, source: str, received_at: str, observation_id: str) -> dict[str, Any]:
    """The observation.v1 event of a valid row; a row's own `observation_id` wins over the given one."""
    fields = row.fields
    event = {
        "schema": SCHEMA,
        "observation_id": fields.get("observation_id", observation_id),
        "source": source,
        "received_at": received_at,
        **fields,
    }
    # the service's own fields win (keeping their place): no field of a row says who sent it or
    # when, even if one got past validation, which refuses them
    event.update(schema=SCHEMA, source=source, received_at=received_at)
    event.setdefault("updated_at", received_at)
    return event


def encode_event(
    row: ValidRow, source: str, received_at: str, observation_id: str
) -> tuple[bytes, bytes]:
    """(series key, event JSON): the message key and value of a valid row on the canonical topic."""
    return row.key.encode(), orjson.dumps(event_of(row, source, received_at, observation_id))


#: Fields the service sets; a row carrying one (its own id) is encoded through `event_of`.
_OWN = frozenset({"schema", "observation_id", "source", "received_at"})


def encode_events(
    rows: Sequence[ValidRow], source: str, received_at: str, ids: Sequence[str]
) -> list[tuple[bytes, bytes]]:
    """`encode_event` of each row with its id: the same bytes, the service's fields encoded once.

    A row's event is its fields' JSON behind the service's fields, and `updated_at` behind them
    when the row has none; building that dict per row cost as much as the validation's fast path.
    """
    head = b'{"schema":%s,"observation_id":' % orjson.dumps(SCHEMA)
    tail = b',"source":%s,"received_at":%s,' % (orjson.dumps(source), orjson.dumps(received_at))
    updated = b',"updated_at":%s}' % orjson.dumps(received_at)
    dumps, out = orjson.dumps, []
    for row, oid in zip(rows, ids, strict=True):
        fields = row.fields
        if not fields or not _OWN.isdisjoint(fields):
            out.append((row.key.encode(), dumps(event_of(row, source, received_at, oid))))
            continue
        body = dumps(fields)
        last = body[1:] if "updated_at" in fields else body[1:-1] + updated
        out.append((row.key.encode(), head + dumps(oid) + tail + last))
    return out


def keyed_ids(source: str, idempotency_key: str, rows: Sequence[ValidRow]) -> list[str]:
    """The ids of a request's rows, from its source, Idempotency-Key and row numbers."""
    prefix = f"{source}\x1f{idempotency_key}\x1f"
    return [str(uuid.uuid5(ID_NAMESPACE, f"{prefix}{row.row}")) for row in rows]


def raw_message_id(topic: str, partition: int, offset: int) -> str:
    """The id of a raw-topic message's event, from where the message is in its topic."""
    return str(uuid.uuid5(ID_NAMESPACE, f"raw\x1f{topic}\x1f{partition}\x1f{offset}"))
