"""The ingest HTTP API's wire format: request body, batch report and problem documents (OpenAPI)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.observation import ObservationIn
from shared.domain.validation import DESCRIPTIONS, ErrorCode

ROW_CODES_TABLE = "\n".join(f"| `{code.value}` | {DESCRIPTIONS[code]} |" for code in ErrorCode)
PROBLEM_CODES: dict[str, tuple[int, str]] = {
    "malformed_json": (400, "The body is not JSON; `line`/`column` say where."),
    "malformed_csv": (400, "The CSV cannot be read (e.g. a stray quote); `line` says where."),
    "bad_encoding": (
        400,
        "The body is not UTF-8 (or the declared windows-1252); `line`/`column` say where.",
    ),
    "invalid_body": (400, 'The JSON is not an object `{"observations": [...]}`.'),
    "empty_batch": (400, "The batch has no rows."),
    "unknown_column": (400, "A CSV header names a field that is not part of the observation."),
    "duplicate_column": (400, "A header names a field (wide layout: a period's part) twice."),
    "malformed_xlsx": (400, "The body is not a readable .xlsx workbook (or is .xls, .ods, .xlsb)."),
    "unknown_sheet": (400, "`sheet=` names no sheet of the workbook."),
    "no_table": (400, "No sheet has a header row (long or wide layout)."),
    "not_wide": (
        400,
        "A header block or `indicator=`/`gender=` with a long table: they go with the wide layout.",
    ),
    "missing_indicator": (400, "A wide table without `Indikator:` above it or `indicator=`."),
    "conflicting_header": (400, "The header block and the query give different values."),
    "bad_header_block": (400, "A row above a table with a misspelt (`Kon:`) or repeated key."),
    "no_periods": (400, "A wide table's header row has `area` but no period columns."),
    "invalid_request": (400, "A query parameter or header is malformed (e.g. `dry_run=maybe`)."),
    "unauthorized": (401, "No `Authorization: Bearer <key>`, or the key is unknown or revoked."),
    "idempotency_in_progress": (
        409,
        "Another request with this Idempotency-Key is being processed.",
    ),
    "too_many_rows": (413, "More rows than the limit (10 000 by default)."),
    "batch_over_rate_limit": (
        413,
        "More rows than the source's whole budget of rows per minute: split the batch.",
    ),
    "body_too_large": (413, "The body is larger than the byte limit."),
    "workbook_too_large": (413, "The .xlsx unpacks to more than five times the byte limit."),
    "sheet_too_large": (
        413,
        "The sheets reach further (rows × columns from A1, summed) than 64 × (row limit + 100) cells.",
    ),
    "unsupported_media_type": (
        415,
        "Content-Type is neither application/json, text/csv nor"
        " application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.",
    ),
    "unsupported_charset": (
        415,
        "A charset not read: CSV is utf-8, windows-1252 or iso-8859-1; JSON is utf-8.",
    ),
    "rate_limited": (
        429,
        "The source is over its budget of requests or rows per minute (`limit` says which);"
        " nothing was published. Retry after `Retry-After`.",
    ),
    "idempotency_key_reused": (
        422,
        "The Idempotency-Key was used before with a different request.",
    ),
    "database_unavailable": (
        503,
        "The key or idempotency store is unreachable; nothing was published (`outcome: not_accepted`).",
    ),
    "kafka_unavailable": (
        503,
        "Kafka could not be reached in time and no row was sent: nothing was accepted"
        " (`outcome: not_accepted`). Retry after `Retry-After`.",
    ),
    "kafka_outcome_unknown": (
        503,
        "The rows were sent but Kafka did not acknowledge in time: some or all may have been accepted"
        " (`outcome: unknown`). Retry with the same body and Idempotency-Key; repeats are harmless.",
    ),
}
PROBLEM_CODES_TABLE = "\n".join(f"| {s} | `{c}` | {d} |" for c, (s, d) in PROBLEM_CODES.items())


class RowErrorOut(BaseModel):
    """Why one row was rejected."""

    row: int = Field(
        description="1-based position of the row in the batch (JSON array index + 1; CSV: data"
        " record number, header not counted); 0 for the batch as a whole.",
        examples=[2],
    )
    line: int | None = Field(
        default=None, description="CSV only: the line the record starts on (header = 1)."
    )
    cell: str | None = Field(
        default=None,
        description="CSV and .xlsx: the cell of `field` — `Blad1!C7` in a workbook, `C7` (column"
        " letter and line) in CSV; when no field is named (or it has no column), the row's own"
        " cell: the first of a long row, the value of a wide one.",
        examples=["Blad1!C7"],
    )
    field: str | None = Field(
        description="The offending field, or null when the row as a whole is at fault.",
        examples=["period"],
    )
    code: ErrorCode = Field(
        description="Stable error code:\n\n| code | meaning |\n|---|---|\n" + ROW_CODES_TABLE
    )
    message: str = Field(
        description="Human-readable explanation.", examples=["'2024-Q5' is not a period"]
    )


class BatchReport(BaseModel):
    """What happened to each row of a batch."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "batch_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
                    "received": 3,
                    "accepted": 2,
                    "rejected": 1,
                    "dry_run": False,
                    "errors": [
                        {
                            "row": 2,
                            "field": "period",
                            "code": "bad_period",
                            "message": "'2024-Q5' is not a period",
                        }
                    ],
                }
            ]
        }
    )

    batch_id: str = Field(description="Id of this batch (UUID); a replayed answer repeats it.")
    received: int = Field(description="Rows in the batch.")
    accepted: int = Field(
        description="Rows validated and acknowledged by Kafka (dry run: that would be)."
    )
    rejected: int = Field(description="Rows rejected; each has at least one entry in `errors`.")
    dry_run: bool = Field(
        default=False, description="True when nothing was published (`dry_run=true`)."
    )
    errors: list[RowErrorOut] = Field(description="Every error of every rejected row.")


