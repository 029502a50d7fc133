"""The cells of a workbook's sheets that hold a formula's error (`#DIV/0!`, `#N/A`), by sheet name.

The reader gives such a cell as an empty one, which in the wide layout means "no observation":
an error would vanish without a word. Read here from the sheets' XML, they are put back as text,
so the rules refuse them at their cell like any other cell that is not a number.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from io import BytesIO
from xml.etree import ElementTree

from services.ingest.errors import BodyError
from services.ingest.sheet_extent import column_number

#: A cell's content stops at the next cell tag, so an unclosed one costs no scan to the end.
_ERROR_CELL = re.compile(
    rb"<(?:\w+:)?c\s([^>]*?\bt=\"e\"[^>/]*)>((?:(?!</?(?:\w+:)?c[\s/>]).)*)</(?:\w+:)?c>", re.DOTALL
)
_REF = re.compile(rb"\br=\"([A-Z]{1,3})([0-9]{1,7})\"")
_VALUE = re.compile(rb"<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>")

Cells = dict[tuple[int, int], str]


def error_cells(body: bytes) -> dict[str, Cells]:
    """The error cells of each sheet that has any: (0-based row, column) → the error's text."""
    archive = zipfile.ZipFile(BytesIO(body))
    found: dict[str, Cells] = {}
    for name, part in _sheet_parts(archive).items():
        try:
            xml = archive.read(part)
        except KeyError:
            continue  # the reader says what is wrong with a sheet that is not there
        if b't="e"' in xml:
            found[name] = _errors(xml)
    return found


def _sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    # Names and parts by local name: transitional and strict OOXML differ in their namespaces.
    try:
        book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        relations = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except KeyError:
        return {}
    except ElementTree.ParseError as exc:
        raise BodyError("malformed_xlsx", f"the workbook cannot be read: {exc}") from None
    targets = {
        r.get("Id"): r.get("Target", "") for r in relations.iter() if r.tag.endswith("Relationship")
    }
    parts: dict[str, str] = {}
    for sheet in book.iter():
        if not sheet.tag.endswith("}sheet"):
            continue
        rid = next((v for k, v in sheet.attrib.items() if k.endswith("}id")), None)
        target = targets.get(rid, "")
        if target:
            path = target[1:] if target.startswith("/") else posixpath.join("xl", target)
            parts[sheet.get("name", "")] = posixpath.normpath(path)
    return parts


def _errors(xml: bytes) -> Cells:
    cells: Cells = {}
    for attributes, content in _ERROR_CELL.findall(xml):
        ref = _REF.search(attributes)
        if ref is None:
            continue
        value = _VALUE.search(content)
        text = value[1].decode(errors="replace") if value else "#error"
        cells[(int(ref[2]) - 1, column_number(ref[1]) - 1)] = text
    return cells
