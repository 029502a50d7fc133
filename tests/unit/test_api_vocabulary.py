"""The read API's fixed vocabularies are the domain's enums, written once in `shared/domain`."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from enum import Enum
from typing import Any

import pytest
from fastapi import FastAPI

import shared.domain
from services.api.routers import catalog as catalog_routes
from services.api.routers import etappmal, health, indikatorer, namnder, omraden

API_OWN = {"Format"}  # `json` / `csv`: how to answer, not a word of the domain


def domain_enums() -> dict[str, type[Enum]]:
    """Every enum defined in a module of `shared.domain`, by class name."""
    found: dict[str, type[Enum]] = {}
    for module in pkgutil.walk_packages(shared.domain.__path__, "shared.domain."):
        for value in vars(importlib.import_module(module.name)).values():
            if (
                isinstance(value, type)
                and issubclass(value, Enum)
                and value.__module__ == module.name
            ):
                found[value.__name__] = value
    return found


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    app = FastAPI()
    for module in (catalog_routes, etappmal, namnder, indikatorer, omraden, health):
        app.include_router(module.router)
    return app.openapi()


def inline_values(node: Any, at: str = "") -> Iterator[tuple[str, set[Any]]]:
    """(where, values) of every `enum` and `const` written out in place rather than by `$ref`."""
    if isinstance(node, dict):
        if "enum" in node:
            yield at, set(node["enum"])
        if "const" in node:
            yield at, {node["const"]}
        for key, value in node.items():
            yield from inline_values(value, f"{at}/{key}")
    elif isinstance(node, list):
        for n, value in enumerate(node):
            yield from inline_values(value, f"{at}[{n}]")


def test_every_enum_of_the_openapi_is_the_domains(document: dict[str, Any]) -> None:
    enums = domain_enums()
    components = document["components"]["schemas"]
    named = {name: c["enum"] for name, c in components.items() if "enum" in c}
    assert {"StatusCode", "Gender", "AreaLevel", "PeriodType", "ObservationStatus"} <= set(named)
    assert sorted(set(named) - set(enums)) == sorted(API_OWN)
    for name in set(named) - API_OWN:
        assert named[name] == [member.value for member in enums[name]], name


def test_no_domain_value_is_spelled_out_again(document: dict[str, Any]) -> None:
    domain = {member.value for enum in domain_enums().values() for member in enum}
    schemas = document["components"]["schemas"]
    models = {name: c for name, c in schemas.items() if "enum" not in c}
    copies = [
        (at, sorted(values & domain))
        for at, values in inline_values({"paths": document["paths"], "models": models})
        if values & domain
    ]
    assert copies == []
