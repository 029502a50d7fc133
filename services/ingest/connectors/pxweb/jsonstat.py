"""A small JSON-stat 2.0 dataset decoder: dimensions, values and statuses by category codes.

Pure: no I/O. Kept libraries did not fit: pyjstat needs pandas, jsonstat.py is unmaintained
since 2017, jsonstat-validator only validates. Cell position = Σ index_i · Π size_j for j > i.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Cell = float | int | str | None


class JsonStatError(ValueError):
    """A document that is not a JSON-stat 2.0 dataset, and why."""


@dataclass(frozen=True)
class Dimension:
    """One dimension: its category codes in index order and their labels."""

    id: str
    codes: tuple[str, ...]
    labels: Mapping[str, str]
    index: Mapping[str, int]

    def position(self, code: str) -> int:
        """The index of a category code; JsonStatError when the dimension has none such."""
        try:
            return self.index[code]
        except KeyError:
            raise JsonStatError(f"dimension {self.id!r} has no category {code!r}") from None


@dataclass(frozen=True)
class Dataset:
    """A decoded dataset: dimensions in `id` order, values and statuses by position."""

    dimensions: tuple[Dimension, ...]
    values: Mapping[int, Cell]
    statuses: Mapping[int, str]
    updated: str | None
    label: str | None

    @property
    def size(self) -> int:
        """The number of cells (the product of the dimension sizes)."""
        return math.prod(len(d.codes) for d in self.dimensions)

    def dimension(self, dim_id: str) -> Dimension:
        """A dimension by id."""
        for dim in self.dimensions:
            if dim.id == dim_id:
                return dim
        raise JsonStatError(f"the dataset has no dimension {dim_id!r}")

    def offset(self, coordinates: Mapping[str, str]) -> int:
        """The position of the cell at these category codes (one per dimension)."""
        position = 0
        for dim in self.dimensions:
            if dim.id not in coordinates:
                raise JsonStatError(f"no category given for dimension {dim.id!r}")
            position = position * len(dim.codes) + dim.position(coordinates[dim.id])
        return position

    def cell(self, **coordinates: str) -> tuple[Cell, str | None]:
        """The value and status at these category codes."""
        at = self.offset(coordinates)
        return self.values.get(at), self.statuses.get(at)

    def cells(self) -> Iterator[tuple[dict[str, str], Cell, str | None]]:
        """Every cell in row-major order: its category codes, value and status."""
        for at in range(self.size):
            codes: dict[str, str] = {}
            rest = at
            for dim in reversed(self.dimensions):
                rest, index = divmod(rest, len(dim.codes))
                codes[dim.id] = dim.codes[index]
            yield codes, self.values.get(at), self.statuses.get(at)


def decode(doc: Any) -> Dataset:
    """Decode a JSON-stat 2.0 dataset (already parsed JSON); JsonStatError says what is wrong."""
    dimensions = dimensions_of(doc)
    total = math.prod(len(d.codes) for d in dimensions)
    return Dataset(
        dimensions=dimensions,
        values=_by_position(doc.get("value"), "value", total, _is_cell),
        statuses=_statuses(doc.get("status"), total),
        updated=doc.get("updated") if isinstance(doc.get("updated"), str) else None,
        label=doc.get("label") if isinstance(doc.get("label"), str) else None,
    )


def dimensions_of(doc: Any) -> tuple[Dimension, ...]:
    """The dimensions of a dataset, in `id` order (a PxWeb v2 metadata answer has no values)."""
    if not isinstance(doc, dict):
        raise JsonStatError("a dataset is a JSON object")
    if doc.get("class", "dataset") != "dataset":
        raise JsonStatError(f"class is {doc.get('class')!r}, not 'dataset'")
    ids, sizes, dims = doc.get("id"), doc.get("size"), doc.get("dimension")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise JsonStatError("`id` must be a list of dimension ids")
    if not isinstance(sizes, list) or not all(type(s) is int and s >= 0 for s in sizes):
        raise JsonStatError("`size` must be a list of counts")
    if len(ids) != len(sizes):
        raise JsonStatError(f"`id` names {len(ids)} dimensions, `size` gives {len(sizes)}")
    if not isinstance(dims, dict):
        raise JsonStatError("`dimension` must be an object")
    return tuple(_dimension(i, dims.get(i), s) for i, s in zip(ids, sizes, strict=True))


def _dimension(dim_id: str, dim: Any, size: int) -> Dimension:
    where = f"dimension {dim_id!r}"
    if not isinstance(dim, dict) or not isinstance(dim.get("category"), dict):
        raise JsonStatError(f"{where} is missing or has no `category`")
    category = dim["category"]
    index, labels = category.get("index"), category.get("label") or {}
    if not isinstance(labels, dict):
        raise JsonStatError(f"{where}: `category.label` must be an object")
    if index is None:
        # Allowed for a constant dimension only: its one category is named by `label`.
        codes: tuple[str, ...] = tuple(labels)
        if len(codes) != 1:
            raise JsonStatError(f"{where} has no `category.index` and not exactly one label")
    elif isinstance(index, list) and all(isinstance(c, str) for c in index):
        codes = tuple(index)
    elif isinstance(index, dict):
        positions = sorted(index.values()) if all(type(p) is int for p in index.values()) else []
        if positions != list(range(len(index))):
            raise JsonStatError(f"{where}: `category.index` positions are not 0…{len(index) - 1}")
        codes = tuple(sorted(index, key=index.__getitem__))
    else:
        raise JsonStatError(f"{where}: `category.index` must be a list or an object")
    if len(set(codes)) != len(codes):
        raise JsonStatError(f"{where} repeats a category")
    if len(codes) != size:
        raise JsonStatError(f"{where} has {len(codes)} categories but `size` says {size}")
    named = {c: str(labels.get(c, c)) for c in codes}
    return Dimension(dim_id, codes, named, {c: n for n, c in enumerate(codes)})


def _is_cell(item: object) -> bool:
    return item is None or (isinstance(item, int | float | str) and not isinstance(item, bool))


def _by_position(given: Any, name: str, total: int, ok: Any) -> dict[int, Any]:
    """An array of `total` items or an object keyed by position, as {position: item}."""
    if isinstance(given, list):
        if len(given) != total:
            raise JsonStatError(f"`{name}` has {len(given)} items, the dimensions make {total}")
        items = dict(enumerate(given))
    elif isinstance(given, dict):
        items = {}
        for key, item in given.items():
            if not key.isdigit() or int(key) >= total:
                raise JsonStatError(f"`{name}` key {key!r} is not a position below {total}")
            items[int(key)] = item
    else:
        raise JsonStatError(f"`{name}` must be an array or an object keyed by position")
    for at, item in items.items():
        if not ok(item):
            raise JsonStatError(f"`{name}` at position {at} is {item!r}")
    return {at: item for at, item in items.items() if item is not None}


def _statuses(given: Any, total: int) -> dict[int, str]:
    if given is None:
        return {}
    if isinstance(given, str):
        return dict.fromkeys(range(total), given)
    if isinstance(given, list) and len(given) == 1 and total != 1:
        return dict.fromkeys(range(total), given[0]) if isinstance(given[0], str) else {}
    return _by_position(given, "status", total, lambda s: s is None or isinstance(s, str))
