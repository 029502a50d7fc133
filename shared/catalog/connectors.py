"""Rules of the connector blocks and `kolada:` mappings: every mapped area, gender and source exists.

Pure: no I/O. Part of `consistency`, so `stadspuls catalog check` reports each at its line.
"""

from __future__ import annotations

from collections.abc import Iterator

from shared.domain.catalog import Catalog, Indikator, PeriodType
from shared.domain.mappings.connector import ConnectorKind

Problem = tuple[str, str]


def connector_problems(catalog: Catalog) -> Iterator[Problem]:
    """Yield (path, message) for every mapping a connector could not follow."""
    kolada_sources = {
        s.id
        for s in catalog.kallor
        if s.connector is not None and s.connector.kind is ConnectorKind.KOLADA
    }
    for n, ind in enumerate(catalog.indikatorer):
        if ind.kolada is not None:
            yield from _kolada(catalog, f"indikatorer[{n}].kolada", ind, kolada_sources)
    for n, kalla in enumerate(catalog.kallor):
        if kalla.id not in kolada_sources:
            continue
        for k, ind_id in enumerate(kalla.indicators):
            if catalog.indicator[ind_id].kolada is None:
                yield (
                    f"kallor[{n}].indicators[{k}]",
                    f"{ind_id!r} has no `kolada:` mapping, so the Kolada connector cannot pull it",
                )


def _kolada(catalog: Catalog, at: str, ind: Indikator, sources: set[str]) -> Iterator[Problem]:
    if not sources.intersection(ind.sources):
        yield at, "no källa with `connector: {kind: kolada}` lists this indicator in its sources"
    if ind.period_type is not PeriodType.YEAR:
        yield (
            f"{at}.kpi",
            f"Kolada's periods are years; {ind.id!r} is reported per {ind.period_type.value}",
        )
    assert ind.kolada is not None
    for kolada_id, area_id in ind.kolada.areas.items():
        area = catalog.area.get(area_id)
        if area is None:
            yield f"{at}.areas.{kolada_id}", f"unknown omraden id {area_id!r}"
        elif area.level not in ind.area_levels:
            yield (
                f"{at}.areas.{kolada_id}",
                f"{area_id!r} is a {area.level.value}; {ind.id!r} is not reported at that level",
            )
    for kolada_gender, gender in (ind.kolada.genders or {}).items():
        if gender not in ind.genders:
            yield (
                f"{at}.genders.{kolada_gender}",
                f"{ind.id!r} is reported for {'/'.join(ind.genders)}, not {gender!r}",
            )
