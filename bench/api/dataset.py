"""A deterministic, realistic data set for the Stockholm catalog (API tests and benchmarks).

Every indicator gets a city level near its catalog baseline that drifts each year, areas of
ytterstaden and focus areas sit on the unfavourable side of the city, and K/M differ a little.
Ratio and count indicators are reported by their lowest area level only (the aggregator rolls them
up, Σnumerator/Σdenominator); level indicators, which do not roll up, are reported at every level.
For ratios, T is the sum of K and M, and every value is exactly 100·numerator/denominator.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from shared.domain.areas import valid_in
from shared.domain.catalog import AreaLevel, Catalog, Indikator, Kind, Omrade
from shared.domain.observation import Observation, ObservationStatus
from shared.domain.periods import MONTHS_PER_PERIOD, periods_in

# Typical city values by unit when the catalog has no baseline.
TYPICAL = {"percent": 12.0, "poang": 235.0, "per_1000": 80.0, "dagar": 25.0, "sek": 310_000.0}
LEVEL_ORDER = (AreaLevel.STADSDEL, AreaLevel.STADSDELSOMRADE, AreaLevel.STAD)
START = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)


@dataclass
class Dataset:
    """Builds the observations of `years` for one catalog from a seed."""

    catalog: Catalog
    years: range = range(2019, 2026)
    seed: int = 7
    source: str = "dataset"

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.clock = 0
        raw = {a.id: self._deprivation(a) for a in self.catalog.omraden}
        mean = sum(raw.values()) / len(raw)  # centred, so that the city sits near its own level
        self.deprivation = {k: v - mean for k, v in raw.items()}
        # Yearly drift per indicator, in the desired direction: most improve, some fall back.
        self.drift = {
            i.id: self.rng.choice((-0.01, 0.004, 0.012, 0.02, 0.03))
            for i in self.catalog.indikatorer
        }

    def _deprivation(self, area: Omrade) -> float:
        """−1 (well off) … +1 (exposed): outer-city focus areas high, the inner city low."""
        base = 0.55 if area.fokus else (0.15 if area.ytterstad else -0.55)
        return max(-1.0, min(1.0, base + self.rng.uniform(-0.3, 0.3)))

    def reporting_areas(self, indicator: Indikator) -> list[Omrade]:
        """The areas a source reports the indicator for."""
        if indicator.kind is Kind.LEVEL:
            return [a for a in self.catalog.omraden if a.level in indicator.area_levels]
        lowest = next(lv for lv in LEVEL_ORDER if lv in indicator.area_levels)
        return [a for a in self.catalog.omraden if a.level is lowest]

    def city_value(self, indicator: Indikator, step: int) -> float:
        """The city's level `step` periods after the first, drifting in the desired direction."""
        baseline, _ = self.catalog.target_of(indicator.id)
        base = baseline.value if baseline else TYPICAL.get(indicator.unit, 100.0)
        per_step = self.drift[indicator.id] / (12 // MONTHS_PER_PERIOD[indicator.period_type])
        return base * (1 + indicator.direction.sign * per_step * step)

    def observations(self) -> Iterator[Observation]:
        """Every observation of the data set, indicator by indicator, period by period."""
        for indicator in self.catalog.indikatorer:
            for step, period in enumerate(periods_in(indicator.period_type, self.years)):
                for area in self.reporting_areas(indicator):
                    if valid_in(area, period):
                        city = self.city_value(indicator, step)
                        yield from self._area(indicator, area, period, city)

    def _area(
        self, ind: Indikator, area: Omrade, period: str, city: float
    ) -> Iterator[Observation]:
        harm = -ind.direction.sign  # +1 when higher values are worse
        level = city * (1 + 0.25 * harm * self.deprivation.get(area.id, 0.0))
        level *= 1 + self.rng.uniform(-0.02, 0.02)
        genders = [g.value for g in ind.genders]
        if ind.kind is Kind.RATIO:
            parts = {}
            for gender, tilt in (("K", 0.97), ("M", 1.03)):
                den = float(self.rng.randint(400, 2600))
                share = min(0.995, max(0.005, level * tilt / 100))
                parts[gender] = (float(round(den * share)), den)
            parts["T"] = (parts["K"][0] + parts["M"][0], parts["K"][1] + parts["M"][1])
            for gender in genders:
                num, den = parts[gender]
                value = ind.ratio_scale * num / den
                yield self._obs(ind, area, period, gender, value, num, den)
        elif ind.kind is Kind.COUNT:
            share = level / (2 * len(self.reporting_areas(ind)))
            k = float(round(share * self.rng.uniform(0.9, 1.1)))
            m = float(round(share * self.rng.uniform(0.9, 1.1)))
            counts = {"K": k, "M": m, "T": k + m}
            for gender in genders:
                yield self._obs(ind, area, period, gender, counts[gender])
        else:
            tilts = {"T": 1.0, "K": 0.98, "M": 1.02}
            low, high = ind.bounds  # a well-off area's meritvärde stays within 0–340
            for gender in genders:
                value = level * tilts[gender]
                value = value if high is None else min(high, value)
                value = value if low is None else max(low, value)
                yield self._obs(ind, area, period, gender, round(value, 3))

    def _obs(
        self,
        ind: Indikator,
        area: Omrade,
        period: str,
        gender: str,
        value: float,
        num: float | None = None,
        den: float | None = None,
    ) -> Observation:
        self.clock += 1
        moment = START + timedelta(milliseconds=10 * self.clock)
        return Observation(
            observation_id=uuid.UUID(int=self.rng.getrandbits(128), version=4),
            source=self.source,
            received_at=moment,
            updated_at=moment,
            indicator=ind.id,
            area=area.id,
            period=period,
            gender=gender,
            value=value,
            numerator=num,
            denominator=den,
            status=ObservationStatus.FINAL,
        )


def load(
    engine: Engine, catalog: Catalog, observations: list[Observation], batch: int = 20_000
) -> None:
    """Apply observations through the aggregator's own store and projections, batch by batch.

    Any batching gives the same read model (tests/integration/test_aggregate_store.py); each batch
    ends with a projection of what it changed, so larger batches load faster (four years of the
    data set on SQLite: 8 s in batches of 20 000, 23 s in batches of 2 000)."""
    from shared.readmodel.projections import Projector
    from shared.readmodel.store import SeriesStore

    store = SeriesStore(engine, catalog)
    projector = Projector(catalog)
    for start in range(0, len(observations), batch):
        store.apply(observations[start : start + batch], projector)
