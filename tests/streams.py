"""Deterministic streams of observations for the Stockholm catalog: realistic values, with
duplicates, out-of-order versions, corrections and retractions mixed in (integration and benchmarks)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.domain.areas import valid_in
from shared.domain.catalog import AreaLevel, Catalog, Gender, Indikator, Kind
from shared.domain.observation import Observation, ObservationStatus
from shared.domain.periods import periods_in

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def periods(indicator: Indikator, years: range) -> list[str]:
    """Every period of the indicator's type in `years`."""
    return periods_in(indicator.period_type, years)


@dataclass
class StreamMaker:
    """Builds observations for one catalog from a seeded random generator."""

    catalog: Catalog
    seed: int = 1
    source: str = "test"

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.clock = 0

    def observation(
        self,
        indicator: Indikator,
        area: str,
        period: str,
        gender: str,
        *,
        retract: bool = False,
        scale: float = 1.0,
    ) -> Observation:
        """One valid observation with a fresh id and a later updated_at than any made before."""
        self.clock += 1
        moment = T0 + timedelta(seconds=self.clock)
        base = {
            "observation_id": uuid.uuid4(),
            "source": self.source,
            "received_at": moment,
            "indicator": indicator.id,
            "area": area,
            "period": period,
            "gender": Gender(gender),
            "updated_at": moment,
            "status": ObservationStatus.FINAL,
        }
        if retract:
            return Observation(**base, retract=True)
        if indicator.kind is Kind.RATIO:
            den = float(self.rng.randint(50, 2000))
            num = float(self.rng.randint(0, int(den)))
            value = round(indicator.ratio_scale * num / den, 6)
            return Observation(**base, value=value, numerator=num, denominator=den)
        if indicator.kind is Kind.COUNT:
            return Observation(**base, value=float(self.rng.randint(0, 5000)) * scale)
        return Observation(**base, value=round(self.rng.uniform(50, 300), 3))

    def series(self, years: range = range(2019, 2026)) -> Iterator[tuple[Indikator, str, str, str]]:
        """Every (indicator, area, period, gender) the catalog allows for `years`."""
        for ind in self.catalog.indikatorer:
            areas = [a for a in self.catalog.omraden if a.level in ind.area_levels]
            for period in periods(ind, years):
                for area in (a.id for a in areas if valid_in(a, period)):
                    for gender in ind.genders:
                        yield ind, area, period, gender.value

    def stream(
        self,
        n: int,
        *,
        years: range = range(2019, 2026),
        leaf_bias: float = 0.8,
        duplicate: float = 0.05,
        stale: float = 0.05,
        retract: float = 0.03,
    ) -> list[Observation]:
        """`n` events: new versions, plus duplicates, older versions delivered late, retractions."""
        keys = list(self.series(years))
        is_leaf = [self.catalog.area[k[1]].level is AreaLevel.STADSDEL for k in keys]
        leaves = [k for k, leaf in zip(keys, is_leaf, strict=True) if leaf]
        others = [k for k, leaf in zip(keys, is_leaf, strict=True) if not leaf] or keys
        events: list[Observation] = []
        held: list[Observation] = []  # older versions kept back to be delivered late
        while len(events) < n:
            roll = self.rng.random()
            if events and roll < duplicate:
                events.append(self.rng.choice(events))
            elif held and roll < duplicate + stale:
                events.append(held.pop(self.rng.randrange(len(held))))
            else:
                pool = leaves if leaves and self.rng.random() < leaf_bias else others
                ind, area, period, gender = self.rng.choice(pool)
                is_retraction = self.rng.random() < retract
                obs = self.observation(ind, area, period, gender, retract=is_retraction)
                if not is_retraction and self.rng.random() < stale:
                    held.append(obs)  # made now (older), sent later: must lose to newer versions
                    obs = self.observation(ind, area, period, gender)
                events.append(obs)
        return events[:n]
