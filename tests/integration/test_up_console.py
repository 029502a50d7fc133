"""A newcomer's screen: `stadspuls up` says where the logs are, what it starts and the URLs, then
only the services' warnings and errors, named; every line of every part is in its log file."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from tests.integration.up_process import SERVICES, Up, chatter

pytestmark = [pytest.mark.kafka]
QUIETED = ("alembic", "kafka", "faust", "mode")  # libraries whose INFO nobody needs


def test_a_newcomer_sees_one_short_screen_and_the_logs_hold_every_line(tmp_path: Path) -> None:
    up = Up(tmp_path)
    try:
        up.wait_output("Ctrl-C stops everything", timeout=240)
        up.proc.send_signal(signal.SIGINT)
        assert up.proc.wait(120) == 0, up.output()
    finally:
        up.close()
    console = up.output().splitlines()
    assert len(console) < 30, up.output()
    assert console[0].startswith(f"logs: {up.workdir} (broker.log, ingest.log"), console[0]
    for name in SERVICES:
        assert f"{name:<11} {up.url(name)}  (/healthz, /readyz, /metrics)" in console
    assert f"API docs    {up.url('api')}/docs   ingest docs {up.url('ingest')}/docs" in console
    assert chatter(console) == [], up.output()

    assert "Kafka" in up.log("broker")
    for name in SERVICES:
        log = up.log(name)
        assert re.search(rf" INFO stadspuls\.serve: {name} starting \(pid \d+\)", log), log
        for lib in QUIETED:
            assert not re.search(rf" INFO {lib}[.:]", log), f"{lib} INFO in {name}.log:\n{log}"
        for line in console:  # what the console shows of a service, its file has too
            if line.startswith(f"{name} | "):
                level_and_logger = line.removeprefix(f"{name} | ").split(": ", 1)[0]
                assert level_and_logger in log, f"{line!r} not in {name}.log"
    for name in ("ingest", "api"):
        assert f"INFO uvicorn.error: Uvicorn running on {up.url(name)}" in up.log(name)
