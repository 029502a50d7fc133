"""Kafka security on a real secured broker: SASL_SSL only, SCRAM and PLAIN, ACLs enforced.

The services run as processes over SASL_SSL end to end; what is misconfigured (a plaintext
client, a wrong password, a CA that did not sign the broker's certificate) fails at once with a
message naming the setting.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaTimeoutError, TopicAuthorizationFailedError

from shared.db.engine import upgrade
from shared.infra.certs import CertificateAuthority
from shared.infra.kafka import LocalKafka
from shared.infra.wait import wait_for
from shared.kafka_probe import KafkaProbeError, probe_kafka
from shared.kafka_security import client_options
from shared.settings import Settings
from shared.topics import ensure_topics
from tests.e2e.client import INDICATOR, SEEDED_SECRET, SOURCE, create_key, series_rows
from tests.services import ServiceProcess


def _user() -> str:
    return f"u{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"])
def test_the_admin_connects_with_every_mechanism(secure_kafka: LocalKafka, mechanism: str) -> None:
    settings = secure_kafka.settings(mechanism=mechanism)
    assert settings.kafka_security_protocol == "SASL_SSL"
    probe_kafka(settings, timeout=10)
    topic = f"t{uuid.uuid4().hex[:8]}.secured"
    secure_kafka.create_topics([topic], partitions=1)
    with KafkaAdminClient(**client_options(settings)) as admin:
        assert topic in admin.list_topics()


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256"])
def test_a_user_added_later_logs_in_but_may_do_only_what_acls_allow(
    secure_kafka: LocalKafka, mechanism: str
) -> None:
    topic = f"t{uuid.uuid4().hex[:8]}.secured"
    secure_kafka.create_topics([topic], partitions=1)
    user = _user()
    secure_kafka.add_user(user)
    settings = secure_kafka.settings(user, mechanism=mechanism)
    probe_kafka(settings, timeout=10)  # authenticated
    producer = KafkaProducer(**client_options(settings), max_block_ms=10_000)
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            producer.send(topic, b"not allowed").get(timeout=10)
    finally:
        producer.close(timeout=5)


def test_plaintext_clients_are_refused(secure_kafka: LocalKafka) -> None:
    plaintext = Settings(kafka_bootstrap=secure_kafka.bootstrap)
    with pytest.raises(KafkaProbeError, match="STADSPULS_KAFKA_SECURITY_PROTOCOL=PLAINTEXT"):
        probe_kafka(plaintext, timeout=10)
    with pytest.raises(KafkaTimeoutError):  # the client itself never gets in
        KafkaAdminClient(bootstrap_servers=secure_kafka.bootstrap, bootstrap_timeout_ms=3000)


def test_a_wrong_password_is_refused_naming_the_settings(secure_kafka: LocalKafka) -> None:
    wrong = secure_kafka.settings(kafka_sasl_password="wrong-password")
    with pytest.raises(KafkaProbeError) as refused:
        probe_kafka(wrong, timeout=10)
    message = str(refused.value)
    assert "STADSPULS_KAFKA_SASL_PASSWORD" in message
    assert "SCRAM-SHA-512" in message
    assert "wrong-password" not in message


def test_a_certificate_from_another_ca_is_refused_naming_the_cafile(
    secure_kafka: LocalKafka, tmp_path: Path
) -> None:
    other = CertificateAuthority.create(tmp_path / "other", "Someone else's CA")
    untrusted = secure_kafka.settings(kafka_ssl_cafile=other.cert)
    with pytest.raises(KafkaProbeError, match="STADSPULS_KAFKA_SSL_CAFILE"):
        probe_kafka(untrusted, timeout=10)


@pytest.fixture
def secured_env(
    secure_kafka: LocalKafka, topic_prefix: str, sqlite_url: str, tmp_path: Path
) -> dict[str, str]:
    """The services' environment on the secured broker, as its super user, topics made."""
    ensure_topics(secure_kafka.settings(topic_prefix=topic_prefix), partitions=2)
    upgrade(sqlite_url)
    return {
        **secure_kafka.env(),
        "STADSPULS_TOPIC_PREFIX": topic_prefix,
        "STADSPULS_DATABASE_URL": sqlite_url,
        "STADSPULS_AGGREGATE_APP_ID": f"{topic_prefix}aggregate",
        "STADSPULS_AGGREGATE_DATA_DIR": str(tmp_path / "aggregate"),
        "STADSPULS_KEY_SECRET": SEEDED_SECRET,
    }


def _row(area: str, value: float) -> dict[str, Any]:
    share = round(value * 10)
    return {
        "indicator": INDICATOR,
        "area": area,
        "period": "2024",
        "value": value,
        "numerator": share,
        "denominator": 1000,
    }


