"""What to ask a table for: a mapping resolved against the table's own variables.

Pure: no I/O. Region and gender codes the table lacks are left out (a mapping may name both the
14 pre-2020 stadsdelsområden and today's 13, for tables of either age); a contents code, a fixed
value or a variable the table needs but the mapping does not say is an error of the mapping.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from services.ingest.connectors.base import ConnectorError
from services.ingest.connectors.pxweb.tables import Table
from shared.domain.catalog import PeriodType
from shared.domain.mappings.pxweb import PxWebMapping

# PxWeb time codes: 2024, 2024M03, 2024K2 (kvartal) or 2024Q2, 2024T1 (tertial), 2024VT/2024HT.
_TIME_CODES: dict[PeriodType, tuple[re.Pattern[str], str]] = {
    PeriodType.YEAR: (re.compile(r"([0-9]{4})"), "{0}"),
    PeriodType.MONTH: (re.compile(r"([0-9]{4})M(0[1-9]|1[0-2])"), "{0}-{1}"),
    PeriodType.QUARTER: (re.compile(r"([0-9]{4})[KQ]([1-4])"), "{0}-Q{1}"),
    PeriodType.TERTIAL: (re.compile(r"([0-9]{4})T([1-3])"), "{0}-T{1}"),
    PeriodType.TERM: (re.compile(r"([0-9]{4})(VT|HT)"), "{0}-{1}"),
}


def period_of(code: str, period_type: PeriodType) -> str | None:
    """The catalog period of a PxWeb time code (`2024M03` → `2024-03`), None if it is not one."""
    pattern, text = _TIME_CODES[period_type]
    match = pattern.fullmatch(code)
    return text.format(*match.groups()) if match else None


@dataclass(frozen=True)
class Plan:
    """The codes to select of each variable, and the periods of the time codes."""

    mapping: PxWebMapping
    regions: tuple[str, ...]
    periods: dict[str, str]
    genders: tuple[str, ...]
    unreadable_times: tuple[str, ...]

    def selection(self) -> dict[str, tuple[str, ...]]:
        """Variable code → the values to fetch."""
        m = self.mapping
        chosen = {m.region: self.regions, m.time: tuple(self.periods), m.contents: m.contents_codes}
        if m.gender is not None:
            chosen[m.gender] = self.genders
        return chosen | {code: (value,) for code, value in m.fixed.items()}


def plan(m: PxWebMapping, table: Table, period_type: PeriodType) -> Plan:
    """Resolve a mapping against a table; ConnectorError(kind `mapping`) when they do not fit."""
    problems = list(_misfits(m, table))
    if problems:
        raise ConnectorError("mapping", table.url, "; ".join(problems))
    times = table.variables[m.time].values
    periods = {code: p for code in times if (p := period_of(code, period_type)) is not None}
    in_table = set(table.variables[m.region].values)
    genders = table.variables[m.gender].values if m.gender else ()
    return Plan(
        mapping=m,
        regions=tuple(code for code in m.areas if code in in_table),
        periods=periods,
        genders=tuple(code for code in m.genders if code in genders),
        unreadable_times=tuple(code for code in times if code not in periods),
    )


def _misfits(m: PxWebMapping, table: Table) -> Iterator[str]:
    named = [m.region, m.time, m.contents, *([m.gender] if m.gender else []), *m.fixed]
    for code in named:
        if code not in table.variables:
            yield f"the table has no variable {code!r} (it has {', '.join(table.variables)})"
    if m.contents in table.variables:
        offered = table.variables[m.contents].values
        for code in m.contents_codes:
            if code not in offered:
                yield f"{m.contents} has no value {code!r}"
    for code, value in m.fixed.items():
        if code in table.variables and value not in table.variables[code].values:
            yield f"{code} has no value {value!r}"
    for var in table.variables.values():
        if var.code not in named and not var.eliminable and len(var.values) > 1:
            yield f"variable {var.code!r} cannot be left out: fix one of its values in `fixed`"
    if m.region in table.variables and not set(m.areas) & set(table.variables[m.region].values):
        yield f"none of the mapped region codes is among {m.region}'s values"
