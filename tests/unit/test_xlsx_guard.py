"""An .xlsx that would make the reader use gigabytes is refused before the reader sees it."""

from __future__ import annotations

import io
import re
import struct
import zipfile

import openpyxl
import pytest

from services.ingest.errors import BodyError
from services.ingest.formats import BodyForm, parse_body
from services.ingest.sheet_extent import SheetExtent
from services.ingest.xlsx_guard import check_xlsx
from tests.workbooks import xlsx

FORM = BodyForm("xlsx", indicator="arbetsplatser-ytterstad")
TABLE = {"Blad1": [["area", 2024], ["kista", 5]]}


def with_part(body: bytes, name: str, data: bytes) -> bytes:
    """The workbook with one more (deflated) part."""
    out = io.BytesIO(body)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return out.getvalue()


def claimed_size(body: bytes, name: str, size: int) -> bytes:
    """The archive with the uncompressed size of part `name` replaced in both its headers."""
    patched = bytearray(body)
    encoded = name.encode()
    for signature, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        for found in re.finditer(re.escape(signature), body):
            start = found.start()
            if body[start + name_at : start + name_at + len(encoded)] == encoded:
                struct.pack_into("<L", patched, start + size_at, size)
    return bytes(patched)


def refused(body: bytes, max_body_bytes: int = 10**6) -> BodyError:
    with pytest.raises(BodyError) as caught:
        parse_body(body, FORM, 100, max_body_bytes)
    return caught.value


def test_a_small_workbook_passes() -> None:
    check_xlsx(xlsx(TABLE), 10**6, 10**4)
    assert len(parse_body(xlsx(TABLE), FORM, 100, 10**6).items) == 1


def test_a_zip_bomb_is_refused_after_reading_at_most_the_limit() -> None:
    bomb = with_part(xlsx(TABLE), "xl/media/image1.png", bytes(50 * 1024 * 1024))
    assert len(bomb) < 200_000
    error = refused(bomb)  # at most five times the body limit may be unpacked: 5 MB
    assert (error.status, error.code) == (413, "workbook_too_large")


def test_a_part_that_claims_to_be_small_is_measured_not_believed() -> None:
    bomb = with_part(xlsx(TABLE), "xl/media/image1.png", bytes(50 * 1024 * 1024))
    assert zipfile.ZipFile(io.BytesIO(bomb)).getinfo("xl/media/image1.png").file_size > 10**7
    lying = claimed_size(bomb, "xl/media/image1.png", 1000)
    assert zipfile.ZipFile(io.BytesIO(lying)).getinfo("xl/media/image1.png").file_size == 1000
    assert (refused(lying).status, refused(lying).code) == (413, "workbook_too_large")
    small = with_part(xlsx(TABLE), "xl/media/image1.png", bytes(5000))
    error = refused(claimed_size(small, "xl/media/image1.png", 1000))
    assert (error.status, error.code) == (400, "malformed_xlsx")
    assert "xl/media/image1.png" in error.message


def test_a_stray_cell_far_away_is_refused_naming_where_the_sheet_reaches() -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Blad1"
    sheet.append(["area", 2024])
    sheet["XFD1048576"] = 1  # the reader would build a 17-billion-cell sheet from this
    out = io.BytesIO()
    book.save(out)
    error = refused(out.getvalue())
    assert (error.status, error.code) == (413, "sheet_too_large")
    assert "row 1048576 and column XFD" in error.message


def patched_headers(body: bytes, signature: bytes, at: int, data: bytes) -> bytes:
    """The archive with `data` written `at` bytes into every header that starts with `signature`."""
    patched = bytearray(body)
    for found in re.finditer(re.escape(signature), body):
        patched[found.start() + at : found.start() + at + len(data)] = data
    return bytes(patched)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (patched_headers(xlsx(TABLE), b"PK\x01\x02", 6, struct.pack("<H", 100)), "zip"),
        (patched_headers(xlsx(TABLE), b"PK\x03\x04", 30, b"yl"), "and header"),
        (patched_headers(xlsx(TABLE), b"PK\x01\x02", 8, struct.pack("<H", 1 << 5)), "patched"),
    ],
    ids=["extract-version-10", "local-name-differs", "patched-data-flag"],
)
def test_a_damaged_archive_that_the_reader_might_open_is_refused_not_a_500(
    body: bytes, says: str
) -> None:
    error = refused(body)
    assert (error.status, error.code) == (400, "malformed_xlsx")
    assert says in error.message


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "not a zip archive"),
        (with_part(b"", "content.xml", b"<office:document-content/>"), "no xl/workbook.xml"),
    ],
    ids=["xls-or-password-protected", "ods"],
)
def test_what_is_not_an_xlsx_is_refused_saying_so(body: bytes, says: str) -> None:
    error = refused(body)
    assert (error.status, error.code) == (400, "malformed_xlsx")
    assert says in error.message


def test_a_sheet_is_measured_the_same_wherever_its_chunks_are_cut() -> None:
    xml = b'<sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="7"><c r="B7"><v>1</v></c><c><v>2</v></c></row></sheetData>'
    for cut in range(len(xml) + 1):
        extent = SheetExtent("xl/worksheets/sheet1.xml")
        extent.feed(xml[:cut])
        extent.feed(xml[cut:])
        extent.check(7 * 3)  # B7 and one unplaced cell after it: up to C7
        with pytest.raises(BodyError):
            extent.check(7 * 3 - 1)


def test_many_sheets_each_within_the_limit_are_refused_together() -> None:
    book = openpyxl.Workbook()
    book.active.append(["area", 2024])
    for number in range(3):  # each reaches T5, 5 × 20 cells: with A1:B1, 302 cells to build
        book.create_sheet(f"Blad{number}")["T5"] = 1
    out = io.BytesIO()
    book.save(out)
    check_xlsx(out.getvalue(), 10**6, 302)
    with pytest.raises(BodyError) as caught:
        check_xlsx(out.getvalue(), 10**6, 301)
    assert (caught.value.status, caught.value.code) == (413, "sheet_too_large")
    assert "in all" in caught.value.message


@pytest.mark.parametrize(
    "tag",
    [b'<c foo="a>b" r="Z3000" t="n">', b"<c r='Z3000' t=\"n\">", b'<c r = "Z3000" t="n">'],
    ids=["quoted-gt", "single-quotes", "spaces-around-equals"],
)
def test_a_far_cell_written_as_the_reader_reads_it_is_measured(tag: bytes) -> None:
    book = openpyxl.Workbook()
    book.active.append(["area", 2024])
    book.active.append(["kista", 5])
    out = io.BytesIO()
    book.save(out)
    source, body = zipfile.ZipFile(out), io.BytesIO()
    with zipfile.ZipFile(body, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            data = source.read(info.filename)
            archive.writestr(info, re.sub(rb'<c r="B2" t="n">', tag, data))
    with pytest.raises(BodyError) as caught:
        check_xlsx(body.getvalue(), 10**6, 10_000)  # the reader builds 3000 × 26 cells of it
    assert caught.value.code in ("sheet_too_large", "malformed_xlsx")


def test_a_cell_tag_that_never_ends_is_refused() -> None:
    extent = SheetExtent("xl/worksheets/sheet1.xml")
    with pytest.raises(BodyError) as caught:
        extent.feed(b"<sheetData>" + b"<c " * 1000 + b'r="A1">')
    assert caught.value.code == "malformed_xlsx"
