"""The `kolada:` mapping: what `catalog check` refuses, and Kolada items → rows (pure)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from services.ingest.connectors.base import derived_id
from services.ingest.connectors.http import RetryPolicy
from services.ingest.connectors.kolada.answer import KoladaItem
from services.ingest.connectors.kolada.connector import KoladaConnector
from services.ingest.connectors.kolada.rows import Mapped, map_item
from shared.catalog.loader import CATALOG_PATH, check_catalog, default_catalog
from shared.domain.catalog import Catalog, Indikator

BUNDLED = CATALOG_PATH.read_text(encoding="utf-8")


def problems_of(text: str, tmp_path: Path) -> list[str]:
    path = tmp_path / "catalog.yaml"
    path.write_text(text, encoding="utf-8")
    return [f"{p.path}: {p.message}" for p in check_catalog(path)]


def test_the_bundled_catalog_maps_the_kolada_kpis_at_city_level() -> None:
    catalog = default_catalog()
    kolada = catalog.source["kolada"]
    assert kolada.connector is not None
    assert kolada.connector.kind.value == "kolada"
    kpis = {i: catalog.indicator[i].kolada for i in kolada.indicators}
    assert {i: m.kpi for i, m in kpis.items() if m} == {
        "behorighet-gymnasiet-ak9": "N15436",
        "meritvarde-ak9": "N15505",
        "uvas-16-24": "N02797",
        "nystartade-foretag": "N00999",
        "lag-utbildningsniva": "N01984",
        "otrygghet-bostadsomradet": "N07609",
    }
    assert all(m is not None and m.areas == {"0180": catalog.root} for m in kpis.values())


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'kpi: N15436\n      areas: {"0180": stockholm}',
            'kpi: N15436\n      areas: {"0180": atlantis}',
            "indikatorer[0].kolada.areas.0180: unknown omraden id 'atlantis'",
        ),
        (
            'kpi: N15505\n      areas: {"0180": stockholm}',
            'kpi: N15505\n      areas: {"0180": stockholm}\n      scale: 0',
            "indikatorer[1].kolada.scale: ",
        ),
        (
            'kpi: N07609\n      areas: {"0180": stockholm}\n      genders: {T: T}',
            'kpi: N07609\n      areas: {"0180": stockholm}\n      genders: {T: T, K: M}',
            "",
        ),
        (
            "    sources: [utbildningsforvaltningen, kolada]\n    kolada:  # Kolada: behöriga",
            "    sources: [utbildningsforvaltningen]\n    kolada:  # Kolada: behöriga",
            "indikatorer[0].kolada: no källa with `connector: {kind: kolada}` lists this",
        ),
    ],
    ids=["unknown-area", "scale-zero", "gender-ok", "not-in-source"],
)
def test_catalog_check_names_a_broken_mapping(
    old: str, new: str, expected: str, tmp_path: Path
) -> None:
    assert old in BUNDLED
    found = problems_of(BUNDLED.replace(old, new, 1), tmp_path)
    if not expected:
        assert found == []
    else:
        assert any(expected in p for p in found), found


def test_catalog_check_refuses_a_gender_the_indicator_lacks_and_a_non_year_indicator(
    tmp_path: Path,
) -> None:
    old = 'kpi: N00999\n      areas: {"0180": stockholm}'
    text = BUNDLED.replace(old, old + "\n      genders: {T: K}", 1)
    assert any("genders.T: " in p and "not 'K'" in p for p in problems_of(text, tmp_path))
    # anmalda-brott-per-1000 is quarterly: Kolada's years cannot be its periods
    text = BUNDLED.replace(
        "    sources: [stadsledningskontoret]\n",
        '    sources: [stadsledningskontoret, kolada]\n    kolada: {kpi: N07540, areas: {"0180": stockholm}, scale: 0.01}\n',
        1,
    ).replace(
        "      - otrygghet-bostadsomradet\n  - id: scb",
        "      - otrygghet-bostadsomradet\n      - lagt-fortroende-sdn\n  - id: scb",
        1,
    )
    found = problems_of(text, tmp_path)
    assert any("kolada.kpi: Kolada's periods are years" in p for p in found), found


def test_a_source_with_a_kolada_connector_needs_a_mapping_for_each_indicator(
    tmp_path: Path,
) -> None:
    text = BUNDLED.replace(
        "      - otrygghet-bostadsomradet\n  - id: scb",
        "      - otrygghet-bostadsomradet\n      - medianinkomst\n  - id: scb",
        1,
    ).replace("    sources: [scb]\n", "    sources: [scb, kolada]\n")
    assert any("'medianinkomst' has no `kolada:` mapping" in p for p in problems_of(text, tmp_path))


CATALOG = default_catalog()
SHARE = CATALOG.indicator["behorighet-gymnasiet-ak9"]
MERIT = CATALOG.indicator["meritvarde-ak9"]


def item(kpi: str = "N15436", **extra: object) -> KoladaItem:
    values = extra.pop("values", [{"gender": "T", "count": 1, "status": "", "value": 86.9}])
    return KoladaItem.model_validate(
        {"kpi": kpi, "municipality": "0180", "period": 2024, "values": values, **extra}
    )


def mapped(ind: Indikator, it: KoladaItem) -> Mapped:
    out = Mapped()
    map_item("kolada", [ind], it, out)
    return out


def test_a_value_becomes_a_city_row_with_an_id_from_its_version() -> None:
    out = mapped(SHARE, item())
    (row,) = out.rows
    assert {k: v for k, v in row.items() if k != "observation_id"} == {
        "indicator": SHARE.id,
        "area": "stockholm",
        "period": "2024",
        "gender": "T",
        "value": 86.9,
    }
    assert out.origins == ["N15436/0180/2024/T"]
    assert mapped(SHARE, item()).rows[0]["observation_id"] == row["observation_id"]
    revised = mapped(SHARE, item(values=[{"gender": "T", "count": 1, "value": 87.0}]))
    assert revised.rows[0]["observation_id"] != row["observation_id"]


def test_null_is_skipped_isdeleted_retracts_and_a_group_value_of_a_ratio_is_refused() -> None:
    values = [
        {"gender": "T", "count": 1, "value": None},
        {"gender": "K", "count": 1, "value": 80.0, "isdeleted": True},
        {"gender": "M", "count": 3, "value": 70.0},
    ]
    out = mapped(SHARE, item(values=values))
    assert out.skipped == 1
    assert [(r["gender"], r.get("retract"), "value" in r) for r in out.rows] == [("K", True, False)]
    assert [(r.where, r.code) for r in out.refused] == [("N15436/0180/2024/M", "group_value")]
    whole = mapped(SHARE, item(isdeleted=True, values=[{"gender": "T", "value": None}]))
    assert whole.rows[0]["retract"] is True
    assert whole.skipped == 0
    level = mapped(MERIT, item("N15505", values=[{"gender": "T", "count": 3, "value": 231.0}]))
    assert level.rows[0]["value"] == 231.0
    assert not level.refused


def test_scale_and_gender_map_are_applied() -> None:
    ind = SHARE.model_copy(
        update={"kolada": SHARE.kolada.model_copy(update={"scale": 0.01, "genders": {"T": "T"}})}  # type: ignore[union-attr]
    )
    values = [{"gender": "T", "value": 1234.0}, {"gender": "K", "value": 1.0}]
    out = mapped(ind, item(values=values))
    assert [r["value"] for r in out.rows] == [12.34]
    assert out.skipped == 1  # K is not mapped
    assert out.rows[0]["observation_id"] == derived_id(
        "kolada", SHARE.id, "N15436", "0180", "2024", "T", 12.34
    )


def test_more_than_25_ids_are_split_into_requests_of_at_most_25() -> None:
    ind = SHARE.model_copy(
        update={
            "kolada": SHARE.kolada.model_copy(  # type: ignore[union-attr]
                update={"areas": {f"{n:04d}": "stockholm" for n in range(30)}}
            )
        }
    )
    fields = {name: getattr(CATALOG, name) for name in Catalog.model_fields}
    indicators = tuple(ind if i.id == SHARE.id else i for i in CATALOG.indikatorer)
    catalog = Catalog.model_validate({**fields, "indikatorer": indicators})
    connector = KoladaConnector(
        catalog, "kolada", "http://kolada.test/v3", httpx.AsyncClient(), RetryPolicy()
    )
    urls = connector.requests(from_date=None)
    segments = [u.split("/municipality/")[1].split("/")[0].split(",") for u in urls]
    assert all(len(s) <= 25 for s in segments)
    share_ids = {i for u, s in zip(urls, segments, strict=True) if "N15436" in u for i in s}
    assert share_ids == {f"{n:04d}" for n in range(30)}
    years = [u.split("/year/")[1].split(",") for u in urls]
    assert all(len(y) <= 25 and y[0] >= "2015" for y in years)
