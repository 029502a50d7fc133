"""Composition roots: build each service from settings with its real adapters and run it."""

from __future__ import annotations

import logging
import logging.config
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from services.logs import logging_config
from shared.log_config import configure
from shared.production import EXIT_CONFIG, RefusedToStartError, check_production
from shared.settings import Settings

log = logging.getLogger("stadspuls.serve")
KAFKA_SERVICES = frozenset({"ingest", "aggregate", "connector"})


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    log.critical("stopped by an uncaught %s", kind.__name__, exc_info=(kind, exc, tb))


def refuse(name: str, exc: RefusedToStartError) -> None:
    """Say on stderr (and in the log) why `name` does not start, and exit with EX_CONFIG."""
    log.critical("%s %s", name, exc)  # the console handler writes to stderr
    sys.exit(EXIT_CONFIG)


def serve_service(
    name: str,
    settings: Settings,
    log_file: Path | None = None,
    verbose: bool = False,
    connector: str | None = None,
) -> None:
    """Run the named service (for `connector`, the named connector) until signalled to stop."""
    configure(logging_config(name, log_file, verbose))
    try:
        check_production(settings)  # before any port is bound or any connection made
        _run(name, settings, log_file, verbose, connector)
    except RefusedToStartError as exc:
        refuse(name, exc)


def _run(
    name: str, settings: Settings, log_file: Path | None, verbose: bool, connector: str | None
) -> None:
    if log_file is not None:  # a crash's traceback goes to the file too, its last line to stderr
        sys.excepthook = _log_uncaught
    from sqlalchemy.engine import make_url

    from shared.catalog.loader import load_catalog
    from shared.db.engine import make_engine
    from shared.kafka_probe import KafkaProbeError, KafkaUnreachableError, probe_kafka
    from shared.kafka_security import KafkaSecurityError, describe

    where = make_url(settings.database_url).render_as_string(hide_password=True)
    kafka = (
        f"{settings.kafka_bootstrap} ({describe(settings)})"
        if settings.kafka_bootstrap
        else "unset"
    )
    log.info("%s starting (pid %d): read model %s, Kafka %s", name, os.getpid(), where, kafka)
    if name in KAFKA_SERVICES and settings.kafka_bootstrap:
        try:  # a wrong password or CA must stop the start, not look like a slow broker
            probe_kafka(settings)
        except KafkaUnreachableError as exc:  # down, not misconfigured: start and report it
            log.warning(
                "%s starts without Kafka for now (it answers 503 until then): %s", name, exc
            )
        except (KafkaProbeError, KafkaSecurityError) as exc:
            log.critical("%s cannot start: %s", name, exc)
            raise SystemExit(2) from None
    catalog = load_catalog(settings.catalog_path)
    engine = make_engine(settings.database_url)
    if name == "aggregate":
        import faust
        from sqlalchemy.exc import SQLAlchemyError

        from services.aggregate.catalog_start import CatalogStart, report, take_effect

        start: CatalogStart | None = None
        try:  # re-projects what a changed catalog changes, then records it as in force
            start = take_effect(engine, settings.catalog_path, catalog, datetime.now(UTC))
            report(start)
        except SQLAlchemyError as exc:  # the batches will say the same until the schema is there
            log.error("catalog not recorded (run `stadspuls db upgrade`): %s", exc)

        from services.aggregate.app import create_app as create_aggregate

        # faust sets logging up again when it starts: the same configuration, not its own
        config = logging_config(name, log_file, verbose)
        app = create_aggregate(settings, catalog, engine, start)
        worker = faust.Worker(app, loglevel="INFO", logging_config=config)
        worker.execute_from_commandline()
        return
    from shared.http_server import serve

    if name == "ingest" and settings.ingest_workers > 1:
        from services.ingest.workers import serve_workers

        context = {"log_file": str(log_file) if log_file else None, "verbose": verbose}
        serve_workers(settings, f"{__name__}:ingest_worker", context)
    elif name == "ingest":
        from services.ingest.app import create_app as create_ingest
        from shared.collector import tune_collector

        ingest = create_ingest(settings, catalog=catalog, engine=engine)
        tune_collector()
        serve(ingest, settings, settings.ingest_port)
    elif name == "api":
        from services.api.app import create_app as create_api

        serve(create_api(settings, catalog=catalog, engine=engine), settings, settings.api_port)
    elif name == "connector" and connector is not None:
        from services.ingest.connectors.app import create_app as create_connector

        web = create_connector(settings, catalog, engine, connector)
        serve(web, settings, settings.connector_port)
    else:
        raise ValueError(f"unknown service {name!r}")


def ingest_worker() -> Any:
    """uvicorn's app factory in each ingest worker process: its logging as the supervisor's, then
    its app (`services.ingest.workers`)."""
    from services.ingest.workers import told, worker_app

    context = told()
    log_file = Path(context["log_file"]) if context["log_file"] else None
    configure(logging_config("ingest", log_file, context["verbose"]))
    return worker_app()
