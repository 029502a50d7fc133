"""Checks of an .xlsx archive before the reader opens it: a zip bomb or a huge sheet is refused.

The reader inflates every part and builds each sheet as a dense rectangle from A1 to its last
cell, so a small file can ask for gigabytes: one cell at XFD1048576 is enough. Every part is
inflated here first, at most `max_unpacked` bytes in all whatever the archive's directory claims,
and each sheet's extent is measured from its cell references.
"""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from io import BytesIO

from services.ingest.cells import column_letters
from services.ingest.errors import BodyError

_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_CELL_REF = re.compile(rb"<(?:\w+:)?c\s[^>]*?\br=\"([A-Z]{1,3})([0-9]{1,7})\"")
_CELL = re.compile(rb"<(?:\w+:)?c[\s/>]")
_ROW_REF = re.compile(rb"<(?:\w+:)?row\s[^>]*?\br=\"([0-9]{1,7})\"")
_ROW = re.compile(rb"<(?:\w+:)?row[\s/>]")


def check_xlsx(body: bytes, max_unpacked: int, max_cells: int) -> None:
    """Refuse an archive that unpacks to more than `max_unpacked` bytes or a sheet over `max_cells`."""
    try:
        archive = zipfile.ZipFile(BytesIO(body))
    except zipfile.BadZipFile:
        raise BodyError(
            "malformed_xlsx",
            "the body is not an .xlsx workbook (not a zip archive; a password-protected workbook"
            " is not one either: save it without a password)",
        ) from None
    names = set(archive.namelist())
    if "xl/workbook.xml" not in names or names & {"content.xml", "xl/workbook.bin"}:
        raise BodyError(
            "malformed_xlsx",
            "the body is not an .xlsx workbook (it has no xl/workbook.xml, or is an .ods or"
            " .xlsb): save it as Excel Workbook (.xlsx)",
        )
    budget = max_unpacked
    for info in archive.infolist():
        data = _inflate(body, info, budget, max_unpacked)
        budget -= len(data)
        # Every part, not only xl/worksheets/: the workbook's relations may place a sheet anywhere.
        _check_extent(info.filename, data, max_cells)


def _too_large(max_unpacked: int) -> BodyError:
    return BodyError(
        "workbook_too_large",
        f"the workbook unpacks to more than {max_unpacked} bytes; split it into smaller files",
        status=413,
    )


def _inflate(body: bytes, info: zipfile.ZipInfo, budget: int, max_unpacked: int) -> bytes:
    if info.file_size > budget:
        raise _too_large(max_unpacked)
    offset = info.header_offset
    header = body[offset : offset + _LOCAL_HEADER.size]
    if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise _malformed(info, "its local header is missing")
    name_length, extra_length = _LOCAL_HEADER.unpack(header)[-2:]
    start = offset + _LOCAL_HEADER.size + name_length + extra_length
    packed = body[start : start + info.compress_size]
    if info.compress_type == zipfile.ZIP_STORED:
        data = packed
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            data = inflater.decompress(packed, budget + 1)
        except zlib.error as exc:
            raise _malformed(info, f"it cannot be inflated ({exc})") from None
        if len(data) > budget:
            raise _too_large(max_unpacked)
        if not inflater.eof:
            raise _malformed(info, "its compressed data ends early")
    else:
        raise _malformed(info, f"it is compressed with method {info.compress_type}, not deflate")
    if len(data) != info.file_size or zlib.crc32(data) != info.CRC:
        raise _malformed(info, "its size or checksum differs from the archive's directory")
    return data


def _malformed(info: zipfile.ZipInfo, why: str) -> BodyError:
    return BodyError("malformed_xlsx", f"the workbook's part {info.filename} is damaged: {why}")


def _check_extent(part: str, data: bytes, max_cells: int) -> None:
    # A cell or row without `r` is placed after the one before: count each as one more column
    # or row, an upper bound of where it can land.
    refs = _CELL_REF.findall(data)
    unplaced = len(_CELL.findall(data)) - len(refs)
    columns = max((_column(letters) for letters, _ in refs), default=0) + unplaced
    rows = max((int(row) for _, row in refs), default=0)
    rows = max(rows, *(int(row) for row in _ROW_REF.findall(data)), len(_ROW.findall(data)))
    if rows * columns > max_cells:
        raise BodyError(
            "sheet_too_large",
            f"a sheet of the workbook ({part}) reaches row {rows} and column"
            f" {column_letters(max(columns - 1, 0))}: a sheet may span at most {max_cells} cells"
            " from A1 to its last row and column; delete the stray cells far from the table",
            status=413,
        )


def _column(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - ord("A") + 1
    return number
