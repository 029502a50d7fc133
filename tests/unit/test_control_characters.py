"""Text fields hold no control or bidirectional formatting characters, on every path in."""

from __future__ import annotations

from typing import Any

import pytest

from services.ingest.parsing import parse_csv, parse_json
from shared.domain.validation import RowError, Scope, ValidRow, validate_batch, validate_row
from tests.factories import NOW, SCHOOL, csv_body, ingest_catalog, json_body, share_row

CATALOG = ingest_catalog()


def judge(raw: object, *, text: bool = False) -> ValidRow | list[RowError]:
    return validate_row(raw, Scope.of(CATALOG, SCHOOL, NOW), 1, text=text)


def refused(raw: object, *, text: bool = False) -> list[RowError]:
    outcome = judge(raw, text=text)
    assert isinstance(outcome, list), f"expected errors, got {outcome}"
    return [e for e in outcome if e.code.value == "control_character"]


@pytest.mark.parametrize(
    ("comment", "point"),
    [
        ("before\x00after", "U+0000"),  # NUL
        ("\x1b[31mred\x1b[0m", "U+001B"),  # ESC: an ANSI colour escape
        ("abc\u202edcba", "U+202E"),  # RIGHT-TO-LEFT OVERRIDE
        ("line\r\nnext", "U+000D"),  # CR
        ("bell\x07", "U+0007"),
        ("delete\x7f", "U+007F"),  # DEL
        ("c1\x85", "U+0085"),  # NEXT LINE, a C1 control
        ("csi\x9b", "U+009B"),  # the one-character CSI of C1
        ("\u202aembedded", "U+202A"),  # LEFT-TO-RIGHT EMBEDDING
        ("iso\u2066late\u2069", "U+2066"),  # LEFT-TO-RIGHT ISOLATE … POP DIRECTIONAL ISOLATE
        ("pop\u2069", "U+2069"),
    ],
)
def test_a_comment_with_a_control_character_is_refused(comment: str, point: str) -> None:
    errors = judge(share_row(comment=comment))
    assert isinstance(errors, list)
    assert [(e.field, e.code.value) for e in errors] == [("comment", "control_character")]
    assert point in errors[0].message
    assert errors[0].message.startswith("comment ")


def test_the_message_says_where_the_character_is() -> None:
    [error] = refused(share_row(comment="ok\x1b[2J"))
    assert "position 3" in error.message


@pytest.mark.parametrize("comment", ["tab\there", "two\nlines", "Tensta–Hjulsta ✓ å ä ö", "\u200f"])
def test_tab_newline_and_ordinary_unicode_are_fine(comment: str) -> None:
    outcome = judge(share_row(comment=comment))
    assert isinstance(outcome, ValidRow), outcome
    assert outcome.fields["comment"] == comment


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("area", "rinkeby\x00"),
        ("period", "2024\x1b"),
        ("indicator", "\u202ebehorighet"),
        ("gender", "T\x00"),
        ("status", "final\x9b"),
        ("updated_at", "2025-02-01T08:00:00Z\x00"),
        ("observation_id", "6f9619ff-8b86-d011-b42d-00c04fc964ff\x7f"),
    ],
)
def test_every_text_field_is_checked(field: str, text: str) -> None:
    [error] = refused(share_row(**{field: text}))
    assert error.field == field
    assert error.message.startswith(f"{field} holds the ")


def test_the_fast_path_refuses_them_too() -> None:
    scope = Scope.of(CATALOG, SCHOOL, NOW)
    assert isinstance(validate_row(share_row(), scope, 1), ValidRow)  # period and time memoised
    outcome = validate_row(share_row(area="kista", comment="\x00"), scope, 2)
    assert isinstance(outcome, list)
    assert [e.code.value for e in outcome] == ["control_character"]


def _batch(body: bytes, *, csv: bool) -> dict[int, list[tuple[str | None, str]]]:
    rows = (parse_csv if csv else parse_json)(body, 100)
    result = validate_batch(rows.items, Scope.of(CATALOG, SCHOOL, NOW), text=csv)
    found: dict[int, list[tuple[str | None, str]]] = {}
    for e in result.errors:
        found.setdefault(e.row, []).append((e.field, e.code.value))
    return found


@pytest.mark.parametrize("csv", [False, True])
def test_json_and_csv_bodies_get_a_row_error(csv: bool) -> None:
    rows: list[dict[str, Any]] = [
        share_row(area="rinkeby", comment="fine"),
        share_row(area="kista", comment="\x1b]8;;http://evil\x07link"),
        share_row(area="sodermalm", comment="abc\u202egnp.exe"),
        share_row(area="stockholm", comment="nul\x00"),
    ]
    body = csv_body(rows) if csv else json_body(rows)
    assert _batch(body, csv=csv) == {
        2: [("comment", "control_character")],
        3: [("comment", "control_character")],
        4: [("comment", "control_character")],
    }
