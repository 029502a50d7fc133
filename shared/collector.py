"""Garbage collection for processes that make many short-lived objects and few cycles."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: Container allocations between young-generation collections (CPython's default: 700). An ingest
#: batch of 1 000 rows allocates ~6 000 that stay alive until its answer, and a rebuild keeps
#: every series row it computes, so at the default they were scanned and promoted several times
#: over; they die by reference count, not by collection.
YOUNG_THRESHOLD = 50_000


def tune_collector() -> None:
    """Freeze the heap made so far (catalog, libraries, app: never garbage, so no full collection
    rescans it) and collect young objects rarely."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])


@contextmanager
def collecting_rarely() -> Iterator[None]:
    """`tune_collector` for a job within a longer-lived process: undone when the job ends."""
    threshold = gc.get_threshold()
    tune_collector()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
