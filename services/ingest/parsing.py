"""Request bodies to rows: JSON `{"observations": [...]}` or CSV (long or wide, tables.py).

A body that cannot be read at all raises `BodyError` saying where (line and column); a CSV record
that cannot be read on its own becomes an `Unreadable` row so the rest of the batch still counts.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from services.ingest.cells import Place
from services.ingest.errors import BodyError
from services.ingest.tables import Collected, Grid, is_header, read_grid
from services.ingest.wide import Block

#: How many lines from the top the header row is looked for in, to choose the delimiter.
_HEADER_SEARCH = 50
_LINE_END = re.compile(r"\r\n?|\n")


@dataclass(frozen=True)
class Rows:
    """The rows of a body; for CSV also the line each row starts on (row n → lines[n - 1]).

    For CSV and workbooks `places[n - 1]` says which cell each field of row n came from (`C7`,
    `Blad1!C7`).
    """

    items: list[object]
    lines: list[int] | None = None
    places: list[Place] | None = None


def parse_json(body: bytes, max_rows: int) -> Rows:
    """Rows of a JSON body `{"observations": [...]}`."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        document = _unreadable_json(body, exc)
    if not isinstance(document, dict) or not isinstance(document.get("observations"), list):
        raise BodyError("invalid_body", 'the body must be an object {"observations": [ ... ]}')
    extra = sorted(set(document) - {"observations"})
    if extra:
        raise BodyError("invalid_body", f"unknown top-level field(s): {', '.join(extra)}")
    rows: list[object] = document["observations"]
    check_count(len(rows), max_rows)
    return Rows(rows)


def _unreadable_json(body: bytes, exc: orjson.JSONDecodeError) -> Any:
    """The document of a body orjson refused if only its UTF-8 byte order mark was in the way;
    else the BodyError: `bad_encoding` for a body that is not UTF-8 (UTF-16 with or without its
    mark: JSON has no NUL outside an escape), `malformed_json` saying where."""
    if _wide(body):
        raise BodyError(
            "bad_encoding",
            "line 1, column 1: the body is UTF-16 or UTF-32; send JSON as UTF-8",
            line=1,
            column=1,
        )
    text = decode(body)  # raises bad_encoding where the body stops being UTF-8
    if body.startswith(codecs.BOM_UTF8):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as inner:
            exc = inner
    raise BodyError(
        "malformed_json",
        f"line {exc.lineno}, column {exc.colno}: {exc.msg}",
        line=exc.lineno,
        column=exc.colno,
    ) from None


def _wide(body: bytes) -> bool:
    """UTF-16 or UTF-32, with its mark or without (text has no NUL byte in its first four)."""
    if body.startswith(codecs.BOM_UTF8):
        return False
    return body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in body[:4]


def check_count(count: int, max_rows: int) -> None:
    """Refuse an empty batch (400) and one over `max_rows` (413)."""
    if count == 0:
        raise BodyError("empty_batch", "the batch has no observations")
    if count > max_rows:
        raise BodyError(
            "too_many_rows", f"more than {max_rows} observations in one batch; split it", status=413
        )


def decode(body: bytes, encoding: str = "utf-8") -> str:
    """The text of a body in `encoding`; a UTF-8 byte order mark wins over the declared charset."""
    text = body
    if body.startswith(codecs.BOM_UTF8):
        text, encoding = body[len(codecs.BOM_UTF8) :], "utf-8"  # positions count after the mark
    elif _wide(body):
        raise BodyError(
            "bad_encoding",
            'line 1, column 1: the body is UTF-16 (Excel\'s "Unicode text") or UTF-32; save it'
            ' as "CSV UTF-8 (kommaavgränsad)" or "CSV (kommaavgränsad)"',
            line=1,
            column=1,
        )
    try:
        return text.decode(encoding)
    except UnicodeDecodeError as exc:
        line = text.count(b"\n", 0, exc.start) + 1
        column = exc.start - (text.rfind(b"\n", 0, exc.start) + 1) + 1
        name = "UTF-8" if encoding.startswith("utf-8") else "windows-1252"
        raise BodyError(
            "bad_encoding",
            f"line {line}, column {column}: the body is not {name} (byte 0x{text[exc.start]:02X})",
            line=line,
            column=column,
        ) from None


def parse_csv(
    body: bytes, max_rows: int, encoding: str = "utf-8", query: Block | None = None
) -> Rows:
    """Rows of a CSV body: a long table (header row of field names) or a wide one (tables.py).

    The delimiter is `,`, or `;` when the header row has semicolons and no commas;
    with `;` a decimal comma in `value`, `numerator` and `denominator` is read as a decimal point
    (Swedish Excel). Empty cells count as absent fields.
    """
    text = decode(body, encoding)
    delimiter = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    out = Collected(max_rows)
    grid = Grid(None, _records(reader), decimal_comma=delimiter == ";")
    if not read_grid(grid, out, query or Block()):
        raise BodyError(
            "malformed_csv",
            "line 1: expected a header row of field names, or `area` and periods (wide layout)",
            line=1,
        )
    check_count(len(out.items), max_rows)
    return Rows(out.items, out.lines, out.places)


def _delimiter(text: str) -> str:
    # The header row decides: titles and a header block above it may hold either character.
    # Any line end: a CSV saved on an old Mac ends its lines with CR alone.
    lines = _LINE_END.split(text, _HEADER_SEARCH)[:_HEADER_SEARCH]
    for line in lines:
        if "," not in line and is_header(line.split(";")):
            return ";"
        if is_header(line.split(",")):
            return ","
    first = next((line for line in lines if ";" in line or "," in line), "")
    return ";" if ";" in first and "," not in first else ","


def _records(reader: Any) -> Iterator[tuple[int, list[str]]]:
    start = 1
    try:
        for record in reader:
            yield start, record
            start = reader.line_num + 1
    except csv.Error as exc:
        raise BodyError(
            "malformed_csv", f"line {reader.line_num}: {exc}", line=reader.line_num
        ) from None


__all__ = ["BodyError", "Rows", "check_count", "decode", "parse_csv", "parse_json"]
