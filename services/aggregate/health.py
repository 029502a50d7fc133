"""What the aggregator's `/readyz` says: partitions owned, caught up with them, writes succeeding.

Pure bookkeeping fed by the worker (assignments, applied batches, failures) so that the rules can be
tested without Kafka. A worker is ready once it owns partitions of the canonical topic, the read
model has reached the end offsets those partitions had when they were assigned, and the last batch
was applied; until then `reasons()` says what it waits for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

Position = tuple[str, int]  # (topic, partition)
SLOW_BATCH_SECONDS = 30.0  # a batch still not applied after this long is reported


@dataclass
class Health:
    """The worker's readiness and why it is not ready."""

    clock: Callable[[], float] = time.monotonic
    assigned: frozenset[Position] | None = None  # None until the first assignment
    generation: int = 0  # bumped by every assignment
    targets: dict[Position, int] | None = None  # end offsets when assigned; None while unknown
    applied: dict[Position, int] = field(default_factory=dict)  # next offset the read model has
    failure: str | None = None
    failing_since: float | None = None
    batch_started: float | None = None

    def assign(self, positions: Iterable[Position]) -> int:
        """A new assignment: catching up starts again; returns its generation."""
        self.assigned = frozenset(positions)
        self.targets = None
        self.generation += 1
        return self.generation

    def set_targets(
        self, generation: int, ends: Mapping[Position, int], applied: Mapping[Position, int]
    ) -> None:
        """The end offsets at assignment `generation`, and how far the read model already is."""
        if generation != self.generation or self.assigned is None:
            return  # a newer assignment came in the meantime
        self.targets = {p: ends.get(p, 0) for p in self.assigned}
        self.advance(applied)

    def advance(self, offsets: Mapping[Position, int]) -> None:
        """The read model reflects every event before these offsets."""
        for position, offset in offsets.items():
            if offset > self.applied.get(position, -1):
                self.applied[position] = offset

    def started(self) -> None:
        """A batch is being applied."""
        self.batch_started = self.clock()

    def succeeded(self, offsets: Mapping[Position, int]) -> None:
        """A batch was applied: its offsets are in the read model."""
        self.advance(offsets)
        self.batch_started = self.failure = self.failing_since = None

    def failed(self, error: str) -> None:
        """Applying the current batch failed (it will be tried again)."""
        self.failure = error
        if self.failing_since is None:
            self.failing_since = self.clock()

    @property
    def failing(self) -> bool:
        """Whether the current batch has failed and not yet been applied."""
        return self.failure is not None

    def behind(self) -> dict[Position, tuple[int, int]]:
        """Partitions not yet caught up with their assignment: (applied, target)."""
        if self.targets is None:
            return {}
        return {
            p: (self.applied.get(p, 0), t)
            for p, t in sorted(self.targets.items())
            if self.applied.get(p, 0) < t
        }

    def reasons(self) -> list[str]:
        """Why the worker is not ready; empty when it is."""
        now = self.clock()
        out = []
        if self.failure is not None:
            since = now - (self.failing_since or now)
            out.append(f"read-model writes failing for {since:.0f}s, retrying: {self.failure}")
        elif self.batch_started is not None and now - self.batch_started > SLOW_BATCH_SECONDS:
            out.append(f"a batch has been applying for {now - self.batch_started:.0f}s")
        if self.assigned is None:
            out.append("no partitions assigned yet")
        elif not self.assigned:
            out.append("owns no partitions of the canonical topic (more workers than partitions?)")
        elif self.targets is None:
            out.append("reading the end offsets of the assigned partitions")
        else:
            for (topic, partition), (at, target) in self.behind().items():
                out.append(f"catching up: {topic}[{partition}] at offset {at} of {target}")
        return out
