"""The supervisor of `stadspuls up`: restart policy, reports and stopping, on a fake clock with
fake processes."""

from __future__ import annotations

import signal
import subprocess
from dataclasses import dataclass, field
from itertools import count

import pytest

from shared.infra.supervisor import Backoff, Part, Supervisor, describe_exit

_pids = count(1000)


@dataclass
class FakeProcess:
    """A child that records the signals it gets; it obeys SIGTERM unless told not to."""

    obeys_sigterm: bool = True
    pid: int = field(default_factory=lambda: next(_pids))
    returncode: int | None = None
    signals: list[str] = field(default_factory=list)
    log: list[str] | None = None  # shared by all fakes of a test: the order of signals
    reaped: bool = False

    def die(self, code: int) -> None:
        self.returncode = code

    def poll(self) -> int | None:
        self.reaped = self.reaped or self.returncode is not None
        return self.returncode

    def terminate(self) -> None:
        self.signals.append("SIGTERM")
        if self.log is not None:
            self.log.append(f"SIGTERM {self.pid}")
        if self.obeys_sigterm:
            self.returncode = -signal.SIGTERM

    def kill(self) -> None:
        self.signals.append("SIGKILL")
        self.returncode = -signal.SIGKILL

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            raise subprocess.TimeoutExpired("fake", timeout or 0)
        self.reaped = True
        return self.returncode


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Launcher:
    """A part's spawn function: hands out fake processes and remembers them, or fails on demand."""

    def __init__(self, log: list[str] | None = None, obeys_sigterm: bool = True) -> None:
        self.procs: list[FakeProcess] = []
        self.fail_with: Exception | None = None
        self.log, self.obeys_sigterm = log, obeys_sigterm

    def __call__(self) -> FakeProcess:
        if self.fail_with is not None:
            raise self.fail_with
        self.procs.append(FakeProcess(self.obeys_sigterm, log=self.log))
        return self.procs[-1]

    @property
    def current(self) -> FakeProcess:
        return self.procs[-1]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def said() -> list[str]:
    return []


def supervisor(clock: Clock, said: list[str]) -> Supervisor:
    return Supervisor(said.append, clock=clock, backoff=Backoff(), probe_every=1.0)


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [Backoff().delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 30, 30, 30]


def test_exit_codes_and_signals_are_described() -> None:
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-signal.SIGKILL) == "was killed by SIGKILL"


def test_a_dead_child_is_named_reaped_and_restarted_after_the_delay(
    clock: Clock, said: list[str]
) -> None:
    sup, aggregate = supervisor(clock, said), Launcher()
    sup.add(Part("aggregate", aggregate, lambda: True))
    sup.add(Part("api", Launcher(), lambda: True))
    sup.tick()
    clock.advance(10)
    first = aggregate.current
    first.die(-signal.SIGKILL)
    sup.tick()
    assert first.reaped
    assert said == [
        f"aggregate (pid {first.pid}) was killed by SIGKILL after 10 s; restarting it in 1 s"
        " · aggregate down"
    ]
    assert sup.states() == {"aggregate": "down", "api": "up"}
    clock.advance(0.9)
    sup.tick()
    assert len(aggregate.procs) == 1
    clock.advance(0.1)
    sup.tick()
    assert len(aggregate.procs) == 2
    assert sup.states() == {"aggregate": "up", "api": "up"}


def test_failures_in_a_row_back_off_and_a_stable_run_resets_the_delay(
    clock: Clock, said: list[str]
) -> None:
    sup, ingest = supervisor(clock, said), Launcher()
    sup.add(Part("ingest", ingest, lambda: True))
    delays = []
    for _ in range(4):
        ingest.current.die(1)
        sup.tick()
        delays.append(said[-1].split("restarting it in ")[1].split(" s")[0])
        clock.advance(60)  # ≥ every delay: the next tick restarts it; the run itself is short
        sup.tick()
        clock.advance(1)
    assert delays == ["1", "2", "4", "8"]
    clock.advance(Backoff().stable)
    ingest.current.die(1)
    sup.tick()
    assert "exited with code 1" in said[-1]
    assert "restarting it in 1 s" in said[-1]
    assert "keeps crashing" not in said[-1]


