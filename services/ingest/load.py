"""One file from the command line (`stadspuls load FILE --source S`): the batch endpoint's path.

The file is judged and published by the same `IngestService` as `POST /v1/observations`, with a
Kafka producer of its own, and answered as the endpoint would answer it (status and body).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from services.ingest.errors import BodyError
from services.ingest.formats import XLSX, BodyForm, body_form
from services.ingest.idempotency import IdempotencyStore
from services.ingest.idempotency_ledger import IdempotencyLedger
from services.ingest.metrics import IngestMetrics
from services.ingest.outcomes import BatchOutcome, BodyRefused
from services.ingest.publisher import KafkaPublisher
from services.ingest.service import IngestService
from shared.db.engine import make_engine
from shared.domain.catalog import Catalog
from shared.settings import Settings

MEDIA_OF_SUFFIX = {
    ".xlsx": XLSX,
    ".csv": "text/csv",
    ".txt": "text/csv",
    ".json": "application/json",
}


def file_form(
    path: Path,
    charset: str | None,
    indicator: str | None,
    gender: str | None,
    sheet: str | None,
) -> BodyForm:
    """How to read a file, from its suffix (`.xlsx`, `.csv`, `.txt`, `.json`) and the options."""
    media = MEDIA_OF_SUFFIX.get(path.suffix.lower())
    if media is None:
        raise BodyError(
            "unsupported_media_type",
            f"{path.name}: a file to load ends in {', '.join(MEDIA_OF_SUFFIX)}",
            status=415,
        )
    return body_form(media + (f"; charset={charset}" if charset else ""), indicator, gender, sheet)


def read_file(path: Path, limit: int) -> bytes:
    """The file's bytes; refused like a body over `limit` bytes (STADSPULS_MAX_BODY_BYTES)."""
    if path.stat().st_size > limit:
        raise BodyError("body_too_large", f"{path} is larger than {limit} bytes", status=413)
    return path.read_bytes()


async def load_file(
    settings: Settings,
    catalog: Catalog,
    source: str,
    path: Path,
    form: BodyForm,
    *,
    dry_run: bool,
    atomic: bool,
) -> BatchOutcome:
    """Judge and (unless a dry run, which never connects to Kafka) publish one file."""
    try:
        body = read_file(path, settings.max_body_bytes)
    except BodyError as exc:
        return BodyRefused(exc)
    engine = make_engine(settings.database_url)
    publisher = KafkaPublisher(settings, client_id=f"stadspuls-load-{source}")
    metrics = IngestMetrics()
    store = IdempotencyStore(engine, ttl=timedelta(hours=1), lease=timedelta(minutes=1))
    keys = IdempotencyLedger(store, metrics.idempotency_failures)  # never asked: no key is sent
    service = IngestService(settings, catalog, publisher, keys, metrics)
    if not dry_run:
        await publisher.start()
    try:
        return await service.ingest(
            source, body, form=form, dry_run=dry_run, atomic=atomic, idempotency_key=None
        )
    finally:
        if not dry_run:
            await publisher.stop()
        engine.dispose()
