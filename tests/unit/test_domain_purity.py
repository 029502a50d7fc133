"""The domain is pure: no module of `shared/domain` imports Kafka, HTTP, SQL, faust or anything that
does I/O, directly or through what it imports. Every module is checked, new ones too."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOMAIN = ROOT / "shared" / "domain"
MODULES = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for p in DOMAIN.rglob("*.py")
)
# What a domain module may import itself: the standard library's pure parts, pydantic (the wire
# models) and orjson (the canonical event's bytes: a pure function of its input), the domain. `os`, `io`, `pathlib`, `socket`, `subprocess`, `asyncio`, `logging` and every
# other package — `shared.db`, `shared.catalog` (it reads files) among them — are refused.
ALLOWED = frozenset(
    {"__future__", "abc", "bisect", "collections", "copy", "dataclasses", "datetime", "decimal"}
    | {"enum", "fractions", "functools", "heapq", "itertools", "math", "numbers", "operator"}
    | {"re", "statistics", "string", "types", "typing", "uuid", "pydantic", "orjson"}
)
# None of these may be loaded at all, not even by a library the domain imports.
FRAMEWORKS = frozenset(
    {"kafka", "aiokafka", "faust", "mode", "fastapi", "starlette", "httpx", "h11", "uvicorn"}
    | {"aiohttp", "requests", "sqlalchemy", "psycopg", "alembic", "prometheus_client", "sqlite3"}
)


def imported(module: str) -> set[str]:
    """Every module `module`'s source imports, at the top or inside a function, as dotted names."""
    base = ROOT / Path(*module.split("."))
    path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{module}: relative import"
            names.add(node.module or "")
    return names


def test_every_domain_module_is_checked() -> None:
    assert {
        "shared.domain.summary",
        "shared.domain.rollup",
        "shared.domain.validation.rules",
    } < set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_a_domain_module_imports_only_the_pure_standard_library_pydantic_and_the_domain(
    module: str,
) -> None:
    refused = {
        name
        for name in imported(module)
        if name.split(".")[0] not in ALLOWED
        and name != "shared.domain"
        and not name.startswith("shared.domain.")
    }
    assert refused == set()


def test_importing_every_domain_module_loads_no_framework() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(FRAMEWORKS)!r}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"
