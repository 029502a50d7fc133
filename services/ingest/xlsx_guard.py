"""Checks of an .xlsx archive before the reader opens it: a zip bomb or a huge sheet is refused.

The reader inflates every part and builds each sheet as a dense rectangle from A1 to its last
cell, so a small file can ask for gigabytes: one cell at XFD1048576 is enough. Every part is
inflated here first, a chunk at a time and at most `max_unpacked` bytes in all whatever the
archive's directory claims, and each sheet's extent is measured as it goes (`sheet_extent.py`).
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterator
from io import BytesIO

from services.ingest.errors import BodyError
from services.ingest.sheet_extent import SheetExtent

_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_CHUNK = 1 << 20


def check_xlsx(body: bytes, max_unpacked: int, max_cells: int) -> None:
    """Refuse an archive that unpacks to more than `max_unpacked` bytes or sheets over `max_cells`."""
    try:
        archive = zipfile.ZipFile(BytesIO(body))
    except (zipfile.BadZipFile, NotImplementedError):  # the latter: a zip version not read
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
    budget, cells = max_unpacked, 0
    for info in archive.infolist():
        if info.file_size > budget:
            raise _too_large(max_unpacked)
        # Every part, not only xl/worksheets/: the workbook's relations may place a sheet anywhere.
        extent, size, crc = SheetExtent(info.filename), 0, 0
        for chunk in _unpacked(body, info):
            size += len(chunk)
            if size > budget:
                raise _too_large(max_unpacked)
            crc = zlib.crc32(chunk, crc)
            extent.feed(chunk)
        if size != info.file_size or crc != info.CRC:
            raise _malformed(info, "its size or checksum differs from the archive's directory")
        try:  # its local header as zipfile reads it: name, flags, encryption (parts read later)
            archive.open(info).close()
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError) as exc:
            raise _malformed(info, f"it cannot be read ({exc})") from None
        # Counted over all sheets: the reader builds each, so many small ones cost as one big.
        cells = extent.check(max_cells, cells)
        budget -= size


def _too_large(max_unpacked: int) -> BodyError:
    return BodyError(
        "workbook_too_large",
        f"the workbook unpacks to more than {max_unpacked} bytes; split it into smaller files",
        status=413,
    )


def _unpacked(body: bytes, info: zipfile.ZipInfo) -> Iterator[bytes]:
    offset = info.header_offset
    header = body[offset : offset + _LOCAL_HEADER.size]
    if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise _malformed(info, "its local header is missing")
    name_length, extra_length = _LOCAL_HEADER.unpack(header)[-2:]
    start = offset + _LOCAL_HEADER.size + name_length + extra_length
    packed = memoryview(body)[start : start + info.compress_size]
    if info.compress_type == zipfile.ZIP_STORED:
        for at in range(0, len(packed), _CHUNK):
            yield bytes(packed[at : at + _CHUNK])
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        yield from _inflated(packed, info)
    else:
        raise _malformed(info, f"it is compressed with method {info.compress_type}, not deflate")


def _inflated(packed: memoryview, info: zipfile.ZipInfo) -> Iterator[bytes]:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    pending: bytes | memoryview = packed
    while not inflater.eof:
        try:
            chunk = inflater.decompress(pending, _CHUNK)
        except zlib.error as exc:
            raise _malformed(info, f"it cannot be inflated ({exc})") from None
        pending = inflater.unconsumed_tail
        if not chunk and not pending:
            raise _malformed(info, "its compressed data ends early")
        yield chunk


def _malformed(info: zipfile.ZipInfo, why: str) -> BodyError:
    return BodyError("malformed_xlsx", f"the workbook's part {info.filename} is damaged: {why}")
