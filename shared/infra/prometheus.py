"""A real Prometheus server on 127.0.0.1 with its own config, rules and storage, no Docker.

Built on the system's `prometheus` binary (Debian package `prometheus`). Tests point it at running
Stadspuls services and read what it scraped and which alerts fire through its HTTP API. By hand,
`python -m shared.infra.prometheus` scrapes the services of `stadspuls up` on their default ports.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml

from shared.infra.ports import free_port
from shared.infra.server import LocalServer, spawn, stop_process
from shared.infra.wait import wait_for

RULES_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules"


class PrometheusError(RuntimeError):
    """Prometheus answered an API call with an error."""


def prometheus_binary() -> str:
    """Path of the `prometheus` server binary (PATH first, then /usr/bin)."""
    path = shutil.which("prometheus") or shutil.which("prometheus", path="/usr/bin")
    if path is None:
        raise RuntimeError("the prometheus server binary was not found; install prometheus")
    return path


class LocalPrometheus(LocalServer):
    """One Prometheus server scraping `targets` ({job: ["host:port", ...]}) and evaluating `rule_files`."""

    name = "Prometheus"

    def __init__(
        self,
        targets: Mapping[str, Sequence[str]],
        rule_files: Sequence[Path] = (),
        *,
        scrape_interval: str = "1s",
        evaluation_interval: str = "1s",
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="stadspuls-prometheus-"))
        self.config_path = self.workdir / "prometheus.yml"
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "prometheus.log"
        self.config: dict[str, Any] = {
            "global": {
                "scrape_interval": scrape_interval,
                "evaluation_interval": evaluation_interval,
            },
            "rule_files": [str(Path(f).resolve()) for f in rule_files],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": list(addresses)}]}
                for job, addresses in targets.items()
            ],
        }
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the server's HTTP API and UI."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> LocalPrometheus:
        """Write the config, launch the server and wait until /-/ready answers 200."""
        if self._proc is not None and self._proc.poll() is None:
            return self
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        command = [
            prometheus_binary(),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1d",
        ]
        try:
            with self.log_path.open("ab") as log:
                self._proc = spawn(command, log, cwd=self.workdir)
            self._track()
            wait_for(self._ready, timeout=timeout, interval=0.1, what=f"Prometheus at {self.url}")
        except BaseException as exc:
            self.stop()
            raise self._not_started(exc) from exc
        return self

    def _ready(self) -> bool:
        self._still_running(self._proc)
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def _api(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector of `promql` now: [{"metric": {labels}, "value": [time, "text"]}]."""
        data = self._api("query", query=promql)
        if data["resultType"] != "vector":
            raise PrometheusError(f"{promql!r} gave a {data['resultType']}, not a vector")
        result: list[dict[str, Any]] = data["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts (pending and firing): [{"labels", "annotations", "state", "value", ...}]."""
        alerts: list[dict[str, Any]] = self._api("alerts")["alerts"]
        return alerts

    def rule_groups(self) -> list[dict[str, Any]]:
        """The loaded rule groups with each rule's health and last evaluation error."""
        groups: list[dict[str, Any]] = self._api("rules")["groups"]
        return groups

    def targets(self) -> list[dict[str, Any]]:
        """Active scrape targets with their health and last scrape error."""
        targets: list[dict[str, Any]] = self._api("targets")["activeTargets"]
        return targets

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM and wait; SIGKILL if it hangs."""
        stop_process(self._proc, timeout)
        self._untrack()

    def close(self) -> None:
        """Stop the server and delete its config, storage and log."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def main() -> None:
    """Scrape ingest, aggregate and api on 127.0.0.1 with the project's rules until Ctrl-C."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=9090)
    for name, port in (("ingest", 8081), ("aggregate", 8082), ("api", 8080)):
        parser.add_argument(f"--{name}", default=f"127.0.0.1:{port}", help="host:port to scrape")
    parser.add_argument("--scrape-interval", default="5s")
    args = parser.parse_args()
    targets = {f"stadspuls-{n}": [getattr(args, n)] for n in ("ingest", "aggregate", "api")}
    server = LocalPrometheus(
        targets,
        sorted(RULES_DIR.glob("*.yml")),
        port=args.port,
        scrape_interval=args.scrape_interval,
        evaluation_interval=args.scrape_interval,
    )
    with server:
        print(
            f"Prometheus on {server.url} (alerts: {server.url}/alerts); Ctrl-C stops it", flush=True
        )
        # Blocked only now, so that the server process does not inherit the blocked mask.
        stop = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop)
        signal.sigwait(stop)


if __name__ == "__main__":
    main()
