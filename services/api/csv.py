"""CSV answers: the JSON items of a list, flattened into columns derived from the answer model.

Columns are fixed per model, so a CSV of no rows still has its header. A nested object becomes
columns `parent_child`; a list of scalars becomes one cell joined with `;`; a list of objects becomes
one cell joined with `;` of each item rendered by the field's `x-csv-join` template (and is left out
when it has none); a mapping is left out. Decimal point `.`, times RFC 3339 UTC, empty cell = null.

A text cell that starts with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`, as
OWASP recommends against CSV injection: a spreadsheet would otherwise run it as a formula. Number
cells are never text (a negative number stays a number); enumerated columns (the domain's enums,
which the code defines) cannot start that way and are left as they are.
"""

from __future__ import annotations

import csv
import io
import operator
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from pydantic import BaseModel

from services.api.caching import rfc3339

CONTENT_TYPE = "text/csv; charset=utf-8; header=present"
JOIN = ";"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    """One CSV column: its name, the path to its value in an item, and how lists are joined."""

    name: str
    path: tuple[str, ...]
    template: str | None = None  # for lists: how each item is written
    convert: bool = False  # True when the csv writer's own str() would not do (bool, datetime)
    text: bool = False  # free text (str, joined lists): neutralised against formulas


def _unwrap(annotation: Any) -> Any:
    """`X | None` → X."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


@cache
def columns(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> tuple[Column, ...]:
    """The CSV columns of an answer model, in field order."""
    result: list[Column] = []
    for name, field in model.model_fields.items():
        annotation = _unwrap(field.annotation)
        path = (*prefix, name)
        origin = typing.get_origin(annotation)
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if _is_model(annotation):
            result.extend(columns(annotation, path))
        elif origin in (dict, Mapping):
            continue
        elif origin in (list, tuple, Sequence):
            item = _unwrap(typing.get_args(annotation)[0])
            template = extra.get("x-csv-join")
            if _is_model(item) and not isinstance(template, str):
                continue
            template = template if isinstance(template, str) else "{}"
            result.append(Column("_".join(path), path, template, text=True))
        else:
            convert = annotation in (bool, datetime)
            result.append(Column("_".join(path), path, convert=convert, text=annotation is str))
    return tuple(result)


def header(model: type[BaseModel]) -> list[str]:
    """The CSV header of an answer model."""
    return [c.name for c in columns(model)]


def cell(value: Any) -> str:
    """One value as CSV text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return rfc3339(value)
    return str(value)


def neutralise(value: Any) -> Any:
    """A text cell a spreadsheet shows as text: one that would start a formula gets a leading `'`."""
    return "'" + value if value.__class__ is str and value.startswith(FORMULA_START) else value


_STARTS_FORMULA = operator.methodcaller("startswith", FORMULA_START)


def _getter(column: Column) -> Callable[[Mapping[str, Any]], Any]:
    """A fast accessor for one column: plain values go to the csv writer as they are."""
    if len(column.path) == 1 and column.template is None:
        if not column.convert:
            return operator.methodcaller("get", column.name)
        name = column.name
        return lambda item: _flat(item.get(name))
    return lambda item: _value(item, column)


def _column(column: Column, items: list[Mapping[str, Any]]) -> list[Any]:
    """One column's cells; a text column is checked at C speed and rewritten only when it must be."""
    cells = list(map(_getter(column), items))
    if column.text and any(map(_STARTS_FORMULA, filter(None, cells))):
        return list(map(neutralise, cells))
    return cells


def _flat(value: Any) -> Any:
    # Times from SQLite already arrive as RFC 3339 text.
    return value if value is None or value.__class__ is str else cell(value)


def _value(item: Mapping[str, Any], column: Column) -> str:
    current: Any = item
    for key in column.path:
        if not isinstance(current, Mapping):
            return ""
        current = current.get(key)
    if column.template is None:
        return cell(current)
    if not current:
        return ""
    template = column.template
    parts = (
        template.format_map({k: cell(v) for k, v in part.items()})
        if isinstance(part, Mapping)
        else template.format(cell(part))
        for part in current
    )
    return JOIN.join(parts)


def render(model: type[BaseModel], items: Iterable[Mapping[str, Any]]) -> bytes:
    """A CSV document (UTF-8, header row, CRLF line ends) of JSON-native items."""
    cols = columns(model)
    rows = items if isinstance(items, list) else list(items)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.name for c in cols])
    writer.writerows(zip(*(_column(c, rows) for c in cols), strict=True))
    return out.getvalue().encode("utf-8")
