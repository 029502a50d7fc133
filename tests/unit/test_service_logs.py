"""How a served service logs: the console filter and formatter, and the whole configuration in a
fresh interpreter (stderr and the log file as `stadspuls up` and a container see them)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from services.logs import NamedFormatter, RepeatFilter


def record(name: str, level: int, msg: str, *args: object, at: float = 0.0) -> logging.LogRecord:
    """A log record made `at` seconds after the epoch."""
    made = logging.LogRecord(name, level, __file__, 1, msg, args or None, None)
    made.created = at
    return made


def test_a_kind_of_line_passes_once_per_window_and_the_next_says_how_many_were_held() -> None:
    repeats = RepeatFilter(window=60)
    assert repeats.filter(record("aiokafka", logging.ERROR, "Unable connect to node 1", at=0))
    # the same kind: the numbers differ, or they are arguments
    assert not repeats.filter(record("aiokafka", logging.ERROR, "Unable connect to node 2", at=1))
    assert not repeats.filter(record("aiokafka", logging.ERROR, "Unable connect to node 1", at=59))
    # another logger, level or message is another kind
    assert repeats.filter(record("kafka.net", logging.ERROR, "Unable connect to node 1", at=2))
    assert repeats.filter(record("aiokafka", logging.WARNING, "Unable connect to node 1", at=2))
    assert repeats.filter(record("aiokafka", logging.ERROR, "Heartbeat failed", at=2))
    later = record("aiokafka", logging.ERROR, "Unable connect to node 7", at=60)
    assert repeats.filter(later)
    assert later.held_back == 2
    assert not repeats.filter(record("aiokafka", logging.ERROR, "Unable connect to node 1", at=61))


def test_repeat_filter_forgets_when_messages_vary_without_bound() -> None:
    repeats = RepeatFilter(window=60, kinds=3)
    for word in ("a", "b", "c", "d"):
        assert repeats.filter(record("x", logging.WARNING, f"key {word} refused", at=0))
    assert repeats.filter(record("x", logging.WARNING, "key a refused", at=1))  # forgotten


def test_every_line_of_a_record_names_its_service_and_an_exception_is_cut_to_its_last_line() -> (
    None
):
    line = record("stadspuls.api", logging.WARNING, "two\nlines %s", "here")
    assert NamedFormatter("api").format(line) == (
        "api | WARNING stadspuls.api: two\napi | lines here"
    )
    try:
        raise ValueError("bad catalog")
    except ValueError:
        failed = record("stadspuls.serve", logging.CRITICAL, "stopped")
        failed.exc_info = sys.exc_info()
    assert NamedFormatter("ingest").format(failed) == (
        "ingest | CRITICAL stadspuls.serve: stopped "
        "(ValueError: bad catalog; the traceback is in the log file)"
    )
    full = NamedFormatter("ingest", tracebacks=True).format(failed).splitlines()
    assert full[1] == "ingest | Traceback (most recent call last):"
    assert full[-1] == "ingest | ValueError: bad catalog"
    assert all(text.startswith("ingest | ") for text in full)
    held = record("aiokafka", logging.ERROR, "down")
    held.held_back = 5
    assert NamedFormatter("api").format(held) == (
        "api | ERROR aiokafka: down (5 more like it held back; the log file has them)"
    )


LOGS = """
import logging, logging.config, sys
from pathlib import Path
from services.logs import logging_config
file = Path(sys.argv[1]) if len(sys.argv) > 1 else None
logging.config.dictConfig(logging_config("aggregate", file, verbose="-v" in sys.argv))
logging.getLogger("stadspuls.aggregate").info("ours at %s", "INFO")
logging.getLogger("kafka.net.manager").info("Attempting bootstrap to bootstrap-0")
logging.getLogger("alembic.runtime.plugins").info("setup plugin alembic.autogenerate.schemas")
logging.getLogger("faust.worker").info("[^Worker]: Starting...")
logging.getLogger("kafka.cluster").warning("No node available for metadata refresh")
for node in range(3):
    logging.getLogger("aiokafka").error("Unable connect to node with id %d", node)
"""


def run_logs(*args: str) -> str:
    """stderr of a fresh interpreter that configures logging and logs the lines above."""
    done = subprocess.run(
        [sys.executable, "-c", LOGS, *args], capture_output=True, text=True, check=True
    )
    return done.stderr


def test_alone_a_service_logs_every_line_to_stderr_but_library_info_nobody_needs() -> None:
    lines = run_logs().splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [
        "INFO stadspuls.aggregate: ours at INFO",
        "WARNING kafka.cluster: No node available for metadata refresh",
        "ERROR aiokafka: Unable connect to node with id 0",
        "ERROR aiokafka: Unable connect to node with id 1",
        "ERROR aiokafka: Unable connect to node with id 2",
    ]


def test_with_a_log_file_the_file_has_every_line_and_stderr_the_named_warnings_once(
    tmp_path: Path,
) -> None:
    log = tmp_path / "aggregate.log"
    assert run_logs(str(log)).splitlines() == [
        "aggregate | WARNING kafka.cluster: No node available for metadata refresh",
        "aggregate | ERROR aiokafka: Unable connect to node with id 0",
    ]
    assert [line.split(" ", 2)[2] for line in log.read_text().splitlines()] == [
        "INFO stadspuls.aggregate: ours at INFO",
        "WARNING kafka.cluster: No node available for metadata refresh",
        "ERROR aiokafka: Unable connect to node with id 0",
        "ERROR aiokafka: Unable connect to node with id 1",
        "ERROR aiokafka: Unable connect to node with id 2",
    ]


def test_verbose_streams_every_line_of_the_file_named(tmp_path: Path) -> None:
    log = tmp_path / "aggregate.log"
    stderr = run_logs(str(log), "-v").splitlines()
    assert stderr[0] == "aggregate | INFO stadspuls.aggregate: ours at INFO"
    assert len(stderr) == len(log.read_text().splitlines()) == 5
