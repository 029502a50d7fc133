"""Serving the HTTP services: uvicorn with the project's limits, and file descriptors for them."""

from __future__ import annotations

import asyncio
import functools
import logging
import resource
import sys
from typing import Any

import uvicorn

from shared.http_limits import HttpLimits
from shared.http_protocol import LimitedHttpProtocol, protocol_with
from shared.settings import Settings

log = logging.getLogger("stadspuls.http")
FD_HEADROOM = 256  # the listening socket, database pool, Kafka connections, logs, libraries
STARTUP_FAILURE = 3  # uvicorn's exit code when the server did not start


def limits(settings: Settings) -> HttpLimits:
    """The HTTP limits the settings ask for."""
    return HttpLimits(
        max_header_bytes=settings.http_max_header_bytes,
        header_timeout=settings.http_header_timeout_seconds,
        body_timeout=settings.http_body_timeout_seconds,
        keepalive_timeout=settings.http_keepalive_timeout_seconds,
        max_connections=settings.http_max_connections,
        max_requests_per_connection=settings.http_max_requests_per_connection,
    )


def server_config(app: Any, settings: Settings, port: int) -> uvicorn.Config:
    """uvicorn's configuration for one of the services: httptools with the limits, no WebSocket."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=port,
        http=protocol_with(limits(settings)),
        ws="none",  # no service speaks it, and an upgraded connection would leave the limits
        log_config=None,  # its lines go through the process's logging, as every other library's
        log_level="info",
        access_log=False,
    )


def open_files_needed(max_connections: int) -> int:
    """Descriptors a process needs: its connections, as many refusals closing, and headroom."""
    return 2 * max_connections + FD_HEADROOM


def raise_open_files_limit(needed: int) -> int:
    """Raise the soft RLIMIT_NOFILE to `needed` (the hard limit permitting); the soft limit after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return soft
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    except (ValueError, OSError) as exc:
        log.warning("could not raise the open-files limit to %d: %s", target, exc)
    if soft < needed:
        log.warning(
            "open-files limit %d is below the %d that STADSPULS_HTTP_MAX_CONNECTIONS needs; "
            "raise the hard limit (ulimit -Hn) or lower the setting",
            soft,
            needed,
        )
    return soft


def serve(app: Any, settings: Settings, port: int) -> None:
    """Serve `app` on `port` in the foreground until the process is signalled to stop."""
    raise_open_files_limit(open_files_needed(settings.http_max_connections))
    server = uvicorn.Server(server_config(app, settings, port))
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


@functools.cache
def _protocol_from_environment() -> type[LimitedHttpProtocol]:
    settings = Settings()
    raise_open_files_limit(open_files_needed(settings.http_max_connections))
    return protocol_with(limits(settings))


def environment_protocol(**kwargs: Any) -> asyncio.Protocol:
    """A connection under the limits `STADSPULS_*` set, for uvicorn's own command line
    (`uvicorn --http shared.http_server:environment_protocol --ws none ...`, one per worker)."""
    return _protocol_from_environment()(**kwargs)