def test_a_crash_loop_is_reported_and_does_not_spin(clock: Clock, said: list[str]) -> None:
    sup, api = supervisor(clock, said), Launcher()
    sup.add(Part("api", api, lambda: True))
    for _ in range(600):  # ten minutes in 1 s steps; the child dies as soon as it is seen
        if api.current.returncode is None:
            api.current.die(1)
        sup.tick()
        clock.advance(1)
    starts = len(api.procs)
    assert starts <= 5 + 600 // 30 + 1  # 1+2+4+8+16 s, then at most one start per 30 s
    assert "keeps crashing" not in said[1]
    assert "keeps crashing (3 times in a row, each within 60 s of its start)" in said[2]
    assert all("restarting it in 30 s" in line for line in said[5:])
    assert all(p.reaped for p in api.procs)


def test_a_part_that_cannot_be_started_is_retried_with_backoff(
    clock: Clock, said: list[str]
) -> None:
    sup, kafka = supervisor(clock, said), Launcher()
    kafka.fail_with = FileNotFoundError("java")
    sup.add(Part("kafka", kafka, lambda: True))
    assert said == ["kafka could not be started (java); restarting it in 1 s · kafka down"]
    clock.advance(1)
    sup.tick()
    assert "restarting it in 2 s" in said[-1]
    kafka.fail_with = None
    clock.advance(2)
    sup.tick()
    assert sup.states() == {"kafka": "up"}


def test_readiness_changes_are_reported_once_the_stack_is_up(clock: Clock, said: list[str]) -> None:
    ready = {"kafka": False, "ingest": False}
    sup = supervisor(clock, said)
    for name in ready:
        sup.add(Part(name, Launcher(), lambda name=name: ready[name]))  # type: ignore[misc]
    sup.tick()
    assert sup.states() == {"kafka": "starting", "ingest": "starting"}
    ready.update(kafka=True, ingest=True)
    clock.advance(1)
    sup.tick()
    assert sup.all_up()
    assert said == []
    sup.reporting = True
    ready["ingest"] = False
    clock.advance(0.5)
    sup.tick()
    assert said == []  # not probed again before a second has passed
    clock.advance(0.5)
    sup.tick()
    assert said == []  # one failed check: could be one slow answer
    clock.advance(1)
    sup.tick()
    assert said == ["ingest is not ready (its readiness check fails) · ingest not ready"]
    assert sup.status() == "ingest not ready"
    ready["ingest"] = True
    clock.advance(1)
    sup.tick()
    assert said[-1] == "ingest is ready again · all up"


def test_a_restarted_part_is_said_to_be_back(clock: Clock, said: list[str]) -> None:
    sup, aggregate = supervisor(clock, said), Launcher()
    sup.add(Part("aggregate", aggregate, lambda: aggregate.current.returncode is None))
    sup.tick()
    sup.reporting = True
    aggregate.current.die(-signal.SIGKILL)
    clock.advance(1)
    sup.tick()
    clock.advance(1)
    sup.tick()
    assert said[-1] == f"aggregate is back (pid {aggregate.current.pid}) · all up"


def test_a_failing_readiness_check_counts_as_not_ready(clock: Clock, said: list[str]) -> None:
    def refuses() -> bool:
        raise ConnectionRefusedError

    sup = supervisor(clock, said)
    sup.add(Part("api", Launcher(), refuses))
    sup.tick()
    assert sup.states() == {"api": "starting"}


def test_run_stops_when_asked_or_at_its_timeout(clock: Clock, said: list[str]) -> None:
    sup = supervisor(clock, said)
    sup.add(Part("api", Launcher(), lambda: False))
    assert sup.run(lambda: clock.now >= 3, sleep=clock.advance)
    assert not sup.run(sup.all_up, timeout=5, sleep=clock.advance)
    assert 8 <= clock.now <= 9


def test_stop_terminates_layer_by_layer_and_kills_what_ignores_sigterm(
    clock: Clock, said: list[str]
) -> None:
    order: list[str] = []
    sup = supervisor(clock, said)
    kafka, ingest, api = Launcher(order), Launcher(order, obeys_sigterm=False), Launcher(order)
    sup.add(Part("kafka", kafka, lambda: True, layer=0))
    sup.add(Part("ingest", ingest, lambda: True, layer=1))
    sup.add(Part("api", api, lambda: True, layer=1))
    sup.stop(timeout=0)
    services = {f"SIGTERM {ingest.current.pid}", f"SIGTERM {api.current.pid}"}
    assert set(order[:2]) == services
    assert order[2] == f"SIGTERM {kafka.current.pid}"
    assert ingest.current.signals == ["SIGTERM", "SIGKILL"]
    assert api.current.signals == kafka.current.signals == ["SIGTERM"]
    assert all(p.reaped for p in (kafka.current, ingest.current, api.current))
    assert sup.states() == {"kafka": "down", "ingest": "down", "api": "down"}
    assert said == []
