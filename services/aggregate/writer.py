"""The aggregator's writer: a child process that decodes batches and applies them to the read model.

The same `Writer` handle, with the `project` role, runs the projector process beside it
(`projecting.py`): the writer says what each batch changed, the projector projects it.

faust spends about as much of the interpreter lock on each message before our agent sees it as
decoding, rollups and SQL spend after; in one process the two share one lock and so one core. The
writer gives the read-model work a process, and a core, of its own. The transaction boundary does
not move: the writer commits a batch's transaction before it answers, and the agent lets faust
commit the offsets only after the answer. The writer ends when its pipe closes, so when the worker
dies the writer finishes (or the database rolls back) at most the transaction it is in, whose
offsets were not committed: the batch comes again and is found applied. (PR_SET_PDEATHSIG is not
used: it fires when the parent *thread* that started the process ends, and a restarted writer is
started from a worker thread.)
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import logging.config
import multiprocessing
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection as Pipe
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from shared.domain.observation import Observation
from shared.domain.rollup import InvalidObservationError, Outcome, RollupEngine
from shared.log_config import active
from shared.readmodel.store import Offsets
from shared.readmodel.versions import Delivery

log = logging.getLogger("stadspuls.aggregate.writer")
APPLY, PROJECT = "apply", "project"  # the roles: apply batches, or project what they changed
# each role's process name as ps, top and /proc/<pid>/comm show it (at most 15 bytes)
COMMANDS = {APPLY: "sp-writer", PROJECT: "sp-projector"}
Documents = list[tuple[str, dict[str, Any]]]


@dataclass
class Applied:
    """What a batch did: per event its outcome (or DLQ reason) and error, plus what to publish."""

    outcomes: list[tuple[str, str | None]] = field(default_factory=list)
    freshness: list[float] = field(default_factory=list)  # seconds, per applied event
    documents: Documents = field(default_factory=list)
    committed_at: datetime | None = None  # of the batch's transaction, in the writer process
    # the (indicator, area, gender) whose rows the batch changed: for the projector process
    changed: list[tuple[str, str, str]] = field(default_factory=list)
    more: bool = False  # a flush left work pending: flush again when still idle
    projected_at: datetime | None = None  # the commit of the projection that followed it, if any
    # seconds from the commit of the oldest series change not yet projected to the commit of the
    # projection that covered it; None: no projection ran
    status_lag: float | None = None
    # (source, observation_id, series) of versions that reused an id for other numbers
    conflicts: list[tuple[str, str, str]] = field(default_factory=list)


class WriterError(RuntimeError):
    """The writer could not apply a request: the database refused it, or the process died."""


class WriterDiedError(WriterError):
    """The writer process died before it answered; whether its transaction committed is unknown."""


class Writer:
    """The parent's handle on the writer process: one request at a time, answered in order.

    `start` spawns the process and `close` ends it (the worker's lifecycle calls both, see
    `lifecycle.py`). A writer process that dies (killed, out of memory) is started again on the
    next request; a new projector first marks every indicator for projection, since the dead
    one's pending set is lost. A closed writer refuses requests and is never started again.
    """

    def __init__(
        self,
        database_url: str,
        catalog_path: Path,
        interval: float,
        on_restart: Callable[[], None] | None = None,
        role: str = APPLY,
    ) -> None:
        if role not in (APPLY, PROJECT):
            raise ValueError(f"role: {APPLY!r} or {PROJECT!r}, got {role!r}")
        self.role = role
        self._args = (database_url, str(catalog_path), interval, role)
        self._lock = threading.Lock()
        self._on_restart = on_restart
        self._process: BaseProcess | None = None
        self._closed = False

    def start(self) -> None:
        """Spawn the writer process, unless it runs already."""
        with self._lock:
            if self._closed:
                raise WriterError("the writer is closed")
            if self._process is None:
                self._spawn()

    def _spawn(self) -> None:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._pipe = parent
        self._process = context.Process(
            target=_serve,
            args=(child, *self._args, active()),
            name=f"stadspuls-aggregate-{'writer' if self.role == APPLY else 'projector'}",
            daemon=True,
        )
        self._process.start()
        child.close()
        self._broken = False

    def _restart(self, process: BaseProcess) -> None:
        log.warning("the writer process died (exit code %s); starting a new one", process.exitcode)
        self._pipe.close()
        if process.is_alive():
            process.kill()
        process.join(10)
        self._spawn()
        if self._on_restart is not None:
            self._on_restart()
        if self.role == PROJECT:
            self._exchange(("mark_all",))

    def _exchange(self, request: tuple[Any, ...]) -> Any:
        assert self._process is not None
        try:
            self._pipe.send(request)
            status, answer = self._pipe.recv()
        except (EOFError, OSError) as exc:
            self._broken = True
            self._process.join(1)
            raise WriterDiedError(
                f"the writer process died during {request[0]!r} "
                f"(exit code {self._process.exitcode})"
            ) from exc
        if status != "ok":
            raise WriterError(f"the aggregate writer failed: {answer}")
        return answer

    def _call(self, request: tuple[Any, ...]) -> Any:
        with self._lock:
            process = self._process
            if self._closed or process is None:
                state = "closed" if self._closed else "not started"
                raise WriterError(f"the writer is {state}: no {request[0]!r}")
            if self._broken or not process.is_alive():
                self._restart(process)
            return self._exchange(request)

    @property
    def pid(self) -> int | None:
        """The writer process's id while it runs (for tests and operators)."""
        return None if self._process is None else self._process.pid

    @property
    def closed(self) -> bool:
        """True once `close` was called: the writer takes no more requests."""
        return self._closed

    async def apply(
        self, values: list[bytes], offsets: Offsets, deliveries: list[Delivery] | None = None
    ) -> Applied:
        """Decode and apply one batch of raw event values, and its offsets, in one transaction;
        `deliveries` names each value's place in the topic."""
        request = ("apply", values, dict(offsets), deliveries)
        answer: Applied = await asyncio.to_thread(self._call, request)
        return answer

    async def project(
        self, changed: list[tuple[str, str, str]], committed_at: datetime | None
    ) -> Applied:
        """Hand over what batches changed (the oldest committed at `committed_at`) and project what
        is due (the `project` role): the documents and the status lag."""
        answer: Applied = await asyncio.to_thread(self._call, ("project", changed, committed_at))
        return answer

    async def flush(self) -> Applied:
        """Project whatever batches left pending (the stream is idle): the documents and the
        status lag (`Applied` without outcomes)."""
        answer: Applied = await asyncio.to_thread(self._call, ("flush",))
        return answer

    async def refresh(self) -> Documents:
        """Recompute every summary (staleness moves with time)."""
        answer: Documents = await asyncio.to_thread(self._call, ("refresh",))
        return answer

    async def mark_all(self) -> None:
        """Project every indicator at the next opportunity (after a partition assignment)."""
        await asyncio.to_thread(self._call, ("mark_all",))

    def close(self) -> None:
        """End the writer process after the request it is answering (it also dies with its parent)."""
        with self._lock:
            self._closed = True
            process, self._process = self._process, None
            if process is None:
                return
            self._pipe.close()
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join(5)


