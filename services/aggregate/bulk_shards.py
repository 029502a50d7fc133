"""The batch rebuild's shards: the log's (indicator, period, gender) groups computed in processes
of their own, one per core, each reading the whole topic and taking only its own groups' events.

An observation changes only the rows of its own group (its series and their parents), and a
group's rows depend only on its own events in their topic order, so the groups can be computed
apart and their rows put together. The group is read from the message key (`indicator|area|
period|gender`, the series key ingest writes) without decoding the event; an event whose key
names no group belongs to the first shard. An event whose decoded group is not the one its key
names (a key written by hand) would have been skipped by the shard its group belongs to:
`MisroutedError` ends the sharded job, and the rebuild starts again in one process.

A helper process is spawned (never forked: the job's process holds threads and connections),
receives the end offsets the main process read up to, and sends back its version rows while it
reads (in chunks, so the PostgreSQL copy takes them meanwhile), then its series rows and what it
refused. A thread of the main process receives them. The helper ends when its pipe closes, so it
outlives neither a job that failed nor one that was killed.
"""

from __future__ import annotations

import multiprocessing
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Row = Sequence[object]
Sink = Callable[[list[Row]], None]
Dead = tuple[int, int, bytes | None, bytes, list[tuple[str, bytes]]]  # partition, offset, ...


class MisroutedError(Exception):
    """An event whose message key names another group than the one it carries."""


def shard_of(key: bytes | None, shards: int) -> int:
    """The shard of the group a message key names (the first for a key that names none)."""
    if shards == 1 or key is None:
        return 0
    parts = key.split(b"|")
    if len(parts) != 4:
        return 0
    return _shard(b"|".join((parts[0], parts[2], parts[3])), shards)


def group_shard(indicator: str, period: str, gender: str, shards: int) -> int:
    """The shard of an observation's (indicator, period, gender) group, as `shard_of` its key."""
    return _shard(f"{indicator}|{period}|{gender}".encode(), shards)


def _shard(group: bytes, shards: int) -> int:
    """The shard of a group named `indicator|period|gender` (the same in every process)."""
    return zlib.crc32(group) % shards


def processes(configured: int, cores: int | None, postgres: bool) -> int:
    """How many processes compute a rebuild: as configured, else one per core (at most 4) on
    SQLite and one on PostgreSQL, whose server takes the other core copying the versions in
    while the topic is read (measured: a second process made it no faster on 2 cores)."""
    if configured > 0:
        return configured
    return 1 if postgres else max(1, min(cores or 1, 4))


@dataclass
class ShardDone:
    """What a helper computed besides its version rows."""

    events: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    dead: list[Dead] = field(default_factory=list)
    newest: datetime | None = None
    rows: list[Row] = field(default_factory=list)  # series rows, their fields in order


class Helper:
    """A spawned process that computes one shard (`target(pipe, *args)`), and the thread of this
    process that receives what it sends: `begin` hands it the end offsets and where its version
    rows go, `finish` waits for the rest, `stop` ends it whatever it is doing."""

    def __init__(self, target: Callable[..., None], args: tuple[Any, ...], name: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self.process = context.Process(target=target, args=(child, *args), name=name, daemon=True)
        self.process.start()
        child.close()
        self._done = ShardDone()
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._sink: Sink = lambda _: None

    def begin(self, ends: dict[int, int], sink: Sink) -> None:
        """Start the helper's reading, up to `ends`; its version rows go to `sink` in chunks."""
        self._sink = sink
        self._pipe.send(ends)
        self._thread = threading.Thread(target=self._receive, name="rebuild-shard", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        try:
            while True:
                kind, payload = self._pipe.recv()
                if kind == "versions":
                    self._sink(payload)
                elif kind == "rows":
                    self._done.rows.extend(payload)
                elif kind == "done":
                    events, refused, dead, newest = payload
                    self._done.events, self._done.refused = events, refused
                    self._done.dead, self._done.newest = dead, newest
                    return
                elif kind == "misrouted":
                    self._failure = MisroutedError(payload)
                    return
                else:
                    self._failure = RuntimeError(f"a rebuild shard failed:\n{payload}")
                    return
        except (EOFError, OSError) as exc:
            self._failure = RuntimeError(f"a rebuild shard ended before it was done: {exc!r}")

    def finish(self) -> ShardDone:
        """Wait for everything the helper computed; raise what made it fail."""
        assert self._thread is not None, "begin first"
        self._thread.join()
        if self._failure is not None:
            raise self._failure
        self.process.join(timeout=30)
        return self._done

    def stop(self) -> None:
        """End the helper now (a failed or finished job); its pipe closes."""
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout=30)
        if self._thread is not None:  # its pipe has reached its end: the thread returns
            self._thread.join(timeout=30)
        self._pipe.close()
