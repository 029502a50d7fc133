"""Batches: row numbering, repeated series, atomic; body parsing of JSON and CSV, saying where."""

from __future__ import annotations

import pytest

from services.ingest.parsing import BodyError, parse_csv, parse_json
from shared.domain.validation import ErrorCode, Scope, validate_batch
from tests.factories import NOW, SCHOOL, csv_body, ingest_catalog, json_body, share_row, share_rows

SCOPE = Scope.of(ingest_catalog(), SCHOOL, NOW)


def test_rows_are_numbered_from_one_and_good_rows_pass_beside_bad_ones() -> None:
    rows = [share_row(), share_row(area="x"), share_row(area="kista"), 5]
    result = validate_batch(rows, SCOPE)
    assert (result.received, result.accepted, result.rejected) == (4, 2, 2)
    assert [v.row for v in result.valid] == [1, 3]
    assert result.rejected_rows == {2: ErrorCode.UNKNOWN_AREA, 4: ErrorCode.NOT_AN_OBJECT}


def test_a_series_repeated_in_one_batch_is_rejected_after_its_first_row() -> None:
    result = validate_batch([share_row(), share_row(value=None), share_row(gender="K")], SCOPE)
    assert [v.row for v in result.valid] == [1, 3]
    [error] = result.errors
    assert (error.row, error.code) == (2, ErrorCode.DUPLICATE_SERIES)
    assert "row 1" in error.message


def test_atomic_rejects_every_row_when_one_is_bad() -> None:
    result = validate_batch(
        [share_row(), share_row(area="x"), share_row(area="kista")], SCOPE, atomic=True
    )
    assert result.valid == []
    assert result.rejected_rows == {
        1: ErrorCode.BATCH_REJECTED,
        2: ErrorCode.UNKNOWN_AREA,
        3: ErrorCode.BATCH_REJECTED,
    }
    assert (result.errors[-1].row, result.errors[-1].code) == (0, ErrorCode.BATCH_REJECTED)


def test_atomic_with_only_good_rows_accepts_them_all() -> None:
    assert validate_batch(share_rows(20), SCOPE, atomic=True).accepted == 20


def test_json_body_shape() -> None:
    assert parse_json(json_body([1, 2]), 10).items == [1, 2]
    for body, code in [
        (b"[]", "invalid_body"),
        (b'{"observations": [], "x": 1}', "invalid_body"),
        (b'{"observations": []}', "empty_batch"),
        (b"{", "malformed_json"),
    ]:
        with pytest.raises(BodyError) as caught:
            parse_json(body, 10)
        assert caught.value.code == code


def test_json_row_limit_is_413() -> None:
    with pytest.raises(BodyError) as caught:
        parse_json(json_body(share_rows(11)), 10)
    assert (caught.value.status, caught.value.code) == (413, "too_many_rows")


def test_csv_rows_lines_and_empty_cells() -> None:
    body = b'indicator,area,period,comment\r\n\r\nx,y,2024,"two\nlines"\r\nx,,2024,\r\n'
    rows = parse_csv(body, 10)
    assert rows.items == [
        {"indicator": "x", "area": "y", "period": "2024", "comment": "two\nlines"},
        {"indicator": "x", "period": "2024"},
    ]
    assert rows.lines == [3, 5]


def test_csv_extra_cells_are_a_row_error_not_a_body_error() -> None:
    rows = parse_csv(b"indicator,area,period\r\nx,y,2024,extra\r\n", 10)
    result = validate_batch(rows.items, SCOPE, text=True)
    assert result.errors[0].code is ErrorCode.BAD_ROW


def test_csv_with_bom_semicolons_and_decimal_commas() -> None:
    body = (
        "\ufeff"
        + csv_body(
            [share_row(value="71,33", numerator="214", denominator="300")], delimiter=";"
        ).decode()
    )
    [row] = parse_csv(body.encode(), 10).items
    assert isinstance(row, dict)
    assert row["value"] == "71.33"
    assert validate_batch([row], SCOPE, text=True).accepted == 1


@pytest.mark.parametrize(
    ("body", "code", "line"),
    [
        (b"", "malformed_csv", 1),
        (b"indicator,area,nope\r\n", "unknown_column", 1),
        (b"indicator,area,area\r\n", "duplicate_column", 1),
        (b'indicator,area,period\r\nx,"y"z,2024\r\n', "malformed_csv", 2),
        (b"indicator,area,period\r\nx,y,2024\r\n\xc3\x28,y,2024\r\n", "bad_encoding", 3),
        (b"indicator,area,period\r\n", "empty_batch", None),
    ],
)
def test_csv_body_errors_say_where(body: bytes, code: str, line: int | None) -> None:
    with pytest.raises(BodyError) as caught:
        parse_csv(body, 10)
    assert (caught.value.code, caught.value.line) == (code, line)
