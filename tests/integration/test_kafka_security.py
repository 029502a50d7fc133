"""Kafka security on a real secured broker: SASL_SSL only, SCRAM and PLAIN, ACLs enforced.

The services run as processes over SASL_SSL end to end; what is misconfigured (a plaintext
client, a wrong password, a CA that did not sign the broker's certificate) fails at once with a
message naming the setting.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaTimeoutError, TopicAuthorizationFailedError

from shared.infra.certs import CertificateAuthority
from shared.infra.kafka import LocalKafka
from shared.kafka_probe import KafkaProbeError, probe_kafka
from shared.kafka_security import client_options
from shared.settings import Settings


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
