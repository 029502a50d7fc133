"""Knowledge times as clients write them (`as_of`, `changed_since`, `rapport freeze --as-of`):
RFC 3339, read leniently as BI tools write them, and the same way everywhere.

Taken: `2025-09-01T08:00:00Z`, a lowercase `t` or `z` or a space between date and time (RFC 3339
§5.6 allows all three), any fraction (beyond microseconds cut off), no seconds
(`2025-09-01T08:00+02:00`), an offset without its colon (`+0200`), an offset whose `+` arrived
unencoded in a query string (read as a space), and a leap second (`23:59:60`, read as the last
microsecond before the next minute: Python's times have no leap seconds). Refused, with the
reason: a time without an offset, any other ISO 8601 form (week dates, the basic format, an hour
alone), anything after the offset. A time before 1970 reads as 1970-01-01 (nothing was known
before; converting a year-1 time with a positive offset to UTC would not fit a `datetime`).
"""

from __future__ import annotations

import re
from datetime import datetime

from shared.domain.observation import as_utc
from shared.domain.validation.cells import EARLIEST

_FORM = re.compile(
    r"(\d{4}-\d\d-\d\d)[Tt ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d+))?)?([Zz]|[+-]\d\d:?\d\d)?"
)
_OFFSET_SPACE = re.compile(r" (\d\d:?\d\d)$")  # an unencoded '+' of the offset reads as a space
EXAMPLE = "2025-09-01T00:00:00Z"


class TimeTextError(ValueError):
    """Not a knowledge time; the message says why."""


def _shown(text: str, most: int = 60) -> str:
    """`text` quoted in an error, cut short (a client's 5 000 characters are not echoed back)."""
    return repr(text) if len(text) <= most else repr(text[:most]) + f"… ({len(text)} characters)"


def parse_knowledge_time(text: str) -> datetime:
    """The time `text` names, in UTC and not before 1970 (module docstring); else
    `TimeTextError` with the reason."""
    found = _FORM.fullmatch(_OFFSET_SPACE.sub(r"+\1", text.strip()))
    if found is None:
        raise TimeTextError(f"{_shown(text)} is not an RFC 3339 time (e.g. {EXAMPLE})")
    day, hour, minute, second, fraction, offset = found.groups()
    if offset is None:
        raise TimeTextError(
            f"{_shown(text)} has no time zone: give an offset or Z (e.g. {EXAMPLE})"
        )
    seconds, micros = int(second or 0), int((fraction or "0")[:6].ljust(6, "0"))
    if seconds == 60:  # a leap second
        seconds, micros = 59, 999_999
    if offset in ("Z", "z"):
        offset = "+00:00"
    elif ":" not in offset:
        offset = f"{offset[:3]}:{offset[3:]}"
    try:
        moment = datetime.fromisoformat(f"{day}T{hour}:{minute}:{seconds:02d}.{micros:06d}{offset}")
    except ValueError as exc:  # a 13th month, a 25th hour, an offset of 24 hours
        raise TimeTextError(f"{_shown(text)} is not a valid time: {exc}") from None
    return as_utc(max(moment, EARLIEST))
