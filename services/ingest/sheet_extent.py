"""How far a worksheet's XML reaches (last row, last column), read in chunks as it is inflated.

The reader builds a sheet as a dense rectangle from A1 to its last cell; this measures that
rectangle from the cells' `r` references without holding the sheet. A cell or row without `r` is
placed after the one before: each such one counts as one more column or row, an upper bound.
"""

from __future__ import annotations

import re

from services.ingest.cells import column_letters
from services.ingest.errors import BodyError

_CELL_REF = re.compile(rb"<(?:\w+:)?c\s[^>]*?\br=\"([A-Z]{1,3})([0-9]{1,7})\"")
_CELL = re.compile(rb"<(?:\w+:)?c[\s/>]")
_ROW_REF = re.compile(rb"<(?:\w+:)?row\s[^>]*?\br=\"([0-9]{1,7})\"")
_ROW = re.compile(rb"<(?:\w+:)?row[\s/>]")
#: The longest tag that may span two chunks; a longer one is not in any workbook.
MAX_TAG = 64 * 1024


class SheetExtent:
    """Fed a part's bytes in order; says how far the sheet in it (if any) reaches."""

    def __init__(self, part: str) -> None:
        self.part, self.tail = part, b""
        self.columns = self.rows = self.unplaced_cells = self.unplaced_rows = 0

    def feed(self, chunk: bytes) -> None:
        """Measure the complete tags of `chunk`; an unfinished last tag waits for the next one."""
        text = self.tail + chunk
        start = text.rfind(b"<")
        cut = len(text) if start < 0 or text.find(b">", start) >= 0 else start
        if len(text) - cut > MAX_TAG:
            raise BodyError(
                "malformed_xlsx", f"the workbook's part {self.part} has a tag over {MAX_TAG} bytes"
            )
        self.tail = text[cut:]
        self._scan(text[:cut])

    def _scan(self, text: bytes) -> None:
        refs = _CELL_REF.findall(text)
        self.unplaced_cells += len(_CELL.findall(text)) - len(refs)
        for letters, row in refs:
            self.columns = max(self.columns, column_number(letters))
            self.rows = max(self.rows, int(row))
        rows = _ROW_REF.findall(text)
        self.unplaced_rows += len(_ROW.findall(text)) - len(rows)
        self.rows = max(self.rows, *(int(row) for row in rows), 0)

    def check(self, max_cells: int, used: int = 0) -> int:
        """Refuse a sheet whose cells (rows × columns from A1) and `used` exceed `max_cells`.

        Returns the cells counted so far, this sheet's with `used` (the sheets measured before).
        """
        self._scan(self.tail)
        self.tail = b""
        rows = self.rows + self.unplaced_rows
        columns = self.columns + self.unplaced_cells
        used += rows * columns
        if used > max_cells:
            raise BodyError(
                "sheet_too_large",
                f"a sheet of the workbook ({self.part}) reaches row {rows} and column"
                f" {column_letters(max(columns - 1, 0))}: the sheets may span at most {max_cells}"
                " cells in all, each from A1 to its last row and column; delete the stray cells"
                " far from the tables, or split the workbook",
                status=413,
            )
        return used


def column_number(letters: bytes) -> int:
    """The 1-based number of a column's letters: A → 1, AA → 27."""
    number = 0
    for letter in letters:
        number = number * 26 + letter - ord("A") + 1
    return number
