"""A steady ingest load: batches of realistic rows, each with its own Idempotency-Key, every answer
recorded; a 503 or 409 is retried with the same key after its Retry-After, as a careful source does."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from itertools import zip_longest
from typing import Any, Self

import httpx

from bench.api.dataset import Dataset
from shared.domain.catalog import Catalog, Kind
from shared.domain.event import ID_NAMESPACE
from shared.domain.observation import Observation
from shared.infra.wait import wait_for
from tests.factories import json_body

HTTP_TIMEOUT = 60.0  # seconds one attempt may take
LONGEST_PAUSE = 10.0  # seconds between attempts at most, whatever Retry-After says
ROW_FIELDS = {
    "indicator",
    "area",
    "period",
    "gender",
    "value",
    "numerator",
    "denominator",
    "status",
    "updated_at",
}


@dataclass(frozen=True)
class Batch:
    """One request: a source's rows and the Idempotency-Key it is sent (and retried) with."""

    source: str
    key: str
    rows: list[dict[str, Any]]

    def events(self) -> list[Observation]:
        """The events ingest makes of the rows: ids derived from (source, key, row number)."""
        return [
            Observation.model_validate(
                {
                    **row,
                    "source": self.source,
                    "received_at": row["updated_at"],
                    "observation_id": uuid.uuid5(
                        ID_NAMESPACE, f"{self.source}\x1f{self.key}\x1f{n}"
                    ),
                }
            )
            for n, row in enumerate(self.rows, start=1)
        ]


def revised(catalog: Catalog, obs: Observation) -> Observation:
    """A later version of `obs` with another value: corrections make the order of versions matter."""
    ind = catalog.indicator[obs.indicator]
    change: dict[str, Any] = {"updated_at": obs.updated_at + timedelta(days=1)}
    if ind.kind is Kind.RATIO and obs.numerator is not None and obs.denominator:
        num = obs.numerator + 1 if obs.numerator < obs.denominator else obs.numerator - 1
        change |= {"numerator": num, "value": ind.ratio_scale * num / obs.denominator}
    elif ind.kind is Kind.COUNT:
        change["value"] = (obs.value or 0.0) + 1
    else:
        change["value"] = round((obs.value or 0.0) * 1.01, 3)
    return obs.model_copy(update=change)


def batches(catalog: Catalog, prefix: str, size: int = 30) -> list[Batch]:
    """Two years of every source's rows, the sources taking turns, each chunk's corrections
    following the next chunk."""
    firsts = list(Dataset(catalog, years=range(2024, 2026)).observations())
    rounds = []
    for n, version in enumerate((firsts, [revised(catalog, o) for o in firsts])):
        by_source: dict[str, list[dict[str, Any]]] = {}
        for obs in version:
            row = obs.model_dump(mode="json", include=ROW_FIELDS, exclude_none=True)
            by_source.setdefault(catalog.indicator[obs.indicator].sources[0], []).append(row)
        chunks = [
            [
                Batch(source, f"{prefix}{n}-{source}-{i}", rows[i : i + size])
                for i in range(0, len(rows), size)
            ]
            for source, rows in by_source.items()
        ]
        rounds.append([b for turn in zip_longest(*chunks) for b in turn if b])
    return [b for pair in zip_longest(rounds[0], [None, *rounds[1]]) for b in pair if b]


@dataclass(frozen=True)
class Reply:
    """One answer to one attempt; status 0 when no HTTP answer came at all."""

    batch: int
    status: int
    code: str
    retry_after: str | None
    accepted: int | None
    at: float  # time.monotonic()


class Load:
    """`clients` threads post `batches` at `rate` per second for at most `seconds`, retrying each
    until it is acknowledged or `give_up` seconds passed since its first attempt."""

    def __init__(
        self,
        url: str,
        tokens: dict[str, str],
        batches: list[Batch],
        *,
        rate: float = 10.0,
        seconds: float = 90.0,
        clients: int = 3,
        give_up: float = 75.0,
    ) -> None:
        self.url, self.tokens, self.batches = url, tokens, batches
        self.rate, self.give_up = rate, give_up
        self.replies: list[Reply] = []
        self.acknowledged: dict[int, Reply] = {}
        self._lock, self._stop, self._next = threading.Lock(), threading.Event(), 0
        self._start = time.monotonic()
        self._end = self._start + seconds
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def finish(self, more: float) -> None:
        """Post new batches for `more` seconds, then wait until every started batch is settled."""
        self._end = min(self._end, time.monotonic() + more)
        for thread in self._threads:
            longest = self.give_up + HTTP_TIMEOUT + LONGEST_PAUSE  # of one batch
            thread.join(max(self._end - time.monotonic(), 0) + longest)

    def wait_acknowledged(self, n: int, timeout: float = 60) -> None:
        """Block until `n` batches were acknowledged (the load is flowing end to end)."""
        wait_for(
            lambda: len(self.acknowledged) >= n,
            timeout=timeout,
            interval=0.2,
            what=f"{n} acknowledged batches",
        )

    @property
    def started(self) -> list[int]:
        """The batches posted at least once."""
        return list(range(self._next))

    def unacknowledged(self) -> list[int]:
        """Batches posted but never answered 2xx."""
        return [i for i in self.started if i not in self.acknowledged]

    def events(self) -> list[Observation]:
        """Every event of every acknowledged batch: what the read model must show."""
        return [e for i in sorted(self.acknowledged) for e in self.batches[i].events()]

    def answers(self, since: float = 0.0, until: float = float("inf")) -> Counter[str]:
        """How often each answer (`status code`) was given between two moments."""
        return Counter(
            f"{r.status} {r.code}".strip() for r in self.replies if since <= r.at <= until
        )

    def _take(self) -> int | None:
        with self._lock:
            if self._next >= len(self.batches) or time.monotonic() >= self._end:
                return None
            self._next += 1
            return self._next - 1

    def _client(self) -> None:
        with httpx.Client(timeout=HTTP_TIMEOUT) as http:
            for index in iter(self._take, None):
                due = self._start + index / self.rate
                if self._stop.wait(max(due - time.monotonic(), 0)):
                    return
                self._until_acknowledged(http, index)

    def _until_acknowledged(self, http: httpx.Client, index: int) -> None:
        batch, first = self.batches[index], time.monotonic()
        headers = {
            "Authorization": f"Bearer {self.tokens[batch.source]}",
            "Idempotency-Key": batch.key,
            "Content-Type": "application/json",
        }
        body = json_body(batch.rows)
        for reply in self._attempts(http, index, body, headers):
            with self._lock:
                self.replies.append(reply)
            if 200 <= reply.status < 300:
                self.acknowledged[index] = reply
                return
            retryable = reply.status in (0, 409) or reply.status >= 500
            if not retryable or time.monotonic() - first > self.give_up:
                return
            wait = float(reply.retry_after) if (reply.retry_after or "").isdigit() else 1.0
            if self._stop.wait(min(wait, LONGEST_PAUSE)):
                return

    def _attempts(
        self, http: httpx.Client, index: int, body: bytes, headers: dict[str, str]
    ) -> Iterator[Reply]:
        while True:
            try:
                answer = http.post(f"{self.url}/v1/observations", content=body, headers=headers)
            except httpx.HTTPError as exc:
                yield Reply(index, 0, type(exc).__name__, None, None, time.monotonic())
                continue
            data = (
                answer.json()
                if answer.headers.get("content-type", "").startswith("application/json")
                else {}
            )
            yield Reply(
                index,
                answer.status_code,
                str(data.get("code") or ""),
                answer.headers.get("retry-after"),
                data.get("accepted"),
                time.monotonic(),
            )
