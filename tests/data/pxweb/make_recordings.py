"""Writes the recorded PxWeb answers in this folder: `python tests/data/pxweb/make_recordings.py`.

The shapes are PxWeb's (v1 folder listing, v1 table metadata, v2 metadata, JSON-stat 2.0 data);
the numbers are made up and deterministic. A whole table is recorded once; the test server
answers each query with the part of it that the query selects, as a PxWeb server does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
# The 14 stadsdelsområden of the tables before 2020-07-01, with the city first.
SDO_14 = {
    "0180": "Stockholm",
    "01": "Rinkeby-Kista",
    "02": "Spånga-Tensta",
    "03": "Hässelby-Vällingby",
    "04": "Bromma",
    "05": "Kungsholmen",
    "06": "Norrmalm",
    "07": "Östermalm",
    "08": "Södermalm",
    "09": "Enskede-Årsta-Vantör",
    "10": "Skarpnäck",
    "11": "Farsta",
    "12": "Älvsjö",
    "13": "Hägersten-Liljeholmen",
    "14": "Skärholmen",
}
KON = {"1+2": "totalt", "2": "kvinnor", "1": "män"}
ALDER = {"20-64": "20-64 år", "16-19": "16-19 år"}
CONTENTS = {
    "Forvarvsarb": "Förvärvsarbetande",
    "Befolkning": "Befolkning",
    "Andel": "Förvärvsfrekvens, procent",
}
YEARS = ["2017", "2018", "2019"]
MISSING = {
    ("12", "2", "20-64", "Forvarvsarb", "2017"): "..",
    ("06", "1", "20-64", "Andel", "2018"): ".",
}


def _dimension(label: str, codes: dict[str, str], **extra: Any) -> dict[str, Any]:
    index = {code: n for n, code in enumerate(codes)}
    return {"label": label, "category": {"index": index, "label": codes}, **extra}


def _district_cell(region: str, kon: str, alder: str, content: str, year: str) -> float:
    n, y = list(SDO_14).index(region), YEARS.index(year)
    women = 9000 + 400 * n + 120 * y + (0 if alder == "20-64" else -6000)
    men = women - 250
    population = {"1+2": women + men, "2": women, "1": men}[kon]
    share = 0.70 + 0.01 * (n % 7) + 0.005 * y
    working = round(population * share)
    if content == "Befolkning":
        return population
    if content == "Forvarvsarb":
        return working
    return round(100 * working / population, 2)


def district_table(updated: str, revised: bool) -> dict[str, Any]:
    """The pre-2020 v1 table of förvärvsfrekvens by stadsdelsområde, kön, ålder and år."""
    dims = {"Region": SDO_14, "Kon": KON, "Alder": ALDER, "ContentsCode": CONTENTS, "Tid": YEARS}
    values: list[float | None] = []
    status: dict[str, str] = {}
    for region in SDO_14:
        for kon in KON:
            for alder in ALDER:
                for content in CONTENTS:
                    for year in YEARS:
                        key = (region, kon, alder, content, year)
                        symbol = MISSING.get(key)
                        if revised and key[:2] == ("05", "2") and year == "2019":
                            symbol = ".."  # withdrawn in the revision
                        if symbol:
                            status[str(len(values))] = symbol
                            values.append(None)
                            continue
                        value = _district_cell(*key)
                        if revised and key[:2] == ("01", "1+2") and year == "2019":
                            value = {"Forvarvsarb": value + 60}.get(content, value)
                            if content == "Andel":
                                pop = _district_cell(region, kon, alder, "Befolkning", year)
                                work = _district_cell(region, kon, alder, "Forvarvsarb", year)
                                value = round(100 * (work + 60) / pop, 2)
                        values.append(value)
    return {
        "version": "2.0",
        "class": "dataset",
        "label": "Förvärvsarbetande 20-64 år efter stadsdelsområde, kön, ålder och år",
        "source": "Stockholms stad",
        "updated": updated,
        "id": list(dims),
        "size": [len(codes) for codes in dims.values()],
        "dimension": {
            "Region": _dimension("region", SDO_14),
            "Kon": _dimension("kön", KON),
            "Alder": _dimension("ålder", ALDER),
            "ContentsCode": _dimension("tabellinnehåll", CONTENTS),
            "Tid": _dimension("år", {y: y for y in YEARS}),
        },
        "role": {"time": ["Tid"], "metric": ["ContentsCode"], "geo": ["Region"]},
        "value": values,
        "status": status,
        "extension": {"px": {"tableid": "Forvarvs14SDO", "decimals": 2}},
    }


def district_metadata() -> dict[str, Any]:
    """The v1 GET answer of the district table: its variables."""
    variables = [("Region", "region", SDO_14, False), ("Kon", "kön", KON, True)]
    variables += [
        ("Alder", "ålder", ALDER, False),
        ("ContentsCode", "tabellinnehåll", CONTENTS, False),
    ]
    out = [
        {"code": c, "text": t, "values": list(v), "valueTexts": list(v.values()), "elimination": e}
        for c, t, v, e in variables
    ]
    out.append({"code": "Tid", "text": "år", "values": YEARS, "valueTexts": YEARS, "time": True})
    return {"title": "Förvärvsarbetande efter stadsdelsområde, kön, ålder och år", "variables": out}


def income_table() -> tuple[dict[str, Any], dict[str, Any]]:
    """The v2 metadata and data of median income (tkr) by region, household type and year."""
    region = {"0180": "Stockholm", "0000": "Riket"}
    household = {"TOT": "samtliga hushåll", "E": "ensamstående"}
    contents = {"HE0110K3": "Medianvärde disponibel inkomst per konsumtionsenhet, tkr"}
    years = ["2019", "2020", "2021", "2022"]
    dims = {"Region": region, "Hushallstyp": household, "ContentsCode": contents, "Tid": years}
    meta: dict[str, Any] = {
        "version": "2.0",
        "class": "dataset",
        "label": "Disponibel inkomst per konsumtionsenhet efter region, hushållstyp och år",
        "source": "SCB",
        "updated": "2024-01-30T07:00:00Z",
        "id": list(dims),
        "size": [len(codes) for codes in dims.values()],
        "dimension": {
            "Region": _dimension("region", region, extension={"elimination": False}),
            "Hushallstyp": _dimension(
                "hushållstyp",
                household,
                extension={"elimination": True, "eliminationValueCode": "TOT"},
            ),
            "ContentsCode": _dimension(
                "tabellinnehåll", contents, extension={"elimination": False}
            ),
            "Tid": _dimension("år", {y: y for y in years}, extension={"elimination": False}),
        },
        "role": {"time": ["Tid"], "metric": ["ContentsCode"], "geo": ["Region"]},
    }
    values = [
        round(300.0 + 40 * r + 10 * h + 7.5 * y, 1) if (r, y) != (0, 3) else None
        for r in range(len(region))
        for h in range(len(household))
        for _ in contents
        for y in range(len(years))
    ]
    data = meta | {"value": values, "status": {"3": ".."}}
    return meta, data


def main() -> None:
    """Write every recording."""
    listing = [
        {
            "id": "Forvarvs14SDO",
            "type": "t",
            "text": "Förvärvsarbetande",
            "updated": "2021-11-15T08:00:00",
        }
    ]
    revised_listing = [listing[0] | {"updated": "2022-03-01T08:00:00"}]
    meta, data = income_table()
    files = {
        "v1-folder.json": listing,
        "v1-folder-revised.json": revised_listing,
        "v1-metadata.json": district_metadata(),
        "v1-data.json": district_table("2021-11-15T07:00:00Z", revised=False),
        "v1-data-revised.json": district_table("2022-03-01T07:00:00Z", revised=True),
        "v2-metadata.json": meta,
        "v2-data.json": data,
    }
    for name, doc in files.items():
        (HERE / name).write_text(
            json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )


if __name__ == "__main__":
    main()
