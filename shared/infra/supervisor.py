"""Supervision of child processes, as `stadspuls up` runs them: a child that dies is named and
restarted with capped exponential backoff, readiness changes are reported, stopping is bounded.

The bookkeeping is pure: the clock, the processes and the console are passed in, so unit tests
drive `Supervisor.tick` with fakes; `subprocess.Popen` is the real process.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from shared.infra.server import Process, stop_processes


@dataclass(frozen=True)
class Backoff:
    """How long to wait before restarting a child that failed `failures` times in a row."""

    first: float = 1.0
    factor: float = 2.0
    cap: float = 30.0
    stable: float = 60.0  # a child that ran this long before it died starts its count afresh
    crashing: int = 3  # failures in a row from which a child is reported as crash-looping

    def delay(self, failures: int) -> float:
        """Seconds before the restart that follows failure number `failures` (1 = the first)."""
        return min(self.cap, self.first * self.factor ** max(failures - 1, 0))


@dataclass(frozen=True)
class Part:
    """One supervised child: how to start it, whether it is ready; stopped by descending `layer`."""

    name: str
    spawn: Callable[[], Process]
    ready: Callable[[], bool]
    layer: int = 0


@dataclass
class _Child:
    part: Part
    proc: Process | None = None
    started_at: float = 0.0
    restart_at: float = 0.0
    failures: int = 0
    restarts: int = 0
    misses: int = 0  # readiness checks failed in a row
    ready: bool = False
    was_ready: bool = False  # ready at least once since its last start
    probe_at: float = 0.0

    @property
    def state(self) -> str:
        if self.proc is None:
            return "down"
        if self.ready:
            return "up"
        return "not ready" if self.was_ready else "starting"


def describe_exit(code: int) -> str:
    """`exited with code 1` or `was killed by SIGKILL`, from a `Popen.returncode`."""
    if code >= 0:
        return f"exited with code {code}"
    try:
        return f"was killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"was killed by signal {-code}"


class Supervisor:
    """Starts parts, restarts those that die, reports what changes, stops them all."""

    def __init__(
        self,
        say: Callable[[str], None],
        *,
        clock: Callable[[], float] = time.monotonic,
        backoff: Backoff = Backoff(),
        probe_every: float = 1.0,
    ) -> None:
        self._say, self._clock, self._backoff = say, clock, backoff
        self._probe_every = probe_every
        self._children: dict[str, _Child] = {}
        self.reporting = False  # off while the stack starts: deaths are said, readiness is not

    def add(self, part: Part) -> None:
        """Start `part` now and supervise it from then on."""
        child = _Child(part)
        self._children[part.name] = child
        self._start(child, self._clock())

    def states(self) -> dict[str, str]:
        """Each part's state: `up`, `starting`, `not ready` (alive, check fails) or `down`."""
        return {name: child.state for name, child in self._children.items()}

    def status(self) -> str:
        """One line: `all up`, or the parts that are not, e.g. `kafka down, ingest not ready`."""
        others = [f"{name} {state}" for name, state in self.states().items() if state != "up"]
        return ", ".join(others) or "all up"

    def all_up(self) -> bool:
        """Tell whether every part is running and ready."""
        return all(child.state == "up" for child in self._children.values())

    def tick(self) -> None:
        """One round: reap and schedule the dead, restart those due, check readiness."""
        now = self._clock()
        for child in self._children.values():
            if child.proc is not None and (code := child.proc.poll()) is not None:
                ran = f"after {now - child.started_at:.0f} s"
                self._died(child, now, f"(pid {child.proc.pid}) {describe_exit(code)} {ran}")
            if child.proc is None and now >= child.restart_at:
                child.restarts += 1
                self._start(child, now)
            if child.proc is not None and now >= child.probe_at:
                child.probe_at = now + self._probe_every
                self._probe(child)

    def run(
        self,
        until: Callable[[], bool],
        *,
        timeout: float | None = None,
        interval: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> bool:
        """Tick until `until()` holds (True) or `timeout` seconds have passed (False)."""
        deadline = None if timeout is None else self._clock() + timeout
        while not until():
            if deadline is not None and self._clock() >= deadline:
                return False
            self.tick()
            sleep(interval)
        return True

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM the parts layer by layer (highest first), SIGKILL what is left after `timeout`."""
        for layer in sorted({c.part.layer for c in self._children.values()}, reverse=True):
            procs = [c.proc for c in self._children.values() if c.part.layer == layer]
            stop_processes(procs, timeout)
        for child in self._children.values():
            child.proc, child.ready = None, False

    def _start(self, child: _Child, now: float) -> None:
        child.started_at, child.probe_at, child.misses = now, now, 0
        child.ready = child.was_ready = False
        try:
            child.proc = child.part.spawn()
        except Exception as exc:  # e.g. a binary gone missing: a failure like any other
            self._died(child, now, f"could not be started ({exc})")

    def _died(self, child: _Child, now: float, how: str) -> None:
        if now - child.started_at >= self._backoff.stable:
            child.failures = 0
        child.failures += 1
        child.proc, child.ready = None, False
        delay = self._backoff.delay(child.failures)
        child.restart_at = now + delay
        crashing = ""
        if child.failures >= self._backoff.crashing:
            within = f"each within {self._backoff.stable:.0f} s of its start"
            crashing = f"; it keeps crashing ({child.failures} times in a row, {within})"
        restart = f"restarting it in {delay:.0f} s{crashing}"
        self._say(f"{child.part.name} {how}; {restart} · {self.status()}")

    def _probe(self, child: _Child) -> None:
        before = child.state
        try:
            ready = child.part.ready()
        except Exception:
            ready = False
        child.misses = 0 if ready else child.misses + 1
        # One slow answer on a busy machine is not news: a ready part must miss twice in a row.
        child.ready = ready or (child.ready and child.misses < 2)
        child.was_ready = child.was_ready or child.ready
        after = child.state
        if not self.reporting or after == before:
            return
        name, pid = child.part.name, child.proc.pid if child.proc is not None else 0
        if after == "up":
            back = "is back" if child.restarts else "is up"
            what = f"{back} (pid {pid})" if before == "starting" else "is ready again"
        else:
            what = "is not ready (its readiness check fails)"
        self._say(f"{name} {what} · {self.status()}")
