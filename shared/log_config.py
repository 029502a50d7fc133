"""The logging configuration a process was given, kept for the processes it spawns.

A spawned process (the aggregator's writer and projector) inherits no logging at all, so the
service hands over what `configure` was given: the same log file, the same named console lines.
"""

from __future__ import annotations

import logging.config
from typing import Any

_active: dict[str, Any] | None = None


def configure(config: dict[str, Any]) -> None:
    """Configure logging with `config` (a `logging.config.dictConfig` input) and remember it."""
    global _active
    logging.config.dictConfig(config)
    _active = config


def active() -> dict[str, Any] | None:
    """The configuration `configure` was given in this process, if any."""
    return _active
