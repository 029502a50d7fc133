"""The Kafka security settings turned into client options, and the combinations refused."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import ValidationError

from shared.infra.certs import CertificateAuthority, Issued
from shared.kafka_security import (
    KafkaSecurityError,
    client_options,
    describe,
    faust_credentials,
    security_options,
)
from shared.settings import Settings

MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
BOOTSTRAP = "kafka-1.example:9093,kafka-2.example:9093"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[CertificateAuthority, Issued]:
    folder = tmp_path_factory.mktemp("tls")
    ca = CertificateAuthority.create(folder)
    return ca, ca.issue(folder, "ingest", client=True)


def _settings(protocol: str, **fields: Any) -> Settings:
    return Settings(kafka_bootstrap=BOOTSTRAP, kafka_security_protocol=protocol, **fields)


def _sasl(mechanism: str) -> dict[str, Any]:
    return {
        "kafka_sasl_mechanism": mechanism,
        "kafka_sasl_username": "ingest",
        "kafka_sasl_password": "s3cret-pw",
    }


def test_plaintext_has_no_tls_and_no_sasl() -> None:
    settings = _settings("PLAINTEXT")
    assert client_options(settings) == {
        "bootstrap_servers": BOOTSTRAP,
        "security_protocol": "PLAINTEXT",
    }
    assert faust_credentials(settings) is None


def test_ssl_verifies_the_broker_against_the_cafile(
    tls: tuple[CertificateAuthority, Issued],
) -> None:
    ca, _ = tls
    settings = _settings("SSL", kafka_ssl_cafile=ca.cert)
    options = client_options(settings)
    assert set(options) == {"bootstrap_servers", "security_protocol", "ssl_context"}
    context = options["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("organizationName", "Stadspuls local"),), (("commonName", "Stadspuls local CA"),))
    ]
    credentials = faust_credentials(settings)
    assert credentials_to_aiokafka_auth(credentials)["security_protocol"] == "SSL"


def test_mutual_tls_loads_the_client_certificate(tls: tuple[CertificateAuthority, Issued]) -> None:
    ca, client = tls
    settings = _settings(
        "SSL",
        kafka_ssl_cafile=ca.cert,
        kafka_ssl_certfile=client.cert,
        kafka_ssl_keyfile=client.key,
    )
    assert isinstance(client_options(settings)["ssl_context"], ssl.SSLContext)
    assert "client certificate" in describe(settings)
    swapped = _settings(
        "SSL", kafka_ssl_cafile=ca.cert, kafka_ssl_certfile=client.key, kafka_ssl_keyfile=ca.cert
    )
    with pytest.raises(KafkaSecurityError, match="STADSPULS_KAFKA_SSL_CERTFILE"):
        client_options(swapped)


def test_a_cafile_without_a_certificate_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(KafkaSecurityError, match="STADSPULS_KAFKA_SSL_CAFILE"):
        client_options(_settings("SSL", kafka_ssl_cafile=junk))


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_sasl_plaintext_logs_in_without_tls(mechanism: str) -> None:
    settings = _settings("SASL_PLAINTEXT", **_sasl(mechanism))
    assert client_options(settings) == {
        "bootstrap_servers": BOOTSTRAP,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "ingest",
        "sasl_plain_password": "s3cret-pw",
    }
    # faust hands its credentials to aiokafka as exactly these keywords
    passed = credentials_to_aiokafka_auth(faust_credentials(settings))
    assert passed == {**security_options(settings), "ssl_context": None}


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_sasl_ssl_logs_in_over_tls(
    mechanism: str, tls: tuple[CertificateAuthority, Issued]
) -> None:
    settings = _settings("SASL_SSL", kafka_ssl_cafile=tls[0].cert, **_sasl(mechanism))
    options = client_options(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == mechanism
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "ingest",
        "s3cret-pw",
    )
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    passed = credentials_to_aiokafka_auth(faust_credentials(settings))
    assert passed["security_protocol"] == "SASL_SSL"
    assert passed["sasl_mechanism"] == mechanism
    assert passed["sasl_plain_password"] == "s3cret-pw"
    assert isinstance(passed["ssl_context"], ssl.SSLContext)
    assert "s3cret-pw" not in describe(settings)
    assert "s3cret-pw" not in repr(faust_credentials(settings))


def test_sasl_ssl_without_a_cafile_trusts_the_systems_cas() -> None:
    context = client_options(_settings("SASL_SSL", **_sasl("SCRAM-SHA-512")))["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED


def _refused(**fields: Any) -> str:
    with pytest.raises(ValidationError) as refused:
        Settings(kafka_bootstrap=BOOTSTRAP, **fields)
    return str(refused.value)


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_sasl_without_user_name_or_password_is_refused(protocol: str) -> None:
    message = _refused(kafka_security_protocol=protocol, kafka_sasl_password="pw")
    assert "STADSPULS_KAFKA_SASL_USERNAME must be set" in message
    message = _refused(kafka_security_protocol=protocol, kafka_sasl_username="ingest")
    assert "STADSPULS_KAFKA_SASL_PASSWORD must be set" in message


def test_a_certificate_without_its_key_is_refused(tls: tuple[CertificateAuthority, Issued]) -> None:
    _, client = tls
    message = _refused(kafka_security_protocol="SSL", kafka_ssl_certfile=client.cert)
    assert "STADSPULS_KAFKA_SSL_CERTFILE and STADSPULS_KAFKA_SSL_KEYFILE go together" in message
    message = _refused(kafka_security_protocol="SSL", kafka_ssl_keyfile=client.key)
    assert "go together" in message


@pytest.mark.parametrize("field", ["kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile"])
def test_a_file_that_does_not_exist_is_refused(
    field: str, tls: tuple[CertificateAuthority, Issued], tmp_path: Path
) -> None:
    _, client = tls
    files = {"kafka_ssl_certfile": client.cert, "kafka_ssl_keyfile": client.key}
    missing = tmp_path / "missing.pem"
    message = _refused(kafka_security_protocol="SSL", **{**files, field: missing})
    assert f"STADSPULS_{field.upper()}: no file {missing}" in message


def test_settings_a_protocol_does_not_use_are_refused(
    tls: tuple[CertificateAuthority, Issued],
) -> None:
    message = _refused(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_ssl_cafile=tls[0].cert,
        **{k: v for k, v in _sasl("PLAIN").items() if k != "kafka_sasl_mechanism"},
    )
    assert "STADSPULS_KAFKA_SSL_CAFILE is set but unused" in message
    message = _refused(kafka_sasl_username="ingest")
    assert "STADSPULS_KAFKA_SASL_USERNAME is set but unused" in message


def test_a_refusal_read_from_the_environment_never_shows_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STADSPULS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("STADSPULS_KAFKA_SASL_PASSWORD", "do-not-print-me")
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert "STADSPULS_KAFKA_SASL_USERNAME must be set" in str(refused.value)
    assert "do-not-print-me" not in str(refused.value)
