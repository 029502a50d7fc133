"""What a new catalog changes in the read model, and how it takes effect.

Pure: no I/O. Summaries (statuses, etappmål, nämnd rollups, risk index) are pure functions of the
stored series and the catalog: a baseline, target, cadence or min_coverage takes effect when the
aggregator starts with the new catalog and re-projects every summary. Series rows (rollups) hold
sums of children, coverage and child counts computed with the area tree: when the tree of a stored
period changes (an area added, removed, re-parented, its validity or flags), the aggregator
re-projects at start the rollups of just those periods from the stored winners
(`shared.readmodel.reproject`). An indicator's kind, unit, levels, genders or period type decide
which versions may be applied at all: a change there needs `stadspuls rebuild`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from shared.domain.areas import tree_of_period
from shared.domain.catalog import Catalog, Indikator, Omrade

# Indicator fields whose change alters stored rollups; every other field alters summaries only.
_ROLLUP_FIELDS = ("kind", "unit", "area_levels", "genders", "period_type")
_SUMMARY_FIELDS = (
    "baseline",
    "target",
    "annual_targets",
    "cadence",
    "publication_lag",
    "grace",
    "min_coverage",
    "direction",
    "risk_group",
    "responsible",
    "min",
    "max",
    "name",
)


class Effect(StrEnum):
    """What a change needs before the read model shows it."""

    REBUILD = "rebuild"  # `stadspuls rebuild`: every version replayed from the log
    ROLLUPS = "rollups"  # re-projected at start: the rollups of the periods whose tree changed
    REPROJECT = "reproject"  # re-projected at start: summaries only
    NONE = "none"  # nothing stored depends on it


LABELS = {
    Effect.REBUILD: "needs stadspuls rebuild",
    Effect.ROLLUPS: "rollups re-projected at start",
    Effect.REPROJECT: "summaries re-projected at start",
    Effect.NONE: "nothing stored",
}


@dataclass(frozen=True)
class Change:
    """One difference between two catalogs."""

    effect: Effect
    what: str

    def __str__(self) -> str:
        return f"[{LABELS[self.effect]}] {self.what}"


def catalog_diff(old: Catalog, new: Catalog) -> list[Change]:
    """Every difference that matters to the read model, areas first."""
    return [*_areas(old, new), *_indicators(old, new), *_goals(old, new), *_others(old, new)]


def needs(changes: list[Change]) -> Effect:
    """The most a set of changes needs: a rebuild, a re-projection (of rollups) or nothing."""
    effects = {c.effect for c in changes}
    for effect in (Effect.REBUILD, Effect.ROLLUPS, Effect.REPROJECT):
        if effect in effects:
            return effect
    return Effect.NONE


def _areas(old: Catalog, new: Catalog) -> Iterator[Change]:
    for area_id in sorted(new.area.keys() - old.area.keys()):
        yield Change(Effect.ROLLUPS, f"area added: {_describe(new.area[area_id])}")
    for area_id in sorted(old.area.keys() - new.area.keys()):
        yield Change(Effect.ROLLUPS, f"area removed: {_describe(old.area[area_id])}")
    for area_id in sorted(old.area.keys() & new.area.keys()):
        before, after = old.area[area_id], new.area[area_id]
        if _links(before) != _links(after):
            yield Change(
                Effect.ROLLUPS, f"area re-parented: {area_id}: {_links(before)} → {_links(after)}"
            )
        if before.validity() != after.validity():
            yield Change(
                Effect.ROLLUPS,
                f"area validity: {area_id}: {before.validity()} → {after.validity()}",
            )
        for flag in ("ytterstad", "fokus", "level"):
            if getattr(before, flag) != getattr(after, flag):
                yield Change(
                    Effect.REBUILD if flag == "level" else Effect.ROLLUPS,
                    f"area {flag}: {area_id}: {getattr(before, flag)} → {getattr(after, flag)}",
                )
        if (before.name, before.code) != (after.name, after.code):
            yield Change(Effect.NONE, f"area renamed or recoded: {area_id}")


def tree_changed(old: Catalog, new: Catalog, period: str) -> bool:
    """True when the period rolls up in another tree under `new`: other areas, parents or
    members of the virtual areas on its last day."""
    before, after = tree_of_period(old, period), tree_of_period(new, period)
    return (before.valid, before.parent, before.members) != (
        after.valid,
        after.parent,
        after.members,
    )


def _indicators(old: Catalog, new: Catalog) -> Iterator[Change]:
    for ind_id in sorted(new.indicator.keys() - old.indicator.keys()):
        yield Change(Effect.REPROJECT, f"indicator added: {ind_id}")
    for ind_id in sorted(old.indicator.keys() - new.indicator.keys()):
        yield Change(Effect.REBUILD, f"indicator removed: {ind_id} (its rows stay until a rebuild)")
    for ind_id in sorted(old.indicator.keys() & new.indicator.keys()):
        before, after = old.indicator[ind_id], new.indicator[ind_id]
        for name, effect in (
            *((f, Effect.REBUILD) for f in _ROLLUP_FIELDS),
            *((f, Effect.REPROJECT) for f in _SUMMARY_FIELDS),
        ):
            was, now = _shown(before, name), _shown(after, name)
            if was != now:
                yield Change(effect, f"indicator {ind_id}: {name}: {was} → {now}")
        for name in ("kolada", "pxweb"):
            if _mapping(before, name) != _mapping(after, name):
                yield Change(
                    Effect.NONE,
                    f"indicator {ind_id}: {name} mapping changed: the next pull uses it"
                    " (values already pulled stay until the source sends them again)",
                )


def _goals(old: Catalog, new: Catalog) -> Iterator[Change]:
    before = {g.id: g.model_dump(mode="json") for g in old.etappmal}
    after = {g.id: g.model_dump(mode="json") for g in new.etappmal}
    for goal_id in sorted(before.keys() | after.keys()):
        was, now = before.get(goal_id), after.get(goal_id)
        if was == now:
            continue
        if was is None or now is None:
            yield Change(
                Effect.REPROJECT, f"etappmål {'added' if was is None else 'removed'}: {goal_id}"
            )
            continue
        for name in sorted(was.keys() | now.keys()):
            if was.get(name) != now.get(name):
                yield Change(
                    Effect.REPROJECT,
                    f"etappmål {goal_id}: {name}: {was.get(name)} → {now.get(name)}",
                )


def _others(old: Catalog, new: Catalog) -> Iterator[Change]:
    namnder = {n.id: n.model_dump(mode="json") for n in old.namnder}
    for nd in new.namnder:
        if namnder.pop(nd.id, None) != nd.model_dump(mode="json"):
            yield Change(Effect.REPROJECT, f"nämnd added or changed: {nd.id}")
    for nd_id in sorted(namnder):
        yield Change(Effect.REPROJECT, f"nämnd removed: {nd_id}")
    if {s.model_dump_json() for s in old.kallor} != {s.model_dump_json() for s in new.kallor}:
        yield Change(Effect.NONE, "källor changed: ingest checks rows with the new scopes")


def _links(area: Omrade) -> str:
    links = area.links
    if not links:
        return "no parent"
    return ", ".join(f"{link.id} ({link.validity()})" for link in links)


def _describe(area: Omrade) -> str:
    return f"{area.id} ({area.level.value}, {area.validity()}, parent {_links(area)})"


def _mapping(ind: Indikator, name: str) -> object:
    value = getattr(ind, name)
    if isinstance(value, tuple):
        return [m.model_dump(mode="json") for m in value]
    return None if value is None else value.model_dump(mode="json")


def _shown(ind: Indikator, name: str) -> str:
    value = getattr(ind, name)
    return value.iso() if hasattr(value, "iso") else str(getattr(value, "value", value))
