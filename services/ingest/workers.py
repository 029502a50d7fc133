"""One ingest replica in several worker processes on one port (`STADSPULS_INGEST_WORKERS`).

Validating and encoding a batch is Python's work on one core: one process is bound by its own
CPU long before Kafka is (docs/benchmarks.md, Ingest). With N workers the replica takes up to N
cores. uvicorn's supervisor (`uvicorn.supervisors.Multiprocess`) binds the port, starts the
workers, replaces one that dies and stops them all on SIGINT or SIGTERM (and when one cannot
start, so a broken configuration is not restarted forever). What a replica holds, its workers
share: the source budgets in one file they all map (`throttle.SharedBuckets`), the metrics in a
folder of files every `/metrics` sums (`metrics.exposition`); both are made empty when the
replica starts and removed when it stops. Each worker has its own Kafka producer, database pool
and connection limit (`STADSPULS_HTTP_MAX_CONNECTIONS` per worker). Nothing else is per
process: idempotency claims are rows in the database and a series' winner is chosen by
`(updated_at, observation_id)`, not by arrival, so which worker takes a batch changes nothing
downstream.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from services.ingest.metrics import MULTIPROCESS, forget_dead_workers
from shared.http_server import (
    STARTUP_FAILURE,
    open_files_needed,
    raise_open_files_limit,
)
from shared.settings import Settings

log = logging.getLogger("stadspuls.ingest.workers")
#: What the supervisor tells its workers (JSON): the caller's context and the budgets' file.
WORKER = "_STADSPULS_INGEST_WORKER"
THROTTLE = "budgets"


def serve_workers(settings: Settings, factory: str, context: dict[str, Any]) -> None:
    """Serve ingest on its port with `settings.ingest_workers` processes until signalled.

    `factory` ("module:function") is called in each worker to make its app, typically by
    setting up the worker's logging from `context` (see `told`) and calling `worker_app`."""
    folder = Path(tempfile.mkdtemp(prefix="stadspuls-ingest-"))
    metrics = folder / "metrics"
    metrics.mkdir()
    os.environ[MULTIPROCESS] = str(metrics)  # the workers' environment, before they start
    os.environ[WORKER] = orjson.dumps({**context, THROTTLE: str(folder / THROTTLE)}).decode()
    try:
        raise_open_files_limit(open_files_needed(settings.http_max_connections))
        config = uvicorn.Config(
            factory,
            factory=True,
            host=settings.host,
            port=settings.ingest_port,
            workers=settings.ingest_workers,
            http="shared.http_server:environment_protocol",  # the limits, in each worker
            ws="none",
            log_config=None,
            log_level="info",
            access_log=False,
        )
        supervisor = Multiprocess(config, sockets=[config.bind_socket()])
        log.info("ingest serves with %d worker processes", settings.ingest_workers)
        supervisor.run()
        if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
            sys.exit(STARTUP_FAILURE)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def told() -> dict[str, Any]:
    """In a worker: the context its supervisor was given (and the budgets' file)."""
    context: dict[str, Any] = orjson.loads(os.environ[WORKER])
    return context


def worker_app() -> FastAPI:
    """The app of one worker, made in the worker's own process (its logging already set up)."""
    from services.ingest.app import create_app
    from shared.catalog.loader import load_catalog
    from shared.collector import tune_collector
    from shared.db.engine import make_engine

    settings = Settings()
    gone = forget_dead_workers(Path(os.environ[MULTIPROCESS]))
    if gone:
        log.warning("ingest worker %d replaces worker(s) %s, gone", os.getpid(), gone)
    catalog = load_catalog(settings.catalog_path)
    engine = make_engine(settings.database_url)
    made = create_app(
        settings, catalog=catalog, engine=engine, throttle_file=Path(told()[THROTTLE])
    )
    tune_collector()
    return made
