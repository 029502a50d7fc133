"""The error of a body the ingest service cannot read at all, saying where."""

from __future__ import annotations


class BodyError(Exception):
    """A body the service cannot read: answered with `status` and a problem document.

    `line`/`column` locate it in a text body (for a sheet: its row and column); `cell` names the
    sheet and cell (`Blad1!C7`) or, in CSV, the column letter and line (`C7`).
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int = 400,
        line: int | None = None,
        column: int | None = None,
        cell: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status
        self.line, self.column, self.cell = line, column, cell
