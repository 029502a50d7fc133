"""`stadspuls up` supervises its parts, run as an operator runs it: a subprocess with its own ports,
SQLite file and work folder, its parts killed with SIGKILL, stopped with SIGINT."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.infra.wait import wait_for
from tests.e2e.client import INDICATOR, create_key
from tests.integration.up_process import MARKERS, Up, chatter, gone

pytestmark = [pytest.mark.kafka]


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


def test_up_says_how_other_commands_reach_its_broker(stack: Up) -> None:
    found = re.search(r"export (STADSPULS_KAFKA_BOOTSTRAP=(127\.0\.0\.1:\d+))", stack.output())
    assert found is not None, stack.output()
    command = [sys.executable, "-m", "services.cli", "verify"]
    without = subprocess.run(command, env=stack.env, capture_output=True, text=True, timeout=120)
    assert without.returncode == 2
    assert "the address on its `Kafka` line" in without.stderr
    env = stack.env | {"STADSPULS_KAFKA_BOOTSTRAP": found.group(2)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the read model equals the log" in done.stdout


def test_a_killed_part_is_named_on_a_console_that_stays_quiet(stack: Up) -> None:
    before = len(stack.output().splitlines())
    old = wait_for(lambda: stack.pid_of("api"), timeout=60, what="api running")
    new = kill_and_see_it_back(stack, "api")
    after = stack.output().splitlines()[before:]
    assert any(line.startswith(f"api (pid {old}) was killed by SIGKILL") for line in after), after
    assert any(line.startswith(f"api is back (pid {new})") for line in after), after
    assert chatter(after) == [], after
    log = stack.log("api")  # the restarted part goes on in the same file
    assert f"api starting (pid {old})" in log
    assert f"api starting (pid {new})" in log


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


# SIGINT with SIGINT inherited ignored (a background job of a shell); SIGTERM (a process manager).
# CI runs SIGTERM here; tests/e2e/test_pipeline stops `up` with a plain Ctrl-C.
@pytest.mark.parametrize(
    "signum",
    [
        pytest.param(signal.SIGINT, id="sigint", marks=pytest.mark.slow),
        pytest.param(signal.SIGTERM, id="sigterm"),
    ],
)
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
