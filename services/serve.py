"""Composition roots: build each service from settings with its real adapters and run it."""

from __future__ import annotations

import logging

from shared.settings import Settings


def serve_service(name: str, settings: Settings) -> None:
    """Run the named service in the foreground until it is signalled to stop."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from shared.catalog.loader import load_catalog
    from shared.db.engine import make_engine

    catalog = load_catalog(settings.catalog_path)
    engine = make_engine(settings.database_url)
    if name == "aggregate":
        import faust

        from services.aggregate.app import create_app as create_aggregate

        worker = faust.Worker(create_aggregate(settings, catalog, engine), loglevel="INFO")
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
