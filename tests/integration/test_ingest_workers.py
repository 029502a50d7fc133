"""One ingest replica in two worker processes on one port (`STADSPULS_INGEST_WORKERS=2`), run as
`stadspuls serve ingest` on real Kafka: both workers take batches, a source's budget is the
replica's whichever worker answers, every `/metrics` gives the replica's sums, every accepted row
is on the topic once, a killed worker is replaced, and SIGTERM stops them all."""

from __future__ import annotations

import os
import signal
import socket
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.mmap_dict import MmapedDict
from pydantic import SecretStr

from bench.ingest.workload import batches
from services.ingest.keys import create_key
from shared.catalog.loader import default_catalog
from shared.db.engine import make_engine, upgrade
from shared.infra.wait import wait_for
from shared.settings import Settings
from shared.topics import ensure_topics
from tests.integration.ingest_helpers import events, metric, read_topic
from tests.services import ServiceProcess

SECRET = "test-secret-for-ingest-workers"
LIMITED, FREE = "utbildningsforvaltningen", "scb"
ROWS = 50  # a batch
BUDGET = 10 * ROWS  # LIMITED's rows a minute: ten batches, then 429 (refilled ~8 rows a second)
ACCEPTED = "stadspuls_ingest_observations_accepted_total"


@dataclass
class Replica:
    service: ServiceProcess
    settings: Settings
    keys: dict[str, str]
    bodies: dict[str, list[bytes]]
    posted: dict[str, int] = field(default_factory=dict)  # rows accepted so far, by source
    throttled: int = 0

    def post(self, source: str, n: int = 0) -> httpx.Response:
        """Batch `n` of `source`, on a connection of its own."""
        body = self.bodies[source][n % len(self.bodies[source])]
        answer = httpx.post(
            f"{self.service.url}/v1/observations",
            content=body,
            headers={"Content-Type": "application/json", "Authorization": self.keys[source]},
            timeout=30,
        )
        if answer.status_code == 202:
            self.posted[source] = self.posted.get(source, 0) + answer.json()["accepted"]
        elif answer.status_code == 429:
            self.throttled += 1
        return answer


