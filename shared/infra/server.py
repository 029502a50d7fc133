"""What every locally run server (Kafka, PostgreSQL, Prometheus) has in common: a log, a context,
a child process that dies with its parent and is stopped with a bound, and a stop at interpreter
exit for any server still running."""

from __future__ import annotations

import atexit
import ctypes
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol, Self

_PR_SET_PDEATHSIG = 1


class Process(Protocol):
    """What stopping and supervising a child needs of it: `subprocess.Popen` has it, tests fake it."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...

    def wait(self, timeout: float | None = None) -> int: ...


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux; a no-op elsewhere).

    Call it in the child: as a `preexec_fn`, only from the main thread, since the signal fires when
    the forking *thread* ends.
    """
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(
    command: Sequence[str], log: IO[bytes], cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a server process in a session of its own, its output going to `log`.

    It dies with its parent when started from the main thread (see `die_with_parent`).
    """
    in_main = threading.current_thread() is threading.main_thread()
    return subprocess.Popen(
        command,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent if in_main else None,
    )


def stop_processes(procs: Iterable[Process | None], timeout: float = 30) -> None:
    """SIGTERM child processes at once and reap them; SIGKILL those left after `timeout` seconds."""
    running = [proc for proc in procs if proc is not None and proc.poll() is None]
    for proc in running:
        proc.terminate()
    deadline = time.monotonic() + timeout
    for proc in running:
        try:
            proc.wait(max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stop_process(proc: Process | None, timeout: float = 30) -> None:
    """SIGTERM a child process and wait; SIGKILL it if it has not exited within `timeout` seconds."""
    stop_processes([proc], timeout)


class LocalServer:
    """A server process of the project's own: `start()`, `close()`, a log file to show on failure."""

    log_path: Path
    name = "server"  # what messages call it

    def _not_started(self, exc: BaseException) -> RuntimeError:
        """The error for a server that did not start: the cause and the tail of its log."""
        return RuntimeError(f"{self.name} did not start ({exc}); log tail:\n{self.log_tail()}")

    def _still_running(self, proc: Process | None) -> None:
        """Raise when the server's process has exited (readiness probes check this first)."""
        code = None if proc is None else proc.poll()
        if proc is None or code is not None:
            raise RuntimeError(f"{self.name} exited with code {code}")

    def _track(self) -> None:
        """Remember this server as running: interpreter exit stops it unless it is stopped first."""
        _running.add(self)

    def _untrack(self) -> None:
        """This server is stopped: interpreter exit can leave it alone."""
        _running.discard(self)

    def leftover(self) -> None:
        """Stop a server still running at interpreter exit (closing it, unless a server knows better)."""
        self.close()

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


_running: weakref.WeakSet[LocalServer] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_running):
        server.leftover()
