"""Read a catalog YAML file into `Catalog`; every problem is reported at its file:line:column."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import Node

from shared.catalog.document import SECTIONS, catalog_document
from shared.catalog.positions import (
    Loc,
    YamlSyntaxError,
    dotted,
    duplicate_keys,
    locate,
    parse,
    position,
    undotted,
)
from shared.catalog.rules import consistency
from shared.domain.catalog import Catalog, CatalogError, Duration

__all__ = [
    "CATALOG_PATH",
    "CatalogLoadError",
    "CatalogProblem",
    "catalog_document",
    "check_catalog",
    "default_catalog",
    "load_catalog",
    "load_catalog_text",
]

CATALOG_PATH = Path(__file__).with_name("stockholm.yaml")
_DURATION_FIELDS = ("cadence", "publication_lag", "grace")
_QUOTED = re.compile(r"'([^']*)'")
_PATTERN_HINTS = {
    "kafka_principal": "is not a Kafka principal: write `User:` and a name (no spaces, not `*`)"
}
# Takes the place of an unreadable duration so that the rest of the file is still checked.
_STAND_IN = Duration(days=1)


@dataclass(frozen=True)
class CatalogProblem:
    """One thing wrong with a catalog file, where it is (1-based; 0 when there is no position)."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class CatalogLoadError(ValueError):
    """A catalog file that cannot be loaded; `problems` says what and where."""

    def __init__(self, problems: list[CatalogProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def load_catalog(path: Path) -> Catalog:
    """Load and check a catalog file; raise CatalogLoadError listing every problem."""
    catalog, problems = _check_file(Path(path))
    if catalog is None or problems:
        raise CatalogLoadError(problems)
    return catalog


def load_catalog_text(text: str, filename: str = "<string>") -> Catalog:
    """Load and check catalog YAML text; raise CatalogLoadError listing every problem."""
    catalog, problems = _check_text(text, filename)
    if catalog is None or problems:
        raise CatalogLoadError(problems)
    return catalog


def check_catalog(path: Path | str) -> list[CatalogProblem]:
    """Every problem of a catalog file, in file order; empty when the file is good."""
    return _check_file(Path(path))[1]


@cache
def default_catalog() -> Catalog:
    """The shipped Stockholm catalog (shared/catalog/stockholm.yaml), loaded once."""
    return load_catalog(CATALOG_PATH)


def _check_file(path: Path) -> tuple[Catalog | None, list[CatalogProblem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [CatalogProblem(str(path), 0, 0, "", f"cannot read the file: {exc}")]
    return _check_text(text, str(path))


def _check_text(text: str, filename: str) -> tuple[Catalog | None, list[CatalogProblem]]:
    try:
        root, data = parse(text)
    except YamlSyntaxError as exc:
        return None, [CatalogProblem(filename, exc.line, exc.column, "", exc.message)]
    if root is None or not isinstance(data, dict):
        line, column = position(root) if root is not None else (1, 1)
        message = "the top level must be a mapping with the sections " + ", ".join(SECTIONS)
        return None, [CatalogProblem(filename, line, column, "", message)]

    at = _Locator(filename, root)
    problems = [
        CatalogProblem(filename, *position(node), dotted(loc), f"duplicate key {loc[-1]!r}")
        for loc, node in duplicate_keys(root)
    ]
    problems += [at(loc, message) for loc, message in _prepare(data)]
    catalog: Catalog | None = None
    try:
        catalog = Catalog.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            problems += _explain(err, at)
    else:
        problems += [at(undotted(path), message) for path, message in consistency(catalog)]
    return catalog, sorted(problems, key=lambda p: (p.line, p.column))


def _prepare(data: dict[str, Any]) -> list[tuple[Loc, str]]:
    """Turn the file's shapes into the models' (durations, inherited area flags) in place."""
    problems: list[tuple[Loc, str]] = []
    for n, item in _items(data, "indikatorer"):
        for name in _DURATION_FIELDS:
            value = item.get(name)
            if value is None or isinstance(value, dict):
                continue
            try:
                item[name] = Duration.parse(value if isinstance(value, str) else repr(value))
            except ValueError as exc:
                problems.append((("indikatorer", n, name), str(exc)))
                item[name] = _STAND_IN
    areas = {
        item["id"]: item for _, item in _items(data, "omraden") if isinstance(item.get("id"), str)
    }
    for _, item in _items(data, "omraden"):
        _inherit_flags(item, areas, set())
    return problems


def _items(data: dict[str, Any], section: str) -> list[tuple[int, dict[str, Any]]]:
    items = data.get(section)
    if not isinstance(items, list):
        return []
    return [(n, item) for n, item in enumerate(items) if isinstance(item, dict)]


def _inherit_flags(area: dict[str, Any], areas: dict[str, dict[str, Any]], seen: set[int]) -> None:
    parent_id = area.get("parent")
    links = area.get("parents")
    if parent_id is None and isinstance(links, list) and links and isinstance(links[-1], dict):
        parent_id = links[-1].get("id")  # every parent must carry the same flags (rules.py)
    parent = areas.get(parent_id) if isinstance(parent_id, str) else None
    if parent is None or id(area) in seen:  # a cycle is reported by the level rule
        return
    seen.add(id(area))
    _inherit_flags(parent, areas, seen)
    for flag in ("ytterstad", "fokus"):
        if flag not in area and flag in parent:
            area[flag] = parent[flag]


class _Locator:
    """Makes a problem for a loc, placed at the node the loc leads to."""

    def __init__(self, filename: str, root: Node) -> None:
        self.filename, self.root = filename, root

    def __call__(self, loc: Loc, message: str, *, key: bool = False) -> CatalogProblem:
        line, column = position(locate(self.root, loc, key=key))
        return CatalogProblem(self.filename, line, column, dotted(loc), message)


def _explain(err: ErrorDetails, at: _Locator) -> list[CatalogProblem]:
    """Problems for one pydantic error, phrased for someone editing the YAML."""
    loc: Loc = tuple(err["loc"])
    kind, ctx = err["type"], err.get("ctx", {})
    if kind == "value_error" and isinstance(ctx.get("error"), CatalogError):
        return [at(undotted(path), message) for path, message in ctx["error"].problems]
    if kind == "missing":
        return [at(loc, f"required field {loc[-1]!r} is missing")]
    if kind == "extra_forbidden":
        return [at(loc, f"unknown field {loc[-1]!r}", key=True)]
    if kind == "enum":
        allowed = ", ".join(_QUOTED.findall(str(ctx.get("expected", ""))))
        return [at(loc, f"{err['input']!r} is not one of {allowed}")]
    message = err["msg"]
    if kind == "string_pattern_mismatch" and loc and loc[-1] in _PATTERN_HINTS:
        message = f"{err['input']!r} {_PATTERN_HINTS[str(loc[-1])]}"
    if kind == "string_type" and isinstance(err["input"], int | float):
        message += f' (write it in quotes: "{err["input"]}")'
    if loc and loc[-1] == "[key]":
        return [at(loc[:-1], message, key=True)]
    return [at(loc, message)]
