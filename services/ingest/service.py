"""One batch from a source: parse → validate (pure) → event → publish → outcome, with idempotency.

`IngestService.ingest` says what became of the batch as a `BatchOutcome` (`outcomes.py`); the HTTP
route maps it to an answer. The publisher and the idempotency store are ports (`ports.py`).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from services.ingest.formats import JSON, BodyForm, parse_body
from services.ingest.idempotency import ACCEPTED, REJECTED, Claimed, InProgress, Replay, Reused
from services.ingest.metrics import IngestMetrics
from services.ingest.outcomes import (
    BatchOutcome,
    BodyRefused,
    IngestReport,
    Judged,
    KeyInProgress,
    KeyNotRecorded,
    KeyReused,
    NotAccepted,
    OutcomeUnknown,
    RateLimited,
    Replayed,
)
from services.ingest.parsing import BodyError, Rows
from services.ingest.ports import (
    IdempotencyKeys,
    KafkaUnavailableError,
    Publisher,
    PublishOutcomeUnknownError,
    Record,
)
from services.ingest.throttle import SourceThrottle, source_throttle
from shared.domain.catalog import Catalog
from shared.domain.event import encode_events, keyed_ids
from shared.domain.observation import utcnow
from shared.domain.validation import Judgement, Scopes, ValidRow, iso_utc, validate_batch
from shared.settings import Settings


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

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        publisher: Publisher,
        keys: IdempotencyKeys,
        metrics: IngestMetrics,
        clock: Callable[[], datetime] = utcnow,
        throttle: SourceThrottle | None = None,
    ) -> None:
        self.settings, self.publisher, self.keys = settings, publisher, keys
        self.metrics, self.clock = metrics, clock
        self.throttle = throttle or source_throttle(settings, catalog)
        self.scopes = Scopes(catalog)
        self.topic = settings.topic("observations.v1")
        self.publish_timeout = settings.ingest_publish_timeout_seconds

    async def ingest(
        self,
        source: str,
        body: bytes,
        *,
        form: BodyForm = JSON,
        dry_run: bool,
        atomic: bool,
        idempotency_key: str | None,
    ) -> BatchOutcome:
        """Judge and (unless a dry run) publish one batch; the outcome says what became of each row."""
        key = None if dry_run else idempotency_key
        if key is None:
            return await self._process(
                source, body, form=form, dry_run=dry_run, atomic=atomic, key=None
            )
        head = b"%d|%d|%d|" % (form.media == "csv", dry_run, atomic) + form.fingerprint()
        request_hash = hashlib.sha256(head + body).hexdigest()
        try:
            claim = await self.keys.claim(source, key, request_hash, self.clock())
        except SQLAlchemyError:
            self.metrics.batches.labels(source, "database_unavailable").inc()
            return KeyNotRecorded()
        if isinstance(claim, Replay):
            self.metrics.batches.labels(source, "replayed").inc()
            return Replayed(claim.response, accepted=claim.status_code == ACCEPTED)
        if isinstance(claim, Reused):
            return KeyReused()
        if isinstance(claim, InProgress):
            return KeyInProgress(claim.seconds)
        assert isinstance(claim, Claimed)
        # A retry after an unknown outcome is received "when the first attempt was": same events.
        received = claim.received_at or self.clock()
        try:
            outcome = await self._process(
                source, body, form=form, dry_run=dry_run, atomic=atomic, key=key, now=received
            )
        except BaseException:
            await self.keys.release(source, key, claim.token, self.clock(), bound=True)
            raise
        if isinstance(outcome, Judged):
            # Kafka has the rows: the report stays true even when its record cannot be written now.
            report = outcome.report
            code = ACCEPTED if report.accepted else REJECTED
            await self.keys.complete(source, key, claim.token, code, report.as_dict(), self.clock())
        else:
            bound = isinstance(outcome, OutcomeUnknown)
            await self.keys.release(source, key, claim.token, self.clock(), bound=bound)
        return outcome

    async def _process(
        self,
        source: str,
        body: bytes,
        *,
        form: BodyForm,
        dry_run: bool,
        atomic: bool,
        key: str | None,
        now: datetime | None = None,
    ) -> BatchOutcome:
        try:
            limits = (self.settings.max_rows, self.settings.max_body_bytes)
            if form.media == "xlsx":  # inflating and reading a workbook would stall the loop
                rows = await asyncio.to_thread(parse_body, body, form, *limits)
            else:
                rows = parse_body(body, form, *limits)
        except BodyError as exc:
            self.metrics.batches.labels(source, "invalid").inc()
            return BodyRefused(exc)
        if throttled := self.throttle.rows(source, len(rows.items)):
            self.metrics.throttled.labels(source, throttled.limit).inc()
            return RateLimited(throttled)
        return await self._publish_rows(source, rows, form.text, dry_run, atomic, key, now)

    async def ingest_rows(self, source: str, rows: Rows, *, dry_run: bool) -> BatchOutcome:
        """Judge and publish rows a connector has already made, exactly as `ingest` does a body's.

        No per-source budget applies: the connector is the service's own pull, not a sender."""
        return await self._publish_rows(source, rows, False, dry_run, False, None, None)

    async def _publish_rows(
        self,
        source: str,
        rows: Rows,
        text: bool,
        dry_run: bool,
        atomic: bool,
        key: str | None,
        now: datetime | None,
    ) -> BatchOutcome:
        now = now or self.clock()
        judgement = validate_batch(rows.items, self.scopes(source, now), text=text, atomic=atomic)
        batch_id = str(uuid.uuid4())
        if not dry_run and judgement.valid:
            records = self._records(judgement.valid, source, iso_utc(now), key)
            start = time.perf_counter()
            try:
                await self.publisher.publish(self.topic, records)
            except PublishOutcomeUnknownError:
                self.metrics.batches.labels(source, "unknown").inc()
                return OutcomeUnknown(self.publish_timeout, keyed=bool(key))
            except KafkaUnavailableError:
                self.metrics.batches.labels(source, "unavailable").inc()
                return NotAccepted(keyed=bool(key))
            self.metrics.publish_seconds.observe(time.perf_counter() - start)
        return Judged(self._report(source, batch_id, judgement, rows, dry_run))

    def _records(
        self, valid: list[ValidRow], source: str, received_at: str, key: str | None
    ) -> list[Record]:
        ids = keyed_ids(source, key, valid) if key else random_uuids(len(valid))
        return [(k, v, []) for k, v in encode_events(valid, source, received_at, ids)]

    def _report(
        self, source: str, batch_id: str, judgement: Judgement, rows: Rows, dry_run: bool
    ) -> IngestReport:
        errors = [e.as_dict() for e in judgement.errors]
        if rows.lines is not None:
            for error in errors:
                error["line"] = rows.lines[error["row"] - 1] if error["row"] > 0 else None
        if rows.places is not None:
            for error in errors:
                row = error["row"]
                error["cell"] = rows.places[row - 1].cell(error["field"]) if row > 0 else None
        accepted = judgement.accepted
        report = IngestReport(
            batch_id, judgement.received, accepted, judgement.rejected, dry_run, errors
        )
        if dry_run:
            self.metrics.batches.labels(source, "dry_run").inc()
            return report
        self.metrics.count_rows(source, judgement.received, accepted, judgement.rejected_rows)
        outcome = "accepted" if not judgement.rejected else "partial" if accepted else "rejected"
        self.metrics.batches.labels(source, outcome).inc()
        return report
