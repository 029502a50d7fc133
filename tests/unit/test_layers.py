"""The import layers: `shared/` is the library under every service and imports none of them; a
service never imports another; only the composition roots (`services/cli.py`, `services/serve.py`)
see them all."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SERVICES = ("ingest", "aggregate", "api")


def imports(path: Path) -> set[str]:
    """Every module a file imports, as dotted names."""
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_shared_imports_no_service() -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(n for n in imports(p) if n.split(".")[0] == "services")
        for p in (ROOT / "shared").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_no_other_service(service: str) -> None:
    others = {f"services.{s}" for s in SERVICES if s != service} | {
        "services.cli",
        "services.serve",
        "services.logs",
    }
    offenders = {
        str(p.relative_to(ROOT)): sorted(
            n for n in imports(p) if any(n == o or n.startswith(o + ".") for o in others)
        )
        for p in (ROOT / "services" / service).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
