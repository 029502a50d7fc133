"""The aggregator's writer process on a real SQLite read model: killed, it is started again and the
retried batch applies exactly once; a batch's offsets are stored with it and never move backwards.
It lives as long as the worker runs: none before the worker starts, none after it stops."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
from multiprocessing.process import BaseProcess
from pathlib import Path

import pytest
from sqlalchemy import Engine

from services import logs
from services.aggregate.app import create_app
from services.aggregate.writer import PROJECT, Writer, WriterDiedError, WriterError
from shared import log_config
from shared.catalog.loader import default_catalog
from shared.db.engine import make_engine, upgrade
from shared.domain.catalog import Catalog
from shared.infra.ports import free_port
from shared.infra.wait import wait_for
from shared.readmodel.store import read_offsets
from shared.settings import DEFAULT_CATALOG, Settings
from tests.aggregator import wait_until_oracle
from tests.services import produce, read_model_mismatches
from tests.streams import StreamMaker

TOPIC = "stadspuls.observations.v1"


def test_a_killed_writer_is_restarted_and_the_retried_batch_applies_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'read.db'}"
    upgrade(url)
    catalog = default_catalog()
    events = StreamMaker(catalog, seed=3).stream(600)
    first, second = [e.to_json() for e in events[:300]], [e.to_json() for e in events[300:]]
    restarts: list[int] = []
    writer = Writer(url, DEFAULT_CATALOG, 0.0, on_restart=lambda: restarts.append(1))
    engine = make_engine(url)
    try:
        writer.start()
        asyncio.run(writer.apply(first, {(TOPIC, 0): 300}))
        old = writer.pid
        assert old is not None
        os.kill(old, signal.SIGKILL)
        wait_for(
            lambda: not os.path.exists(f"/proc/{old}") or _zombie(old),
            timeout=10,
            what="the writer gone",
        )
        applied = asyncio.run(writer.apply(second, {(TOPIC, 0): 600}))
        assert restarts == [1]
        assert writer.pid != old
        assert len(applied.outcomes) == 300
        # the first batch again, as a redelivery after a crash: nothing changes, offsets stay
        again = asyncio.run(writer.apply(first, {(TOPIC, 0): 300}))
        assert {o for o, _ in again.outcomes} <= {"duplicate", "superseded"}
        assert read_model_mismatches(engine, catalog, events) == []
        with engine.connect() as conn:
            assert read_offsets(conn) == {(TOPIC, 0): 600}
    finally:
        engine.dispose()
        writer.close()


def test_a_projector_killed_during_a_request_raises_and_the_next_request_restarts_it(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'read.db'}"
    upgrade(url)
    writer = Writer(url, DEFAULT_CATALOG, 0.0, role=PROJECT)
    try:
        writer.start()
        pid = writer.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # the request is sent, then the process dies before answering
        loop = asyncio.new_event_loop()
        pending = loop.create_task(writer.refresh())
        loop.call_later(0.5, os.kill, pid, signal.SIGKILL)
        with pytest.raises(WriterDiedError, match="died during 'refresh'"):
            loop.run_until_complete(pending)
        loop.close()
        # the new projector knows nothing of what the old one had pending: it projects everything
        documents = asyncio.run(writer.flush()).documents
        projected = {
            d["indicator"] for rollup_id, d in documents if rollup_id.startswith("indikator:")
        }
        assert projected == {i.id for i in default_catalog().indikatorer}
        assert writer.pid != pid
    finally:
        writer.close()


def test_a_closed_writer_refuses_requests_and_is_not_started_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'read.db'}"
    upgrade(url)
    writer = Writer(url, DEFAULT_CATALOG, 0.0)
    with pytest.raises(WriterError, match="not started"):
        asyncio.run(writer.apply([], {}))
    assert writer.pid is None
    writer.start()
    [process] = multiprocessing.active_children()
    assert asyncio.run(writer.apply([], {})).outcomes == []  # running: it answers
    writer.close()
    assert process.exitcode is not None
    with pytest.raises(WriterError, match="closed"):
        asyncio.run(writer.apply([], {}))
    with pytest.raises(WriterError, match="closed"):
        writer.start()
    assert multiprocessing.active_children() == []


def test_building_the_worker_spawns_no_writer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'read.db'}"
    upgrade(url)
    settings = Settings(database_url=url, aggregate_data_dir=tmp_path / "faust")
    engine = make_engine(url)
    create_app(settings, default_catalog(), engine)
    engine.dispose()
    assert multiprocessing.active_children() == []


@pytest.mark.kafka
def test_the_worker_starts_its_writer_and_ends_it_when_it_stops(
    settings: Settings, engine: Engine, catalog: Catalog, tmp_path: Path
) -> None:
    settings = settings.model_copy(
        update={"aggregate_port": free_port(), "aggregate_data_dir": tmp_path / "faust"}
    )
    events = StreamMaker(catalog, seed=5).stream(200)
    app = create_app(settings, catalog, engine)

    async def run() -> list[BaseProcess]:
        await app.start()
        try:
            processes = multiprocessing.active_children()
            assert sorted(p.name for p in processes) == [
                "stadspuls-aggregate-projector",
                "stadspuls-aggregate-writer",
            ]
            await asyncio.to_thread(
                produce, settings.kafka_bootstrap or "", settings.topic("observations.v1"), events
            )
            await asyncio.to_thread(wait_until_oracle, engine, catalog, events, 120)
        finally:
            await app.stop()
        return processes

    for process in asyncio.run(run()):
        assert process.exitcode is not None, f"the stopped worker's {process.name} must have ended"
    assert multiprocessing.active_children() == []


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


def test_the_writer_process_logs_where_the_worker_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spawned process inherits no logging: the writer's and projector's lines (their errors
    with tracebacks, the projector's statistics) once went to raw stderr or nowhere."""
    log_file = tmp_path / "aggregate.log"
    root = logging.getLogger()
    before = (root.handlers[:], root.level)
    monkeypatch.setattr(log_config, "_active", None)
    log_config.configure(logs.logging_config("aggregate", log_file))
    url = f"sqlite:///{tmp_path / 'not-upgraded.db'}"  # no tables: the batch fails
    writer = Writer(url, DEFAULT_CATALOG, 0.0)
    try:
        writer.start()
        events = [e.to_json() for e in StreamMaker(default_catalog(), seed=2).stream(3)]
        with pytest.raises(WriterError, match="no such table"):
            asyncio.run(writer.apply(events, {("t", 0): 3}))
        written = log_file.read_text(encoding="utf-8")
        assert "aggregate apply request failed" in written
        assert "Traceback" in written  # the whole of it in the file, as the worker's own
    finally:
        writer.close()
        for handler in root.handlers[:]:
            if handler not in before[0]:
                root.removeHandler(handler)
                handler.close()
        root.handlers[:] = before[0]
        root.setLevel(before[1])
