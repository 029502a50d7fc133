"""A real single-node Apache Kafka (KRaft) broker on 127.0.0.1, no Docker.

Run one by hand with `python -m shared.infra.kafka [--port N] [--workdir DIR]`.
"""

from __future__ import annotations

import argparse
import base64
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient

from shared.infra.kafka_admin import ExternalKafka, KafkaEndpoint, create_topics
from shared.infra.kafka_dist import (
    KAFKA_VERSION,
    ensure_kafka_jars,
    kafka_deploy_dir,
    repo_root,
    server_properties,
)
from shared.infra.ports import free_port
from shared.infra.server import LocalServer, spawn, stop_process
from shared.infra.wait import wait_for

__all__ = [
    "KAFKA_VERSION",
    "ExternalKafka",
    "KafkaEndpoint",
    "LocalKafka",
    "create_topics",
    "ensure_kafka_jars",
    "repo_root",
]


def _new_cluster_id() -> str:
    while True:  # Kafka rejects ids that start with '-' (they look like command-line flags)
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class LocalKafka(LocalServer):
    """A combined broker+controller KRaft node with its own ports, data dir and log file."""

    name = "Kafka"

    def __init__(self, workdir: Path | None = None, *, port: int | None = None, heap: str = "512m"):
        self._owns_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="stadspuls-kafka-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.controller_port = free_port()
        self.heap = heap
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "broker.log"
        self.config_path = self.workdir / "server.properties"
        self._cluster_id = _new_cluster_id()
        self._proc: subprocess.Popen[bytes] | None = None

    def _java(self, *args: str) -> list[str]:
        libs = ensure_kafka_jars()
        log4j = kafka_deploy_dir() / "log4j2.properties"
        return ["java", f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{libs}/*", *args]

    def launch(self, timeout: float = 90) -> subprocess.Popen[bytes]:
        """Format storage the first time, then start the broker process without waiting for it.

        A restart after a crash reuses the port, the controller port and the data folder.
        """
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self.config_path.write_text(
            server_properties(self.port, self.controller_port, self.data_dir)
        )
        with self.log_path.open("ab") as log:
            if not (self.data_dir / "meta.properties").exists():  # a restart skips a JVM launch
                subprocess.run(
                    self._java(
                        "-XX:TieredStopAtLevel=1",
                        "kafka.tools.StorageTool",
                        "format",
                        "--ignore-formatted",
                        "-t",
                        self._cluster_id,
                        "-c",
                        str(self.config_path),
                    ),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    check=True,
                    timeout=timeout,
                )
            self._proc = spawn(
                self._java(
                    f"-Xmx{self.heap}",
                    "-XX:+ExitOnOutOfMemoryError",
                    "kafka.Kafka",
                    str(self.config_path),
                ),
                log,
            )
        self._track()
        return self._proc

    def start(self, timeout: float = 90) -> LocalKafka:
        """Format storage if needed, launch the broker and wait until it serves metadata."""
        if self.is_running():
            return self
        deadline = time.monotonic() + timeout
        try:
            self.launch(timeout)
            remaining = max(deadline - time.monotonic(), 0.1)
            wait_for(
                self._ready, timeout=remaining, interval=0.2, what=f"Kafka at {self.bootstrap}"
            )
        except BaseException as exc:
            self.kill()
            raise self._not_started(exc) from exc
        return self

    def _ready(self) -> bool:
        self._still_running(self._proc)
        return self.serves()

    def serves(self) -> bool:
        """Tell whether the broker answers metadata with a controller and an unfenced broker."""
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            with KafkaAdminClient(
                bootstrap_servers=self.bootstrap,
                bootstrap_timeout_ms=2000,
                request_timeout_ms=2000,
                client_id="stadspuls-readiness",
            ) as admin:
                cluster: dict[str, Any] = admin.describe_cluster()
        except Exception:
            return False
        brokers = [b for b in cluster.get("brokers", []) if not b.get("is_fenced")]
        return cluster.get("controller_id", -1) >= 0 and bool(brokers)

    def is_running(self) -> bool:
        """Tell whether the broker process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs (to pause or kill it from outside)."""
        return self._proc.pid if self.is_running() and self._proc is not None else None

    def wait(self) -> int:
        """Block until the broker process exits and return its exit code."""
        return self._proc.wait() if self._proc is not None else 0

    def stop(self, timeout: float = 30) -> None:
        """Shut the broker down cleanly (SIGTERM), escalating to SIGKILL after `timeout` seconds."""
        stop_process(self._proc, timeout)
        self._untrack()

    def kill(self) -> None:
        """Kill the broker at once (SIGKILL), as a crash would."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._untrack()

    def leftover(self) -> None:
        """At interpreter exit, kill a broker still running: a clean stop takes seconds."""
        self.kill()

    def close(self) -> None:
        """Stop the broker and delete its working directory if this object created it."""
        self.stop()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def create_topics(
        self, names: list[str], partitions: int = 4, config: dict[str, str] | None = None
    ) -> None:
        """Create topics on this broker; existing topics are left as they are."""
        create_topics(self.bootstrap, names, partitions, config)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Start a broker, print its bootstrap address and run until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m shared.infra.kafka", description=main.__doc__)
    parser.add_argument("--port", type=int, default=None, help="broker port (default: a free one)")
    parser.add_argument("--workdir", type=Path, default=None, help="data dir (default: temporary)")
    args = parser.parse_args(argv)
    for signum in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: background shells ignore it
        signal.signal(signum, _interrupt)
    with LocalKafka(args.workdir, port=args.port) as broker:
        print(f"Kafka {KAFKA_VERSION} ready: bootstrap={broker.bootstrap} log={broker.log_path}")
        print("Ctrl-C to stop.", flush=True)
        try:
            return broker.wait()
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
