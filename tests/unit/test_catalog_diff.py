"""`catalog diff`: what a new catalog changes, and whether it needs a rebuild or a re-projection."""

from __future__ import annotations

from shared.catalog import load_catalog_text
from shared.catalog.diff import Effect, catalog_diff, needs
from shared.catalog.loader import CATALOG_PATH, default_catalog
from shared.domain.catalog import Catalog
from tests.strategies import CATALOG, REORGANISED

TEXT = CATALOG_PATH.read_text(encoding="utf-8")


def changed(old: str, new: str) -> list[str]:
    assert TEXT.count(old) == 1, old
    after = load_catalog_text(TEXT.replace(old, new))
    return [str(c) for c in catalog_diff(default_catalog(), after)]


def test_the_same_catalog_changes_nothing() -> None:
    assert catalog_diff(default_catalog(), default_catalog()) == []
    assert needs([]) is Effect.NONE


def test_a_reorganisation_names_areas_and_dates_and_needs_a_rebuild() -> None:
    changes = catalog_diff(CATALOG, REORGANISED)
    lines = [str(c) for c in changes]
    assert "[rebuild] area added: akalla (stadsdel, always, parent norrort (–2024-03-31)," in (
        " ".join(lines)
    )
    assert (
        "[rebuild] area re-parented: kista: rinkeby-kista (always) → norrort (–2024-03-31),"
        " rinkeby-kista (2024-04-01–)"
    ) in lines
    added = "[rebuild] area added: soderort (stadsdelsomrade, 2024-04-01–, parent stockholm"
    assert any(line.startswith(added) for line in lines)
    assert needs(changes) is Effect.REBUILD


def test_baselines_targets_cadence_and_min_coverage_need_a_reprojection_only() -> None:
    lines = changed("    cadence: P3Y  #", "    min_coverage: 0.5\n    cadence: P1Y  #")
    assert lines == [
        "[reproject] indicator otrygghet-bostadsomradet: cadence: P3Y → P1Y",
        "[reproject] indicator otrygghet-bostadsomradet: min_coverage: 0.8 → 0.5",
    ]
    target = changed("target: {value: 92.0, year: 2030", "target: {value: 95.0, year: 2030")
    assert len(target) == 1
    assert target[0].startswith("[reproject] etappmål behorighet-gymnasiet: target:")


def test_a_changed_kind_needs_a_rebuild() -> None:
    fields = {name: getattr(CATALOG, name) for name in Catalog.model_fields}
    fields["indikatorer"] = tuple(
        i.model_copy(update={"unit": "share"}) if i.id == "andel-behoriga" else i
        for i in CATALOG.indikatorer
    )
    changes = catalog_diff(CATALOG, Catalog(**fields))
    assert [str(c) for c in changes] == [
        "[rebuild] indicator andel-behoriga: unit: percent → share"
    ]
