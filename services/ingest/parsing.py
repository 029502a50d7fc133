"""Request bodies to rows: JSON `{"observations": [...]}` or CSV with a header row.

A body that cannot be read at all raises `BodyError` saying where (line and column); a CSV record
that cannot be read on its own becomes an `Unreadable` row so the rest of the batch still counts.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

import orjson

from shared.domain.validation import FIELDS, ErrorCode, Unreadable

_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")
_NUMERIC = ("value", "numerator", "denominator")


class BodyError(Exception):
    """A body the service cannot read: answered with `status` and a problem document."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int = 400,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.status, self.line, self.column = (
            code,
            message,
            status,
            line,
            column,
        )


@dataclass(frozen=True)
class Rows:
    """The rows of a body; for CSV also the line each row starts on (row n → lines[n - 1])."""

    items: list[object]
    lines: list[int] | None = None


def parse_json(body: bytes, max_rows: int) -> Rows:
    """Rows of a JSON body `{"observations": [...]}`."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(
            "malformed_json",
            f"line {exc.lineno}, column {exc.colno}: {exc.msg}",
            line=exc.lineno,
            column=exc.colno,
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("observations"), list):
        raise BodyError("invalid_body", 'the body must be an object {"observations": [ ... ]}')
    extra = sorted(set(document) - {"observations"})
    if extra:
        raise BodyError("invalid_body", f"unknown top-level field(s): {', '.join(extra)}")
    rows: list[object] = document["observations"]
    _check_count(len(rows), max_rows)
    return Rows(rows)


def _check_count(count: int, max_rows: int) -> None:
    if count == 0:
        raise BodyError("empty_batch", "the batch has no observations")
    if count > max_rows:
        raise BodyError(
            "too_many_rows", f"more than {max_rows} observations in one batch; split it", status=413
        )


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        column = exc.start - (body.rfind(b"\n", 0, exc.start) + 1) + 1
        raise BodyError(
            "bad_encoding",
            f"line {line}, column {column}: the body is not UTF-8",
            line=line,
            column=column,
        ) from None


def parse_csv(body: bytes, max_rows: int) -> Rows:
    """Rows of a CSV body: a header row of field names, then one observation per record.

    The delimiter is `,`, or `;` when the header has semicolons and no commas; with `;` a decimal
    comma in `value`, `numerator` and `denominator` is read as a decimal point (Swedish Excel).
    Empty cells count as absent fields.
    """
    text = _decode(body)
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if ";" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [name.strip() for name in next(reader, [])]
        _check_header(header)
        rows: list[object] = []
        lines: list[int] = []
        start = reader.line_num + 1
        for record in reader:
            if record:
                rows.append(_row(header, record, delimiter))
                lines.append(start)
                if len(rows) > max_rows:
                    break
            start = reader.line_num + 1
    except csv.Error as exc:
        raise BodyError(
            "malformed_csv", f"line {reader.line_num}: {exc}", line=reader.line_num
        ) from None
    _check_count(len(rows), max_rows)
    return Rows(rows, lines)


def _check_header(header: list[str]) -> None:
    if not any(header):
        raise BodyError("malformed_csv", "line 1: expected a header row of field names", line=1)
    seen: set[str] = set()
    for column, name in enumerate(header, start=1):
        if name not in FIELDS:
            raise BodyError(
                "unknown_column",
                f"line 1, column {column}: unknown field {name!r}; allowed:"
                f" {', '.join(sorted(FIELDS))}",
                line=1,
                column=column,
            )
        if name in seen:
            raise BodyError(
                "duplicate_column",
                f"line 1, column {column}: {name!r} appears twice",
                line=1,
                column=column,
            )
        seen.add(name)


def _row(header: list[str], record: list[str], delimiter: str) -> object:
    if len(record) > len(header):
        return Unreadable(
            None,
            ErrorCode.BAD_ROW,
            f"the record has {len(record)} cells but the header has {len(header)} columns",
        )
    row = {name: cell for name, cell in zip(header, record, strict=False) if cell != ""}
    if delimiter == ";":
        for name in _NUMERIC:
            cell = row.get(name)
            if cell is not None and _DECIMAL_COMMA.fullmatch(cell.strip()):
                row[name] = cell.replace(",", ".")
    return row
