"""How far a worksheet's XML reaches (last row, last column), read in chunks as it is inflated.

The reader builds a sheet as a dense rectangle from A1 to its last cell; this measures that
rectangle from the cells' `r` references without holding the sheet. A cell or row without `r` is
placed after the one before: each such one counts as one more column or row, an upper bound.
"""

from __future__ import annotations

import re

from services.ingest.cells import column_letters
from services.ingest.errors import BodyError

#: A cell's or row's start tag up to the next `<` or `>`: linear however the tags are broken.
_CELL_TAG = re.compile(rb"<(?:\w+:)?c(?=[\s/>])([^<>]*)(>?)")
_ROW_TAG = re.compile(rb"<(?:\w+:)?row(?=[\s/>])([^<>]*)(>?)")
#: `r` as the reader reads it: either quote, spaces around `=`.
_CELL_REF = re.compile(rb"\br\s*=\s*([\"'])([A-Z]{1,3})([0-9]{1,7})\1")
_ROW_REF = re.compile(rb"\br\s*=\s*([\"'])([0-9]{1,7})\1")
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
        for attributes, end in _CELL_TAG.findall(text):
            ref = _CELL_REF.search(self._attributes(attributes, end))
            if ref is None:
                self.unplaced_cells += 1
            else:
                self.columns = max(self.columns, column_number(ref[2]))
                self.rows = max(self.rows, int(ref[3]))
        for attributes, end in _ROW_TAG.findall(text):
            ref = _ROW_REF.search(self._attributes(attributes, end))
            if ref is None:
                self.unplaced_rows += 1
            else:
                self.rows = max(self.rows, int(ref[2]))

    def _attributes(self, attributes: bytes, end: bytes) -> bytes:
        # A `<` or a quoted `>` in a cell's attributes: the reader would see other attributes.
        if not end or attributes.count(b'"') % 2 or attributes.count(b"'") % 2:
            raise BodyError(
                "malformed_xlsx",
                f"the workbook's part {self.part} has a cell or row tag with `<` or `>` in it",
            )
        return attributes

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
