"""A real Prometheus scrapes the three running services and evaluates the project's own rules.

Ingest, aggregate and api run as `stadspuls serve …` processes on real Kafka and PostgreSQL; data goes
in through ingest's HTTP API. Prometheus loads a copy of deploy/prometheus/rules/stadspuls.rules.yml
generated at test time in which every `for:` is set to 0s, so an alert fires on the first evaluation
that sees its condition instead of minutes later; expressions, labels and annotations are the real
ones. The checks go through Prometheus' HTTP API only: what it scraped, recorded and alerts on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shared.infra.kafka import KafkaEndpoint
from shared.infra.postgres import LocalPostgres
from shared.infra.prometheus import PrometheusError, prometheus_binary
from tests.integration.prometheus_stack import DEPLOY, SERVICES, Stack, running_stack

pytestmark = pytest.mark.prometheus

SOURCE = "scb"
NAMND = "exploateringsnamnden"
ETAPPMAL = "arbetsplatser-ytterstaden"
API_ROUTE = 'route="/v1/indikatorer/{id}"'
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "stadspuls.json"


@pytest.fixture(scope="session")
def prometheus_installed() -> None:
    """The prometheus binary is there; missing fails under CI, skips elsewhere (before Kafka starts)."""
    try:
        prometheus_binary()
    except RuntimeError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (apt-get install prometheus)")
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def stack(
    prometheus_installed: None,
    kafka: KafkaEndpoint,
    postgres: LocalPostgres,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """ingest, aggregate and api scraped every second by a Prometheus with the project's rules."""
    with running_stack(kafka, postgres, tmp_path_factory.mktemp("prometheus"), SOURCE) as stack:
        yield stack


def city_row(indicator: str, period: str, **fields: Any) -> dict[str, Any]:
    """One city-wide, total-gender row."""
    return {"indicator": indicator, "area": "stockholm", "period": period, "gender": "T", **fields}


def test_prometheus_scrapes_the_key_series_of_all_three_services(stack: Stack) -> None:
    """Every service is up, and the metrics the rules and dashboard use arrive under each job."""
    indicator = "arbetsplatser-ytterstaden-antal"  # part of ETAPPMAL, led by NAMND
    last_year = str(datetime.now(UTC).year - 1)
    stack.post(
        [city_row(indicator, "2019", value=41_000), city_row(indicator, last_year, value=44_500)]
    )
    response = httpx.get(f"{stack.services['api'].url}/v1/indikatorer/{indicator}", timeout=10)
    assert response.status_code == 200, response.text

    def all_up() -> bool:
        return sorted(
            s["metric"]["job"] for s in stack.prometheus.query('up{job=~"stadspuls-.*"} == 1')
        ) == [f"stadspuls-{n}" for n in sorted(SERVICES)]

    stack.wait(all_up, "all three services scraped and up")
    aggregate, ingest, api = "stadspuls-aggregate", "stadspuls-ingest", "stadspuls-api"
    by_source, route = f'source="{SOURCE}"', 'route="/v1/observations"'
    for query in (
        _q(
            aggregate,
            "stadspuls_indicator_stale",
            f'indicator="{indicator}",namnd="{NAMND}"',
            "== 0",
        ),
        _q(aggregate, "stadspuls_indicator_newest_period_age_seconds", f'indicator="{indicator}"'),
        _q(aggregate, "stadspuls_etappmal_status", f'etappmal="{ETAPPMAL}"'),
        _q(aggregate, "stadspuls_aggregate_events_total", 'outcome="applied"', ">= 2"),
        _q(aggregate, "stadspuls_aggregate_freshness_seconds_count", "", ">= 2"),
        _q(aggregate, "stadspuls_aggregate_batch_seconds_count", "", ">= 1"),
        _q(aggregate, "stadspuls_aggregate_consumer_lag"),
        _q(ingest, "stadspuls_ingest_observations_received_total", by_source, ">= 2"),
        _q(ingest, "stadspuls_ingest_observations_accepted_total", by_source, ">= 2"),
        _q(ingest, "stadspuls_ingest_batches_total", f'{by_source},outcome="accepted"'),
        _q(ingest, "stadspuls_ingest_publish_seconds_count", "", ">= 1"),
        _q(ingest, "stadspuls_http_requests_total", f'service="ingest",{route},status="202"'),
        _q(ingest, "stadspuls_http_request_duration_seconds_bucket", route),
        _q(api, "stadspuls_http_requests_total", f'service="api",{API_ROUTE},status="200"'),
        _q(api, "stadspuls_http_request_duration_seconds_bucket", API_ROUTE),
    ):
        stack.wait_for_series(query)
    # Every status of the etappmål has a 0/1 gauge, and exactly one of them is 1.
    statuses = stack.values(f'stadspuls_etappmal_status{{etappmal="{ETAPPMAL}"}}')
    assert sorted(statuses) == [0.0] * (len(statuses) - 1) + [1.0], statuses
    # Recording rules evaluate against the real label sets (a wrong label would leave them empty).
    stack.wait_for_series(f"source:stadspuls_ingest_observations_received:rate10m{{{by_source}}}")
    stack.wait_for_series("topic:stadspuls_aggregate_consumer_lag:sum")
    unhealthy = [
        (g["name"], r["name"], r["lastError"])
        for g in stack.prometheus.rule_groups()
        for r in g["rules"]
        if r["health"] == "err"
    ]
    assert not unhealthy, unhealthy