def workers_of(pid: int) -> list[int]:
    """The worker processes under the replica's supervisor `pid`: its spawned children, not the
    resource tracker it may also have started."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z" and b"--multiprocessing-fork" in cmdline:
            found.append(int(stat.parent.name))
    return sorted(found)


def accepted_by_worker(pid: int, metric_name: str = ACCEPTED) -> float:
    """A worker's own count of `metric_name`, read from its file in the replica's folder."""
    path = Path(_environ(pid)[b"PROMETHEUS_MULTIPROC_DIR"].decode()) / f"counter_{pid}.db"
    if not path.exists():
        return 0.0
    return sum(
        value
        for key, value, _, _ in MmapedDict.read_all_values_from_file(str(path))
        if orjson.loads(key)[1] == metric_name
    )


def _environ(pid: int) -> dict[bytes, bytes]:
    """The environment process `pid` started with."""
    items = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.split(b"=", 1) for item in items if b"=" in item)


@pytest.fixture(scope="module")
def replica(kafka: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    work = tmp_path_factory.mktemp("ingest-workers")
    url = f"sqlite:///{work / 'ingest.db'}"
    prefix = f"w{uuid.uuid4().hex[:8]}."
    settings = Settings(
        database_url=url, kafka_bootstrap=kafka.bootstrap, topic_prefix=prefix,
        key_secret=SecretStr(SECRET),
    )  # fmt: skip
    upgrade(url)
    ensure_topics(settings, partitions=3)
    engine = make_engine(url)
    keys = {s: f"Bearer {create_key(engine, settings, s, 'workers')[1]}" for s in (LIMITED, FREE)}
    engine.dispose()
    catalog = default_catalog()
    bodies = {
        s: [orjson.dumps({"observations": b}) for b in batches(catalog, s, ROWS, 40)]
        for s in (LIMITED, FREE)
    }
    env = {
        "STADSPULS_ENVIRONMENT": "test",
        "STADSPULS_DATABASE_URL": url,
        "STADSPULS_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "STADSPULS_TOPIC_PREFIX": prefix,
        "STADSPULS_KEY_SECRET": SECRET,
        "STADSPULS_INGEST_RAW_VALIDATOR": "false",
        "STADSPULS_INGEST_WORKERS": "2",
        "STADSPULS_INGEST_SOURCE_LIMITS": orjson.dumps(
            {LIMITED: {"rows_per_minute": BUDGET}}
        ).decode(),
    }
    service = ServiceProcess("ingest", env, work / "ingest.log").start()
    assert service.proc is not None
    parent = service.proc.pid
    wait_for(lambda: len(workers_of(parent)) == 2, timeout=60, what="two ingest workers")
    wait_for(
        lambda: httpx.get(f"{service.url}/readyz", timeout=2).status_code == 200,
        timeout=60,
        ignore=(httpx.HTTPError,),
        what="ingest ready",
    )
    yield Replica(service, settings, keys, bodies)
    service.stop()


def test_the_workers_share_the_port_the_budget_and_the_metrics_and_lose_nothing(
    replica: Replica,
) -> None:
    assert replica.service.proc is not None
    workers = workers_of(replica.service.proc.pid)
    # concurrent posts, each on a connection of its own: the kernel hands them to both workers
    with ThreadPoolExecutor(6) as pool:
        free = list(pool.map(lambda n: replica.post(FREE, n), range(40)))
        limited = list(pool.map(lambda n: replica.post(LIMITED, n), range(20)))
    assert {a.status_code for a in free} == {202}
    statuses = [a.status_code for a in limited]
    assert set(statuses) == {202, 429}
    # The budget is the replica's: ten batches, and at most one more refilled meanwhile (about
    # 8 rows a second); one budget per worker would have let up to twenty through.
    assert 10 <= statuses.count(202) <= 11
    mine = [accepted_by_worker(pid) for pid in workers]
    assert all(n > 0 for n in mine), (
        f"a worker took no batch: {dict(zip(workers, mine, strict=True))}"
    )
    assert sum(mine) == sum(replica.posted.values())
    # every worker's /metrics gives the replica's sums, whichever worker answers
    for _ in range(8):
        text = httpx.get(f"{replica.service.url}/metrics", timeout=5).text
        assert metric(text, ACCEPTED, source=FREE) == replica.posted[FREE]
        assert metric(text, ACCEPTED, source=LIMITED) == replica.posted[LIMITED]
        assert metric(text, "stadspuls_ingest_throttled_total") == replica.throttled
    # every accepted row is on the topic, once
    assert replica.settings.kafka_bootstrap is not None
    topic = replica.settings.topic("observations.v1")
    published = events(read_topic(replica.settings.kafka_bootstrap, topic))
    assert len({e["observation_id"] for e in published}) == len(published)
    by_source = {s: sum(1 for e in published if e["source"] == s) for s in (FREE, LIMITED)}
    assert by_source == replica.posted


def test_a_killed_worker_is_replaced_and_its_counts_stay_in_the_sums(replica: Replica) -> None:
    assert replica.service.proc is not None
    parent = replica.service.proc.pid
    before = workers_of(parent)
    os.kill(before[0], signal.SIGKILL)
    wait_for(
        lambda: len(now := workers_of(parent)) == 2 and before[0] not in now,
        timeout=60,
        what="a worker in place of the killed one",
    )
    (new,) = set(workers_of(parent)) - set(before)
    # the new worker takes batches (posts on fresh connections until one of them reaches it)
    wait_for(
        lambda: replica.post(FREE).status_code == 202 and accepted_by_worker(new) > 0,
        timeout=60,
        ignore=(httpx.HTTPError,),
        what=f"the new worker {new} taking a batch",
    )
    assert f"replaces worker(s) [{before[0]}]" in replica.service.log_path.read_text()
    text = httpx.get(f"{replica.service.url}/metrics", timeout=5).text
    assert metric(text, ACCEPTED, source=FREE) == replica.posted[FREE]  # the dead one's too


def test_sigterm_stops_every_worker_and_frees_the_port(replica: Replica) -> None:
    assert replica.service.proc is not None
    parent = replica.service.proc.pid
    workers = workers_of(parent)
    shared = Path(_environ(workers[0])[b"PROMETHEUS_MULTIPROC_DIR"].decode()).parent
    assert (shared / "budgets").exists()
    replica.service.proc.send_signal(signal.SIGTERM)
    assert replica.service.proc.wait(30) == 0
    assert not shared.exists(), "the replica's budgets and metrics files outlived it"
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"worker {pid} outlived"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", replica.service.port), timeout=5).close()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
