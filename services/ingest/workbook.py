"""An .xlsx body to rows: every sheet with a table (or the one named by `sheet=`), via calamine.

Sheets are read in workbook order; a sheet without a header row (notes, charts) is skipped. The
archive is checked first (`xlsx_guard.py`): the reader would build any sheet it is given in full.
"""

from __future__ import annotations

from io import BytesIO

from python_calamine import CalamineError, CalamineWorkbook

from services.ingest.error_cells import error_cells
from services.ingest.errors import BodyError
from services.ingest.parsing import Rows, check_count
from services.ingest.tables import Collected, Grid, read_grid
from services.ingest.wide import Block
from services.ingest.xlsx_guard import check_xlsx

#: Most columns a sheet may span per row allowed in a batch, so the dense sheet stays small.
COLUMNS_PER_ROW = 64


def parse_xlsx(
    body: bytes, max_rows: int, max_unpacked: int, query: Block, sheet: str | None = None
) -> Rows:
    """Rows of the tables of a workbook; errors name the sheet and cell (`Blad1!C7`)."""
    check_xlsx(body, max_unpacked, COLUMNS_PER_ROW * (max_rows + 100))
    try:
        book = CalamineWorkbook.from_filelike(BytesIO(body))
    except CalamineError as exc:
        raise BodyError("malformed_xlsx", f"the workbook cannot be read: {exc}") from None
    names = book.sheet_names
    if sheet is not None and sheet not in names:
        raise BodyError(
            "unknown_sheet", f"sheet={sheet!r}: the workbook has no such sheet; it has {names}"
        )
    errors = error_cells(body)
    out = Collected(max_rows)
    read = []
    for name in [sheet] if sheet is not None else names:
        try:
            cells = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        except CalamineError as exc:
            raise BodyError("malformed_xlsx", f"sheet {name!r} cannot be read: {exc}") from None
        for (row, column), error in errors.get(name, {}).items():
            if row < len(cells) and column < len(cells[row]):
                cells[row][column] = error
        if read_grid(Grid(name, enumerate(cells, start=1), decimal_comma=True), out, query):
            read.append(name)
    if not read:
        which = f"sheet {sheet!r} has" if sheet is not None else f"no sheet of {names} has"
        raise BodyError(
            "no_table",
            f"{which} a table: a header row of field names (long layout), or `area` and then"
            " one period per column (wide layout)",
        )
    check_count(len(out.items), max_rows)
    return Rows(out.items, None, out.places)
