"""The loader maps every problem of a catalog file to its line, column and field path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.catalog import (
    CATALOG_PATH,
    CatalogLoadError,
    CatalogProblem,
    catalog_document,
    check_catalog,
    default_catalog,
    load_catalog,
    load_catalog_text,
)

GOOD = """\
malomraden:
  - id: uppvaxt-och-utbildning
    name: Uppväxt och utbildning
    strategies:
      - {id: I, text: Prioritera tidiga och förebyggande insatser}
etappmal:
  - id: behorighet-gymnasiet
    malomrade: uppvaxt-och-utbildning
    title: Andelen behöriga ökar
    direction: increase
    baseline: {period: "2019", value: 86.0, example: true}
    target: {value: 92.0, year: 2030, example: true}
    indicators: [behorighet-gymnasiet-ak9]
    responsible:
      - {namnd: utbildningsnamnden, role: huvudansvarig}
      - {namnd: rinkeby-kista-sdn, role: berord}
indikatorer:
  - id: behorighet-gymnasiet-ak9
    name: Andel behöriga till gymnasiet
    unit: percent
    kind: ratio
    direction: increase
    period_type: year
    area_levels: [stad, stadsdelsomrade, stadsdel]
    genders: [T, K, M]
    cadence: P1Y
    publication_lag: P4M
    sources: [utbildningsforvaltningen]
  - id: ohalsotal
    name: Ohälsotal
    unit: dagar
    kind: level
    direction: decrease
    period_type: month
    area_levels: [stad]
    cadence: P1M
    sources: [scb]
    risk_group: halsa
namnder:
  - {id: utbildningsnamnden, name: Utbildningsnämnden, type: facknamnd}
  - {id: rinkeby-kista-sdn, name: Rinkeby-Kista sdn, type: stadsdelsnamnd, area: rinkeby-kista}
omraden:
  - {id: stockholm, name: Stockholm, level: stad, code: "0180"}
  - {id: rinkeby-kista, name: Rinkeby-Kista, level: stadsdelsomrade, parent: stockholm, ytterstad: true, fokus: true}
  - {id: rinkeby, name: Rinkeby, level: stadsdel, parent: rinkeby-kista}
kallor:
  - id: utbildningsforvaltningen
    name: Utbildningsförvaltningen
    indicators: [behorighet-gymnasiet-ak9]
  - {id: scb, name: SCB, indicators: [ohalsotal]}
