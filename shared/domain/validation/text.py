"""Text that is safe to store and show: no control or bidirectional formatting characters.

A text field may hold tab and newline. Refused: the other C0 controls (NUL, CR, ESC of ANSI escape
sequences, …), DEL, the C1 controls, and the bidirectional embeddings, overrides and isolates
(U+202A–U+202E, U+2066–U+2069) that make text display in another order than it is stored.
"""

from __future__ import annotations

import re

from shared.domain.observation import MAX_COMMENT
from shared.domain.validation.codes import ErrorCode, Problem

FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def control_character(field: str, text: str) -> Problem | None:
    """The problem of a text holding a forbidden character (the first one named), else None."""
    found = FORBIDDEN.search(text)
    if found is None:
        return None
    char = found.group()
    kind = "bidirectional formatting" if char >= "\u202a" else "control"
    message = (
        f"{field} holds the {kind} character U+{ord(char):04X} at position {found.start() + 1};"
        " text may hold tab and newline but no other control or bidirectional characters"
    )
    return Problem(field, ErrorCode.CONTROL_CHARACTER, message)


def comment_too_long(comment: str) -> Problem | None:
    """The problem of a comment longer than MAX_COMMENT characters, else None."""
    if len(comment) <= MAX_COMMENT:
        return None
    message = f"comment has {len(comment)} characters; at most {MAX_COMMENT} are allowed"
    return Problem("comment", ErrorCode.COMMENT_TOO_LONG, message)
