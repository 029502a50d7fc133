"""The Apache Kafka broker itself: jars assembled from Maven Central once, and its configuration."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

KAFKA_VERSION = "4.1.1"


def repo_root() -> Path:
    """Return the root of the Stadspuls repository (the folder holding `deploy/`)."""
    return Path(__file__).resolve().parents[2]


def kafka_deploy_dir() -> Path:
    """Return `deploy/kafka`, home of the pom and the broker's log4j2 configuration."""
    return repo_root() / "deploy" / "kafka"


def ensure_kafka_jars(cache_dir: Path | None = None) -> Path:
    """Return the folder of broker jars, downloading them with Maven only when missing."""
    root = cache_dir or Path(
        os.environ.get("STADSPULS_KAFKA_CACHE") or repo_root() / ".cache" / "kafka"
    )
    libs = root / KAFKA_VERSION / "libs"
    if libs.is_dir():
        return libs
    if shutil.which("mvn") is None:
        raise RuntimeError(f"Kafka jars missing in {libs} and `mvn` is not on PATH to fetch them")
    libs.parent.mkdir(parents=True, exist_ok=True)
    # Download beside the target and rename at the end, so a broken download never looks complete.
    staging = Path(tempfile.mkdtemp(prefix="libs.partial-", dir=libs.parent))
    try:
        subprocess.run(
            [
                "mvn",
                "-B",
                "-q",
                "-Dstyle.color=never",
                "-f",
                str(kafka_deploy_dir() / "pom.xml"),
                "dependency:copy-dependencies",
                f"-Dkafka.version={KAFKA_VERSION}",
                f"-DoutputDirectory={staging}",
            ],
            check=True,
        )
        if not any(staging.glob(f"kafka_2.13-{KAFKA_VERSION}.jar")):
            raise RuntimeError(f"Maven finished but kafka_2.13-{KAFKA_VERSION}.jar is missing")
        try:
            staging.rename(libs)
        except OSError:
            if not libs.is_dir():  # a concurrent download that won the race is just as good
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return libs


def server_properties(
    port: int, controller_port: int, data_dir: Path, extra: Mapping[str, str] | None = None
) -> str:
    """Return server.properties for a single combined broker+controller node on 127.0.0.1.

    `extra` entries replace or add to the defaults (the secured mode's listeners, for one).
    """
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "4",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "8",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # After a crash (SIGKILL) the restarted broker cannot register until its old session
        # expires; the 9 s default makes every crash test wait that long.
        "broker.session.timeout.ms": "4000",
        "broker.heartbeat.interval.ms": "500",
        # Small machine: fewer threads and a smaller compaction buffer than the server defaults.
        "num.network.threads": "2",
        "num.io.threads": "4",
        "log.cleaner.dedupe.buffer.size": str(32 * 1024 * 1024),
        **(extra or {}),
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())
