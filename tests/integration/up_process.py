"""`stadspuls up` run as an operator runs it: a subprocess with its own ports, SQLite file and work
folder, its console in a file; its parts found by their command lines."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from shared.infra.ports import free_port
from shared.infra.wait import wait_for

SERVICES = ("ingest", "aggregate", "api")
INFO = re.compile(r"\bINFO\b")  # our lines, uvicorn's `INFO:`, faust's `[INFO]`
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
        self.workdir = tmp / "run"
        command = [sys.executable, "-m", "services.cli", "up", "--workdir", str(self.workdir)]
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

    def log(self, part: str) -> str:
        """A part's log file in the work folder (`broker` for the local broker's)."""
        return (self.workdir / f"{part}.log").read_text(errors="replace")

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


def chatter(lines: list[str]) -> list[str]:
    """Console lines that should be in a log file only: INFO of any kind, or a service's line that
    does not start with its name."""
    named = re.compile(rf"^({'|'.join(SERVICES)}) \| ")
    return [
        line for line in lines if INFO.search(line) or (" | " in line and not named.match(line))
    ]
