"""Run Stadspuls services as real processes for integration and end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from kafka import KafkaProducer
from sqlalchemy import Engine, select

from shared.db.schema import series
from shared.domain.catalog import Catalog
from shared.domain.observation import Observation
from shared.infra.ports import free_port
from shared.infra.server import stop_process
from shared.infra.wait import wait_for
from tests.oracle import OracleRow, SeriesId, city_points, close, oracle_rows


@dataclass
class ServiceProcess:
    """`stadspuls serve NAME` in a child process, with its own port and log file."""

    name: str
    env: Mapping[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    args: tuple[str, ...] = ()  # after the name: `serve connector kolada`

    @property
    def url(self) -> str:
        """Base URL of the service's HTTP server."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> ServiceProcess:
        """Start it and wait until /healthz answers."""
        port_var = f"STADSPULS_{self.name.upper()}_PORT"
        env = {**os.environ, **self.env, port_var: str(self.port)}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", self.name, *self.args],
            env=env,
            stdout=log,
            stderr=log,
        )
        wait_for(self._healthy, timeout=timeout, what=f"{self.name} /healthz on {self.url}")
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.log_tail()}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def metric(self, name: str, labels: str = "") -> float:
        """The sum of a metric's samples whose label text contains `labels`."""
        return read_metric(self.url, name, labels)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no commit, no flush."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM and wait; SIGKILL if it hangs."""
        stop_process(self.proc, timeout)

    def log_tail(self, lines: int = 40) -> str:
        """The end of the service's log."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def three_services(env: Mapping[str, str], folder: Path) -> Iterator[list[ServiceProcess]]:
    """aggregate, ingest and api started (each answering /healthz) with `env`; stopped on leaving."""
    procs = [
        ServiceProcess(name, env, folder / f"{name}.log") for name in ("aggregate", "ingest", "api")
    ]
    try:
        for proc in procs:
            proc.start()
        yield procs
    finally:
        for proc in procs:
            proc.stop()


def read_metric(url: str, name: str, labels: str = "") -> float:
    """The sum of the samples of metric `name` at `url`/metrics whose label text contains `labels`."""
    text = httpx.get(f"{url}/metrics", timeout=5).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {") and labels in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def produce(bootstrap: str, topic: str, events: Iterable[Observation]) -> int:
    """Publish observations keyed by series key (acks=all) and wait for every acknowledgement."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, batch_size=256 * 1024
    )
    count = 0
    for obs in events:
        producer.send(topic, key=obs.series_key.encode(), value=obs.to_json())
        count += 1
    producer.flush(120)
    producer.close()
    return count


def read_model_mismatches(
    engine: Engine,
    catalog: Catalog,
    events: list[Observation],
    expected: dict[SeriesId, OracleRow] | None = None,
) -> list[str]:
    """Differences between the SQL read model and the oracle's batch computation of `events`."""
    expected = oracle_rows(catalog, events) if expected is None else expected
    cols = (series.c.indicator, series.c.area, series.c.period, series.c.gender)
    actual = {}
    with engine.connect() as conn:
        shown = (series.c.value, series.c.origin, series.c.coverage, series.c.preliminary)
        for r in conn.execute(select(*cols, *shown)):
            actual[(r.indicator, r.area, r.period, r.gender)] = r
    problems = []
    for key in expected.keys() | actual.keys():
        want, got = expected.get(key), actual.get(key)
        want_origin = want.origin if want else None
        got_origin = got.origin if got else None
        if want_origin != got_origin or (
            want_origin is not None
            and (
                not close(want.value if want else None, got.value if got else None)
                or not close(want.coverage if want else None, got.coverage if got else None)
                or (want.preliminary if want else False) != (got.preliminary if got else False)
            )
        ):
            problems.append(f"{'|'.join(key)}: expected {want}, read model has {got}")
    return sorted(problems)


def status_mismatches(
    engine: Engine,
    catalog: Catalog,
    events: list[Observation],
    rows: dict[SeriesId, OracleRow] | None = None,
) -> list[str]:
    """Differences between the stored indicator and etappmål statuses and those computed from the
    oracle's city-level rows with the shared status formula."""
    from shared.db.schema import etappmal_status, indicator_status
    from shared.domain.observation import utcnow
    from shared.domain.summary import etappmal_summary, indikator_summary

    rows = oracle_rows(catalog, events) if rows is None else rows
    now = utcnow()
    expected = {}
    for ind in catalog.indikatorer:
        points = city_points(catalog, rows, ind.id)
        expected[ind.id] = indikator_summary(catalog, ind.id, points, now)
    with engine.connect() as conn:
        stored = {
            r.indicator: r.document
            for r in conn.execute(
                select(indicator_status).where(
                    indicator_status.c.gender == "T", indicator_status.c.area == catalog.root
                )
            )
        }
        goals = {r.etappmal: r.status for r in conn.execute(select(etappmal_status))}
    problems = []
    for ind_id, want in expected.items():
        got = stored.get(ind_id)
        if want["periods"] == 0 and got is None:
            continue
        keys = ("status", "trend", "latest_period", "published")
        if (
            got is None
            or any(want[k] != got[k] for k in keys)
            or not close(want["latest_value"], got["latest_value"])
        ):
            problems.append(
                f"indicator {ind_id}: expected {[want[k] for k in keys]}, stored {got and [got[k] for k in keys]}"
            )
    for goal in catalog.etappmal:
        want_goal = etappmal_summary(catalog, goal.id, expected)["status"]
        if goals.get(goal.id, "saknar_data") != want_goal:
            problems.append(
                f"etappmål {goal.id}: expected {want_goal}, stored {goals.get(goal.id)}"
            )
    return problems
