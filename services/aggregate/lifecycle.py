"""The writer process lives as long as the worker runs: a faust (mode) service of the app.

Added to the app before it starts, the service is the app's first dependency: faust starts it before
the agent and the timers and, as it stops dependencies in reverse order, stops it after the agent.
(`@app.service` services start only after the agents and stop before them, so a batch could find
no writer.) Building the app spawns nothing: a worker that never starts has no writer process.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust

from services.aggregate.writer import Writer


class WriterService(faust.Service):
    """Starts the writer process with the worker and ends it when the worker stops."""

    def __init__(self, writer: Writer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.writer = writer

    async def on_start(self) -> None:
        """Spawn the writer process (in a thread: spawning waits for the child to boot)."""
        await asyncio.to_thread(self.writer.start)

    async def on_stop(self) -> None:
        """End the writer after the request it is answering; it takes no more."""
        await asyncio.to_thread(self.writer.close)


def run_writer(app: faust.App, writer: Writer) -> None:
    """Tie the writer process to the worker's start and stop (call before the app starts)."""
    app.add_dependency(WriterService(writer))