class Problem(BaseModel):
    """A request the service could not take as a batch at all."""

    code: str = Field(
        description="Stable code:\n\n| status | code | meaning |\n|---|---|---|\n"
        + PROBLEM_CODES_TABLE,
        examples=["malformed_json"],
    )
    message: str = Field(
        description="What is wrong and where.", examples=["line 3, column 7: unexpected character"]
    )
    line: int | None = Field(
        default=None, description="Line of the body at fault (1-based), if known."
    )
    column: int | None = Field(
        default=None, description="Column of the body at fault (1-based), if known."
    )
    cell: str | None = Field(
        default=None,
        description="CSV and .xlsx: the cell at fault (`Blad1!C3`, or `C3` in CSV), if known.",
    )
    outcome: Literal["not_accepted", "unknown"] | None = Field(
        default=None,
        description="503 and the rate limits' 429 and 413: `not_accepted` — nothing was published;"
        " `unknown` (503 only) — some or all rows"
        " may have been accepted (they will then be shown); a retry with the same Idempotency-Key"
        " is safe.",
    )
    limit: Literal["requests_per_minute", "rows_per_minute"] | None = Field(
        default=None, description="`rate_limited` and `batch_over_rate_limit`: the budget exceeded."
    )
    per_minute: int | None = Field(
        default=None, description="`rate_limited` and `batch_over_rate_limit`: the budget's size."
    )


class ObservationBatch(BaseModel):
    """A JSON batch: up to 10 000 observation rows."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "observations": [
                        {
                            "indicator": "behorighet-gymnasiet-ak9",
                            "area": "rinkeby",
                            "period": "2024",
                            "gender": "T",
                            "value": 71.3,
                            "numerator": 214,
                            "denominator": 300,
                            "status": "final",
                            "updated_at": "2025-02-01T08:00:00Z",
                        }
                    ]
                }
            ]
        },
    )

    observations: list[ObservationIn] = Field(
        description="The rows; each is judged on its own.", max_length=10_000
    )


CSV_EXAMPLE = (
    "indicator,area,period,gender,value,numerator,denominator,status,updated_at\r\n"
    "behorighet-gymnasiet-ak9,rinkeby,2024,T,71.3,214,300,final,2025-02-01T08:00:00Z\r\n"
    "behorighet-gymnasiet-ak9,kista,2024,K,80,120,150,preliminary,2025-02-01T08:00:00Z\r\n"
)
