"""Composition roots: build each service from settings with its real adapters and run it."""

from __future__ import annotations

import logging
import logging.config
import os
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from shared.settings import Settings

log = logging.getLogger("stadspuls.serve")
LINE = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries whose INFO no operator needs: alembic's context and plugin lines, kafka-python's
# bootstraps and connections, faust's and mode's service start/stop chatter. Their warnings stay.
QUIET_LIBRARIES = ("alembic", "kafka", "faust", "mode")


class NamedFormatter(logging.Formatter):
    """`aggregate | WARNING logger: message` on every line of a record, for a console shared by
    several services; an exception is cut to its last line unless `tracebacks` (the file has it)."""

    def __init__(self, service: str, tracebacks: bool = False) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")
        self.prefix, self.tracebacks = f"{service} | ", tracebacks

    def format(self, record: logging.LogRecord) -> str:
        """The record's lines, each starting with the service's name."""
        if self.tracebacks or record.exc_info is None or record.exc_info[1] is None:
            text = super().format(record)
        else:
            error = traceback.format_exception_only(record.exc_info[1])[-1].strip()
            text = f"{self.formatMessage(record)} ({error}; the traceback is in the log file)"
        return "\n".join(self.prefix + line for line in text.splitlines())

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        """The record's first line, its message made first (`format` may skip that step)."""
        record.message = record.getMessage()
        return super().formatMessage(record)


def logging_config(
    service: str, log_file: Path | None = None, verbose: bool = False
) -> dict[str, Any]:
    """`logging.config.dictConfig` input: every line on stderr; with `log_file`, every line there
    and only warnings and errors on stderr, named (all of them, named, when `verbose`)."""
    handlers: dict[str, dict[str, Any]] = {"console": {"class": "logging.StreamHandler"}}
    formatters: dict[str, dict[str, Any]] = {"line": {"format": LINE}}
    if log_file is None:
        handlers["console"]["formatter"] = "line"
    else:
        handlers["file"] = {
            "class": "logging.FileHandler",
            "filename": str(log_file),
            "encoding": "utf-8",
            "formatter": "line",
        }
        formatters["named"] = {"()": NamedFormatter, "service": service, "tracebacks": verbose}
        handlers["console"].update(formatter="named", level="NOTSET" if verbose else "WARNING")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": formatters,
        "handlers": handlers,
        "root": {"level": "INFO", "handlers": sorted(handlers)},
        "loggers": {name: {"level": "WARNING"} for name in QUIET_LIBRARIES},
    }


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    log.critical("stopped by an uncaught %s", kind.__name__, exc_info=(kind, exc, tb))


def serve_service(
    name: str, settings: Settings, log_file: Path | None = None, verbose: bool = False
) -> None:
    """Run the named service in the foreground until it is signalled to stop."""
    logging.config.dictConfig(logging_config(name, log_file, verbose))
    if log_file is not None:  # a crash's traceback goes to the file too, its last line to stderr
        sys.excepthook = _log_uncaught
    from sqlalchemy.engine import make_url

    from shared.catalog.loader import load_catalog
    from shared.db.engine import make_engine

    where = make_url(settings.database_url).render_as_string(hide_password=True)
    kafka = settings.kafka_bootstrap or "unset"
    log.info("%s starting (pid %d): read model %s, Kafka %s", name, os.getpid(), where, kafka)
    catalog = load_catalog(settings.catalog_path)
    engine = make_engine(settings.database_url)
    if name == "aggregate":
        import faust

        from services.aggregate.app import create_app as create_aggregate

        # faust sets logging up again when it starts: the same configuration, not its own
        config = logging_config(name, log_file, verbose)
        app = create_aggregate(settings, catalog, engine)
        worker = faust.Worker(app, loglevel="INFO", logging_config=config)
        worker.execute_from_commandline()
        return
    from shared.http_server import serve

    if name == "ingest":
        from services.ingest.app import create_app as create_ingest

        serve(
            create_ingest(settings, catalog=catalog, engine=engine), settings, settings.ingest_port
        )
    elif name == "api":
        from services.api.app import create_app as create_api

        serve(create_api(settings, catalog=catalog, engine=engine), settings, settings.api_port)
    else:
        raise ValueError(f"unknown service {name!r}")
