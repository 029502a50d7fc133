"""How a served service logs: one line per record on stderr (containers), or, under `stadspuls up`,
every line to its log file and its warnings and errors, named and without repeats, to the console."""

from __future__ import annotations

import logging
import re
import traceback
from pathlib import Path
from typing import Any

LINE = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries whose INFO no operator needs: alembic's context and plugin lines, kafka-python's and
# aiokafka's bootstraps and connections, faust's and mode's service start/stop chatter. Their
# warnings stay.
QUIET_LIBRARIES = ("alembic", "kafka", "aiokafka", "faust", "mode")
REPEAT_WINDOW = 60.0  # seconds a console shows a kind of line once
_NUMBERS = re.compile(r"\d+")


class RepeatFilter(logging.Filter):
    """Passes a kind of line (logger, level, message with its numbers blanked) once per `window`
    seconds: a broker that is down for a minute makes a few lines, not a thousand. The next one
    passed carries `held_back`, how many were held back since."""

    def __init__(self, window: float = REPEAT_WINDOW, kinds: int = 1000) -> None:
        super().__init__()
        self.window, self.kinds = window, kinds
        self._shown: dict[tuple[str, int, str], tuple[float, int]] = {}  # → (shown at, held back)

    def filter(self, record: logging.LogRecord) -> bool:
        """True when the record is the first of its kind in the window."""
        kind = (record.name, record.levelno, _NUMBERS.sub("#", str(record.msg)))
        shown_at, held = self._shown.get(kind, (float("-inf"), 0))
        if record.created - shown_at < self.window:
            self._shown[kind] = (shown_at, held + 1)
            return False
        if len(self._shown) >= self.kinds:  # messages that vary in words, not numbers
            self._shown.clear()
        self._shown[kind] = (record.created, 0)
        record.held_back = held
        return True


class NamedFormatter(logging.Formatter):
    """`aggregate | WARNING logger: message` on every line of a record, for a console shared by
    several services; an exception is cut to its last line unless `tracebacks` (the file has it)."""

    def __init__(self, service: str, tracebacks: bool = False) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")
        self.prefix, self.tracebacks = f"{service} | ", tracebacks

    def format(self, record: logging.LogRecord) -> str:
        """The record's lines, each starting with the service's name."""
        record.message = record.getMessage()
        text = self.formatMessage(record)
        if held := getattr(record, "held_back", 0):
            text += f" ({held} more like it held back; the log file has them)"
        if record.exc_info is not None and record.exc_info[1] is not None:
            if self.tracebacks:
                text += "\n" + self.formatException(record.exc_info)
            else:
                error = traceback.format_exception_only(record.exc_info[1])[-1].strip()
                text += f" ({error}; the traceback is in the log file)"
        return "\n".join(self.prefix + line for line in text.splitlines())


def logging_config(
    service: str, log_file: Path | None = None, verbose: bool = False
) -> dict[str, Any]:
    """`logging.config.dictConfig` input: every line on stderr; with `log_file`, every line there
    and only warnings and errors on stderr, named and without repeats (every line when `verbose`)."""
    console: dict[str, Any] = {"class": "logging.StreamHandler", "formatter": "line"}
    handlers: dict[str, dict[str, Any]] = {"console": console}
    formatters: dict[str, dict[str, Any]] = {"line": {"format": LINE}}
    filters: dict[str, dict[str, Any]] = {}
    if log_file is not None:
        file = {"class": "logging.FileHandler", "filename": str(log_file), "formatter": "line"}
        handlers = {"file": {**file, "encoding": "utf-8"}, "console": console}
        formatters["named"] = {"()": NamedFormatter, "service": service, "tracebacks": verbose}
        console["formatter"] = "named"
        if not verbose:
            filters["repeats"] = {"()": RepeatFilter}
            console.update(level="WARNING", filters=["repeats"])
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": formatters,
        "filters": filters,
        "handlers": handlers,
        "root": {"level": "INFO", "handlers": list(handlers)},
        "loggers": {
            **{name: {"level": "WARNING"} for name in QUIET_LIBRARIES},
            # "Timer … is overlapping": the aggregator's 20 ms hand-over waits for a projection
            # by design (a projection takes longer than 20 ms); not a fault to warn of
            "mode.timers": {"level": "ERROR"},
        },
    }
