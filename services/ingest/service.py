"""One batch from a source: parse → validate (pure) → publish → answer, with idempotency around it."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.exc import SQLAlchemyError

from services.ingest.answers import (
    Answer,
    in_progress,
    kafka_unavailable,
    not_recorded,
    outcome_unknown,
    problem,
)
from services.ingest.idempotency import Claimed, InProgress, Replay, Reused
from services.ingest.idempotency_ledger import IdempotencyLedger
from services.ingest.metrics import IngestMetrics
from services.ingest.parsing import BodyError, Rows, parse_csv, parse_json
from services.ingest.publisher import (
    KafkaUnavailableError,
    Publisher,
    PublishOutcomeUnknownError,
    Record,
)
from shared.domain.catalog import Catalog
from shared.domain.observation import SCHEMA, utcnow
from shared.domain.validation import (
    BatchResult,
    Scope,
    ValidRow,
    allowed_indicators,
    iso_utc,
    validate_batch,
)
from shared.settings import Settings

#: Namespace of observation ids derived from (source, Idempotency-Key, row): a retry after a 503
#: carries the same ids, so a row Kafka took before the failure is a harmless repeat downstream.
ID_NAMESPACE = uuid.UUID("6c1d8f0e-2f57-4f0b-9a51-6b7f3e1d2c4a")


def event_of(row: ValidRow, source: str, received_at: str, observation_id: str) -> dict[str, Any]:
    """The observation.v1 event of a valid row: the service adds id, source, received_at, schema."""
    fields = row.fields
    event = {"schema": SCHEMA, "observation_id": fields.get("observation_id", observation_id),
             "source": source, "received_at": received_at, **fields}  # fmt: skip
    event.setdefault("updated_at", received_at)
    return event


def random_uuids(n: int) -> list[str]:
    """`n` random (version 4) UUIDs as text, from one read of the OS's randomness."""
    pool = bytearray(os.urandom(16 * n))
    out = []
    for i in range(0, 16 * n, 16):
        pool[i + 6] = (pool[i + 6] & 0x0F) | 0x40
        pool[i + 8] = (pool[i + 8] & 0x3F) | 0x80
        h = pool[i : i + 16].hex()
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


