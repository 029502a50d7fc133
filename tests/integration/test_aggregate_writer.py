"""The aggregator's writer process on a real SQLite read model: killed, it is started again and the
retried batch applies exactly once; a batch's offsets are stored with it and never move backwards."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from services.aggregate.store import read_offsets
from services.aggregate.writer import Writer, WriterDiedError
from shared.catalog.loader import default_catalog
from shared.db.engine import make_engine, upgrade
from shared.infra.wait import wait_for
from shared.settings import DEFAULT_CATALOG
from tests.services import read_model_mismatches
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


def test_a_writer_killed_during_a_request_raises_and_the_next_request_restarts_it(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'read.db'}"
    upgrade(url)
    writer = Writer(url, DEFAULT_CATALOG, 0.0)
    try:
        pid = writer.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # the request is sent, then the process dies before answering
        loop = asyncio.new_event_loop()
        pending = loop.create_task(writer.refresh())
        loop.call_later(0.5, os.kill, pid, signal.SIGKILL)
        with pytest.raises(WriterDiedError, match="died during 'refresh'"):
            loop.run_until_complete(pending)
        loop.close()
        # the new writer knows nothing of what the old one had pending: it projects everything
        documents = asyncio.run(writer.flush())
        projected = {
            d["indicator"] for rollup_id, d in documents if rollup_id.startswith("indikator:")
        }
        assert projected == {i.id for i in default_catalog().indikatorer}
        assert writer.pid != pid
    finally:
        writer.close()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True