def _serve(
    pipe: Pipe,
    database_url: str,
    catalog_path: str,
    interval: float,
    role: str,
    logging_config: dict[str, Any] | None = None,
) -> None:
    """The writer or projector process: answer requests until the pipe closes (logging as the
    worker does, `logging_config`: a spawned process inherits none of it)."""
    if logging_config is not None:
        logging.config.dictConfig(logging_config)
    _name_process(COMMANDS[role])
    from shared.catalog.loader import load_catalog
    from shared.db.engine import make_engine
    from shared.readmodel.store import SeriesStore

    catalog = load_catalog(Path(catalog_path))
    if role == PROJECT:
        from services.aggregate.projecting import ProjectionWork

        work = ProjectionWork(database_url, catalog, interval)
        handlers: dict[str, Callable[..., Any]] = {
            "project": work.project,
            "flush": work.flush,
            "refresh": work.refresh,
            "mark_all": work.mark_all,
        }
    else:
        store = SeriesStore(make_engine(database_url), catalog)
        handlers = {"apply": lambda *args: _apply(store, *args)}
    while True:
        try:
            request = pipe.recv()
        except EOFError:
            return
        try:
            kind, *args = request
            reply: tuple[str, Any] = ("ok", handlers[kind](*args))
        except Exception as exc:
            log.exception("aggregate %s request failed", role)
            reply = ("error", repr(exc)[:2000])
        try:
            pipe.send(reply)
        except OSError:  # the worker is gone; its batch will be delivered again
            return


