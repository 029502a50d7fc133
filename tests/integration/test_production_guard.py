"""With STADSPULS_ENVIRONMENT=production, every service and command refuses development defaults
before it binds a port or connects; with real settings each service starts."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.db.catalog_versions import catalog_history
from shared.db.engine import make_engine, upgrade
from shared.infra.kafka import KafkaEndpoint
from shared.infra.ports import free_port
from shared.infra.wait import wait_for
from shared.production import EXIT_CONFIG
from shared.settings import DEFAULT_CATALOG, Settings
from shared.topics import ensure_topics
from tests.services import ServiceProcess, three_services


def _ready(proc: ServiceProcess) -> bool:
    try:
        return httpx.get(f"{proc.url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


REFUSED = (
    "STADSPULS_KEY_SECRET",
    "STADSPULS_KAFKA_SECURITY_PROTOCOL",
    "STADSPULS_API_ANONYMOUS",
    "STADSPULS_DATABASE_URL",
)
COMMANDS = [
    ["serve", "ingest"],
    ["serve", "aggregate"],
    ["serve", "api"],
    ["up"],
    ["keys", "list"],
    ["db", "upgrade"],
    ["topics"],
]


@pytest.fixture
def broker_trap() -> Iterator[socket.socket]:
    """A listening socket posing as the Kafka bootstrap: a client that connects shows up here."""
    trap = socket.create_server(("127.0.0.1", 0))
    trap.setblocking(False)
    yield trap
    trap.close()


def _connected(trap: socket.socket) -> bool:
    try:
        conn, _ = trap.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_production_with_development_defaults_is_refused_before_anything_starts(
    command: list[str], broker_trap: socket.socket, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STADSPULS_")}
    ports = {f"STADSPULS_{s}_PORT": str(free_port()) for s in ("INGEST", "API", "AGGREGATE")}
    env |= ports | {
        "STADSPULS_ENVIRONMENT": "production",
        "STADSPULS_KAFKA_BOOTSTRAP": f"127.0.0.1:{broker_trap.getsockname()[1]}",
    }
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", *command],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == EXIT_CONFIG, result.stderr
    assert "STADSPULS_ENVIRONMENT=production" in result.stderr
    for name in REFUSED:
        assert name in result.stderr, name
    assert not _connected(broker_trap), "it connected to Kafka"
    assert not (tmp_path / "stadspuls.db").exists(), "it opened the default database"
    for port in ports.values():
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)


def test_production_with_real_settings_starts_every_service(
    kafka: KafkaEndpoint, topic_prefix: str, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'read-model.db'}"
    env = {
        "STADSPULS_ENVIRONMENT": "production",
        "STADSPULS_KEY_SECRET": "a-real-secret-for-the-production-guard-test",
        "STADSPULS_API_ANONYMOUS": "final",
        "STADSPULS_DATABASE_URL": database_url,
        "STADSPULS_KAFKA_ALLOW_PLAINTEXT": "true",  # the test broker has a PLAINTEXT listener
        "STADSPULS_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "STADSPULS_TOPIC_PREFIX": topic_prefix,
        "STADSPULS_AGGREGATE_APP_ID": f"{topic_prefix}aggregate",
    }
    ensure_topics(
        Settings(kafka_bootstrap=kafka.bootstrap, topic_prefix=topic_prefix, environment="test")
    )
    upgrade(database_url)
    with three_services(env, tmp_path) as procs:
        for proc in procs:  # connected to Kafka and the database
            wait_for(lambda p=proc: _ready(p), timeout=90, what=f"{proc.name} /readyz")
    # the aggregator recorded the catalog it runs with
    (version,) = catalog_history(make_engine(database_url))
    assert version.sha256 == hashlib.sha256(DEFAULT_CATALOG.read_bytes()).hexdigest()
