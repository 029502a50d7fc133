"""The wide layout: a header block (`Indikator: <id>`, `Kön: T`), then `area` and one period per
column, one area per record; each non-empty (area, period) is one observation.

A period column may carry a part after the period (`2024 täljare`, `2024 nämnare`, `2024 värde`),
so a ratio's parts sit beside its value; a plain period is the value.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from services.ingest.cells import (
    Place,
    cell_ref,
    cell_text,
    column_letters,
    header_error,
    is_empty,
    sheet_prefix,
)
from services.ingest.errors import BodyError
from shared.domain.validation import ErrorCode, Unreadable

if TYPE_CHECKING:
    from services.ingest.tables import Collected, Grid, Record

AREA_NAMES = frozenset({"area", "område"})
#: The keys of a header block row (case does not matter) and the field each sets.
KEYS = {
    "indikator": "indicator",
    "indicator": "indicator",
    "kön": "gender",
    "gender": "gender",
    "status": "status",
    "uppdaterad": "updated_at",
    "updated_at": "updated_at",
    "kommentar": "comment",
    "comment": "comment",
}
PARTS = {
    "värde": "value",
    "value": "value",
    "täljare": "numerator",
    "numerator": "numerator",
    "nämnare": "denominator",
    "denominator": "denominator",
}
_FOLD = str.maketrans("åäö", "aao")
_FOLDED_KEYS = {key.translate(_FOLD): key for key in KEYS}
_KEY_VALUE = re.compile(r"\s*([^:]+?)\s*:\s*(.*)", re.DOTALL)
_PART = re.compile(r"(.+?)\s+\(?(" + "|".join(PARTS) + r")\)?", re.IGNORECASE)


@dataclass
class Block:
    """Fields set for a whole wide table, and the cell each came from (none: the query)."""

    fields: dict[str, str] = field(default_factory=dict)
    refs: dict[str | None, str] = field(default_factory=dict)
    #: A bad `Key: value` row: refused if a table follows; a sheet of notes is merely skipped.
    problem: BodyError | None = None

    def merged(self, query: Block, sheet: str | None, line: int, column: int) -> Block:
        """This block with the query's fields; a conflict or no indicator is refused."""
        for name, value in query.fields.items():
            if self.fields.get(name, value) != value:
                raise BodyError(
                    "conflicting_header",
                    f"{self.refs[name]}: the header block says {name} {self.fields[name]!r} but"
                    f" the query says {value!r}",
                    cell=self.refs[name],
                )
        fields = query.fields | self.fields
        if "indicator" not in fields:
            raise header_error(
                "missing_indicator",
                sheet,
                column,
                line,
                "a wide table needs its indicator: a row"
                " `Indikator: <id>` above the table, or the query parameter indicator=",
            )
        return Block(fields, dict(self.refs))


def read_block_row(sheet: str | None, line: int, cells: Sequence[object], block: Block) -> None:
    """Add a `Key: value` row above a table to `block`; a row without `:` is a title, skipped.

    Another key is a note, skipped — unless it looks like a misspelt key (`Kon:`, `Indikatr:`):
    that, or a repeated key, is kept as the block's `problem`, raised if a table follows.
    """
    used = [(i, c) for i, c in enumerate(cells) if not is_empty(c)]
    if not used or not isinstance(used[0][1], str):
        return
    column, text = used[0][0], str(used[0][1])
    match = _KEY_VALUE.fullmatch(text)
    if match is None:
        return
    place = cell_ref(sheet, column, line)
    name = KEYS.get(match[1].casefold())
    if name is None and (meant := _misspelt(match[1])) is None:
        return  # a note such as `Källa: SCB`
    if name is None or name in block.fields:
        why = "appears twice" if name else f"is not a header key: did you mean {meant!r}?"
        block.problem = block.problem or header_error(
            "bad_header_block",
            sheet,
            column,
            line,
            f"{match[1]!r} {why} (the keys above a table are {', '.join(KEYS)})",
        )
        return
    if match[2].strip():
        block.fields[name], block.refs[name] = match[2].strip(), place
    elif len(used) > 1:
        at, value = used[1]
        block.fields[name] = cell_text(value, name, True).strip()
        block.refs[name] = cell_ref(sheet, at, line)


def _misspelt(key: str) -> str | None:
    folded = key.casefold().translate(_FOLD)
    close = difflib.get_close_matches(folded, _FOLDED_KEYS, n=1, cutoff=0.75)
    return _FOLDED_KEYS[close[0]] if close else None


def read_wide(
    grid: Grid,
    line: int,
    start: int,
    header: Sequence[object],
    records: Iterator[Record],
    block: Block,
    out: Collected,
) -> None:
    """Read a wide table whose header row (`area`, periods…) is `header` on `line`."""
    columns = _columns(grid.sheet, line, start, header)
    prefix, area_letters = sheet_prefix(grid.sheet), column_letters(start)
    letters = {column: column_letters(column) for column in columns}
    fixed: dict[str, dict[str | None, str]] = {}
    for column, (period, _) in columns.items():
        fixed.setdefault(period, block.refs | {"period": cell_ref(grid.sheet, column, line)})
    table = {start, *columns}
    for number, cells in records:
        # A cell under no period (`71,3` unquoted in a `,` CSV is two) would shift what is read.
        stray = next((i for i, c in enumerate(cells) if i not in table and not is_empty(c)), None)
        if stray is not None:
            message = "the record has a cell outside the table (no period above it)"
            outside: dict[str | None, str] = {None: cell_ref(grid.sheet, stray, number)}
            bad = Unreadable(None, ErrorCode.BAD_ROW, message)
            out.add(bad, number, Place(prefix, {None: area_letters}, number, outside))
            continue
        area = cells[start] if start < len(cells) else None
        found: dict[str, dict[str, int]] = {}
        for column, (period, part) in columns.items():
            if column < len(cells) and not is_empty(cells[column]):
                found.setdefault(period, {})[part] = column
        for period, parts in found.items():
            row: dict[str, str] = block.fields | {"period": period}
            if not is_empty(area):
                row["area"] = cell_text(area, "area", False).strip()
            at: dict[str | None, str] = {"area": area_letters}
            for part, column in parts.items():
                row[part] = cell_text(cells[column], part, grid.decimal_comma)
                at[part] = letters[column]
            at[None] = letters[parts.get("value", min(parts.values()))]
            out.add(row, number, Place(prefix, at, number, fixed[period]))


def _columns(
    sheet: str | None, line: int, start: int, header: Sequence[object]
) -> dict[int, tuple[str, str]]:
    columns: dict[int, tuple[str, str]] = {}
    seen: set[tuple[str, str]] = set()
    for column in range(start + 1, len(header)):
        if is_empty(header[column]):
            continue
        text = cell_text(header[column], "period", False).strip()
        match = _PART.fullmatch(text)
        key = (match[1], PARTS[match[2].casefold()]) if match else (text, "value")
        if key in seen:
            raise header_error(
                "duplicate_column",
                sheet,
                column,
                line,
                f"the {key[1]} of period {key[0]!r} appears twice",
            )
        seen.add(key)
        columns[column] = key
    if not columns:
        raise header_error(
            "no_periods",
            sheet,
            start,
            line,
            "a wide table's header row is `area`, then one period"
            " per column (2023, 2024-T1, …); this one has no period",
        )
    return columns
