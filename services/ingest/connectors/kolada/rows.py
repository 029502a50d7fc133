"""Kolada items to observation rows (pure): mapped areas and genders, scaled, ids from the version.

A null value is skipped (no observation, never zero); `isdeleted` becomes a retraction; a group
value (`count` > 1: an unweighted mean of its members) is refused for a ratio indicator. The
observation id is derived from the source, the indicator, Kolada's coordinates and the value
published, so a repeated pull gives the same ids (a duplicate downstream) and a revision a new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.ingest.connectors.base import Refusal, derived_id
from services.ingest.connectors.kolada.answer import KoladaItem
from shared.domain.catalog import Indikator, Kind

#: Rounding of a scaled value: per 100 000 · 0.01 must not publish 12.340000000000002.
DIGITS = 10


@dataclass
class Mapped:
    """Rows made so far, where each came from, what was refused and how many were skipped."""

    rows: list[dict[str, object]] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    skipped: int = 0


def map_item(source: str, indicators: list[Indikator], item: KoladaItem, out: Mapped) -> None:
    """Add the rows of one Kolada item, for every indicator its KPI is mapped to, to `out`."""
    for ind in indicators:
        mapping = ind.kolada
        assert mapping is not None
        area = mapping.areas.get(item.where)
        if area is None:  # an id asked for another indicator of the same request
            continue
        genders = mapping.gender_map(tuple(g.value for g in ind.genders))
        period = str(item.period)
        for value in item.values:
            where = f"{item.kpi}/{item.where}/{period}/{value.gender}"
            gender = genders.get(value.gender)
            if gender is None:
                out.skipped += 1
                continue
            coordinates = (ind.id, item.kpi, item.where, period, value.gender)
            row: dict[str, object] = {
                "indicator": ind.id,
                "area": area,
                "period": period,
                "gender": gender,
            }
            if item.isdeleted or value.isdeleted:
                row |= {"retract": True, "observation_id": derived_id(source, *coordinates, "-")}
            elif value.value is None:
                out.skipped += 1
                continue
            elif value.count > 1 and ind.kind is Kind.RATIO:
                message = (
                    f"a group value (the unweighted mean of {value.count} members) is no"
                    f" share of {ind.id!r}: a ratio needs Σnumerator/Σdenominator"
                )
                out.refused.append(Refusal(where, "group_value", message))
                continue
            else:
                published = round(value.value * mapping.scale, DIGITS)
                row |= {
                    "value": published,
                    "observation_id": derived_id(source, *coordinates, published),
                }
            out.rows.append(row)
            out.origins.append(where)
