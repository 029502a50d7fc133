"""Builders for tests: a small ingest catalog, observation rows, batches in JSON and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from shared.domain.catalog import AreaLevel, Catalog, Duration, Indikator, Kalla, Omrade

CITY = "stockholm"
SCHOOL = "utbildningsforvaltningen"  # reports SHARE and YOUTH
LABOUR = "arbetsmarknadsforvaltningen"  # reports JOBS and JOBSEEKERS
SURVEY = "trygghetsmatningen"  # reports SAFETY and INCOME (declared on the indicators only)
SHARE = "behorighet-gymnasiet-ak9"  # ratio, percent, year, all levels, T/K/M
YOUTH = "unga-per-1000"  # ratio, per_1000, tertial, stadsdelsområde
JOBS = "arbetsplatser-ytterstad"  # count, year, stad + stadsdelsområde, T only
JOBSEEKERS = "inskrivna-arbetssokande"  # count, month, every level
SAFETY = "otrygghet-index"  # level, term, stadsdel
INCOME = "inkomst-kvartal"  # ratio with unit "sek" (no scale): value required; quarter
MERIT = "meritvarde"  # level, poang, year, every level, T/K/M, min 0 and max 340; school source
NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)


def _indicator(
    id_: str,
    kind: str,
    unit: str,
    period_type: str,
    levels: Iterable[str],
    genders: Iterable[str] = ("T",),
    sources: Iterable[str] = (),
    **extra: Any,
) -> Indikator:
    return Indikator.model_validate(
        {
            "id": id_,
            "name": id_.replace("-", " "),
            "unit": unit,
            "kind": kind,
            "direction": "increase",
            "period_type": period_type,
            "area_levels": list(levels),
            "genders": list(genders),
            "cadence": Duration(months=12),
            "sources": list(sources),
            **extra,
        }
    )


def ingest_catalog() -> Catalog:
    """Stockholm → Rinkeby-Kista (Rinkeby, Kista) and Södermalm; seven indicators, three sources."""
    sdo, sd = AreaLevel.STADSDELSOMRADE, AreaLevel.STADSDEL
    areas = (
        Omrade(id=CITY, name="Stockholm", level=AreaLevel.STAD, code="0180"),
        Omrade(id="rinkeby-kista", name="Rinkeby-Kista", level=sdo, parent=CITY, ytterstad=True),
        Omrade(id="rinkeby", name="Rinkeby", level=sd, parent="rinkeby-kista", ytterstad=True),
        Omrade(id="kista", name="Kista", level=sd, parent="rinkeby-kista", ytterstad=True),
        Omrade(id="sodermalm", name="Södermalm", level=sdo, parent=CITY),
    )
    every = ("stad", "stadsdelsomrade", "stadsdel")
    indicators = (
        _indicator(SHARE, "ratio", "percent", "year", every, ("T", "K", "M")),
        _indicator(YOUTH, "ratio", "per_1000", "tertial", ("stadsdelsomrade",)),
        _indicator(JOBS, "count", "count", "year", ("stad", "stadsdelsomrade")),
        _indicator(JOBSEEKERS, "count", "count", "month", every, ("T", "K", "M")),
        _indicator(SAFETY, "level", "poang", "term", ("stadsdel",), sources=(SURVEY,)),
        _indicator(INCOME, "ratio", "sek", "quarter", every, sources=(SURVEY,)),
        _indicator(MERIT, "level", "poang", "year", every, ("T", "K", "M"), min=0, max=340),
    )
    sources = (
        Kalla(id=SCHOOL, name="Utbildningsförvaltningen", indicators=(SHARE, YOUTH, MERIT)),
        Kalla(id=LABOUR, name="Arbetsmarknadsförvaltningen", indicators=(JOBS, JOBSEEKERS)),
        Kalla(id=SURVEY, name="Trygghetsmätningen"),
    )
    return Catalog(
        malomraden=(),
        etappmal=(),
        indikatorer=indicators,
        namnder=(),
        omraden=areas,
        kallor=sources,
    )


def share_row(**overrides: Any) -> dict[str, Any]:
    """A valid row of SHARE (214/300 = 71.33 %), school source; `None` overrides drop a field."""
    row: dict[str, Any] = {
        "indicator": SHARE,
        "area": "rinkeby",
        "period": "2024",
        "gender": "T",
        "value": 71.33,
        "numerator": 214,
        "denominator": 300,
        "status": "final",
        "updated_at": "2025-02-01T08:00:00Z",
    }
    row.update(overrides)
    return {k: v for k, v in row.items() if v is not None}


def count_row(**overrides: Any) -> dict[str, Any]:
    """A valid row of JOBS (a count), labour source."""
    row: dict[str, Any] = {
        "indicator": JOBS,
        "area": "rinkeby-kista",
        "period": "2024",
        "value": 5120,
    }
    row.update(overrides)
    return {k: v for k, v in row.items() if v is not None}


def share_rows(n: int, *, period: str = "2024", **overrides: Any) -> list[dict[str, Any]]:
    """`n` valid SHARE rows with distinct series (areas × genders × years back from `period`)."""
    areas = (CITY, "rinkeby-kista", "rinkeby", "kista", "sodermalm")
    rows = []
    for i in range(n):
        year = int(period) - i // 15
        area, gender = areas[i % 5], "TKM"[(i // 5) % 3]
        den = 100 + i % 400
        num = (i * 7) % den
        rows.append(
            share_row(
                area=area,
                gender=gender,
                period=str(year),
                numerator=num,
                denominator=den,
                value=round(100 * num / den, 2),
                **overrides,
            )
        )
    return rows


def json_body(rows: Iterable[object]) -> bytes:
    """The JSON body `{"observations": [...]}`."""
    return orjson.dumps({"observations": list(rows)})


def csv_body(
    rows: Iterable[Mapping[str, Any]], *, delimiter: str = ",", columns: list[str] | None = None
) -> bytes:
    """A CSV body with a header row of the union of the rows' fields."""
    rows = list(rows)
    names = columns or sorted({name for row in rows for name in row})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=names, delimiter=delimiter, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue().encode()


def _cell(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def jobseeker_rows(n: int) -> list[dict[str, Any]]:
    """`n` valid JOBSEEKERS rows (a monthly count, labour source) with distinct series."""
    areas = (CITY, "rinkeby-kista", "rinkeby", "kista", "sodermalm")
    rows = []
    for i in range(n):
        year, rest = 2024 - i // 180, i % 180
        rows.append(
            {
                "indicator": JOBSEEKERS,
                "area": areas[rest % 5],
                "gender": "TKM"[(rest // 5) % 3],
                "period": f"{year}-{rest // 15 + 1:02d}",
                "value": float(i % 977),
            }
        )
    return rows
