"""The shipped Stockholm catalog holds what the roadmap and the programme ask of it."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from shared.catalog import CATALOG_PATH, check_catalog, default_catalog
from shared.domain.catalog import (
    AreaLevel,
    Catalog,
    Direction,
    Gender,
    Kind,
    NamndType,
    PeriodType,
    RiskGroup,
    Role,
)

STADSDELSOMRADEN = [
    "Rinkeby-Kista",
    "Spånga-Tensta",
    "Hässelby-Vällingby",
    "Bromma",
    "Kungsholmen",
    "Norrmalm",
    "Östermalm",
    "Södermalm",
    "Enskede-Årsta-Vantör",
    "Skarpnäck",
    "Farsta",
    "Hägersten-Älvsjö",
    "Skärholmen",
]
INNER_CITY = {"Kungsholmen", "Norrmalm", "Östermalm", "Södermalm"}
FOCUS = {
    "Rinkeby-Kista": {"Rinkeby", "Kista", "Husby", "Akalla"},
    "Spånga-Tensta": {"Tensta", "Hjulsta", "Spånga", "Bromsten"},
    "Hässelby-Vällingby": {"Vällingby", "Hässelby gård", "Hässelby strand", "Råcksta"},
    "Skärholmen": {"Skärholmen", "Bredäng", "Sätra", "Vårberg"},
    "Enskede-Årsta-Vantör": {"Rågsved", "Hagsätra", "Högdalen", "Bandhagen", "Årsta"},
    "Farsta": {"Farsta", "Hökarängen", "Fagersjö", "Sköndal"},
}
ETAPPMAL = {
    "behorighet-gymnasiet": ("uppvaxt-och-utbildning", Direction.INCREASE),
    "unga-som-varken-arbetar-eller-studerar": ("arbete-och-foretagande", Direction.DECREASE),
    "bostadsbyggande-fokusomraden": ("boende-och-stadsmiljo", Direction.INCREASE),
    "arbetsplatser-ytterstaden": ("boende-och-stadsmiljo", Direction.INCREASE),
    "otrygghet-i-bostadsomradet": ("demokrati-och-trygghet", Direction.DECREASE),
    "lagt-fortroende-stadsdelsnamnd": ("demokrati-och-trygghet", Direction.DECREASE),
}
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return default_catalog()


def slugify(name: str) -> str:
    table = str.maketrans("åäöéÅÄÖÉ", "aaoeaaoe")
    return re.sub(r"[^a-z0-9]+", "-", name.translate(table).lower()).strip("-")


def test_the_shipped_file_has_no_problems() -> None:
    assert check_catalog(CATALOG_PATH) == []
    assert default_catalog() is default_catalog()


def test_four_malomraden_with_their_numbered_strategies(catalog: Catalog) -> None:
    counts = {m.id: len(m.strategies) for m in catalog.malomraden}
    assert counts == {
        "uppvaxt-och-utbildning": 6,
        "arbete-och-foretagande": 6,
        "boende-och-stadsmiljo": 5,
        "demokrati-och-trygghet": 6,
    }
    numerals = ["I", "II", "III", "IV", "V", "VI"]
    for m in catalog.malomraden:
        assert [s.id for s in m.strategies] == numerals[: len(m.strategies)]
    texts = {s.text for m in catalog.malomraden for s in m.strategies}
    assert "Stärk det systematiska arbetet mot diskriminering" in texts
    assert "Öka tillgången till bostäder för resurssvaga hushåll" in texts


def test_six_etappmal_in_their_malomrade_with_their_direction(catalog: Catalog) -> None:
    assert {g.id: (g.malomrade, g.direction) for g in catalog.etappmal} == ETAPPMAL


def test_every_etappmal_has_one_lead_many_involved_and_an_example_target(catalog: Catalog) -> None:
    for goal in catalog.etappmal:
        roles = Counter(r.role for r in goal.responsible)
        assert roles[Role.HUVUDANSVARIG] == 1, goal.id
        assert roles[Role.BEROD] >= 1, goal.id
        assert "kommunstyrelsen" in {r.namnd for r in goal.responsible}, goal.id
        assert goal.baseline is not None, goal.id
        assert goal.baseline.example, goal.id
        assert goal.target is not None, goal.id
        assert goal.target.example, goal.id
        assert 2025 <= goal.target.year <= 2030, goal.id


def test_headline_indicators_are_reported_for_the_city_in_the_goals_direction(
    catalog: Catalog,
) -> None:
    for goal in catalog.etappmal:
        headline = catalog.indicator[goal.headline]
        assert AreaLevel.STAD in headline.area_levels, goal.id
        assert headline.direction is goal.direction, goal.id


def test_no_baseline_or_target_is_presented_as_decided(catalog: Catalog) -> None:
    for ind in catalog.indikatorer:
        assert ind.baseline is None or ind.baseline.example, ind.id
        assert ind.target is None or ind.target.example, ind.id


def test_indicators_cover_kinds_levels_genders_and_period_types(catalog: Catalog) -> None:
    inds = catalog.indikatorer
    assert len(inds) >= 12
    assert {i.kind for i in inds} == set(Kind)
    assert sum(AreaLevel.STADSDEL in i.area_levels for i in inds) >= 2
    assert sum(set(i.genders) == {Gender.T, Gender.K, Gender.M} for i in inds) >= 3
    types = {i.period_type for i in inds}
    assert {PeriodType.YEAR, PeriodType.TERTIAL} <= types
    assert types & {PeriodType.MONTH, PeriodType.QUARTER}
    assert catalog.indicator["behorighet-gymnasiet-ak9"].cadence.iso() == "P1Y"
    # Trygghetsmätningen ran every third year, 2008–2020.
    assert catalog.indicator["otrygghet-bostadsomradet"].cadence.iso() == "P3Y"


def test_ratio_shares_are_percent(catalog: Catalog) -> None:
    for ind in catalog.indikatorer:
        if ind.kind is Kind.RATIO:
            assert ind.unit == "percent", ind.id


def test_each_risk_group_has_at_least_two_indicators_mostly_decreasing(catalog: Catalog) -> None:
    groups = Counter(i.risk_group for i in catalog.indikatorer if i.risk_group is not None)
    assert all(groups[g] >= 2 for g in RiskGroup), groups
    risky = [i for i in catalog.indikatorer if i.risk_group is not None]
    assert sum(i.direction is Direction.DECREASE for i in risky) > len(risky) / 2


def test_thirteen_stadsdelsomraden_with_the_exact_names_and_flags(catalog: Catalog) -> None:
    root = catalog.area[catalog.root]
    assert (root.id, root.level, root.code) == ("stockholm", AreaLevel.STAD, "0180")
    districts = [
        a for a in catalog.omraden if a.level is AreaLevel.STADSDELSOMRADE and a.valid_to is None
    ]
    assert sorted(a.name for a in districts) == sorted(STADSDELSOMRADEN)
    for area in districts:
        assert area.parent == "stockholm"
        assert area.id == slugify(area.name)
        assert area.ytterstad is (area.name not in INNER_CITY), area.id
        assert area.fokus is (area.name in FOCUS), area.id


def test_stadsdelar_under_every_stadsdelsomrade_inherit_its_flags(catalog: Catalog) -> None:
    for district in (a for a in catalog.omraden if a.level is AreaLevel.STADSDELSOMRADE):
        kids = [catalog.area[k] for k in catalog.children[district.id]]
        assert len(kids) >= (3 if district.fokus else 2), district.id
        assert FOCUS.get(district.name, set()) <= {k.name for k in kids}, district.id
        for kid in kids:
            assert kid.level is AreaLevel.STADSDEL
            assert (kid.ytterstad, kid.fokus) == (district.ytterstad, district.fokus), kid.id
            assert kid.id in (slugify(kid.name), f"{slugify(kid.name)}-stadsdel"), kid.id


def test_every_id_is_an_ascii_slug(catalog: Catalog) -> None:
    sections = (catalog.malomraden, catalog.etappmal, catalog.indikatorer, catalog.namnder)
    ids = [x.id for section in sections for x in section]
    ids += [a.id for a in catalog.omraden] + [s.id for s in catalog.kallor]
    assert all(SLUG.match(i) for i in ids), [i for i in ids if not SLUG.match(i)]


def test_namnder_one_stadsdelsnamnd_per_stadsdelsomrade_and_the_bolag(catalog: Catalog) -> None:
    by_type: dict[NamndType, set[str]] = {t: set() for t in NamndType}
    for nd in catalog.namnder:
        by_type[nd.type].add(nd.id)
    assert by_type[NamndType.KOMMUNSTYRELSEN] == {"kommunstyrelsen"}
    assert by_type[NamndType.BOLAGSSTYRELSE] == {
        "svenska-bostader",
        "familjebostader",
        "stockholmshem",
    }
    assert {
        "utbildningsnamnden",
        "arbetsmarknadsnamnden",
        "socialnamnden",
        "stadsbyggnadsnamnden",
        "exploateringsnamnden",
    } <= by_type[NamndType.FACKNAMND]
    owned = [catalog.namnd[n].area for n in by_type[NamndType.STADSDELSNAMND]]
    districts = {a.id for a in catalog.omraden if a.level is AreaLevel.STADSDELSOMRADE}
    assert sorted(a for a in owned if a) == sorted(districts)
    assert catalog.namnd["rinkeby-kista-sdn"].area == "rinkeby-kista"


def test_sources_and_their_indicators_agree_both_ways(catalog: Catalog) -> None:
    assert {"utbildningsforvaltningen", "arbetsmarknadsforvaltningen", "scb"} <= set(catalog.source)
    for ind in catalog.indikatorer:
        assert ind.sources, ind.id
        for src in ind.sources:
            assert ind.id in catalog.source[src].indicators
    for kalla in catalog.kallor:
        for ind_id in kalla.indicators:
            assert kalla.id in catalog.indicator[ind_id].sources


def test_indicators_outside_etappmal_still_have_someone_responsible_or_a_risk_group(
    catalog: Catalog,
) -> None:
    for ind in catalog.indikatorer:
        assert catalog.goals_of_indicator(ind.id) or ind.risk_group is not None, ind.id
    assert catalog.lead_of("behorighet-gymnasiet-ak9") == "utbildningsnamnden"
    assert catalog.lead_of("ekonomiskt-bistand-hushall") == "socialnamnden"
