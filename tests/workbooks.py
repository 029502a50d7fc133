"""Workbooks for tests: written with openpyxl, or made by a real office suite (LibreOffice)."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

import openpyxl
import pytest

#: LibreOffice's CSV import: `;` between fields, `"` quotes, UTF-8, from line 1, Swedish (1053).
SWEDISH_CSV = "CSV:59,34,76,1,,1053"


def xlsx(sheets: dict[str, list[list[Any]]]) -> bytes:
    """An .xlsx with one sheet per entry, its rows from A1 (None: an empty cell)."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def office_xlsx(csv_text: str, sheet: str, folder: Path) -> bytes:
    """The .xlsx LibreOffice Calc makes of a Swedish `;` CSV; its one sheet is named `sheet`."""
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed: scripts/setup.sh installs it")
    source = folder / f"{sheet}.csv"
    source.write_text(csv_text, encoding="utf-8")
    command = [
        soffice,
        f"-env:UserInstallation={(folder / 'profile').as_uri()}",
        "--headless",
        f"--infilter={SWEDISH_CSV}",
        "--convert-to",
        "xlsx",
        "--outdir",
        str(folder / "out"),
        str(source),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    made = folder / "out" / f"{sheet}.xlsx"
    assert done.returncode == 0, f"soffice failed: {done.stdout}{done.stderr}"
    assert made.exists(), f"soffice made no {made.name}: {done.stdout}{done.stderr}"
    return made.read_bytes()
