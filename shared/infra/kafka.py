"""A real single-node Apache Kafka (KRaft) broker on 127.0.0.1, no Docker.

Run one by hand with `python -m shared.infra.kafka [--port N] [--workdir DIR] [--secured]`.

Plaintext (the default) or secured, the same few calls serve tests and tools:

    with LocalKafka() as broker:                            # PLAINTEXT listener
        settings = broker.settings(topic_prefix="t1.")      # Settings of a client
    with LocalKafka(security=BrokerSecurity()) as broker:   # SASL_SSL only, ACLs enforced
        broker.ca_file                                      # the CA the broker's certificate is from
        broker.settings()                                   # the admin (super user), SCRAM-SHA-512
        broker.add_user("source-a")                         # SCRAM-SHA-256/512; returns the password
        broker.settings("source-a", mechanism="SCRAM-SHA-256")
        broker.env("source-a")                              # the same as STADSPULS_* variables
        broker.client_options()                             # kafka-python/aiokafka keywords (admin)

Users known when the broker is made (`BrokerSecurity(users={...})`) get their SCRAM credentials
when the storage is formatted and may also use PLAIN; `add_user` goes through the admin API.
See `shared.infra.kafka_secured` for what the secured broker enforces.
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
from kafka.admin import UserScramCredentialUpsertion

from shared.infra.kafka_admin import ExternalKafka, KafkaEndpoint, create_topics
from shared.infra.kafka_dist import (
    KAFKA_VERSION,
    ensure_kafka_jars,
    kafka_deploy_dir,
    repo_root,
    server_properties,
)
from shared.infra.kafka_secured import SCRAM_MECHANISMS, BrokerSecurity, new_password
from shared.infra.ports import free_port
from shared.infra.server import LocalServer, spawn, stop_process
from shared.infra.wait import wait_for
from shared.kafka_security import client_options
from shared.settings import Settings

__all__ = [
    "KAFKA_VERSION",
    "BrokerSecurity",
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

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        port: int | None = None,
        heap: str = "512m",
        security: BrokerSecurity | None = None,
    ):
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
        self.security = security
        self.users = dict(security.everyone()) if security else {}  # name → password

    @property
    def ca_file(self) -> Path | None:
        """The PEM file of the CA that signed the secured broker's certificate (None: plaintext)."""
        return self.workdir / "tls" / "ca.pem" if self.security else None

    def settings(
        self, user: str | None = None, *, mechanism: str = "SCRAM-SHA-512", **fields: Any
    ) -> Settings:
        """Settings of a client of this broker: as `user` (default: the admin) when secured.

        `fields` add to or replace them (e.g. `kafka_sasl_password="wrong"`).
        """
        return Settings(**{**self._client_fields(user, mechanism), **fields})

    def env(self, user: str | None = None, *, mechanism: str = "SCRAM-SHA-512") -> dict[str, str]:
        """The same as `settings`, as the `STADSPULS_*` variables of a service process."""
        fields = self._client_fields(user, mechanism)
        return {f"STADSPULS_{name.upper()}": str(value) for name, value in fields.items()}

    def client_options(self, user: str | None = None) -> dict[str, Any]:
        """kafka-python and aiokafka keywords (bootstrap and security) of a client as `user`."""
        return client_options(self.settings(user))

    def _client_fields(self, user: str | None, mechanism: str) -> dict[str, Any]:
        if self.security is None:
            return {"kafka_bootstrap": self.bootstrap}
        name = user or self.security.admin_user
        return {
            "kafka_bootstrap": self.bootstrap,
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": mechanism,
            "kafka_sasl_username": name,
            "kafka_sasl_password": self.users[name],
            "kafka_ssl_cafile": self.ca_file,
        }

    def add_user(self, name: str, password: str | None = None) -> str:
        """Create (or reset) a SCRAM-SHA-256 and -512 user through the admin API; its password."""
        assert self.security is not None, "users exist on a secured broker only"
        password = password or new_password()
        failed: dict[str, str] = {}
        with KafkaAdminClient(**self.client_options(), client_id="stadspuls-infra") as admin:
            for mechanism in SCRAM_MECHANISMS:  # one credential of a user per request
                upsert = UserScramCredentialUpsertion(name, mechanism, password)
                failed |= {
                    u: e for u, e in admin.alter_user_scram_credentials([upsert]).items() if e
                }
        if failed:
            raise RuntimeError(f"creating SCRAM user {name!r} failed: {failed}")
        self.users[name] = password
        return password

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
        extra = (
            self.security.properties(self.port, self.controller_port, self.workdir)
            if self.security
            else None
        )
        self.config_path.write_text(
            server_properties(self.port, self.controller_port, self.data_dir, extra)
        )
        scram = self.security.format_args() if self.security else []
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
                        *scram,
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
                **self.client_options(),
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
        create_topics(self.client_options(), names, partitions, config)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Start a broker, print its bootstrap address and run until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m shared.infra.kafka", description=main.__doc__)
    parser.add_argument("--port", type=int, default=None, help="broker port (default: a free one)")
    parser.add_argument("--workdir", type=Path, default=None, help="data dir (default: temporary)")
    parser.add_argument("--secured", action="store_true", help="SASL_SSL only, with ACLs")
    args = parser.parse_args(argv)
    for signum in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: background shells ignore it
        signal.signal(signum, _interrupt)
    security = BrokerSecurity() if args.secured else None
    with LocalKafka(args.workdir, port=args.port, security=security) as broker:
        print(f"Kafka {KAFKA_VERSION} ready: bootstrap={broker.bootstrap} log={broker.log_path}")
        for name, value in broker.env().items() if security else ():
            print(f"{name}={value}")
        print("Ctrl-C to stop.", flush=True)
        try:
            return broker.wait()
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
