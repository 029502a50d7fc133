"""Prometheus config, rules and rule unit tests pass the real `promtool`; every alert has a runbook."""

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

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules" / "stadspuls.rules.yml"
RULE_TESTS = PROMETHEUS / "tests" / "stadspuls.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "stadspuls.json"
OPERATIONS = ROOT / "docs" / "operations.md"
SEVERITIES = {"critical", "warning", "info"}


@pytest.fixture(scope="module")
def promtool() -> str:
    """Path of promtool (Debian package `prometheus`); missing fails under CI, skips elsewhere."""
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is not installed (apt-get install prometheus)")
        pytest.skip("promtool is not installed")
    return path


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def _alerts() -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", heading.strip().lower()))


def test_config_loads_with_its_rule_files(promtool: str, tmp_path: Path) -> None:
    """prometheus.yml is valid and its relative rule glob finds the rules file wherever it is copied."""
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS, copy)
    result = _run(promtool, "check", "config", "prometheus.yml", cwd=copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout + result.stderr
    rule_count = sum(len(g["rules"]) for g in yaml.safe_load(RULES.read_text())["groups"])
    assert f"SUCCESS: {rule_count} rules found" in result.stdout + result.stderr


def test_rules_are_valid(promtool: str) -> None:
    """`promtool check rules` accepts the rules file."""
    result = _run(promtool, "check", "rules", str(RULES), cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass(promtool: str) -> None:
    """`promtool test rules` runs the firing and silent cases of every alert."""
    result = _run(promtool, "test", "rules", str(RULE_TESTS), cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rule_unit_tests_catch_a_wrong_threshold(promtool: str, tmp_path: Path) -> None:
    """A rules file with a loosened threshold fails the unit tests, so they do test something."""
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS, copy)
    rules = copy / "rules" / "stadspuls.rules.yml"
    rules.write_text(
        rules.read_text().replace("consumer_lag:sum > 10000", "consumer_lag:sum > 20000")
    )
    result = _run(promtool, "test", "rules", str(copy / "tests" / "stadspuls.test.yml"), cwd=copy)
    assert result.returncode != 0
    assert "StadspulsAggregatorLagHigh" in result.stdout + result.stderr


def test_dashboard_queries_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    """Every Grafana query parses, once Grafana's $__rate_interval is substituted."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert exprs
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": e.replace("$__rate_interval", "5m")}
                    for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = _run(promtool, "check", "rules", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_silent_unit_test() -> None:
    """Each alert appears in the rule tests both with expected alerts and with none."""
    cases = [
        case
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    fires = {c["alertname"] for c in cases if c["exp_alerts"]}
    silent = {c["alertname"] for c in cases if not c["exp_alerts"]}
    assert set(_alerts()) == fires == silent


def test_the_expected_alerts_exist() -> None:
    """The alerts operators are told about in docs/operations.md are the ones defined."""
    assert set(_alerts()) == {
        "StadspulsServiceDown",
        "StadspulsIngestRejectionRateHigh",
        "StadspulsAggregatorLagHigh",
        "StadspulsFreshnessP99OverObjective",
        "StadspulsIndicatorStale",
        "StadspulsEtappmalForsamring",
        "StadspulsAggregateBatchFailing",
        "StadspulsAggregatorNotReady",
        "StadspulsEventsSkipped",
        "StadspulsSourceReusesObservationIds",
        "StadspulsConnectorNotSucceeding",
    }


@pytest.mark.parametrize("name", sorted(_alerts()))
def test_alert_has_severity_annotations_and_a_runbook_section(name: str) -> None:
    """Each alert carries a severity, summary, description and a runbook_url into docs/operations.md."""
    alert = _alerts()[name]
    assert alert["labels"]["severity"] in SEVERITIES
    annotations = alert["annotations"]
    assert annotations["summary"]
    assert annotations["description"]
    page, _, anchor = annotations["runbook_url"].partition("#")
    assert page == "docs/operations.md"
    assert anchor == name.lower()
    headings = re.findall(r"^#+ (.+)$", OPERATIONS.read_text(), re.M)
    assert anchor in {_slug(h) for h in headings}
