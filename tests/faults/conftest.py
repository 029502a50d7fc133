"""Fixtures of the fault suite: the catalog, a private PostgreSQL, and stacks of real processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from shared.catalog.loader import default_catalog
from shared.domain.catalog import Catalog
from shared.infra.postgres import LocalPostgres
from tests.faults.stack import Stack, running_stack

StackOn = Callable[..., Stack]


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return default_catalog()


@pytest.fixture
def postgres_private() -> Iterator[LocalPostgres]:
    """A PostgreSQL server of this test's own, free to be stopped and started."""
    with LocalPostgres() as server:
        yield server


def _sqlite_alone(folder: Path, name: str) -> str:
    folder.mkdir()
    return f"sqlite:///{folder / name}"


@pytest.fixture
def sqlite_file(tmp_path: Path) -> str:
    """URL of a SQLite file alone in its folder (a fault may freeze the folder)."""
    return _sqlite_alone(tmp_path / "db", "stadspuls.db")


@pytest.fixture
def ingest_sqlite_file(tmp_path: Path) -> str:
    """URL of a second SQLite file, for ingest's keys and idempotency records."""
    return _sqlite_alone(tmp_path / "ingest-db", "ingest.db")


@pytest.fixture
def stack_on(topic_prefix: str, catalog: Catalog, tmp_path: Path) -> Iterator[StackOn]:
    """`stack_on(bootstrap, database_url[, ingest_database_url])` starts a stack (see
    `running_stack`); every stack is stopped after the test."""
    with ExitStack() as stacks:
        yield lambda bootstrap, url, ingest_url=None: stacks.enter_context(
            running_stack(bootstrap, topic_prefix, url, catalog, tmp_path, ingest_url)
        )
