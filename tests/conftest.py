"""Fixtures for every test tier: real Kafka and PostgreSQL servers, unique names, database URLs."""

from __future__ import annotations

import os
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Protocol

import pytest

from shared.infra.kafka import BrokerSecurity, ExternalKafka, KafkaEndpoint, LocalKafka
from shared.infra.postgres import LocalPostgres


class _HasLog(Protocol):
    def log_tail(self, lines: int = 50) -> str: ...


# Servers whose log tail is attached to the report of a failing test that used them.
_SESSION_SERVERS = pytest.StashKey[dict[str, _HasLog]]()
_TEST_SERVERS = pytest.StashKey[dict[str, _HasLog]]()


def _remember(
    stash: pytest.Stash, key: pytest.StashKey[dict[str, _HasLog]], name: str, server: _HasLog
) -> None:
    stash.setdefault(key, {})[name] = server


@pytest.fixture(scope="session")
def kafka(pytestconfig: pytest.Config) -> Iterator[KafkaEndpoint]:
    """One broker for the session: STADSPULS_TEST_KAFKA_BOOTSTRAP if set, else a local one."""
    external = os.environ.get("STADSPULS_TEST_KAFKA_BOOTSTRAP")
    if external:
        yield ExternalKafka(external)
        return
    with LocalKafka() as broker:
        _remember(pytestconfig.stash, _SESSION_SERVERS, "kafka", broker)
        yield broker


@pytest.fixture(scope="session")
def secure_kafka(pytestconfig: pytest.Config) -> Iterator[LocalKafka]:
    """One secured broker for the session: SASL_SSL only, ACLs enforced, `admin` its super user.

    Tests add users with `secure_kafka.add_user(name)` and get a client's settings with
    `secure_kafka.settings(name)` or `secure_kafka.env(name)` (see `shared.infra.kafka`).
    """
    with LocalKafka(security=BrokerSecurity()) as broker:
        _remember(pytestconfig.stash, _SESSION_SERVERS, "secure_kafka", broker)
        yield broker


@pytest.fixture
def kafka_private(request: pytest.FixtureRequest) -> Iterator[LocalKafka]:
    """A broker of this test's own, free to be stopped, killed and restarted."""
    with LocalKafka() as broker:
        _remember(request.node.stash, _TEST_SERVERS, "kafka_private", broker)
        yield broker


@pytest.fixture(scope="session")
def postgres(pytestconfig: pytest.Config) -> Iterator[LocalPostgres]:
    """One throwaway PostgreSQL cluster for the session."""
    with LocalPostgres() as server:
        _remember(pytestconfig.stash, _SESSION_SERVERS, "postgres", server)
        yield server


@pytest.fixture
def topic_prefix() -> str:
    """A topic-name prefix no other test uses, e.g. `t1a2b3c4d.`."""
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture
def pg_url(postgres: LocalPostgres) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty PostgreSQL database, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield postgres.create_database(name)
    postgres.drop_database(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """SQLAlchemy URL of a fresh SQLite file."""
    return f"sqlite:///{tmp_path / 'stadspuls.db'}"


@pytest.fixture(params=["sqlite", "postgres"], ids=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """The same test on SQLite and on PostgreSQL: a fresh database URL of each."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: str = request.getfixturevalue(fixture)
    return url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the real servers they need, so `-m "not kafka"` selects the rest; a test
    marked `slow_on("sqlite")` is slow (left out of CI) on that dialect only."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        if names & {"kafka", "kafka_private", "secure_kafka"}:
            item.add_marker(pytest.mark.kafka)
        if "postgres" in names or params.get("db_url") == "postgres":
            item.add_marker(pytest.mark.postgres)
        dialects = {v for v in params.values() if v in ("sqlite", "postgres")}
        for mark in item.iter_markers("slow_on"):
            if dialects & set(mark.args):
                item.add_marker(pytest.mark.slow)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the log tail of every server a failing test used to its report."""
    report = yield
    if report.failed:
        used = set(getattr(item, "fixturenames", ()))
        session_servers = item.config.stash.get(_SESSION_SERVERS, None) or {}
        test_servers = item.stash.get(_TEST_SERVERS, None) or {}
        servers = {**session_servers, **test_servers}
        for name, server in servers.items():
            if name in used or (name == "postgres" and "db_url" in used):
                report.sections.append((f"{name} log (tail)", server.log_tail()))
    return report
