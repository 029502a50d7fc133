"""End to end: HTTP → ingest → Kafka → aggregate → SQL → api → HTTP, on real Kafka and PostgreSQL,
and the README's run command (`stadspuls up`) brought up, used and stopped like a person would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.infra.ports import free_port
from shared.infra.wait import wait_for
from tests.e2e.client import INDICATOR, create_key, series_rows

pytestmark = [pytest.mark.kafka]


@pytest.mark.postgres
def test_a_posted_value_is_served_rolled_up_and_corrected(stack: dict[str, str]) -> None:
    key = create_key(stack)
    auth = {"Authorization": f"Bearer {key}"}
    rows = [
        {
            "indicator": INDICATOR,
            "area": "rinkeby",
            "period": "2024",
            "value": 71.3,
            "numerator": 214,
            "denominator": 300,
        },
        {
            "indicator": INDICATOR,
            "area": "kista",
            "period": "2024",
            "value": 50.0,
            "numerator": 100,
            "denominator": 200,
        },
    ]
    answer = httpx.post(
        f"{stack['ingest']}/v1/observations", json={"observations": rows}, headers=auth, timeout=30
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == 2

    def rinkeby_kista() -> dict[str, Any] | None:
        found = series_rows(stack["api"], area="rinkeby-kista")
        return found[0] if found and found[0]["coverage"] and found[0]["coverage"] >= 0.5 else None

    parent = wait_for(rinkeby_kista, timeout=60, what="the stadsdelsområde rollup in the API")
    assert parent["origin"] == "computed"
    assert (parent["numerator"], parent["denominator"]) == (314, 500)
    assert parent["value"] == pytest.approx(100 * 314 / 500)  # Σnumerator/Σdenominator, not a mean

    (rinkeby,) = series_rows(stack["api"], area="rinkeby")
    assert rinkeby["value"] == pytest.approx(71.3)
    assert rinkeby["origin"] == "reported"

    # A correction: no updated_at, so the time received, later than the first version's.
    correction = {**rows[0], "value": 75.0, "numerator": 225}
    answer = httpx.post(
        f"{stack['ingest']}/v1/observations",
        json={"observations": [correction]},
        headers=auth,
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    wait_for(
        lambda: series_rows(stack["api"], area="rinkeby")[0]["value"] == pytest.approx(75.0),
        timeout=60,
        what="the corrected value in the API",
    )
    parent = series_rows(stack["api"], area="rinkeby-kista")[0]
    assert (parent["numerator"], parent["denominator"]) == (325, 500)


def test_stadspuls_up_runs_everything_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    ports = {
        "STADSPULS_API_PORT": free_port(),
        "STADSPULS_INGEST_PORT": free_port(),
        "STADSPULS_AGGREGATE_PORT": free_port(),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("STADSPULS_")}
    env.update({k: str(v) for k, v in ports.items()})
    env["STADSPULS_DATABASE_URL"] = f"sqlite:///{tmp_path / 'stadspuls.db'}"
    log = (tmp_path / "up.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up", "--workdir", str(tmp_path / "run")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        wait_for(
            lambda: "Ctrl-C" in (tmp_path / "up.log").read_text() or proc.poll() is not None,
            timeout=240,
            what="`stadspuls up` to say it is up",
        )
        assert proc.poll() is None, (tmp_path / "up.log").read_text()
        api = f"http://127.0.0.1:{ports['STADSPULS_API_PORT']}"
        ingest = f"http://127.0.0.1:{ports['STADSPULS_INGEST_PORT']}"
        assert api in (tmp_path / "up.log").read_text()
        key = create_key({"STADSPULS_DATABASE_URL": env["STADSPULS_DATABASE_URL"]})
        row = {
            "indicator": INDICATOR,
            "area": "husby",
            "period": "2023",
            "value": 40.0,
            "numerator": 40,
            "denominator": 100,
        }
        answer = httpx.post(
            f"{ingest}/v1/observations",
            json={"observations": [row]},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        found = wait_for(
            lambda: series_rows(api, area="husby"), timeout=60, what="the value in the API"
        )
        assert found[0]["value"] == pytest.approx(40.0)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, (tmp_path / "up.log").read_text()
        assert "stopped." in (tmp_path / "up.log").read_text()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{api}/healthz", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
