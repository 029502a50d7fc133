"""Files from the förvaltningar: .xlsx and Swedish CSV, long and wide, errors naming their cell."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, datetime
from typing import Any

import pytest

from services.ingest.errors import BodyError
from services.ingest.formats import BodyForm, body_form, parse_body
from services.ingest.outcomes import KeyReused, Replayed
from tests.factories import LABOUR, SCHOOL, SHARE
from tests.fakes import IngestRig
from tests.workbooks import xlsx

LONG_HEADER = ["indicator", "area", "period", "gender", "value", "numerator", "denominator"]
XLSX = BodyForm("xlsx")


@pytest.fixture
def rig() -> IngestRig:
    return IngestRig()


def report(rig: IngestRig, body: bytes, form: BodyForm, source: str = SCHOOL) -> Any:
    return rig.judged(body, form=form, source=source)


def located(got: Any) -> list[tuple[int, str | None, str, str]]:
    return [(e["row"], e["field"], e["code"], e["cell"]) for e in got.errors]


def test_a_long_workbook_is_read_with_typed_cells_and_errors_name_sheet_and_cell(
    rig: IngestRig,
) -> None:
    body = xlsx(
        {
            "Blad1": [
                [*LONG_HEADER, "updated_at"],
                [SHARE, "rinkeby", 2024, "T", 71.33, 214, 300, datetime(2025, 2, 1, 9, 0)],
                [SHARE, "kista", 2024, "K", "80,0", 120, 150, None],
                [SHARE, "kista", 2024, "M", 80, 120, "noll", None],
                [SHARE, "kista", 2023, "M", 80, 120, 150, None, "anm."],
            ]
        }
    )
    got = report(rig, body, XLSX)
    assert (got.accepted, got.rejected) == (2, 2)
    assert located(got) == [
        (3, "denominator", "bad_number", "Blad1!G4"),
        (4, None, "bad_row", "Blad1!I5"),
    ]
    first, second = rig.events()
    assert (first["period"], first["value"], first["numerator"]) == ("2024", 71.33, 214)
    # Excel's times carry no offset: they are Stockholm's (CET in February).
    assert first["updated_at"] == "2025-02-01T08:00:00Z"
    assert second["value"] == 80.0


def test_a_wide_workbook_takes_indicator_and_gender_from_its_header_block(rig: IngestRig) -> None:
    body = xlsx(
        {
            "Blad1": [
                ["Arbetsplatser i ytterstaden"],
                ["Indikator:", "arbetsplatser-ytterstad"],
                ["Kön: T"],
                [],
                ["area", 2022, 2023, "2024"],
                ["rinkeby-kista", 5000, 5120.0, "n/a"],
                ["stockholm", "\u22123", 9000, "9\u00a0100,5"],  # as Swedish Excel shows them
                ["atlantis", 1, None, None],
            ]
        }
    )
    got = report(rig, body, XLSX, source=LABOUR)
    assert got.received == 7
    assert located(got) == [
        (3, "value", "bad_number", "Blad1!D6"),
        (4, "value", "negative_count", "Blad1!B7"),
        (7, "area", "unknown_area", "Blad1!A8"),
    ]
    assert [(e["area"], e["period"], e["value"]) for e in rig.events()] == [
        ("rinkeby-kista", "2022", 5000.0),
        ("rinkeby-kista", "2023", 5120.0),
        ("stockholm", "2023", 9000.0),
        ("stockholm", "2024", 9100.5),
    ]


def test_a_wide_ratio_has_its_parts_beside_the_value_and_the_period_error_names_the_header(
    rig: IngestRig,
) -> None:
    body = xlsx(
        {
            "Skolor": [
                ["Indikator:", SHARE],
                ["area", "2023 täljare", "2023 nämnare", "2023", "2024-Q9 täljare"],
                ["rinkeby", 214, 300, "71,33", 5],
                ["kista", 120, 150, None, None],
            ]
        }
    )
    got = report(rig, body, XLSX)
    assert located(got) == [
        (2, "period", "bad_period", "Skolor!E2"),
        (2, "denominator", "missing_denominator", "Skolor!E3"),
    ]
    assert [(e["area"], e["numerator"], e["denominator"]) for e in rig.events()] == [
        ("rinkeby", 214, 300),
        ("kista", 120, 150),
    ]
    assert rig.events()[1]["value"] == pytest.approx(80.0)


def test_every_sheet_with_a_table_is_read_and_sheet_picks_one(rig: IngestRig) -> None:
    sheets = {
        "Om filen": [["Skickas varje tertial"], ["Kontakt: namn@stockholm.se"]],
        "Blad1": [LONG_HEADER, [SHARE, "rinkeby", "2024", "T", 71.33, 214, 300]],
        "Mitt blad": [["Indikator:", SHARE], ["område", "2023"], ["kista", 80]],
    }
    got = report(rig, xlsx(sheets), XLSX)
    assert located(got) == [
        (2, "numerator", "missing_numerator", "'Mitt blad'!B3"),
        (2, "denominator", "missing_denominator", "'Mitt blad'!B3"),
    ]
    one = report(rig, xlsx(sheets), BodyForm("xlsx", sheet="Blad1"))
    assert (one.received, one.accepted) == (1, 1)
    with pytest.raises(BodyError) as caught:
        parse_body(xlsx(sheets), BodyForm("xlsx", sheet="Blad2"), 10, 10**6)
    assert caught.value.code == "unknown_sheet"
    assert "'Blad1'" in caught.value.message
    with pytest.raises(BodyError) as caught:
        parse_body(xlsx(sheets), BodyForm("xlsx", sheet="Om filen"), 10, 10**6)
    assert caught.value.code == "no_table"


def test_the_query_gives_a_wide_table_its_indicator_and_must_agree_with_the_block() -> None:
    table = [["area", 2024], ["rinkeby-kista", 5000]]
    noted = [["Källa: SCB, bearbetad av stadsledningskontoret"], *table]  # a note, not a key
    rows = parse_body(
        xlsx({"Blad1": noted}), BodyForm("xlsx", indicator="arbetsplatser-ytterstad"), 10, 10**6
    )
    assert rows.items == [
        {
            "indicator": "arbetsplatser-ytterstad",
            "area": "rinkeby-kista",
            "period": "2024",
            "value": "5000",
        }
    ]
    assert rows.places is not None
    assert rows.places[0].cell(None) == "Blad1!B3"
    cases = [
        ({"Blad1": table}, BodyForm("xlsx"), "missing_indicator", "Blad1!A1"),
        (
            {"Blad1": [["Kön:", "K"], *table]},
            BodyForm("xlsx", indicator="x", gender="M"),
            "conflicting_header",
            "Blad1!B1",
        ),
        (
            {"Blad1": [["Kon:", "K"], *table]},
            BodyForm("xlsx", indicator="x"),
            "bad_header_block",
            "Blad1!A1",
        ),
        ({"Blad1": [["Indikatr: x"], *table]}, XLSX, "bad_header_block", "Blad1!A1"),
        ({"Blad1": [["Kön: K"], ["Kön: M"], *table]}, XLSX, "bad_header_block", "Blad1!A2"),
        ({"Blad1": [["Indikator:", "x"], LONG_HEADER]}, XLSX, "not_wide", "Blad1!A2"),
        (
            {"Blad1": [["area", "2024", 2024]]},
            BodyForm("xlsx", indicator="x"),
            "duplicate_column",
            "Blad1!C1",
        ),
        ({"Blad1": [["indicator", "area", "perod"]]}, XLSX, "unknown_column", "Blad1!C1"),
        ({"Blad1": [["Indikator:", "x"], ["omrde", 2024]]}, XLSX, "no_table", "Blad1!B1"),
    ]
    for sheets, form, code, cell in cases:
        with pytest.raises(BodyError) as caught:
            parse_body(xlsx(sheets), form, 10, 10**6)
        assert (caught.value.code, caught.value.cell) == (code, cell), caught.value.message


def test_excel_dates_become_months_and_times_in_stockholm() -> None:
    body = xlsx(
        {
            "Blad1": [
                ["Indikator:", "inskrivna-arbetssokande"],
                ["Uppdaterad:", datetime(2024, 7, 1, 12, 30)],
                ["area", date(2024, 3, 1), date(2024, 3, 15)],
                ["kista", 10, 11],
            ]
        }
    )
    first, second = parse_body(body, XLSX, 10, 10**6).items
    assert isinstance(first, dict)
    assert isinstance(second, dict)
    assert (first["period"], first["updated_at"]) == ("2024-03", "2024-07-01T12:30:00+02:00")
    assert second["period"] == "2024-03-15"  # not a month: the rules say so, at the header cell


def test_a_cp1252_csv_with_a_bom_or_without_keeps_its_swedish_letters(rig: IngestRig) -> None:
    text = (
        "indicator;area;period;gender;value;numerator;denominator;comment\r\n"
        f"{SHARE};rinkeby;2024;T;71,33;214;300;Källa: Skolverket, båda kön, för år 9\r\n"
        f"{SHARE};kista;2024;K;80;120;abc;Ökning\r\n"
    )
    form = body_form("text/csv; charset=Windows-1252")
    got = report(rig, text.encode("cp1252"), form)
    assert located(got) == [
        (2, "denominator", "bad_number", "G3"),
    ]
    assert {(e["row"], e["line"]) for e in got.errors} == {(2, 3)}
    assert rig.events()[0]["comment"] == "Källa: Skolverket, båda kön, för år 9"
    # A byte order mark says UTF-8, whatever the header declared.
    first = parse_body(b"\xef\xbb\xbf" + text.encode(), form, 10, 10**6).items[0]
    assert isinstance(first, dict)
    assert (first["comment"], first["value"]) == ("Källa: Skolverket, båda kön, för år 9", "71.33")
    with pytest.raises(BodyError) as caught:
        parse_body(text.encode("cp1252"), body_form("text/csv"), 10, 10**6)
    assert (caught.value.code, caught.value.line) == ("bad_encoding", 2)
    with pytest.raises(BodyError) as caught:
        parse_body(text.encode("utf-16"), body_form("text/csv"), 10, 10**6)
    assert caught.value.code == "bad_encoding"
    assert "UTF-16" in caught.value.message


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b"\xef\xbb\xbfindicator,area\nx,\xe5\n", (2, 3)),  # after a BOM: counted after it
        (b"indicator,area\nx,\xe5\n", (2, 3)),
        ("indicator,area\n".encode("utf-16-le"), (1, 1)),  # UTF-16 without its mark
        ("indicator,area\n".encode("utf-32-be"), (1, 1)),
    ],
)
def test_a_csv_not_in_its_encoding_says_where(body: bytes, where: tuple[int, int]) -> None:
    with pytest.raises(BodyError) as caught:
        parse_body(body, body_form("text/csv"), 10, 10**6)
    assert caught.value.code == "bad_encoding"
    assert (caught.value.line, caught.value.column) == where
    if where != (1, 1):
        assert "0xE5" in caught.value.message


def test_a_wide_csv_reads_its_title_and_header_block_and_names_cells() -> None:
    text = (
        "Arbetsplatser i ytterstaden, 2023 och 2024\r\n"  # a comma: the header row decides `;`
        "Indikator: arbetsplatser-ytterstad\r\nKön:;T\r\narea;2023;2024\r\nkista;5;7,5\r\n"
    )
    rows = parse_body(text.encode(), body_form("text/csv"), 10, 10**6)
    assert rows.items == [
        {
            "indicator": "arbetsplatser-ytterstad",
            "gender": "T",
            "period": p,
            "area": "kista",
            "value": v,
        }
        for p, v in (("2023", "5"), ("2024", "7.5"))
    ]
    assert rows.places is not None
    fields = ("indicator", "gender", "period", "area", "value", "numerator", None)
    assert [rows.places[1].cell(name) for name in fields] == [
        "A2",
        "B3",
        "C4",
        "A5",
        "C5",
        "C5",
        "C5",
    ]
    assert rows.lines == [5, 5]


@pytest.mark.parametrize(
    ("content_type", "status", "code", "encoding"),
    [
        ("text/csv; charset=cp1252", None, None, "cp1252"),
        ('text/csv; charset="ISO-8859-1"', None, None, "cp1252"),
        ("text/csv; charset=latin1", None, None, "cp1252"),
        ("text/csv;charset=UTF-8", None, None, "utf-8"),
        ("text/csv; charset=utf-16", 415, "unsupported_charset", None),
        ("text/csv; charset=klingon", 415, "unsupported_charset", None),
        ("application/json; charset=cp1252", 415, "unsupported_charset", None),
        ("application/vnd.ms-excel", 415, "unsupported_media_type", None),
    ],
)
def test_charsets_and_media_types(
    content_type: str, status: int | None, code: str | None, encoding: str | None
) -> None:
    if status is None:
        assert body_form(content_type).encoding == encoding
        return
    with pytest.raises(BodyError) as caught:
        body_form(content_type)
    assert (caught.value.status, caught.value.code) == (status, code)


def test_more_rows_than_the_limit_is_413_without_reading_on() -> None:
    table = [["area", *range(2000, 2020)], *([["kista", *range(20)]] * 10)]
    with pytest.raises(BodyError) as caught:
        parse_body(xlsx({"Blad1": table}), BodyForm("xlsx", indicator="x"), 50, 10**6)
    assert (caught.value.status, caught.value.code) == (413, "too_many_rows")


def test_an_idempotency_key_is_bound_to_the_wide_fields_of_the_query(rig: IngestRig) -> None:
    body = b"area;2024\r\nrinkeby-kista;5000\r\n"
    first = BodyForm("csv", indicator="arbetsplatser-ytterstad")
    assert report(rig, body, first, source=LABOUR).accepted == 1
    rig.judged(body, form=first, source=LABOUR, key="tertial-1")
    again = rig.send(body, form=first, source=LABOUR, key="tertial-1")
    assert isinstance(again, Replayed)
    other = BodyForm("csv", indicator="inskrivna-arbetssokande")
    assert isinstance(rig.send(body, form=other, source=LABOUR, key="tertial-1"), KeyReused)


def with_error_cells(body: bytes, errors: dict[str, str]) -> bytes:
    """The workbook with cells of its first sheet replaced by cached formula errors (`#N/A`)."""
    source, out = zipfile.ZipFile(io.BytesIO(body)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                for ref, error in errors.items():
                    cell = f'<c t="e" r="{ref}"><f>1/0</f><v>{error}</v></c>'.encode()
                    data = re.sub(rf'<c r="{ref}"[^>]*>.*?</c>'.encode(), cell, data)
            archive.writestr(info, data)
    return out.getvalue()


def test_a_formula_error_is_refused_at_its_cell_not_read_as_an_empty_one(rig: IngestRig) -> None:
    long = [LONG_HEADER, [SHARE, "rinkeby", "2024", "T", 71.3, 214, 300]]
    got = report(rig, with_error_cells(xlsx({"Blad 1": long}), {"E2": "#DIV/0!"}), XLSX)
    assert [(e["code"], e["cell"]) for e in got.errors] == [("bad_number", "'Blad 1'!E2")]
    wide = [["Indikator:", "arbetsplatser-ytterstad"], ["area", 2023, 2024], ["stockholm", 5, 6]]
    body = with_error_cells(xlsx({"Blad1": wide, "Data": [["Titel"]]}), {"C3": "#N/A"})
    got = report(rig, body, XLSX, source=LABOUR)
    assert [(e["row"], e["code"], e["cell"]) for e in got.errors] == [
        (2, "bad_number", "Blad1!C3"),
    ]
    assert "'#N/A'" in got.errors[0]["message"]
    assert [(e["area"], e["period"]) for e in rig.events()] == [("stockholm", "2023")]


def test_a_wide_record_with_cells_outside_the_periods_is_refused_not_misread(
    rig: IngestRig,
) -> None:
    # `71,3` unquoted in a `,` CSV is two cells: read on, 2023 would be 71 and 2024 would be 3.
    text = "Indikator: arbetsplatser-ytterstad\r\narea,2023,2024\r\nstockholm,71,3,80\r\nrinkeby-kista,1,2\r\n"
    got = report(rig, text.encode(), body_form("text/csv"), source=LABOUR)
    assert located(got) == [(1, None, "bad_row", "D3")]
    assert "outside" in got.errors[0]["message"]
    sheet = [["Indikator:", "arbetsplatser-ytterstad"], ["area", 2023, None, 2024]]
    sheet += [["stockholm", 5, "anm.", 6], ["stockholm", 7, None, 8]]
    got = report(rig, xlsx({"Blad1": sheet}), XLSX, source=LABOUR)
    assert located(got) == [(1, None, "bad_row", "Blad1!C3")]
    assert [(e["period"], e["value"]) for e in rig.events()][-2:] == [("2023", 7.0), ("2024", 8.0)]


def test_a_csv_with_old_mac_line_ends_finds_its_semicolons() -> None:
    text = f"indicator;area;period;value\r{SHARE};rinkeby;2024;71,3\r{SHARE};kista;2024;1,5\r"
    rows = parse_body(text.encode(), body_form("text/csv"), 10, 10**6)
    assert [row["value"] for row in rows.items if isinstance(row, dict)] == ["71.3", "1.5"]
    assert rows.lines == [2, 3]
