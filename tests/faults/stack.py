"""One fault test's system: `stadspuls serve ingest` and `serve aggregate` as processes on a broker
and a database, with a key for every source of the catalog."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from services.ingest.keys import create_key
from shared.db.engine import make_engine, upgrade
from shared.domain.catalog import Catalog
from shared.settings import Settings
from shared.topics import ensure_topics
from tests.aggregator import env_of
from tests.faults.load import Load, batches
from tests.services import ServiceProcess

SECRET = "fault-suite-secret-not-for-production"
#: PostgreSQL `application_name` of the aggregator's sessions, so a fault can single them out.
AGGREGATOR_SESSIONS = "stadspuls-aggregate-faults"


@dataclass
class Stack:
    """The running services, an engine on their database and a bearer key per source."""

    settings: Settings
    env: dict[str, str]
    ingest: ServiceProcess
    aggregate: ServiceProcess
    engine: Engine
    catalog: Catalog
    tokens: dict[str, str]

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file of the read model."""
        return Path(str(make_url(self.settings.database_url).database))

    def load(self, **options: Any) -> Load:
        """A steady load on this stack's ingest (see `Load` for the options)."""
        prefix = self.settings.topic_prefix
        return Load(self.ingest.url, self.tokens, batches(self.catalog, prefix), **options)


def tagged(database_url: str) -> str:
    """The URL with the aggregator's `application_name` when it is PostgreSQL."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return database_url
    return url.update_query_dict({"application_name": AGGREGATOR_SESSIONS}).render_as_string(False)


@contextmanager
def running_stack(
    bootstrap: str,
    prefix: str,
    database_url: str,
    catalog: Catalog,
    workdir: Path,
    ingest_database_url: str | None = None,
) -> Iterator[Stack]:
    """Topics, schemas and keys made; the aggregator and ingest started, and stopped after.

    Ingest keeps its keys and idempotency records in `database_url` too, unless
    `ingest_database_url` names another database: then a fault of the read model leaves the load
    flowing, and the aggregator has to take events it cannot write yet.
    """
    ingest_url = ingest_database_url or database_url
    settings = Settings(
        kafka_bootstrap=bootstrap,
        topic_prefix=prefix,
        database_url=database_url,
        aggregate_app_id=f"{prefix}aggregate",
        key_secret=SecretStr(SECRET),
        aggregate_data_dir=workdir / "faust",
    )
    ensure_topics(settings)
    for url in {database_url, ingest_url}:
        upgrade(url)
    keys = make_engine(ingest_url)
    tokens = {k.id: create_key(keys, settings, k.id)[1] for k in catalog.kallor}
    keys.dispose()
    env = {
        **env_of(settings),
        "STADSPULS_KEY_SECRET": SECRET,
        "STADSPULS_INGEST_RAW_VALIDATOR": "false",
        "STADSPULS_AGGREGATE_DATA_DIR": str(settings.aggregate_data_dir),
    }
    aggregate = ServiceProcess(
        "aggregate",
        {**env, "STADSPULS_DATABASE_URL": tagged(database_url)},
        workdir / "aggregate.log",
    )
    ingest = ServiceProcess(
        "ingest", {**env, "STADSPULS_DATABASE_URL": ingest_url}, workdir / "ingest.log"
    )
    engine = make_engine(database_url)
    try:
        aggregate.start()
        ingest.start()
        yield Stack(settings, env, ingest, aggregate, engine, catalog, tokens)
    finally:
        ingest.stop()
        aggregate.stop()
        engine.dispose()