def test_the_services_work_end_to_end_over_sasl_ssl(
    secure_kafka: LocalKafka, secured_env: dict[str, str], tmp_path: Path
) -> None:
    procs = [
        ServiceProcess(name, secured_env, tmp_path / f"{name}.log")
        for name in ("aggregate", "ingest", "api")
    ]
    try:
        for proc in procs:
            proc.start()
        _, ingest, api = procs
        key = create_key(secured_env)
        answer = httpx.post(
            f"{ingest.url}/v1/observations",
            json={"observations": [_row("rinkeby", 71.3)]},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        # the Kafka-native path: the raw validator's consumer reads over SASL_SSL too
        raw = f"{secured_env['STADSPULS_TOPIC_PREFIX']}stadspuls.observations.raw.v1"
        producer = KafkaProducer(**secure_kafka.client_options())
        headers = [("source", SOURCE.encode())]
        producer.send(raw, value=orjson.dumps(_row("kista", 50.0)), headers=headers).get(30)
        producer.close(5)

        def both() -> dict[str, float] | None:
            found = {r["area"]: r["value"] for r in series_rows(api.url)}
            return found if {"rinkeby", "kista"} <= found.keys() else None

        found = wait_for(both, timeout=90, what="both values in the API")
        assert found["rinkeby"] == pytest.approx(71.3)
        assert found["kista"] == pytest.approx(50.0)
    finally:
        for proc in procs:
            proc.stop()


def _serve(service: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`stadspuls serve SERVICE` until it exits (bounded: a hang fails the test)."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "serve", service],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=90,
    )


@pytest.mark.parametrize("service", ["ingest", "aggregate"])
def test_a_service_with_a_wrong_password_exits_naming_the_setting(
    service: str, secured_env: dict[str, str]
) -> None:
    done = _serve(service, {**secured_env, "STADSPULS_KAFKA_SASL_PASSWORD": "not-the-password"})
    assert done.returncode != 0
    assert "STADSPULS_KAFKA_SASL_PASSWORD" in done.stderr
    assert "not-the-password" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_a_service_that_does_not_trust_the_brokers_ca_exits_naming_the_cafile(
    secured_env: dict[str, str], tmp_path: Path
) -> None:
    other = CertificateAuthority.create(tmp_path / "other", "Someone else's CA")
    done = _serve("aggregate", {**secured_env, "STADSPULS_KAFKA_SSL_CAFILE": str(other.cert)})
    assert done.returncode != 0
    assert "STADSPULS_KAFKA_SSL_CAFILE" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_kafka_command_with_a_plaintext_client_exits_naming_the_protocol(
    secured_env: dict[str, str],
) -> None:
    plaintext = {k: v for k, v in secured_env.items() if "SASL" not in k and "SSL" not in k} | {
        "STADSPULS_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"
    }
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "topics"],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("STADSPULS_")},
            **plaintext,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "STADSPULS_KAFKA_SECURITY_PROTOCOL=PLAINTEXT" in done.stderr


def _cli(env: dict[str, str], *args: str) -> str:
    """A `stadspuls` command the way an operator runs it; its output, stdout then stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
        timeout=90,
    )
    return done.stdout + done.stderr


def test_no_secret_reaches_a_log_or_an_answer(
    secure_kafka: LocalKafka, secured_env: dict[str, str], tmp_path: Path
) -> None:
    env = secured_env | {
        "STADSPULS_API_ANONYMOUS": "final",
        "STADSPULS_INGEST_KEY_CACHE_SECONDS": "0",
    }
    procs = [ServiceProcess(n, env, tmp_path / f"{n}.log") for n in ("aggregate", "ingest", "api")]
    answers: list[str] = []
    try:
        for proc in procs:
            proc.start()
        _, ingest, api = procs
        key = create_key(env)
        token = _cli(env, "readers", "create", "analyst").strip().splitlines()[-1]
        wrong_key = key[:-6] + ("A" * 6 if not key.endswith("AAAAAA") else "B" * 6)
        for bearer in (key, wrong_key, "garbage " + key):
            answer = httpx.post(
                f"{ingest.url}/v1/observations",
                json={"observations": [_row("rinkeby", 71.3)]},
                headers={"Authorization": f"Bearer {bearer}"},
                timeout=30,
            )
            answers.append(str(answer.headers) + answer.text)
        assert '"accepted":1' in answers[0], answers[0]
        outputs = [_cli(env, "keys", "list"), _cli(env, "readers", "list")]
        for bearer in (token, token[:-4] + "AAAA", wrong_key):
            answer = httpx.get(
                f"{api.url}/v1/etappmal", headers={"Authorization": f"Bearer {bearer}"}
            )
            answers.append(str(answer.headers) + answer.text)
        outputs.append(_cli(env, "readers", "revoke", "analyst"))
        answer = httpx.get(f"{api.url}/v1/etappmal", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401
        answers.append(str(answer.headers) + answer.text)
    finally:
        for proc in procs:
            proc.stop()
    logs = "\n".join(proc.log_path.read_text(errors="replace") for proc in procs)
    assert all(proc.log_path.stat().st_size > 0 for proc in procs)
    secrets = {
        "the SASL password": env["STADSPULS_KAFKA_SASL_PASSWORD"],
        "the key secret": env["STADSPULS_KEY_SECRET"],
        "the source key": key,
        "the source key's secret": key.split("_", 2)[2],
        "a mistyped source key's secret": wrong_key.split("_", 2)[2],
        "the reader token": token,
        "the reader token's secret": token.split("_", 2)[2],
    }
    for where, text in (
        ("logs", logs),
        ("answers", "\n".join(answers)),
        ("CLI", "\n".join(outputs)),
    ):
        shown = [name for name, secret in secrets.items() if secret in text]
        assert shown == [], f"{where} show {shown}"
