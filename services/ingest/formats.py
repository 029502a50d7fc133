"""What a body is (JSON, CSV in a charset, .xlsx) and how to read it: the parsing dispatch.

The form is taken from `Content-Type` and the query (`indicator`, `gender` for a wide table;
`sheet` for a workbook) before the body is read, so an unsupported one is refused at once.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from services.ingest.errors import BodyError
from services.ingest.parsing import Rows, parse_csv, parse_json
from services.ingest.wide import Block
from services.ingest.workbook import parse_xlsx

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA = {"application/json": "json", "text/csv": "csv", XLSX: "xlsx"}
#: Charsets a CSV body may declare, by Python's codec name; ISO-8859-1 is read as windows-1252,
#: as browsers do (Excel's "CSV" on Windows is windows-1252, and ISO-8859-1 is its subset).
CHARSETS = {"utf-8": "utf-8", "ascii": "utf-8", "cp1252": "cp1252", "iso8859-1": "cp1252"}
#: An .xlsx may unpack to this many times the body limit (its XML compresses about tenfold).
UNPACKED_PER_BODY_BYTE = 5


@dataclass(frozen=True)
class BodyForm:
    """How to read a body: `json`, `csv` (in `encoding`) or `xlsx`, and the wide table's fields."""

    media: str = "json"
    encoding: str = "utf-8"
    indicator: str | None = None
    gender: str | None = None
    sheet: str | None = None

    @property
    def text(self) -> bool:
        """True when cells arrive as text (CSV, workbooks), as the rules need to know."""
        return self.media != "json"

    def fingerprint(self) -> bytes:
        """What, beside the body, makes two requests the same (for the Idempotency-Key).

        Empty for plain JSON and UTF-8 CSV, so keys recorded before other forms existed still match.
        """
        if self in (JSON, CSV):
            return b""
        return repr((self.media, self.encoding, self.indicator, self.gender, self.sheet)).encode()

    def query(self) -> Block:
        """The wide table's fields given in the query."""
        given = {"indicator": self.indicator, "gender": self.gender}
        return Block({name: value for name, value in given.items() if value is not None})


JSON = BodyForm()
CSV = BodyForm("csv")


def body_form(
    content_type: str,
    indicator: str | None = None,
    gender: str | None = None,
    sheet: str | None = None,
) -> BodyForm:
    """The form of a body from its Content-Type and query; 415 for a type or charset not read."""
    media, *parameters = (part.strip() for part in content_type.split(";"))
    kind = MEDIA.get(media.lower())
    if kind is None:
        raise BodyError(
            "unsupported_media_type",
            f"Content-Type must be application/json, text/csv or {XLSX}, not {media or 'absent'!r}",
            status=415,
        )
    charset = next(
        (
            value.strip().strip('"')
            for name, _, value in (p.partition("=") for p in parameters)
            if name.strip().lower() == "charset"
        ),
        None,
    )
    encoding = _encoding(charset, kind)
    if kind == "json" and (indicator or gender or sheet):
        raise BodyError(
            "invalid_request", "indicator=, gender= and sheet= go with CSV and .xlsx bodies"
        )
    if kind == "csv" and sheet is not None:
        raise BodyError("invalid_request", "sheet= goes with .xlsx bodies; a CSV has one table")
    return BodyForm(kind, encoding, indicator, gender, sheet)


def _encoding(charset: str | None, kind: str) -> str:
    if charset is None or kind == "xlsx":
        return "utf-8"
    try:
        encoding = CHARSETS.get(codecs.lookup(charset).name)
    except LookupError:
        encoding = None
    if encoding is None or (kind == "json" and encoding != "utf-8"):
        allowed = "utf-8" if kind == "json" else "utf-8, windows-1252 (cp1252) or iso-8859-1"
        raise BodyError(
            "unsupported_charset",
            f"charset={charset!r} is not read; a {kind.upper()} body is {allowed}",
            status=415,
        )
    return encoding


def parse_body(body: bytes, form: BodyForm, max_rows: int, max_body_bytes: int) -> Rows:
    """The rows of a body of the given form."""
    if form.media == "json":
        return parse_json(body, max_rows)
    if form.media == "csv":
        return parse_csv(body, max_rows, form.encoding, form.query())
    unpacked = UNPACKED_PER_BODY_BYTE * max_body_bytes
    return parse_xlsx(body, max_rows, unpacked, form.query(), form.sheet)
