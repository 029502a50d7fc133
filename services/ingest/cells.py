"""Cells of a sheet or CSV record: where they are (`Blad1!C7`, `C7`) and their text for a field.

Workbook cells arrive typed (numbers, booleans, dates); the rules judge text as they do for CSV,
so each cell becomes the text a person would have typed for that field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from services.ingest.errors import BodyError

#: Excel's times have no offset: they are read as the city's local time.
LOCAL = ZoneInfo("Europe/Stockholm")
NUMERIC = ("value", "numerator", "denominator")
#: A number as Swedish spreadsheets write it: decimal comma, digits grouped by (no-break) spaces,
#: a minus sign (U+2212): `71,3`, `9 100`, `−3`.
_SWEDISH_NUMBER = re.compile(r"[+\-\u2212]?(?:\d{1,3}(?:[ \u00a0\u202f]\d{3})+|\d+)(?:,\d+)?")
_TO_POINT = str.maketrans({",": ".", "\u2212": "-", " ": None, "\u00a0": None, "\u202f": None})
_PLAIN_SHEET = re.compile(r"[^\W\d]\w*")


def column_letters(index: int) -> str:
    """The letters of a 0-based column index: 0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def cell_ref(sheet: str | None, column: int, line: int) -> str:
    """`Blad1!C7` for a sheet (quoted as Excel does when needed), `C7` for a CSV body."""
    ref = f"{column_letters(column)}{line}"
    if sheet is None:
        return ref
    name = sheet if _PLAIN_SHEET.fullmatch(sheet) else "'" + sheet.replace("'", "''") + "'"
    return f"{name}!{ref}"


def sheet_prefix(sheet: str | None) -> str:
    """What goes before a cell's column letters: `Blad1!`, `'Mitt blad'!`, or nothing in CSV."""
    return cell_ref(sheet, 0, 1)[:-2]


@dataclass(frozen=True, slots=True)
class Place:
    """Where a row's fields are: the column letters of each on its line, or a whole cell.

    Built per row but read only for rows with errors, so it holds shared maps, not strings.
    """

    prefix: str
    columns: Mapping[str | None, str]
    line: int
    #: Fields that come from elsewhere (a header block, a period's header cell): their cells.
    fixed: Mapping[str | None, str] | None = None

    def cell(self, field: str | None) -> str:
        """The cell of `field`; the row's own (key None) when the row has no column for it."""
        if self.fixed is not None and field in self.fixed:
            return self.fixed[field]
        letters = self.columns.get(field, self.columns[None])
        return f"{self.prefix}{letters}{self.line}"


def where(sheet: str | None, column: int, line: int) -> str:
    """A place for a message: `Blad1!C7` in a workbook, `line 7, column 3` in CSV."""
    return (
        cell_ref(sheet, column, line) if sheet is not None else f"line {line}, column {column + 1}"
    )


def header_error(code: str, sheet: str | None, column: int, line: int, message: str) -> BodyError:
    """A refused header cell: the message after its place, with its line, column and cell."""
    return BodyError(
        code,
        f"{where(sheet, column, line)}: {message}",
        line=line,
        column=column + 1,
        cell=cell_ref(sheet, column, line),
    )


def is_empty(value: object) -> bool:
    """An empty cell: absent, or text of whitespace only."""
    return value is None or (isinstance(value, str) and not value.strip())


def cell_text(value: object, field: str | None, decimal_comma: bool) -> str:
    """The text of a cell for `field`: numbers as typed, dates as periods or RFC 3339 times."""
    if isinstance(value, str):
        if decimal_comma and field in NUMERIC and _SWEDISH_NUMBER.fullmatch(value.strip()):
            return value.strip().translate(_TO_POINT)
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, date):
        return _date_text(value, field)
    return str(value)


def _date_text(value: date, field: str | None) -> str:
    moment = value if isinstance(value, datetime) else datetime.combine(value, time())
    if field == "updated_at":
        local = moment if moment.tzinfo else moment.replace(tzinfo=LOCAL)
        return local.isoformat()
    if field == "period" and moment.day == 1 and moment.time() == time():
        # Excel turns a typed 2024-03 into the date 2024-03-01: the month is what was meant.
        return f"{moment.year:04d}-{moment.month:02d}"
    return value.isoformat()
