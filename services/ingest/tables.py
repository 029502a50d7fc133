"""A sheet (or CSV body) to observation rows: find its table, read it in the long or wide layout.

Long: a header row of field names, one observation per record. Wide: a header row `area` then one
period per column, one area per record; indicator and gender from a header block above the table
(`Indikator: <id>`, `Kön: T`) or the query. Other rows above the table are titles and notes, and
are skipped. Every row keeps where its fields came from (`Blad1!C7`) for the report.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from services.ingest.cells import (
    NUMERIC,
    Place,
    cell_ref,
    cell_text,
    column_letters,
    header_error,
    is_empty,
    sheet_prefix,
)
from services.ingest.errors import BodyError
from services.ingest.wide import AREA_NAMES, Block, read_block_row, read_wide
from shared.domain.validation import FIELDS, ErrorCode, Unreadable

Record = tuple[int, Sequence[object]]


@dataclass(frozen=True)
class Grid:
    """The records of one sheet or CSV body: (line, cells), line being the sheet row or CSV line."""

    sheet: str | None
    records: Iterable[Record]
    decimal_comma: bool


@dataclass
class Collected:
    """Rows read so far, with the line each starts on and the cell of each of its fields."""

    max_rows: int
    items: list[object] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    places: list[Place] = field(default_factory=list)

    def add(self, row: object, line: int, place: Place) -> None:
        """One more row; more than `max_rows` is refused at once (nothing more is read)."""
        self.items.append(row)
        self.lines.append(line)
        self.places.append(place)
        if len(self.items) > self.max_rows:
            raise BodyError(
                "too_many_rows",
                f"more than {self.max_rows} observations in one batch; split it",
                status=413,
            )


def is_header(cells: Sequence[object]) -> bool:
    """A row that starts a table: it names a field, or starts with `area`/`område`."""
    names = [str(c).strip() for c in cells if isinstance(c, str) and c.strip()]
    return bool(names) and (names[0].casefold() in AREA_NAMES or any(n in FIELDS for n in names))


def read_grid(grid: Grid, out: Collected, query: Block) -> bool:
    """Read the grid's table into `out`; False when the grid has none (no header row)."""
    records = iter(grid.records)
    block = Block()
    for line, cells in records:
        if is_header(cells):
            if block.problem is not None:
                raise block.problem
            start = next(i for i, c in enumerate(cells) if not is_empty(c))
            names = [cell_text(c, "period", False).strip() for c in cells]
            if names[start].casefold() in AREA_NAMES and not FIELDS.intersection(
                names[start + 1 :]
            ):
                wide = block.merged(query, grid.sheet, line, start)
                read_wide(grid, line, start, cells, records, wide, out)
            else:
                _no_block(grid, block, query, line, start)
                _read_long(grid, line, start, names, records, out)
            return True
        read_block_row(grid.sheet, line, cells, block)
    if block.fields:  # meant as a table: its header row is missing or misspelt
        place = next(iter(block.refs.values()))
        raise BodyError(
            "no_table",
            f"{place}: a header block with no table under it: expected a header row `area`, then"
            " one period per column (or a header row of field names)",
            cell=place,
        )
    return False


def _no_block(grid: Grid, block: Block, query: Block, line: int, start: int) -> None:
    if block.fields or query.fields:
        raise header_error(
            "not_wide",
            grid.sheet,
            start,
            line,
            "this table is in the long layout (a header row of"
            " field names); a header block (Indikator:, Kön:) and the query parameters indicator="
            " and gender= go with the wide layout (a header row `area`, then one period per column)",
        )


def _read_long(
    grid: Grid, line: int, start: int, names: list[str], records: Iterator[Record], out: Collected
) -> None:
    header = _header(grid.sheet, line, start, names)
    end = start + len(header)
    prefix = sheet_prefix(grid.sheet)
    columns: dict[str | None, str] = {None: column_letters(start)}
    columns |= {name: column_letters(i) for i, name in enumerate(header, start=start)}
    as_text = [name in NUMERIC or grid.sheet is not None for name in header]
    decimal_comma = grid.decimal_comma
    for number, cells in records:
        row: object = {
            name: cell_text(value, name, decimal_comma) if convert else value
            for name, value, convert in zip(header, cells[start:end], as_text, strict=False)
            if value != ""
        }
        stray = (start or len(cells) > end) and [
            i for i, c in enumerate(cells) if (i < start or i >= end) and not is_empty(c)
        ]
        if stray:
            used = max(stray[-1] + 1, end) - start
            message = f"the record has {used} cells but the header has {len(header)} columns"
            # The report points at the first cell outside the table, not the row's first.
            outside: dict[str | None, str] = {None: cell_ref(grid.sheet, stray[0], number)}
            out.add(
                Unreadable(None, ErrorCode.BAD_ROW, message),
                number,
                Place(prefix, columns, number, outside),
            )
        elif row:
            out.add(row, number, Place(prefix, columns, number))


def _header(sheet: str | None, line: int, start: int, names: list[str]) -> list[str]:
    while names and not names[-1]:
        names = names[:-1]
    header = names[start:]
    seen: set[str] = set()
    for column, name in enumerate(header, start=start):
        if name not in FIELDS:
            allowed = ", ".join(sorted(FIELDS))
            message = f"unknown field {name!r}; allowed: {allowed}"
            raise header_error("unknown_column", sheet, column, line, message)
        if name in seen:
            raise header_error("duplicate_column", sheet, column, line, f"{name!r} appears twice")
        seen.add(name)
    return header