def _q(job: str, metric: str, labels: str = "", condition: str = "") -> str:
    selector = f'job="{job}",{labels}' if labels else f'job="{job}"'
    return f"{metric}{{{selector}}} {condition}".strip()


def test_stale_alert_fires_when_an_indicator_goes_stale(stack: Stack) -> None:
    """Retracting an indicator's only recent period leaves 2015 as newest: stale=1, alert fires."""
    indicator = "nystartade-foretag"  # led by NAMND
    last_year = str(datetime.now(UTC).year - 1)
    stale = f'stadspuls_indicator_stale{{job="stadspuls-aggregate",indicator="{indicator}"}}'
    stack.post([city_row(indicator, "2015", value=9.1), city_row(indicator, last_year, value=11.4)])
    stack.wait(lambda: stack.values(stale) == [0.0], f"{stale} == 0 while {last_year} is newest")
    stack.evaluated_again()
    assert stack.alerts("StadspulsIndicatorStale", indicator=indicator) == []

    stack.post([city_row(indicator, last_year, retract=True)])
    stack.wait(lambda: stack.values(stale) == [1.0], f"{stale} == 1 once only 2015 is left")
    age = stack.values(f'stadspuls_indicator_newest_period_age_seconds{{indicator="{indicator}"}}')
    assert len(age) == 1
    assert age[0] > 10 * 365 * 86_400, age
    (alert,) = stack.firing("StadspulsIndicatorStale", indicator=indicator)
    assert alert["labels"] == {
        "alertname": "StadspulsIndicatorStale",
        "indicator": indicator,
        "namnd": NAMND,
        "severity": "warning",
    }
    assert indicator in alert["annotations"]["summary"]
    assert alert["annotations"]["runbook_url"].endswith("#stadspulsindicatorstale")
    firing = (
        f'ALERTS{{alertname="StadspulsIndicatorStale",alertstate="firing",indicator="{indicator}"}}'
    )
    # The ALERTS series is committed just after the rule's state changes: poll, don't assert.
    stack.wait(lambda: stack.values(firing) == [1.0], f"{firing} recorded")


def test_every_dashboard_query_runs_on_prometheus(stack: Stack) -> None:
    """Prometheus itself parses and evaluates each Grafana query (Grafana only finds out on screen)."""
    stack.wait(lambda: len(stack.values('up{job=~"stadspuls-.*"} == 1')) == 3, "three targets up")
    panels = json.loads(DASHBOARD.read_text())["panels"]
    errors = []
    for panel in panels:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$__rate_interval", "1m")
            try:
                stack.prometheus.query(expr)
            except PrometheusError as exc:
                errors.append(f"{panel['title']} {target['refId']}: {exc}")
    assert not errors, "\n".join(errors)
    (up,) = [p for p in panels if p["title"] == "Services up"]
    assert len(stack.prometheus.query(up["targets"][0]["expr"])) == len(SERVICES)


def test_service_down_alert_fires_when_a_service_stops(stack: Stack) -> None:
    """Stopping the api makes `up` 0 and StadspulsServiceDown fire for it; a restart resolves it."""
    api = stack.services["api"]
    api.stop()
    try:
        (alert,) = stack.firing("StadspulsServiceDown", job="stadspuls-api")
        assert alert["labels"]["severity"] == "critical"
        assert stack.alerts("StadspulsServiceDown", job="stadspuls-ingest") == []
    finally:
        api.start()
    stack.wait(lambda: not stack.alerts("StadspulsServiceDown"), "the alert resolved after restart")
