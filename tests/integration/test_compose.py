"""docker-compose.yml is valid, healthy by construction, local-only, and its dashboard uses real metrics."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.production import production_refusals
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "stadspuls.json"
PORTS = {"api": 8080, "ingest": 8081, "aggregate": 8082}
SECRETS = {"POSTGRES_PASSWORD", "STADSPULS_KEY_SECRET", "GRAFANA_ADMIN_PASSWORD"}
# The metric names of the contract; histograms also expose _bucket, _sum and _count series.
COUNTERS_AND_GAUGES = {
    "stadspuls_ingest_observations_received_total",
    "stadspuls_ingest_observations_accepted_total",
    "stadspuls_ingest_observations_rejected_total",
    "stadspuls_ingest_batches_total",
    "stadspuls_aggregate_events_total",
    "stadspuls_aggregate_dlq_total",
    "stadspuls_aggregate_consumer_lag",
    "stadspuls_indicator_newest_period_age_seconds",
    "stadspuls_indicator_stale",
    "stadspuls_etappmal_status",
    "stadspuls_http_requests_total",
}
HISTOGRAMS = {
    "stadspuls_ingest_publish_seconds",
    "stadspuls_aggregate_freshness_seconds",
    "stadspuls_aggregate_batch_seconds",
    "stadspuls_http_request_duration_seconds",
}

Service = dict[str, Any]


@pytest.fixture(scope="module")
def services() -> dict[str, Service]:
    """The services of docker-compose.yml, YAML anchors and merge keys resolved."""
    services: dict[str, Service] = yaml.safe_load(COMPOSE.read_text())["services"]
    return services


@pytest.fixture(scope="module")
def docker_compose() -> str:
    """Path of docker-compose (Debian package `docker-compose`); missing fails under CI, skips elsewhere."""
    path = shutil.which("docker-compose")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is not installed (apt-get install docker-compose)")
        pytest.skip("docker-compose is not installed")
    return path


def _compose(
    docker_compose: str, tmp_path: Path, *args: str, secrets: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    if secrets:
        env |= {name: f"test-{name.lower()}" for name in SECRETS}
    # An empty env file keeps a developer's .env out of the test.
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    return subprocess.run(
        [docker_compose, "--env-file", str(env_file), "-f", str(COMPOSE), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_compose_config_is_valid(docker_compose: str, tmp_path: Path) -> None:
    """`docker-compose config -q` accepts the file, depends_on conditions included."""
    result = _compose(docker_compose, tmp_path, "config", "-q")
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_start_without_secrets(docker_compose: str, tmp_path: Path) -> None:
    """No password or key secret has a committed default: compose names the missing variable."""
    result = _compose(docker_compose, tmp_path, "config", "-q", secrets=False)
    assert result.returncode != 0
    assert any(name in result.stderr for name in SECRETS), result.stderr


def test_resolved_config_wires_secrets_from_the_environment(
    docker_compose: str, tmp_path: Path
) -> None:
    """The services receive the database password and key secret given in the environment."""
    result = _compose(docker_compose, tmp_path, "config")
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    for name in PORTS:
        env = resolved[name]["environment"]
        assert env["STADSPULS_KEY_SECRET"] == "test-stadspuls_key_secret"
        assert ":test-postgres_password@postgres:5432/" in env["STADSPULS_DATABASE_URL"]
        assert env["STADSPULS_KAFKA_BOOTSTRAP"] == "kafka:19092"


def test_resolved_config_passes_the_production_guard(docker_compose: str, tmp_path: Path) -> None:
    """Compose runs as production: its settings are what the guard accepts, each set on purpose."""
    result = _compose(docker_compose, tmp_path, "config")
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    for name in [*PORTS, "migrate", "topics"]:
        env = resolved[name]["environment"]
        assert env["STADSPULS_ENVIRONMENT"] == "production"
        assert env["STADSPULS_API_ANONYMOUS"] == "final"
        assert env["STADSPULS_KAFKA_ALLOW_PLAINTEXT"] == "true"
        settings = Settings(
            **{
                k.removeprefix("STADSPULS_").lower(): v
                for k, v in env.items()
                if k.startswith("STADSPULS_")
            }
        )
        assert production_refusals(settings) == [], name


def test_every_service_has_a_healthcheck_or_is_one_shot(services: dict[str, Service]) -> None:
    """Long-running services declare a healthcheck; the one-shot migrate is awaited to completion."""
    one_shot = {name for name, s in services.items() if s.get("restart") == "no"}
    assert one_shot == {"migrate", "topics"}
    for name, service in services.items():
        assert name in one_shot or service["healthcheck"]["test"], name
    done = {"condition": "service_completed_successfully"}
    for name in PORTS:
        assert services[name]["depends_on"]["migrate"] == done
    for name in ("ingest", "aggregate"):
        assert services[name]["depends_on"]["topics"] == done
    assert services["migrate"]["command"] == ["stadspuls", "db", "upgrade"]
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert services["topics"]["command"] == ["stadspuls", "topics"]
    assert services["topics"]["depends_on"]["kafka"] == {"condition": "service_healthy"}


def test_published_ports_bind_localhost_only(services: dict[str, Service]) -> None:
    """Every published port is bound to 127.0.0.1."""
    published = [p for s in services.values() for p in s.get("ports", [])]
    assert published
    for port in published:
        assert isinstance(port, str)
        assert port.startswith("127.0.0.1:"), port


@pytest.mark.parametrize(("name", "port"), sorted(PORTS.items()))
def test_service_runs_its_command_on_its_port(
    services: dict[str, Service], name: str, port: int
) -> None:
    """Each service runs `stadspuls serve NAME`, listens and is health-checked on its contract port."""
    service = services[name]
    assert service["command"] == ["stadspuls", "serve", name]
    assert service["environment"][f"STADSPULS_{name.upper()}_PORT"] == str(port)
    assert service["environment"]["STADSPULS_HOST"] == "0.0.0.0"
    assert service["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert f"http://127.0.0.1:{port}/healthz" in " ".join(service["healthcheck"]["test"])
    assert service["build"]["dockerfile"] == "deploy/Dockerfile"


def test_the_kolada_connector_runs_on_the_connector_port(services: dict[str, Service]) -> None:
    """`stadspuls serve connector kolada`, health-checked and scraped on 8083, after migrate and topics."""
    service = services["connector-kolada"]
    assert service["command"] == ["stadspuls", "serve", "connector", "kolada"]
    assert service["environment"]["STADSPULS_CONNECTOR_PORT"] == "8083"
    assert service["environment"]["STADSPULS_ENVIRONMENT"] == "production"
    assert service["ports"] == ["127.0.0.1:8083:8083"]
    assert "http://127.0.0.1:8083/healthz" in " ".join(service["healthcheck"]["test"])
    done = {"condition": "service_completed_successfully"}
    assert service["depends_on"] == {"migrate": done, "topics": done}
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {c["job_name"]: c["static_configs"][0]["targets"] for c in config["scrape_configs"]}
    assert jobs["stadspuls-connector-kolada"] == ["connector-kolada:8083"]


def test_images_are_pinned(services: dict[str, Service]) -> None:
    """Third-party images carry an explicit version tag; the project image is one for all services."""
    project = {services[n]["image"] for n in [*PORTS, "migrate", "topics"]}
    assert project == {"stadspuls:${STADSPULS_IMAGE_TAG:-local}"}
    for image in {s["image"] for s in services.values()} - project:
        _, _, tag = image.partition(":")
        assert tag not in {"", "latest"}, image
    assert services["kafka"]["image"].startswith("apache/kafka:4.")


def test_prometheus_scrapes_the_compose_services() -> None:
    """prometheus.yml scrapes each service by its compose name and contract port, under its job name."""
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {
        c["job_name"]: [t for s in c["static_configs"] for t in s["targets"]]
        for c in config["scrape_configs"]
    }
    for name, port in PORTS.items():
        assert targets[f"stadspuls-{name}"] == [f"{name}:{port}"]


def _metric(series: str) -> str:
    base = re.sub(r"_(bucket|sum|count)$", "", series)
    return base if base in HISTOGRAMS else series


def _metric_names(expr: str) -> set[str]:
    return {_metric(name) for name in re.findall(r"\bstadspuls_[a-z_]+", expr)}


def test_dashboard_is_provisioned_against_the_provisioned_datasource(
    services: dict[str, Service],
) -> None:
    """The dashboard is valid JSON, found by the provider, and every query uses the provisioned datasource."""
    dashboard = json.loads(DASHBOARD.read_text())
    assert isinstance(dashboard["schemaVersion"], int)
    assert dashboard["uid"]
    (datasource,) = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "stadspuls.yml").read_text()
    )["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "stadspuls.yml").read_text()
    )["providers"]
    mounts = {
        v.split(":")[0]: v.split(":")[1]
        for v in services["grafana"]["volumes"]
        if v.startswith("./")
    }
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == datasource["uid"], panel["title"]


def test_dashboard_queries_only_contract_metrics() -> None:
    """Every stadspuls_* name in a query is a contract metric, and the key ones all have a panel."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = set().union(*(_metric_names(e) for e in exprs))
    assert used <= COUNTERS_AND_GAUGES | HISTOGRAMS, used - COUNTERS_AND_GAUGES - HISTOGRAMS
    assert {
        "stadspuls_ingest_observations_received_total",
        "stadspuls_ingest_observations_rejected_total",
        "stadspuls_aggregate_consumer_lag",
        "stadspuls_aggregate_freshness_seconds",
        "stadspuls_aggregate_batch_seconds",
        "stadspuls_aggregate_dlq_total",
        "stadspuls_etappmal_status",
        "stadspuls_indicator_stale",
        "stadspuls_http_request_duration_seconds",
        "stadspuls_http_requests_total",
    } <= used


def test_metric_name_parser_sees_histogram_series_and_unknown_names() -> None:
    """The parser used above maps histogram series to their metric and keeps unknown names visible."""
    expr = 'rate(stadspuls_http_request_duration_seconds_bucket{job="stadspuls-api"}[5m]) + stadspuls_nope_total'
    assert _metric_names(expr) == {
        "stadspuls_http_request_duration_seconds",
        "stadspuls_nope_total",
    }