class IngestService:
    """Handles batches from authenticated sources."""

    def __init__(self, settings: Settings, catalog: Catalog, publisher: Publisher, keys: IdempotencyLedger,
                 metrics: IngestMetrics, clock: Callable[[], datetime] = utcnow) -> None:  # fmt: skip
        self.settings, self.catalog, self.publisher = settings, catalog, publisher
        self.keys, self.metrics, self.clock = keys, metrics, clock
        self.topic = settings.topic("observations.v1")
        self.retry_after = settings.ingest_retry_after_seconds
        self._scopes: dict[str, frozenset[str]] = {}

    async def ingest(self, source: str, body: bytes, *, csv: bool, dry_run: bool, atomic: bool,
                     idempotency_key: str | None) -> Answer:  # fmt: skip
        """Judge and (unless a dry run) publish one batch; the answer says what happened to each row."""
        key = None if dry_run else idempotency_key
        if key is None:
            return await self._process(
                source, body, csv=csv, dry_run=dry_run, atomic=atomic, key=None
            )
        request_hash = hashlib.sha256(b"%d|%d|%d|" % (csv, dry_run, atomic) + body).hexdigest()
        try:
            claim = await self.keys.claim(source, key, request_hash, self.clock())
        except SQLAlchemyError:
            self.metrics.batches.labels(source, "database_unavailable").inc()
            return not_recorded(self.retry_after)
        if isinstance(claim, Replay):
            self.metrics.batches.labels(source, "replayed").inc()
            return Answer(claim.status_code, claim.response, {"Idempotent-Replayed": "true"})
        if isinstance(claim, Reused):
            return problem(422, "idempotency_key_reused",
                           "this Idempotency-Key was used before with a different request")  # fmt: skip
        if isinstance(claim, InProgress):
            return in_progress(claim.seconds, self.retry_after)
        assert isinstance(claim, Claimed)
        # A retry after an unknown outcome is received "when the first attempt was": same events.
        received = claim.received_at or self.clock()
        try:
            answer = await self._process(
                source, body, csv=csv, dry_run=dry_run, atomic=atomic, key=key, now=received
            )
        except BaseException:
            await self.keys.release(source, key, claim.token, self.clock(), bound=True)
            raise
        if answer.status in (202, 422):
            # Kafka has the rows: a 202 stays true even when its record cannot be written now.
            await self.keys.complete(
                source, key, claim.token, answer.status, answer.body, self.clock()
            )
        else:
            bound = answer.body.get("outcome") == "unknown"
            await self.keys.release(source, key, claim.token, self.clock(), bound=bound)
        return answer

    async def _process(self, source: str, body: bytes, *, csv: bool, dry_run: bool, atomic: bool,
                       key: str | None, now: datetime | None = None) -> Answer:  # fmt: skip
        try:
            rows = (parse_csv if csv else parse_json)(body, self.settings.max_rows)
        except BodyError as exc:
            self.metrics.batches.labels(source, "invalid").inc()
            return problem(exc.status, exc.code, exc.message, line=exc.line, column=exc.column)
        now = now or self.clock()
        result = validate_batch(rows.items, self._scope(source, now), text=csv, atomic=atomic)
        batch_id = str(uuid.uuid4())
        if not dry_run and result.valid:
            records = self._records(result.valid, source, iso_utc(now), key)
            start = time.perf_counter()
            try:
                await self.publisher.publish(self.topic, records)
            except PublishOutcomeUnknownError:
                self.metrics.batches.labels(source, "unknown").inc()
                return outcome_unknown(self.publisher.timeout, self.retry_after, bool(key))
            except KafkaUnavailableError:
                self.metrics.batches.labels(source, "unavailable").inc()
                return kafka_unavailable(self.retry_after, bool(key))
            self.metrics.publish_seconds.observe(time.perf_counter() - start)
        return self._report(source, batch_id, result, rows, dry_run)

    def _scope(self, source: str, now: datetime) -> Scope:
        allowed = self._scopes.get(source)
        if allowed is None:
            allowed = self._scopes[source] = allowed_indicators(self.catalog, source)
        now = now.astimezone(UTC)
        return Scope(self.catalog, source, allowed, now, now.date())

    def _records(
        self, valid: list[ValidRow], source: str, received_at: str, key: str | None
    ) -> list[Record]:
        if key:
            ids = [
                str(uuid.uuid5(ID_NAMESPACE, f"{source}\x1f{key}\x1f{row.row}")) for row in valid
            ]
        else:
            ids = random_uuids(len(valid))
        dumps = orjson.dumps
        return [(row.key.encode(), dumps(event_of(row, source, received_at, oid)), [])
                for row, oid in zip(valid, ids, strict=True)]  # fmt: skip

    def _report(
        self, source: str, batch_id: str, result: BatchResult, rows: Rows, dry_run: bool
    ) -> Answer:
        errors = [e.as_dict() for e in result.errors]
        if rows.lines is not None:
            for error in errors:
                error["line"] = rows.lines[error["row"] - 1] if error["row"] > 0 else None
        accepted = len(result.valid)
        body = {"batch_id": batch_id, "received": result.received, "accepted": accepted,
                "rejected": result.rejected, "dry_run": dry_run, "errors": errors}  # fmt: skip
        if dry_run:
            self.metrics.batches.labels(source, "dry_run").inc()
            return Answer(200 if accepted else 422, body)
        self.metrics.count_rows(source, result.received, accepted, result.rejected_rows)
        outcome = "accepted" if not result.rejected else "partial" if accepted else "rejected"
        self.metrics.batches.labels(source, outcome).inc()
        return Answer(202 if accepted else 422, body)
