"""What became of a batch, as `IngestService` says it: a report, or why there is none.

These are facts, not HTTP: `routes.py` maps each to a status, headers and body (docs/ingest.md),
and a connector turns the same outcomes into its per-row report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.ingest.parsing import BodyError
from services.ingest.throttle import Throttled


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What happened to each row: counts, and every error of every rejected row."""

    batch_id: str
    received: int
    accepted: int
    rejected: int
    dry_run: bool
    errors: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        """The JSON-native report (the body of the answer, as documented)."""
        return {
            "batch_id": self.batch_id,
            "received": self.received,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "dry_run": self.dry_run,
            "errors": self.errors,
        }


@dataclass(frozen=True, slots=True)
class Judged:
    """The batch was judged and, unless a dry run, its accepted rows are durable in the log."""

    report: IngestReport


@dataclass(frozen=True, slots=True)
class Replayed:
    """The Idempotency-Key was answered before: the first report, as recorded; nothing published."""

    report: dict[str, Any]
    accepted: bool


@dataclass(frozen=True, slots=True)
class BodyRefused:
    """The body could not be read as rows: the parser's error says why and where."""

    error: BodyError


@dataclass(frozen=True, slots=True)
class NotAccepted:
    """The publisher took no row before its timeout: nothing was accepted."""

    keyed: bool


@dataclass(frozen=True, slots=True)
class OutcomeUnknown:
    """The rows were sent but not acknowledged within `timeout` seconds: some may be in."""

    timeout: float
    keyed: bool


@dataclass(frozen=True, slots=True)
class KeyNotRecorded:
    """The Idempotency-Key could not be claimed (the store is unavailable): nothing was done."""


@dataclass(frozen=True, slots=True)
class KeyReused:
    """The Idempotency-Key was used before with a different request."""


@dataclass(frozen=True, slots=True)
class KeyInProgress:
    """Another request holds the Idempotency-Key; its claim lapses within `seconds`."""

    seconds: float


@dataclass(frozen=True, slots=True)
class RateLimited:
    """The batch's rows are over the source's row budget: nothing was published."""

    throttled: Throttled


BatchOutcome = (
    Judged
    | Replayed
    | BodyRefused
    | NotAccepted
    | OutcomeUnknown
    | KeyNotRecorded
    | KeyReused
    | KeyInProgress
    | RateLimited
)