# why an event goes to the DLQ: its reason (malformed | invalid) and its `error` header
Refusal = tuple[str, str]


def judge(rollup: RollupEngine, value: bytes) -> Observation | Refusal:
    """An event's observation, or why it goes to the dead-letter topic."""
    try:
        obs = Observation.model_validate_json(value)
        rollup.check(obs)
    except ValidationError as exc:
        return ("malformed", _first_error(exc))
    except InvalidObservationError as exc:
        # the DLQ `error` header as ingest's raw path writes it: [{field, code, message}]
        return ("invalid", orjson.dumps([p._asdict() for p in exc.problems]).decode())
    return obs


def dlq_headers(raw: Any, error: str) -> list[tuple[str, bytes]]:
    """A dead-lettered event's headers: its own (but an `error`), then the `error` header."""
    items = (raw.items() if isinstance(raw, dict) else raw) if raw else []
    return [*((k, v) for k, v in items if k != "error"), ("error", error.encode())]


def _apply(
    store: Any,
    values: list[bytes],
    offsets: Offsets,
    deliveries: list[Delivery] | None = None,
) -> Applied:
    applied = Applied()
    batch: list[Observation] = []
    where: list[int] = []  # index in `values` of each observation in `batch`
    for value in values:
        obs = judge(store.rollup, value)
        if isinstance(obs, tuple):
            applied.outcomes.append(obs)
            continue
        where.append(len(applied.outcomes))
        applied.outcomes.append(("", None))
        batch.append(obs)
    if not batch and not offsets:
        return applied
    placed = [deliveries[i] for i in where] if deliveries else None
    # every observation passed `check` above; a batch of refused events only: its offsets
    result = store.apply(batch, None, offsets, placed, checked=True)
    if not batch:
        return applied
    committed = result.committed_at
    for i, obs, outcome in zip(where, batch, result.outcomes, strict=True):
        applied.outcomes[i] = (outcome.value, None)
        if outcome is Outcome.APPLIED:
            applied.freshness.append(max(0.0, (committed - obs.received_at).total_seconds()))
    applied.committed_at = committed
    applied.changed = sorted({(i, a, g) for i, a, _, g in result.changed})
    applied.conflicts = [
        (o.source, str(o.observation_id), "/".join((o.indicator, o.area, o.period, o.gender.value)))
        for o in result.conflicts
    ]
    return applied


class StatusLag:
    """How long a status waits for its series: from the commit of the oldest change not yet
    projected to the commit of the projection that covers it (the writer process's own clock)."""

    def __init__(self) -> None:
        self.since: datetime | None = None  # commit of the oldest change still pending

    def after_batch(self, applied: Applied, pending: set[str]) -> float | None:
        """The lag a batch's projection ended (None if it ran none); start one if it left some."""
        lag = None
        if applied.projected_at is not None:
            if self.since is None:
                self.since = applied.committed_at  # its own changes waited for it
            lag = self.projected(applied.projected_at)
        if pending and self.since is None:
            self.since = applied.committed_at  # its changes wait for a later projection
        return lag

    def projected(self, at: datetime) -> float:
        """Everything pending was projected, committed at `at`: the lag it ended."""
        since, self.since = self.since, None
        return 0.0 if since is None else max(0.0, (at - since).total_seconds())


def _name_process(name: str) -> None:
    """Name the calling process for operators (Linux `prctl(PR_SET_NAME)`; elsewhere, nothing)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # 15: PR_SET_NAME
    except (OSError, AttributeError):
        log.debug("cannot name the %s process on this system", name)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "message"
    return f"{where}: {err['msg']}"
