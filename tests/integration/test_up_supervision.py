"""`stadspuls up` supervises its parts, run as an operator runs it: a subprocess with its own ports,
SQLite file and work folder, its parts killed with SIGKILL, stopped with SIGINT."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.infra.ports import free_port
from shared.infra.wait import wait_for
from tests.e2e.client import INDICATOR, create_key

pytestmark = [pytest.mark.kafka]
MARKERS = {
    "kafka": "kafka.Kafka",
    "ingest": "serve ingest",
    "aggregate": "serve aggregate",
    "api": "serve api",
}


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, parent pid) of a process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rsplit(")", 1)[1].split()  # the command name in (…) may hold spaces
    return fields[0], int(fields[1])


def _processes() -> dict[int, tuple[str, int]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            found[int(entry.name)] = stat
    return found


def descendants(pid: int) -> list[int]:
    """Every process below `pid`: children, their children, …"""
    children: dict[int, list[int]] = {}
    for child, (_, parent) in _processes().items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def gone(pid: int) -> bool:
    """True when no process `pid` exists, not even a zombie."""
    return _stat(pid) is None


class Up:
    """`stadspuls up` in a subprocess, with its console in a file."""

    def __init__(self, tmp: Path, *, sigint_ignored: bool = False) -> None:
        self.ports = {name: free_port() for name in ("ingest", "aggregate", "api")}
        env = {k: v for k, v in os.environ.items() if not k.startswith("STADSPULS_")}
        env.update({f"STADSPULS_{n.upper()}_PORT": str(p) for n, p in self.ports.items()})
        env["STADSPULS_DATABASE_URL"] = f"sqlite:///{tmp / 'stadspuls.db'}"
        env["STADSPULS_AGGREGATE_DATA_DIR"] = str(tmp / "aggregate")
        env["STADSPULS_KEY_SECRET"] = "up-supervision-test"
        env["STADSPULS_ENVIRONMENT"] = "test"
        self.env, self.console, self.seen = env, tmp / "up.log", set[int]()
        # A shell without job control starts its background jobs with SIGINT ignored.
        ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
        command = [sys.executable, "-m", "services.cli", "up", "--workdir", str(tmp / "run")]
        with self.console.open("w") as out:
            self.proc = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp, preexec_fn=ignore
            )

    def url(self, name: str) -> str:
        """Base URL of one of the three services."""
        return f"http://127.0.0.1:{self.ports[name]}"

    def output(self) -> str:
        """What `up` and its parts have written to the console so far."""
        return self.console.read_text(errors="replace")

    def wait_output(self, text: str, timeout: float = 180) -> None:
        """Wait until `text` is on the console (and `up` has not exited)."""

        def said() -> bool:
            assert self.proc.poll() is None, f"up exited {self.proc.returncode}:\n{self.output()}"
            return text in self.output()

        wait_for(said, timeout=timeout, interval=0.2, what=f"{text!r} on the console")

    def pid_of(self, part: str) -> int | None:
        """The live process of a part (a child of `up`), None while it is down."""
        for pid, (state, parent) in _processes().items():
            if parent != self.proc.pid or state == "Z":
                continue
            self.seen.add(pid)
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except FileNotFoundError:
                continue
            if MARKERS[part] in cmdline.decode(errors="replace"):
                return pid
        return None

    def below(self) -> list[int]:
        """Every process below `up` now (remembered, so that `close` can clean up after a failure)."""
        found = descendants(self.proc.pid)
        self.seen.update(found)
        return found

    def answers(self, name: str, path: str) -> bool:
        """True when the service answers `path` with 200."""
        try:
            return httpx.get(f"{self.url(name)}{path}", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        """SIGINT, then SIGKILL; and SIGKILL whatever a failed test left behind."""
        self.below()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        mark = f"STADSPULS_DATABASE_URL={self.env['STADSPULS_DATABASE_URL']}".encode()
        for pid in self.seen:  # only ours: a process id may have been reused since
            with contextlib.suppress(OSError):
                if mark in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """One `up` for the tests that kill its parts; each leaves it whole again."""
    up = Up(tmp_path_factory.mktemp("up"))
    try:
        up.wait_output("Ctrl-C stops everything", timeout=240)
        yield up
    finally:
        up.close()


def kill_and_see_it_back(up: Up, part: str) -> int:
    """SIGKILL a part; it must be named, reaped and restarted. Returns the new process id."""
    old = wait_for(lambda: up.pid_of(part), timeout=60, what=f"{part} running")
    os.kill(old, signal.SIGKILL)
    up.wait_output(f"{part} (pid {old}) was killed by SIGKILL")
    wait_for(lambda: gone(old), timeout=30, what=f"the killed {part} reaped (no zombie)")
    new = wait_for(lambda: up.pid_of(part), timeout=60, what=f"{part} restarted")
    assert new != old
    up.wait_output(f"{part} is back (pid {new})", timeout=180)
    return new


def test_a_killed_aggregate_worker_is_named_and_restarted_alone(stack: Up) -> None:
    others = {part: stack.pid_of(part) for part in ("kafka", "ingest", "api")}
    kill_and_see_it_back(stack, "aggregate")
    assert stack.answers("aggregate", "/healthz")
    assert {part: stack.pid_of(part) for part in others} == others  # the rest kept running
    assert stack.answers("ingest", "/healthz")
    assert stack.answers("api", "/healthz")


def test_a_killed_broker_is_restarted_and_ingest_accepts_again(stack: Up) -> None:
    kill_and_see_it_back(stack, "kafka")
    wait_for(lambda: stack.answers("ingest", "/readyz"), timeout=120, what="ingest ready again")
    key = create_key({k: v for k, v in stack.env.items() if k.startswith("STADSPULS_")})
    row = {"indicator": INDICATOR, "area": "husby", "period": "2023", "value": 40.0}
    row.update(numerator=40, denominator=100)
    answer = httpx.post(
        f"{stack.url('ingest')}/v1/observations",
        json={"observations": [row]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text


# SIGINT with SIGINT inherited ignored (a background job of a shell); SIGTERM (a process manager)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_a_stop_signal_stops_everything_and_leaves_no_zombie(
    tmp_path: Path, signum: signal.Signals
) -> None:
    up = Up(tmp_path, sigint_ignored=True)
    try:
        up.wait_output("Ctrl-C stops everything", timeout=240)
        children = {part: up.pid_of(part) for part in MARKERS}
        assert None not in children.values(), children
        below = up.below()  # the parts and what they started (the writer)
        os.kill(up.proc.pid, signum)
        assert up.proc.wait(120) == 0, up.output()
        assert up.output().rstrip().endswith("stopped.")
        assert [pid for pid in children.values() if pid and not gone(pid)] == []
        wait_for(lambda: all(gone(pid) for pid in below), timeout=10, what="no process left")
    finally:
        up.close()


def test_a_killed_up_leaves_no_orphan(tmp_path: Path) -> None:
    up = Up(tmp_path)
    try:
        up.wait_output("Ctrl-C stops everything", timeout=240)
        below = up.below()
        up.proc.kill()
        up.proc.wait()
        wait_for(lambda: all(gone(pid) for pid in below), timeout=30, what="no orphan left")
    finally:
        up.close()
