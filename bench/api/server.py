"""Serve an ASGI app with uvicorn on a free 127.0.0.1 port in a background thread (tests, benchmarks)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from shared.infra.ports import free_port
from shared.infra.wait import wait_for


@contextmanager
def serving(app: Any, *, timeout: float = 30, root_path: str = "") -> Iterator[str]:
    """Run `app` until the block ends (mounted under `root_path`, as behind a proxy); yields its
    base URL."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        root_path=root_path,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=timeout, what=f"uvicorn on port {port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
