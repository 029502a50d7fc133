"""`catalog diff`: what a new catalog changes, and whether it needs a rebuild or a re-projection."""

from __future__ import annotations

from shared.catalog import load_catalog_text
from shared.catalog.diff import Effect, catalog_diff, needs, tree_changed
from shared.catalog.loader import CATALOG_PATH, default_catalog
from shared.domain.catalog import Catalog
from tests.strategies import CATALOG, REORGANISED

TEXT = CATALOG_PATH.read_text(encoding="utf-8")


def changed_catalog(old: str, new: str) -> Catalog:
    """The bundled catalog with one text replaced (it must occur once)."""
    assert TEXT.count(old) == 1, old
    return load_catalog_text(TEXT.replace(old, new))


def changed(old: str, new: str) -> list[str]:
    return [str(c) for c in catalog_diff(default_catalog(), changed_catalog(old, new))]


def test_the_same_catalog_changes_nothing() -> None:
    assert catalog_diff(default_catalog(), default_catalog()) == []
    assert needs([]) is Effect.NONE


FRUANGEN = "Fruängen, level: stadsdel, parents: [{id: hagersten-liljeholmen"
ROLLUPS = "[rollups re-projected at start]"
SUMMARIES = "[summaries re-projected at start]"


def test_a_reorganisation_names_areas_and_dates_and_is_re_projected_at_start() -> None:
    changes = catalog_diff(CATALOG, REORGANISED)
    lines = [str(c) for c in changes]
    assert f"{ROLLUPS} area added: akalla (stadsdel, always, parent norrort (–2024-03-31)," in (
        " ".join(lines)
    )
    assert (
        f"{ROLLUPS} area re-parented: kista: rinkeby-kista (always) → norrort (–2024-03-31),"
        " rinkeby-kista (2024-04-01–)"
    ) in lines
    added = f"{ROLLUPS} area added: soderort (stadsdelsomrade, 2024-04-01–, parent stockholm"
    assert any(line.startswith(added) for line in lines)
    assert needs(changes) is Effect.ROLLUPS


def test_only_periods_whose_tree_changed_are_re_projected() -> None:
    changed = {
        p for p in ("2023", "2024-Q1", "2024-Q2", "2024") if tree_changed(CATALOG, REORGANISED, p)
    }
    assert changed == {"2023", "2024-Q1", "2024-Q2", "2024"}  # kista moves in both trees
    assert not tree_changed(CATALOG, CATALOG, "2024")
    bundled = default_catalog()
    moved = changed_catalog(FRUANGEN, FRUANGEN.replace("hagersten-liljeholmen", "alvsjo"))
    assert [
        p for p in ("2019", "2020-T1", "2020-T2", "2021") if tree_changed(bundled, moved, p)
    ] == ["2019", "2020-T1"]


def test_baselines_targets_cadence_and_min_coverage_need_a_reprojection_only() -> None:
    lines = changed("    cadence: P3Y  #", "    min_coverage: 0.5\n    cadence: P1Y  #")
    assert lines == [
        f"{SUMMARIES} indicator otrygghet-bostadsomradet: cadence: P3Y → P1Y",
        f"{SUMMARIES} indicator otrygghet-bostadsomradet: min_coverage: 0.8 → 0.5",
    ]
    target = changed("target: {value: 92.0, year: 2030", "target: {value: 95.0, year: 2030")
    assert len(target) == 1
    assert target[0].startswith(f"{SUMMARIES} etappmål behorighet-gymnasiet: target:")


def test_a_changed_kind_needs_a_rebuild() -> None:
    fields = {name: getattr(CATALOG, name) for name in Catalog.model_fields}
    fields["indikatorer"] = tuple(
        i.model_copy(update={"unit": "share"}) if i.id == "andel-behoriga" else i
        for i in CATALOG.indikatorer
    )
    changes = catalog_diff(CATALOG, Catalog(**fields))
    assert [str(c) for c in changes] == [
        "[needs stadspuls rebuild] indicator andel-behoriga: unit: percent → share"
    ]


def test_a_changed_connector_mapping_is_named_and_needs_nothing_stored() -> None:
    lines = changed("      kpi: N15436\n", "      kpi: N15428\n")
    assert lines == [
        "[nothing stored] indicator behorighet-gymnasiet-ak9: kolada mapping changed: the next"
        " pull uses it (values already pulled stay until the source sends them again)"
    ]
    assert (
        needs(
            catalog_diff(
                default_catalog(), changed_catalog("      kpi: N15436\n", "      kpi: N15428\n")
            )
        )
        is Effect.NONE
    )
