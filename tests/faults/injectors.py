"""Fault injectors: each makes one part fail the way it fails in production, and undoes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import psycopg

from services.aggregate.writer import APPLY, COMMANDS, PROJECT
from shared.infra.kafka import LocalKafka
from shared.infra.postgres import USER, LocalPostgres
from shared.infra.wait import wait_for

# Holds an exclusive lock on a SQLite file until its stdin closes.
_LOCKER = """import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


def lasting(fault: AbstractContextManager[object], seconds: float) -> None:
    """Let a fault last `seconds`: its length is what is tested, not a condition to wait for."""
    with fault:
        time.sleep(seconds)


@contextmanager
def sqlite_locked(path: Path) -> Iterator[None]:
    """Another process holds `BEGIN EXCLUSIVE` on the database (a backup or a long migration)."""
    locker = subprocess.Popen(
        [sys.executable, "-c", _LOCKER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert locker.stdin is not None
    assert locker.stdout is not None
    try:
        if locker.stdout.readline().strip() != "locked":
            raise RuntimeError(f"could not lock {path}: exit {locker.wait(5)}")
        yield
    finally:
        locker.stdin.close()
        locker.wait(30)


@contextmanager
def sqlite_read_only(path: Path) -> Iterator[None]:
    """`chattr +i` on the database, its WAL and its folder: root ignores chmod, not this.

    Not the `-shm` file: SQLite maps it into memory, and writing an immutable mapping is SIGBUS.
    """
    paths = [str(p) for p in (path, Path(f"{path}-wal"), path.parent) if p.exists()]
    subprocess.run(["chattr", "+i", *paths], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *paths], check=True)


@contextmanager
def postgres_stopped(server: LocalPostgres) -> Iterator[None]:
    """The server is shut down (sessions disconnected) and started again on the same port."""
    server.stop()
    try:
        yield
    finally:
        server.start()


def terminate_backends(server: LocalPostgres, application_name: str) -> int:
    """`pg_terminate_backend` every session of `application_name`; return how many ended."""
    conninfo = f"host=127.0.0.1 port={server.port} user={USER} dbname=postgres connect_timeout=5"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        ended = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        ).fetchall()
    return sum(1 for (ok,) in ended if ok)


def keep_terminating(
    server: LocalPostgres, application_name: str, seconds: float, every: float = 0.2
) -> int:
    """Terminate the sessions of `application_name` again and again for `seconds`; count them."""
    ended = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ended += terminate_backends(server, application_name)
        time.sleep(every)  # the fault's rhythm
    return ended


def children(pid: int) -> list[int]:
    """The child processes of `pid`, from /proc."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def writer_pid(worker_pid: int) -> int:
    """The aggregate worker's writer process (named `sp-writer` in /proc)."""
    return aggregate_child(worker_pid, COMMANDS[APPLY])


def projector_pid(worker_pid: int) -> int:
    """The aggregate worker's projector process (named `sp-projector` in /proc)."""
    return aggregate_child(worker_pid, COMMANDS[PROJECT])


def aggregate_child(worker_pid: int, name: str) -> int:
    """The one child process of the worker called `name`."""
    found = [
        c
        for c in children(worker_pid)
        if Path(f"/proc/{c}/comm").read_text().strip() == name  # the process names itself
    ]
    if len(found) != 1:
        raise RuntimeError(f"expected one {name} process under {worker_pid}, found {found}")
    return found[0]


def kill(pid: int) -> None:
    """SIGKILL `pid` and wait until it is gone."""
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: _gone(pid), timeout=10, what=f"process {pid} to die")


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


@contextmanager
def paused(pid: int) -> Iterator[None]:
    """SIGSTOP: the process holds its sockets but answers nothing (a stalled broker); SIGCONT after."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def crash_and_restart(broker: LocalKafka) -> None:
    """`kill -9` the broker, then start it again on the same port and data folder."""
    broker.kill()
    broker.start()
