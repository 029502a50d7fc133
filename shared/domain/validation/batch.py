"""A batch of rows: every row judged, repeated series caught, `atomic` applied (a `Judgement`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from shared.domain.validation.codes import ErrorCode, RowError
from shared.domain.validation.rules import validate_row
from shared.domain.validation.scope import Scope, ValidRow


@dataclass(slots=True)
class Judgement:
    """A judged batch: the good rows, the bad ones' errors, each rejected row's first error code."""

    received: int = 0
    valid: list[ValidRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rejected_rows: dict[int, ErrorCode] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        """Rows that passed."""
        return len(self.valid)

    @property
    def rejected(self) -> int:
        """Rows that did not."""
        return len(self.rejected_rows)


def validate_batch(
    rows: Iterable[object], scope: Scope, *, text: bool = False, atomic: bool = False
) -> Judgement:
    """Validate rows numbered from 1; a row repeating an earlier row's series is `duplicate_series`.

    With `atomic`, one bad row rejects every row: the good ones get `batch_rejected` (row 0 says so).
    """
    result = Judgement()
    first_row_of: dict[str, int] = {}
    for number, raw in enumerate(rows, start=1):
        result.received = number
        outcome = validate_row(raw, scope, number, text=text)
        if isinstance(outcome, ValidRow):
            first = first_row_of.setdefault(outcome.key, number)
            if first == number:
                result.valid.append(outcome)
                continue
            message = f"row {first} of this batch already carries series {outcome.key}"
            outcome = [RowError(number, None, ErrorCode.DUPLICATE_SERIES, message)]
        result.errors.extend(outcome)
        result.rejected_rows[number] = outcome[0].code
    if atomic and result.errors and result.valid:
        for good in result.valid:
            result.rejected_rows[good.row] = ErrorCode.BATCH_REJECTED
        message = (
            f"atomic=true: {len(result.valid)} valid rows were not accepted because"
            f" {len(result.rejected_rows) - len(result.valid)} rows were rejected"
        )
        result.errors.append(RowError(0, None, ErrorCode.BATCH_REJECTED, message))
        result.valid = []
    return result
