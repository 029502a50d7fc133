"""What every connector gives the ingest path: rows in the batch shape, refusals, and a cursor.

A connector only fetches and maps; the runner judges its rows with the same rules as
`POST /v1/observations`, publishes them through the same publisher, and stores the cursor only
after Kafka has acknowledged them, so a failed run is repeated whole and a repeated run changes
nothing (observation ids are derived from the source's coordinates and version).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

#: Namespace of the observation ids connectors derive (uuid5 over source and coordinates).
CONNECTOR_NAMESPACE = uuid.UUID("6f1d7f38-2f5e-5b8c-9a43-3c7d6a1e5b20")

Cursor = Mapping[str, object]


def derived_id(source: str, *coordinates: object) -> str:
    """The observation id of a source row: the same coordinates and version give the same id."""
    return str(uuid.uuid5(CONNECTOR_NAMESPACE, "|".join([source, *map(str, coordinates)])))


@dataclass(frozen=True)
class Refusal:
    """A source row the connector would not turn into an observation, and why."""

    where: str
    code: str
    message: str


@dataclass(frozen=True)
class Pulled:
    """One pull: rows for the ingest path, what was refused, what was read, the cursor to keep."""

    rows: list[dict[str, object]]
    cursor: dict[str, object]
    fetched: int
    refused: list[Refusal] = field(default_factory=list)
    skipped: int = 0
    #: where each row came from in the source (row n → origins[n - 1]), for the report
    origins: list[str] = field(default_factory=list)


class ConnectorError(Exception):
    """A run that cannot finish: nothing of it is published; `kind` labels the error metric."""

    def __init__(self, kind: str, url: str, message: str) -> None:
        super().__init__(f"{url}: {message}")
        self.kind, self.url, self.message = kind, url, message


class Connector(Protocol):
    """Pulls one catalog source."""

    @property
    def source(self) -> str:
        """The catalog source this connector publishes as."""
        ...

    async def pull(self, cursor: Cursor | None, since: date | None) -> Pulled:
        """Fetch everything new since `cursor` (or `since`, or everything); raise ConnectorError."""
        ...
