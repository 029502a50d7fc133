"""Answer models shared by every resource: the page envelope and the problem document."""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class AnswerModel(BaseModel):
    """Base of every answer model: documented fields, extra fields allowed (the contract grows)."""

    model_config = ConfigDict(extra="allow")


class Page(AnswerModel, Generic[T]):
    """One page of a list: the rows and how many there are in all."""

    total: int = Field(description="Rows matching the filters, over all pages.", examples=[6])
    limit: int = Field(
        description="Most rows on one page (the `limit` asked for).", examples=[1000]
    )
    offset: int = Field(
        description="Rows skipped before this page (the `offset` asked for).", examples=[0]
    )
    items: list[T] = Field(
        description="The rows of this page; CSV answers hold the same rows, flattened."
    )


class ParameterError(AnswerModel):
    """What is wrong with one parameter of the request."""

    parameter: str = Field(description="The parameter's name as sent.", examples=["limit"])
    location: Literal["query", "path", "header"] = Field(
        description="Where the parameter was: query string, path or header.", examples=["query"]
    )
    message: str = Field(
        description="What is wrong and what would be right.",
        examples=["must be at most 50000 (got 60000)"],
    )


class Problem(AnswerModel):
    """An error answer (RFC 9457 `application/problem+json`)."""

    type: str = Field(
        default="about:blank",
        description="A URI naming the kind of problem.",
        examples=["about:blank"],
    )
    title: str = Field(
        description="Short, fixed summary of the kind of problem.", examples=["Bad Request"]
    )
    status: int = Field(description="The HTTP status code.", examples=[400])
    detail: str = Field(
        description="What went wrong with this request, in a sentence.",
        examples=["limit: must be at most 50000 (got 60000)"],
    )
    errors: list[ParameterError] = Field(
        default_factory=list, description="One entry per bad parameter (empty for other problems)."
    )


class Health(AnswerModel):
    """Answer of `/healthz` and `/readyz`."""

    status: Literal["ok", "ready", "not_ready"] = Field(
        description="`ok` (alive), `ready` or `not_ready`.", examples=["ready"]
    )
    detail: str | None = Field(
        default=None, description="Why not ready, when not.", examples=[None]
    )
    database: str | None = Field(
        default=None, description="Database dialect in use.", examples=["postgresql"]
    )
    schema_revision: str | None = Field(
        default=None, description="Alembic revision of the read model.", examples=["0001"]
    )
    revision: int | None = Field(
        default=None,
        description="Read-model revision (bumped by every aggregator commit).",
        examples=[412],
    )
