"""A realistic ingest workload: batches of valid rows from several sources of the Stockholm catalog.

Each batch holds distinct series (indicator × area × gender × period) that the source may report,
with ratio values exactly 100·numerator/denominator and levels within the catalog's bounds, so every
row is accepted.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

from shared.domain.areas import valid_in
from shared.domain.catalog import Catalog, Indikator, Kind
from shared.domain.periods import periods_in
from shared.domain.validation import allowed_indicators

SOURCES = (
    "utbildningsforvaltningen",
    "arbetsmarknadsforvaltningen",
    "scb",
    "stadsledningskontoret",
)


def _periods(ind: Indikator) -> Iterator[str]:
    for year in range(2023, 1950, -1):
        yield from periods_in(ind.period_type, [year])


def _series_of(catalog: Catalog, ind: Indikator) -> Iterator[tuple[Indikator, str, str, str]]:
    areas = [a for a in catalog.omraden if a.level in ind.area_levels]
    for period in _periods(ind):
        for area in (a.id for a in areas if valid_in(a, period)):
            for gender in ind.genders:
                yield ind, area, gender.value, period


def _series(catalog: Catalog, source: str) -> Iterator[tuple[Indikator, str, str, str]]:
    """Every series `source` may report, the indicators interleaved, newest periods first."""
    groups = [
        _series_of(catalog, catalog.indicator[i])
        for i in sorted(allowed_indicators(catalog, source))
    ]
    yield from (s for group in itertools.zip_longest(*groups) for s in group if s is not None)


def _row(rng: random.Random, ind: Indikator, area: str, gender: str, period: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "indicator": ind.id,
        "area": area,
        "period": period,
        "gender": gender,
        "status": "final",
        "updated_at": "2025-02-01T08:00:00Z",
    }
    if ind.kind is Kind.RATIO:
        den = rng.randint(50, 20_000)
        num = rng.randint(0, den)
        row |= {"numerator": num, "denominator": den, "value": round(100 * num / den, 3)}
    elif ind.kind is Kind.COUNT:
        row["value"] = float(rng.randint(0, 50_000))
    else:  # a level: anywhere in 1…500 that the catalog finds plausible
        low, high = ind.bounds
        low = 1.0 if low is None else max(1.0, low)
        row["value"] = round(rng.uniform(low, 500.0 if high is None else min(500.0, high)), 2)
    return row


def batches(
    catalog: Catalog, source: str, size: int, count: int, seed: int = 1
) -> list[list[dict[str, Any]]]:
    """`count` batches of `size` valid rows for `source`, each batch with distinct series."""
    rng = random.Random(f"{seed}-{source}")
    series = _series(catalog, source)
    out = []
    for _ in range(count):
        chunk = list(itertools.islice(series, size))
        if len(chunk) < size:
            series = _series(catalog, source)
            chunk = list(itertools.islice(series, size))
        out.append([_row(rng, *s) for s in chunk])
    return out
