"""One pull from the command line (`stadspuls pull NAME`): a runner with its own Kafka producer."""

from __future__ import annotations

from datetime import date

from prometheus_client import CollectorRegistry

from services.ingest.connectors.runner import RunReport
from services.ingest.connectors.wiring import open_runner
from services.ingest.publisher import KafkaPublisher
from shared.db.engine import make_engine
from shared.domain.catalog import Catalog
from shared.settings import Settings


async def pull_once(
    settings: Settings, catalog: Catalog, name: str, *, since: date | None, dry_run: bool
) -> RunReport:
    """Run connector `name` once; a dry run never connects to Kafka."""
    engine = make_engine(settings.database_url)
    publisher = KafkaPublisher(settings, client_id=f"stadspuls-pull-{name}")
    if not dry_run:
        await publisher.start()
    try:
        async with open_runner(
            settings, catalog, engine, name, publisher, CollectorRegistry()
        ) as runner:
            return await runner.run(since=since, dry_run=dry_run)
    finally:
        if not dry_run:
            await publisher.stop()
        engine.dispose()
