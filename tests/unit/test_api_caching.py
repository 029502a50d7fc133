"""ETags, conditional requests, content negotiation and the answer memo."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from starlette.requests import Request

from services.api.answers import acceptable, wants_csv
from services.api.caching import AnswerMemo, ReadState, Rendered, make_etag, matches, rfc3339

STATE = ReadState(
    7, datetime(2025, 2, 1, 8, 0, tzinfo=UTC), datetime(2025, 2, 1, 8, 0, 1, tzinfo=UTC)
)


def request(accept: str | None) -> Request:
    headers = [] if accept is None else [(b"accept", accept.encode())]
    return Request(
        {"type": "http", "method": "GET", "path": "/", "query_string": b"", "headers": headers}
    )


def test_etag_changes_with_revision_commit_catalog_and_variant() -> None:
    etag = make_etag(STATE, "cat", "/v1/etappmal?|json")
    assert etag.startswith('W/"')
    assert etag == make_etag(STATE, "cat", "/v1/etappmal?|json")
    others = {
        make_etag(ReadState(8, STATE.data_as_of, STATE.committed_at), "cat", "/v1/etappmal?|json"),
        # a rebuilt read model reaching the same revision number again
        make_etag(
            ReadState(7, STATE.data_as_of, datetime(2026, 1, 1, tzinfo=UTC)),
            "cat",
            "/v1/etappmal?|json",
        ),
        make_etag(STATE, "other", "/v1/etappmal?|json"),
        make_etag(STATE, "cat", "/v1/etappmal?|csv"),
        make_etag(STATE, "cat", "/v1/etappmal?limit=1|json"),
    }
    assert etag not in others
    assert len(others) == 5


def _keyed(revisions: dict[str, tuple[int, datetime]], revision: int = 7) -> ReadState:
    return ReadState(revision, STATE.data_as_of, STATE.committed_at, revisions=revisions)


def test_a_keyed_etag_follows_only_its_keys_and_the_generation() -> None:
    at = datetime(2025, 2, 1, 8, 0, 2, tzinfo=UTC)
    later = datetime(2025, 2, 1, 8, 0, 3, tzinfo=UTC)
    base = {"status:a": (3, at), "status:b": (5, at)}
    keys = ["status:b"]
    etag = make_etag(_keyed(base), "cat", "/v1/indikatorer/b?|json", keys)
    # another key moved, and the global revision with it: the answer about b keeps its ETag
    unrelated = _keyed(base | {"status:a": (4, later)}, revision=8)
    assert make_etag(unrelated, "cat", "/v1/indikatorer/b?|json", keys) == etag
    assert make_etag(unrelated, "cat", "/v1/indikatorer/b?|json") != make_etag(
        _keyed(base), "cat", "/v1/indikatorer/b?|json"
    ), "an answer naming no keys follows the global revision"
    moved = {
        make_etag(_keyed(base | {"status:b": (6, later)}), "cat", "/v1/indikatorer/b?|json", keys),
        # a rebuild: the same revision again, at another moment, under a new generation
        make_etag(_keyed({"status:b": (5, later)}), "cat", "/v1/indikatorer/b?|json", keys),
        make_etag(
            _keyed(base | {"generation": (1, later)}), "cat", "/v1/indikatorer/b?|json", keys
        ),
    }
    assert etag not in moved
    assert len(moved) == 3


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ("", False),
        ('W/"abc"', True),
        ('"abc"', True),  # weak comparison
        ('"x", W/"abc"', True),
        ("*", True),
        ('W/"abcd"', False),
    ],
)
def test_if_none_match(header: str | None, expected: bool) -> None:
    assert matches(header, 'W/"abc"') is expected


@pytest.mark.parametrize(
    ("accept", "fmt", "expected"),
    [
        (None, None, False),
        ("*/*", None, False),
        ("text/csv", None, True),
        ("text/csv;q=0.5, application/json", None, False),
        ("application/json;q=0.5, text/csv", None, True),
        ("text/csv", "json", False),
        ("application/json", "csv", True),
        ("text/csv;q=0", None, False),
        ("TEXT/CSV", None, True),  # media types are case-insensitive
        ("text/*", None, True),  # covers CSV, not JSON
        ("text/*, application/json", None, False),
        ("text/*;q=0.9, */*;q=0.5", None, True),
    ],
)
def test_content_negotiation(accept: str | None, fmt: str | None, expected: bool) -> None:
    assert wants_csv(request(accept), fmt) is expected


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, True),
        ("*/*", True),
        ("application/json", True),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),  # a browser
        ("application/*", True),
        ("text/*;q=0.3", True),
        ("TEXT/CSV", True),
        ("application/xml", False),
        ("application/xml, text/html;q=0.5", False),
        ("application/xml;q=0", True),  # refuses what it names and asks for nothing
        ("image/*", False),
        ("application/xml, */*;q=0", False),
        ("application/xml, */*;q=0.1", True),
        ("application/*, application/json;q=0", False),  # JSON refused by name, CSV not asked
    ],
)
def test_an_accept_naming_only_types_not_answered_is_not_acceptable(
    accept: str | None, expected: bool
) -> None:
    assert acceptable(request(accept)) is expected


def test_x_data_as_of_is_rfc3339_utc() -> None:
    assert STATE.header() == "2025-02-01T08:00:00Z"
    assert ReadState(0, None, None).header() is None
    assert rfc3339(datetime(2025, 2, 1, 8, 0, 0, 500)) == "2025-02-01T08:00:00.000500Z"


def test_memo_evicts_the_least_recently_used_beyond_its_budget() -> None:
    memo = AnswerMemo(max_bytes=10, max_entry=6)
    memo.put("a", Rendered(b"12345", "text/plain"))
    memo.put("b", Rendered(b"12345", "text/plain"))
    assert memo.get("a") is not None  # a is now the most recently used
    memo.put("c", Rendered(b"123", "text/plain"))
    assert memo.get("b") is None
    assert memo.get("a") is not None
    assert memo.get("c") is not None
    memo.put("big", Rendered(b"1234567", "text/plain"))
    assert memo.get("big") is None