"""


def edit(old: str, new: str) -> str:
    assert GOOD.count(old) == 1, old
    return GOOD.replace(old, new)


def where(text: str, marker: str) -> tuple[int, int]:
    """1-based line and column of the first occurrence of `marker`."""
    offset = text.index(marker)
    return text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)


def problems_of(text: str) -> list[CatalogProblem]:
    with pytest.raises(CatalogLoadError) as caught:
        load_catalog_text(text, "cat.yaml")
    assert str(caught.value) == "\n".join(str(p) for p in caught.value.problems)
    return caught.value.problems


def test_a_good_file_loads_and_stadsdelar_inherit_area_flags() -> None:
    catalog = load_catalog_text(GOOD)
    assert catalog.area["rinkeby"].fokus
    assert catalog.area["rinkeby"].ytterstad
    assert catalog.indicator["behorighet-gymnasiet-ak9"].publication_lag.iso() == "P4M"
    assert catalog.indicator["ohalsotal"].grace.iso() == "P30D"
    assert catalog.indicator["ohalsotal"].min_coverage == 0.8  # the default
    custom = load_catalog_text(edit("    unit: dagar\n", "    unit: dagar\n    min_coverage: 1\n"))
    assert custom.indicator["ohalsotal"].min_coverage == 1.0


def test_unknown_kind_is_reported_at_its_value_with_the_allowed_values() -> None:
    text = edit("kind: ratio", "kind: ratiox")
    [problem] = problems_of(text)
    line, column = where(text, "ratiox")
    assert str(problem) == (
        f"cat.yaml:{line}:{column}: indikatorer[0].kind: 'ratiox' is not one of ratio, count, level"
    )


BROKEN = [
    pytest.param(
        ("cadence: P1M", "cadence: P1Q"),
        "P1Q",
        "indikatorer[1].cadence",
        "not a duration",
        id="bad-duration",
    ),
    pytest.param(
        ("{namnd: utbildningsnamnden,", "{namnd: utbildningsnamden,"),
        "utbildningsnamden",
        "etappmal[0].responsible[0].namnd",
        "unknown namnder id",
        id="unknown-reference",
    ),
    pytest.param(
        ("{id: rinkeby, name", "{id: rinkeby-kista, name"),
        "rinkeby-kista, name: Rinkeby,",
        "omraden[2].id",
        "duplicate id 'rinkeby-kista'",
        id="duplicate-id",
    ),
    pytest.param(
        ("    unit: dagar\n", ""),
        "id: ohalsotal",
        "indikatorer[1].unit",
        "required field 'unit' is missing",
        id="missing-field",
    ),
    pytest.param(
        ("    unit: dagar\n", "    unit: dagar\n    colour: red\n"),
        "colour",
        "indikatorer[1].colour",
        "unknown field 'colour'",
        id="unknown-field",
    ),
    pytest.param(
        ("    unit: dagar\n", "    unit: dagar\n    unit: count\n"),
        "unit: count",
        "indikatorer[1].unit",
        "duplicate key 'unit'",
        id="duplicate-key",
    ),
    pytest.param(
        ('{period: "2019",', "{period: 2019,"),
        "2019,",
        "etappmal[0].baseline.period",
        'write it in quotes: "2019"',
        id="unquoted-period",
    ),
    pytest.param(
        ('{period: "2019",', '{period: "2019-T1",'),
        '"2019-T1"',
        "etappmal[0].baseline.period",
        "is a tertial period, expected year",
        id="baseline-of-wrong-period-type",
    ),
    pytest.param(
        ("sources: [scb]", "sources: [scb, utbildningsforvaltningen]"),
        "utbildningsforvaltningen]\n    risk",
        "indikatorer[1].sources[1]",
        "källa 'utbildningsforvaltningen' does not list 'ohalsotal'",
        id="sources-disagree",
    ),
    pytest.param(
        ("rinkeby-kista-sdn, role: berord", "rinkeby-kista-sdn, role: huvudansvarig"),
        "huvudansvarig}\nindikatorer",
        "etappmal[0].responsible[1].role",
        "only one nämnd",
        id="two-leads",
    ),
    pytest.param(
        ("area_levels: [stad, stadsdelsomrade, stadsdel]", "area_levels: [stadsdel]"),
        "behorighet-gymnasiet-ak9]\n    resp",
        "etappmal[0].indicators[0]",
        "not reported at level stad",
        id="headline-not-at-city-level",
    ),
    pytest.param(
        ("parent: rinkeby-kista}", "parent: rinkeby-kista, fokus: false}"),
        "false}",
        "omraden[2].fokus",
        "fokus flag of 'rinkeby-kista'",
        id="stadsdel-flag-differs",
    ),
    pytest.param(
        ("    unit: dagar\n", "    unit: dagar\n    min: 10\n    max: 5\n"),
        "10\n    max",
        "indikatorer[1].min",
        "min 10 is greater than max 5",
        id="min-above-max",
    ),
    pytest.param(
        ("    unit: percent\n", "    unit: percent\n    max: 120\n"),
        "120",
        "indikatorer[0].max",
        "max 120 is not possible: a share (unit 'percent') lies between 0 and 100",
        id="share-above-its-whole",
    ),
    pytest.param(
        ("    unit: dagar\n", "    unit: dagar\n    max: 1.0e+16\n"),
        "1.0e+16",
        "indikatorer[1].max",
        "max 1e+16 is beyond ±1e+15",
        id="bound-beyond-the-magnitude-bound",
    ),
    pytest.param(
        ("    unit: dagar\n", "    unit: dagar\n    min: abc\n"),
        "abc",
        "indikatorer[1].min",
        "valid number",
        id="bound-not-a-number",
    ),
    pytest.param(
        ("    unit: dagar\n", "    unit: dagar\n    min_coverage: 0\n"),
        "0\n    kind",
        "indikatorer[1].min_coverage",
        "greater than 0",
        id="min-coverage-zero",
    ),
    pytest.param(
        ("    unit: dagar\n", "    unit: dagar\n    min_coverage: 1.5\n"),
        "1.5",
        "indikatorer[1].min_coverage",
        "less than or equal to 1",
        id="min-coverage-above-one",
    ),
    pytest.param(
        ("    unit: dagar\n", "    unit: dagar\n    min_coverage: most\n"),
        "most",
        "indikatorer[1].min_coverage",
        "valid number",
        id="min-coverage-not-a-number",
    ),
    pytest.param(
        ("kind: level", "kind: count\n    min: -1"),
        "-1\n",
        "indikatorer[1].min",
        "a count is never negative",
        id="negative-count-minimum",
    ),
    pytest.param(
        ("    unit: percent\n", "    unit: percent\n    max: 90\n"),
        "92.0",
        "etappmal[0].target.value",
        "92 is above 'behorighet-gymnasiet-ak9''s maximum 90",
        id="target-beyond-headline-bounds",
    ),
    pytest.param(
        ("    unit: dagar\n", "    unit: dagar\n    max: 30\n    annual_targets: {2025: 31.0}\n"),
        "31.0}",
        "indikatorer[1].annual_targets.2025",
        "31 is above 'ohalsotal''s maximum 30",
        id="annual-target-beyond-bounds",
    ),
    pytest.param(
        ("{id: scb, name: SCB,", '{id: scb, name: SCB, kafka_principal: "User:*",'),
        '"User:*"',
        "kallor[1].kafka_principal",
        "is not a Kafka principal",
        id="wildcard-principal",
    ),
    pytest.param(
        (
            "{id: scb, name: SCB,",
            "{id: scb, name: SCB, kafka_principal: User:utbildningsforvaltningen,",
        ),
        "User:utbildningsforvaltningen",
        "kallor[1].kafka_principal",
        "already the principal of 'utbildningsforvaltningen'",
        id="shared-principal",
    ),
]


@pytest.mark.parametrize(("change", "marker", "path", "message"), BROKEN)
def test_broken_file_points_at_the_offending_node(
    change: tuple[str, str], marker: str, path: str, message: str
) -> None:
    text = edit(*change)
    problems = problems_of(text)
    line, column = where(text, marker)
    hits = [p for p in problems if p.path == path and message in p.message]
    assert hits, [str(p) for p in problems]
    assert (hits[0].file, hits[0].line, hits[0].column) == ("cat.yaml", line, column)


def test_bounds_load_and_a_share_is_bounded_by_its_whole() -> None:
    catalog = load_catalog_text(
        edit("    unit: dagar\n", "    unit: dagar\n    min: 0\n    max: 366\n")
    )
    assert catalog.indicator["ohalsotal"].bounds == (0, 366)
    assert catalog.indicator["behorighet-gymnasiet-ak9"].bounds == (0, 100)
    assert check_catalog(CATALOG_PATH) == []


def test_yaml_syntax_error_has_line_and_column() -> None:
    text = edit("    title: Andelen behöriga ökar", "    title: Andelen: [behöriga")
    [problem] = problems_of(text)
    line, _ = where(text, "Andelen: [")
    assert (problem.line, problem.path) == (line, "")
    assert problem.column > 1
    assert "YAML syntax error" in problem.message
    assert str(problem).startswith(f"cat.yaml:{line}:{problem.column}: YAML syntax error")


def test_a_value_yaml_cannot_construct_is_reported_where_it_is() -> None:
    text = edit("value: 86.0", "value: !!int abc")
    [problem] = problems_of(text)
    assert (problem.line, problem.column) == where(text, "!!int abc")
    assert "cannot read this value" in problem.message


def test_non_text_ids_are_problems_not_crashes() -> None:
    text = edit("{id: rinkeby, name", "{id: [a, b], name").replace(
        "parent: rinkeby-kista}", "parent: {x: 1}}"
    )
    assert {p.path for p in problems_of(text)} == {"omraden[2].id", "omraden[2].parent"}


def test_several_problems_are_all_reported_in_file_order() -> None:
    text = edit("kind: level", "kind: levels").replace(
        "direction: increase\n    baseline", "direction: up\n    baseline"
    )
    problems = problems_of(text)
    assert [p.path for p in problems] == ["etappmal[0].direction", "indikatorer[1].kind"]
    assert problems == sorted(problems, key=lambda p: (p.line, p.column))


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "the top level must be a mapping"), ("- a\n- b\n", "the top level must be a mapping")],
)
def test_empty_or_non_mapping_file(text: str, message: str) -> None:
    [problem] = problems_of(text)
    assert message in problem.message
    assert problem.line == 1


def test_check_catalog_reads_files_and_reports_unreadable_ones(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD, encoding="utf-8")
    assert check_catalog(good) == []
    assert load_catalog(good).indicator["ohalsotal"].risk_group == "halsa"
    bad = tmp_path / "bad.yaml"
    bad.write_text(edit("kind: ratio", "kind: ratiox"), encoding="utf-8")
    [problem] = check_catalog(bad)
    assert str(problem).startswith(f"{bad}:")
    [missing] = check_catalog(tmp_path / "absent.yaml")
    assert (missing.line, missing.column) == (0, 0)
    assert str(missing).startswith(f"{tmp_path / 'absent.yaml'}: cannot read the file")
    with pytest.raises(CatalogLoadError):
        load_catalog(tmp_path / "absent.yaml")


CONTRACT_FIELDS = {
    "malomraden": {"id", "name"},
    "etappmal": {
        "id",
        "malomrade",
        "title",
        "direction",
        "baseline",
        "target",
        "indicators",
        "responsible",
    },
    "indikatorer": {
        "id",
        "name",
        "unit",
        "kind",
        "direction",
        "period_type",
        "area_levels",
        "genders",
        "cadence",
        "sources",
        "risk_group",
        "baseline",
        "target",
    },
    "namnder": {"id", "name", "type", "area"},
    "omraden": {"id", "name", "level", "parent", "ytterstad", "fokus"},
    "kallor": {"id", "name", "indicators"},
}


def test_a_source_s_principal_defaults_to_its_id_and_stays_out_of_the_document() -> None:
    catalog = load_catalog_text(
        edit("{id: scb, name: SCB,", "{id: scb, name: SCB, kafka_principal: User:scb-etl,")
    )
    assert catalog.source["scb"].principal == "User:scb-etl"
    assert catalog.source["utbildningsforvaltningen"].principal == "User:utbildningsforvaltningen"
    assert all("kafka_principal" not in entry for entry in catalog_document(catalog)["kallor"])


def test_catalog_document_has_every_contract_field_as_json() -> None:
    doc = catalog_document(default_catalog())
    assert list(doc) == list(CONTRACT_FIELDS)
    for section, fields in CONTRACT_FIELDS.items():
        assert doc[section], section
        for entry in doc[section]:
            assert fields <= set(entry), (section, fields - set(entry))
    assert json.loads(json.dumps(doc)) == doc
    goal = doc["etappmal"][0]
    assert set(goal["baseline"]) >= {"period", "value"}
    assert set(goal["target"]) >= {"value", "year"}
    assert goal["responsible"][0] == {"namnd": "utbildningsnamnden", "role": "huvudansvarig"}
    ind = next(i for i in doc["indikatorer"] if i["id"] == "otrygghet-bostadsomradet")
    assert (ind["cadence"], ind["risk_group"], ind["baseline"], ind["min_coverage"]) == (
        "P3Y",
        "sakerhet_trygghet",
        None,
        0.8,
    )
    root = next(a for a in doc["omraden"] if a["id"] == "stockholm")
    assert root["parent"] is None
    assert root["code"] == "0180"
