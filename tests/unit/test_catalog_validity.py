"""`catalog check` on areas that change: gaps, overlaps and reversed dates, named with their dates."""

from __future__ import annotations

from datetime import date

from shared.catalog import check_catalog, load_catalog_text
from shared.catalog.loader import CATALOG_PATH, default_catalog
from shared.domain.areas import tree_of_period
from tests.unit.test_catalog_loader import GOOD, problems_of

OLD = "  - {id: rinkeby, name: Rinkeby, level: stadsdel, parent: rinkeby-kista}\n"
SPLIT = """\
  - {id: rinkeby-kista, name: Rinkeby-Kista, level: stadsdelsomrade, parent: stockholm, \
ytterstad: true, fokus: true}
  - {id: norra, name: Norra, level: stadsdelsomrade, parent: stockholm, ytterstad: true, \
fokus: true, valid_to: 2020-06-30}
  - {id: rinkeby, name: Rinkeby, level: stadsdel, parents: [PARENTS]}
"""
MOVE = "{id: norra, valid_to: 2020-06-30}, {id: rinkeby-kista, valid_from: 2020-07-01}"


def catalog_text(parents: str = MOVE, **swaps: str) -> str:
    """GOOD with a former stadsdelsområde `norra` whose stadsdel rinkeby moved on 2020-07-01."""
    area = "  - {id: rinkeby-kista, name: Rinkeby-Kista, level: stadsdelsomrade, parent: stockholm,"
    start = GOOD.index(area)
    text = GOOD[:start] + SPLIT.replace("PARENTS", parents) + GOOD[start:].split(OLD, 1)[1]
    for old, new in swaps.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def messages(text: str) -> list[str]:
    return [f"{p.path}: {p.message}" for p in problems_of(text)]


def test_a_moved_stadsdel_has_its_parent_of_each_day() -> None:
    catalog = load_catalog_text(catalog_text())
    assert catalog.area["rinkeby"].parent == "rinkeby-kista"  # the newest link
    assert catalog.children["norra"] == ("rinkeby",)
    assert catalog.trees.on(date(2020, 6, 30)).parent["rinkeby"] == "norra"
    assert catalog.trees.on(date(2020, 7, 1)).parent["rinkeby"] == "rinkeby-kista"
    assert "norra" not in catalog.trees.on(date(2020, 7, 1)).valid
    assert catalog.trees.on(date(2019, 1, 1)).members["fokusomraden"] == ("rinkeby-kista", "norra")


def test_two_parents_on_one_day_are_refused_with_the_day() -> None:
    text = catalog_text(
        "{id: norra, valid_to: 2020-06-30}, {id: rinkeby-kista, valid_from: 2020-06-01}"
    )
    assert messages(text) == [
        "omraden[3].parents[1]: 'rinkeby' has two parents on 2020-06-01:"
        " 'norra' (–2020-06-30) and 'rinkeby-kista' (2020-06-01–)"
    ]


def test_a_gap_between_parents_is_refused_with_its_dates() -> None:
    text = catalog_text(
        "{id: norra, valid_to: 2020-06-30}, {id: rinkeby-kista, valid_from: 2020-08-01}"
    )
    assert messages(text) == [
        "omraden[3].parents[1]: 'rinkeby' has no parent from 2020-07-01 to 2020-07-31,"
        " though it is valid then"
    ]


def test_a_stadsdel_without_a_parent_after_its_last_link_is_refused() -> None:
    text = catalog_text("{id: norra, valid_to: 2020-06-30}")
    assert messages(text) == [
        "omraden[3].parents: 'rinkeby' has no parent from 2020-07-01 on, though it is valid then"
    ]


def test_a_link_past_its_parents_validity_is_refused() -> None:
    text = catalog_text(
        "{id: norra, valid_to: 2020-12-31}, {id: rinkeby-kista, valid_from: 2021-01-01}"
    )
    assert messages(text) == [
        "omraden[3].parents[0]: 'rinkeby' has parent 'norra' –2020-12-31, but 'norra' is valid"
        " only –2020-06-30"
    ]


def test_a_link_outside_the_childs_own_validity_is_refused() -> None:
    text = catalog_text(
        "{id: rinkeby-kista, valid_from: 2019-01-01}",
        **{"level: stadsdel, parents": "level: stadsdel, valid_from: 2020-01-01, parents"},
    )
    assert messages(text) == [
        "omraden[3].parents[0]: 'rinkeby' has parent 'rinkeby-kista' 2019-01-01–, outside its own"
        " validity 2020-01-01–"
    ]


def test_valid_to_before_valid_from_is_refused() -> None:
    text = catalog_text(
        **{"valid_to: 2020-06-30}\n": "valid_from: 2021-01-01, valid_to: 2020-06-30}\n"}
    )
    assert (
        messages(text)[0]
        == "omraden[2].valid_to: 'norra': valid_to 2020-06-30 is before 2021-01-01"
    )


def test_a_stadsdelsnamnd_outliving_its_area_is_refused() -> None:
    namnd = "  - {id: norra-sdn, name: Norra sdn, type: stadsdelsnamnd, area: norra}\n"
    text = catalog_text().replace("\nomraden:\n", "\n" + namnd + "omraden:\n")
    assert messages(text) == [
        "namnder[2].valid_from: 'norra-sdn' is valid always but its area 'norra' only –2020-06-30"
    ]


def test_the_bundled_catalog_has_the_2020_reorganisation() -> None:
    assert check_catalog(CATALOG_PATH) == []
    catalog = default_catalog()
    before, after = tree_of_period(catalog, "2019"), tree_of_period(catalog, "2021")
    assert {"hagersten-liljeholmen", "alvsjo"} <= set(before.children["stockholm"])
    assert "hagersten-alvsjo" not in before.valid
    assert len(before.children["stockholm"]) == 14
    assert len(after.children["stockholm"]) == 13
    assert "hagersten-alvsjo" in after.children["stockholm"]
    alvsjo = {"alvsjo-stadsdel", "herrangen", "langbro", "langsjo", "liseberg", "solberga"}
    assert alvsjo | {"orby-slott"} == set(before.children["alvsjo"])
    assert alvsjo <= set(after.children["hagersten-alvsjo"])
    assert before.parent["aspudden"] == "hagersten-liljeholmen"
    assert after.parent["aspudden"] == "hagersten-alvsjo"
    assert catalog.namnd["alvsjo-sdn"].valid_to == date(2020, 6, 30)
    assert catalog.namnd["hagersten-alvsjo-sdn"].valid_from == date(2020, 7, 1)
