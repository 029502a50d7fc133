"""Readers of single fields: each returns the normalised value or records an error and returns None.

`text=True` means the cell came from CSV, so numbers and booleans arrive as text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from shared.domain.validation.codes import ErrorCode, Errors

Row = Mapping[Any, Any]

#: How far `updated_at` may lie ahead of the server clock (clock skew between systems).
CLOCK_SKEW = timedelta(minutes=5)
#: The earliest `updated_at` taken: a source's modification time before it is a mistake.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
#: RFC 3339's date-time (section 5.6; a space for the `T` as its note allows), ASCII digits only.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NOT_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def required_str(raw: Row, name: str, errors: Errors) -> str | None:
    """A required text field."""
    value = raw.get(name)
    if value is None or value == "":
        errors.add(name, ErrorCode.MISSING_FIELD, f"{name} is required")
        return None
    if not isinstance(value, str):
        errors.add(name, ErrorCode.BAD_TYPE, f"{name} must be a string, not {value!r}")
        return None
    return value


def choice(
    raw: Row, name: str, default: str, allowed: frozenset[str], code: ErrorCode, errors: Errors
) -> str | None:
    """An optional field with a fixed set of values."""
    value = raw.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, str) and value in allowed:
        return value
    errors.add(name, code, f"{name} must be one of {', '.join(sorted(allowed))}, not {value!r}")
    return None


def boolean(raw: Row, name: str, errors: Errors, text: bool) -> bool | None:
    """An optional boolean, false when absent."""
    value = raw.get(name)
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if text and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE
    errors.add(name, ErrorCode.BAD_BOOLEAN, f"{name} must be true or false, not {value!r}")
    return None


def number(raw: Row, name: str, errors: Errors, text: bool) -> float | None:
    """An optional finite number."""
    value = raw.get(name)
    if value is None or (text and value == ""):
        return None
    if isinstance(value, str) and text:
        cell = value.strip()
        if _NOT_FINITE.fullmatch(cell):
            errors.add(name, ErrorCode.NOT_FINITE, f"{name} must be a finite number, not {value!r}")
            return None
        if not _NUMBER.fullmatch(cell):
            errors.add(name, ErrorCode.BAD_NUMBER, f"{name} must be a number, not {value!r}")
            return None
        value = cell
    elif isinstance(value, bool) or not isinstance(value, int | float):
        errors.add(name, ErrorCode.BAD_NUMBER, f"{name} must be a number, not {value!r}")
        return None
    try:
        result = float(value)
    except OverflowError:  # an integer beyond the float range
        result = math.inf
    if not math.isfinite(result):
        errors.add(name, ErrorCode.NOT_FINITE, f"{name} must be a finite number, not {value!r}")
        return None
    return result


def timestamp(
    raw: Row, name: str, now: datetime, errors: Errors, memo: dict[object, Any] | None = None
) -> str | None:
    """An optional RFC 3339 time with offset, not ahead of `now` by more than the clock skew.

    `memo` (per clock) remembers texts already judged: rows of one batch often share a timestamp.
    """
    value = raw.get(name)
    if value is None or value == "":
        return None
    known: str | None = (
        memo.get(("ts", value)) if memo is not None and isinstance(value, str) else None
    )
    if known is not None:
        return known
    moment = parse_rfc3339(value) if isinstance(value, str) else None
    if moment is None:
        errors.add(
            name,
            ErrorCode.BAD_TIMESTAMP,
            f"{name} must be an RFC 3339 time with offset, e.g. 2025-02-01T08:00:00Z; got {value!r}",
        )
        return None
    if moment > now + CLOCK_SKEW:
        errors.add(name, ErrorCode.FUTURE_TIMESTAMP, f"{name} {value} is in the future")
        return None
    if moment < EARLIEST:
        errors.add(name, ErrorCode.BAD_TIMESTAMP, f"{name} {value} is before 1970-01-01T00:00:00Z")
        return None
    normalised = iso_utc(moment)
    if memo is not None:
        memo[("ts", value)] = normalised
    return normalised


def parse_rfc3339(text: str) -> datetime | None:
    """The moment of an RFC 3339 date-time (`2025-02-01T08:00:00+01:00`), or None if `text` is
    not one (no offset, a week date, `+0100`, non-ASCII digits, or a day or hour out of range)."""
    if not _RFC3339.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text.upper().replace(" ", "T"))
    except ValueError:
        return None


def uuid(raw: Row, name: str, errors: Errors) -> str | None:
    """An optional UUID, normalised to its canonical lower-case form."""
    value = raw.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return str(UUID(value))
        except ValueError:
            pass
    errors.add(name, ErrorCode.BAD_OBSERVATION_ID, f"{name} must be a UUID, not {value!r}")
    return None


def iso_utc(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as pydantic writes it."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
