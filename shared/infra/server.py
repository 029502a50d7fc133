"""What every locally run server (Kafka, PostgreSQL, Prometheus) has in common: a log, a context."""

from __future__ import annotations

import subprocess
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import Self


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 30) -> None:
    """SIGTERM a child process and wait; SIGKILL it if it has not exited within `timeout` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class LocalServer:
    """A server process of the project's own: `start()`, `close()`, a log file to show on failure."""

    log_path: Path

    def start(self) -> Self:  # pragma: no cover - every server defines it
        """Start the server and wait until it serves."""
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - every server defines it
        """Stop the server and remove what it owned."""
        raise NotImplementedError

    def log_tail(self, lines: int = 50) -> str:
        """The last `lines` lines of the server's log."""
        if not self.log_path.exists():
            return "(no log yet)"
        with self.log_path.open(errors="replace") as log:
            return "".join(deque(log, maxlen=lines))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
