"""The three Stadspuls services as processes, scraped by a real Prometheus: setup and polling helpers."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from pydantic import SecretStr

from services.ingest.keys import create_key
from shared.db.engine import make_engine, upgrade
from shared.infra.kafka import KafkaEndpoint
from shared.infra.postgres import LocalPostgres
from shared.infra.prometheus import LocalPrometheus
from shared.infra.wait import wait_for
from shared.settings import Settings
from shared.topics import ensure_topics
from tests.services import ServiceProcess

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "rules" / "stadspuls.rules.yml"
SERVICES = ("aggregate", "ingest", "api")
T = TypeVar("T")


def rules_firing_at_once(directory: Path) -> Path:
    """The real rules file with every alert's `for:` set to 0s, written into `directory`."""
    document = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"]: r for g in document["groups"] for r in g["rules"] if "alert" in r}
    assert {"StadspulsIndicatorStale", "StadspulsServiceDown"} <= alerts.keys(), sorted(alerts)
    for rule in alerts.values():
        rule["for"] = "0s"
    path = directory / "stadspuls.rules.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return path


@dataclass
class Stack:
    """The three services, the Prometheus scraping them, and a source key to write with."""

    services: dict[str, ServiceProcess]
    prometheus: LocalPrometheus
    headers: dict[str, str]

    def post(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Send rows to ingest; every one must be accepted."""
        response = httpx.post(
            f"{self.services['ingest'].url}/v1/observations",
            json={"observations": rows},
            headers=self.headers,
            timeout=30,
        )
        assert response.status_code == 202, response.text
        answer: dict[str, Any] = response.json()
        assert answer["accepted"] == len(rows), answer
        return answer

    def wait(self, predicate: Callable[[], T | None], what: str, timeout: float = 120) -> T:
        """Poll `predicate`; on timeout fail with what Prometheus and the services logged."""
        __tracebackhide__ = True
        try:
            return wait_for(predicate, timeout=timeout, interval=0.25, what=what)
        except TimeoutError as exc:
            error = str(exc)
        logs = "\n".join(
            f"--- {name} log ---\n{proc.log_tail(20)}" for name, proc in self.services.items()
        )
        targets = [
            (t["labels"]["job"], t["health"], t["lastError"]) for t in self.prometheus.targets()
        ]
        pytest.fail(
            f"{error}\ntargets: {targets}\n--- prometheus log ---\n"
            f"{self.prometheus.log_tail(20)}\n{logs}"
        )

    def wait_for_series(self, promql: str) -> list[dict[str, Any]]:
        """Poll until the instant query `promql` returns at least one series; return them."""
        return self.wait(partial(self.prometheus.query, promql), f"{promql} in Prometheus")

    def values(self, promql: str) -> list[float]:
        """The sample values of an instant query."""
        return [float(s["value"][1]) for s in self.prometheus.query(promql)]

    def alerts(self, name: str, **labels: str) -> list[dict[str, Any]]:
        """Active alerts called `name` whose labels include `labels`."""
        return [
            a
            for a in self.prometheus.alerts()
            if a["labels"].get("alertname") == name and labels.items() <= a["labels"].items()
        ]

    def firing(self, name: str, **labels: str) -> list[dict[str, Any]]:
        """Poll until an alert called `name` with `labels` is firing; return the firing ones."""
        return self.wait(
            lambda: [a for a in self.alerts(name, **labels) if a["state"] == "firing"],
            f"{name} {labels} firing",
        )

    def evaluated_again(self) -> None:
        """Wait until the alerting group has been evaluated from start to end after this call."""

        def last() -> str:
            groups = self.prometheus.rule_groups()
            return str(next(g["lastEvaluation"] for g in groups if g["name"] == "stadspuls.alerts"))

        def changed(since: str) -> bool:
            return last() != since

        # The first change may be an evaluation that was already running; the second began later.
        for _ in range(2):
            self.wait(partial(changed, last()), "a fresh evaluation of the alerting rules")


@contextmanager
def running_stack(
    kafka: KafkaEndpoint, postgres: LocalPostgres, workdir: Path, source: str
) -> Iterator[Stack]:
    """ingest, aggregate and api on their own topics and database, scraped every second."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    database = f"t_{uuid.uuid4().hex[:12]}"
    settings = Settings(
        kafka_bootstrap=kafka.bootstrap,
        topic_prefix=prefix,
        database_url=postgres.create_database(database),
        key_secret=SecretStr(f"test-{uuid.uuid4().hex}"),
    )
    ensure_topics(settings)
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    _, key = create_key(engine, settings, source)
    engine.dispose()
    env = {
        "STADSPULS_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "STADSPULS_TOPIC_PREFIX": prefix,
        "STADSPULS_DATABASE_URL": settings.database_url,
        "STADSPULS_KEY_SECRET": settings.key_secret.get_secret_value(),
        "STADSPULS_ENVIRONMENT": "test",
        "STADSPULS_AGGREGATE_APP_ID": f"{prefix}aggregate",
        "STADSPULS_AGGREGATE_LAG_SECONDS": "1",
        "STADSPULS_INGEST_RAW_VALIDATOR": "false",
    }
    services = {name: ServiceProcess(name, env, workdir / f"{name}.log") for name in SERVICES}
    prometheus = LocalPrometheus(
        {f"stadspuls-{name}": [f"127.0.0.1:{proc.port}"] for name, proc in services.items()},
        [rules_firing_at_once(workdir)],
    )
    try:
        for proc in services.values():
            proc.start()
        prometheus.start()
        yield Stack(services, prometheus, {"Authorization": f"Bearer {key}"})
    finally:
        prometheus.close()
        for proc in services.values():
            proc.stop()
        postgres.drop_database(database)
