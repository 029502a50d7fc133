"""The aggregator's writer: a child process that decodes batches and applies them to the read model.

faust spends about as much of the interpreter lock on each message before our agent sees it as
decoding, rollups and SQL spend after; in one process the two share one lock and so one core. The
writer gives the read-model work a process, and a core, of its own. The transaction boundary does
not move: the writer commits a batch's transaction before it answers, and the agent lets faust
commit the offsets only after the answer. The writer dies with the worker (PR_SET_PDEATHSIG), so a
kill -9 leaves at most an open transaction, which the database rolls back.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import signal
import threading
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from shared.domain.observation import Observation, utcnow
from shared.domain.rollup import InvalidObservationError, Outcome

log = logging.getLogger("stadspuls.aggregate.writer")
Documents = list[tuple[str, dict[str, Any]]]


@dataclass
class Applied:
    """What a batch did: per event its outcome (or DLQ reason) and error, plus what to publish."""

    outcomes: list[tuple[str, str | None]] = field(default_factory=list)
    freshness: list[float] = field(default_factory=list)  # seconds, per applied event
    documents: Documents = field(default_factory=list)


class Writer:
    """The parent's handle on the writer process: one request at a time, answered in order."""

    def __init__(self, database_url: str, catalog_path: Path, interval: float) -> None:
        parent, child = multiprocessing.get_context("spawn").Pipe()
        self._pipe = parent
        self._lock = threading.Lock()
        self._process = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(child, database_url, str(catalog_path), interval),
            name="stadspuls-aggregate-writer", daemon=True,
        )  # fmt: skip
        self._process.start()
        child.close()

    def _call(self, request: tuple[Any, ...]) -> Any:
        with self._lock:
            self._pipe.send(request)
            status, answer = self._pipe.recv()
        if status != "ok":
            raise RuntimeError(f"the aggregate writer failed: {answer}")
        return answer

    async def apply(self, values: list[bytes]) -> Applied:
        """Decode and apply one batch of raw event values in one transaction."""
        answer: Applied = await asyncio.to_thread(self._call, ("apply", values))
        return answer

    async def flush(self) -> Documents:
        """Project whatever batches left pending (the stream is idle)."""
        answer: Documents = await asyncio.to_thread(self._call, ("flush",))
        return answer

    async def refresh(self) -> Documents:
        """Recompute every summary (staleness moves with time)."""
        answer: Documents = await asyncio.to_thread(self._call, ("refresh",))
        return answer

    async def mark_all(self) -> None:
        """Project every indicator at the next opportunity (after a partition assignment)."""
        await asyncio.to_thread(self._call, ("mark_all",))

    def stop(self) -> None:
        """End the writer process."""
        self._process.terminate()
        self._process.join(10)


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _serve(pipe: Pipe, database_url: str, catalog_path: str, interval: float) -> None:
    """The writer process: answer requests until the pipe closes."""
    _die_with_parent()
    from services.aggregate.projections import Projector
    from services.aggregate.store import SeriesStore
    from shared.catalog.loader import load_catalog
    from shared.db.engine import make_engine

    catalog = load_catalog(Path(catalog_path))
    engine = make_engine(database_url)
    store, projector = SeriesStore(engine, catalog), Projector(catalog, interval=interval)
    while True:
        try:
            request = pipe.recv()
        except EOFError:
            return
        try:
            kind = request[0]
            if kind == "apply":
                answer: Any = _apply(store, projector, request[1])
            elif kind == "flush":
                with engine.begin() as conn:
                    projected, answer = projector.flush(conn)
                projector.done(projected)
            elif kind == "refresh":
                with engine.begin() as conn:
                    answer = projector.refresh(conn, catalog.indicator, utcnow())
            else:
                projector.mark_all()
                answer = None
            pipe.send(("ok", answer))
        except Exception as exc:
            log.exception("aggregate writer request failed")
            pipe.send(("error", repr(exc)[:2000]))


def _apply(store: Any, projector: Any, values: list[bytes]) -> Applied:
    applied = Applied()
    batch: list[Observation] = []
    where: list[int] = []  # index in `values` of each observation in `batch`
    for value in values:
        try:
            obs = Observation.model_validate_json(value)
            store.rollup.check(obs)
        except ValidationError as exc:
            applied.outcomes.append(("malformed", _first_error(exc)))
            continue
        except InvalidObservationError as exc:
            # the DLQ `error` header as ingest's raw path writes it: [{field, code, message}]
            applied.outcomes.append(
                ("invalid", orjson.dumps([p._asdict() for p in exc.problems]).decode())
            )
            continue
        where.append(len(applied.outcomes))
        applied.outcomes.append(("", None))
        batch.append(obs)
    if not batch:
        return applied
    result = store.apply(batch, projector)
    projector.done(result.projected)
    committed = result.committed_at
    for i, obs, outcome in zip(where, batch, result.outcomes, strict=True):
        applied.outcomes[i] = (outcome.value, None)
        if outcome is Outcome.APPLIED:
            applied.freshness.append(max(0.0, (committed - obs.received_at).total_seconds()))
    applied.documents = result.documents
    return applied


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "message"
    return f"{where}: {err['msg']}"
