"""How every Kafka client of the project connects: the security settings turned into client options.

One place for kafka-python (admin, consumer, producer) and aiokafka, which take the same keywords
(`client_options`), and for faust (`faust_credentials`). `problems` lists what is wrong with a
combination of settings; every builder refuses to build options while there is any (a service
that does not use Kafka, the read API, is not bothered by them).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

    from shared.settings import Settings

TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})
SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
_FILES = ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile")


class KafkaSecurityError(ValueError):
    """The Kafka security settings cannot work; the message names the setting to change."""


def env_name(field: str) -> str:
    """The environment variable of a settings field, e.g. `STADSPULS_KAFKA_SSL_CAFILE`."""
    return f"STADSPULS_{field.upper()}"


def problems(settings: Settings) -> list[str]:
    """Every reason the Kafka security settings cannot work (empty when they can)."""
    protocol = settings.kafka_security_protocol
    found = []
    uses = f"with {env_name('kafka_security_protocol')}={protocol}"
    if protocol in SASL_PROTOCOLS:
        if not settings.kafka_sasl_username:
            found.append(f"{env_name('kafka_sasl_username')} must be set {uses}")
        if (
            settings.kafka_sasl_password is None
            or not settings.kafka_sasl_password.get_secret_value()
        ):
            found.append(f"{env_name('kafka_sasl_password')} must be set {uses}")
    else:
        for field in ("kafka_sasl_username", "kafka_sasl_password"):
            if getattr(settings, field) is not None:
                found.append(f"{env_name(field)} is set but unused {uses} (SASL_SSL?)")
    for field in _FILES:
        path: Path | None = getattr(settings, field)
        if path is None:
            continue
        if protocol not in TLS_PROTOCOLS:
            found.append(f"{env_name(field)} is set but unused {uses} (SSL or SASL_SSL?)")
        elif not path.is_file():
            found.append(f"{env_name(field)}: no file {path}")
    if (settings.kafka_ssl_certfile is None) != (settings.kafka_ssl_keyfile is None):
        found.append(
            f"{env_name('kafka_ssl_certfile')} and {env_name('kafka_ssl_keyfile')} "
            "go together (the client certificate of mutual TLS and its key)"
        )
    return found


def refuse_problems(settings: Settings) -> None:
    """Raise `KafkaSecurityError` naming every problem `problems` finds."""
    found = problems(settings)
    if found:
        raise KafkaSecurityError("; ".join(found))


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of the settings' protocol (None without TLS); verifies the broker's host."""
    if settings.kafka_security_protocol not in TLS_PROTOCOLS:
        return None
    from aiokafka.helpers import create_ssl_context

    cafile, certfile = settings.kafka_ssl_cafile, settings.kafka_ssl_certfile
    try:
        context: ssl.SSLContext = create_ssl_context(cafile=cafile)
    except (ssl.SSLError, OSError) as exc:
        raise KafkaSecurityError(
            f"{env_name('kafka_ssl_cafile')}: {cafile} holds no usable CA certificate ({exc})"
        ) from None
    if certfile is not None:
        try:
            context.load_cert_chain(certfile, settings.kafka_ssl_keyfile)
        except (ssl.SSLError, OSError) as exc:
            raise KafkaSecurityError(
                f"{env_name('kafka_ssl_certfile')} / {env_name('kafka_ssl_keyfile')}: "
                f"not a certificate and its private key ({exc})"
            ) from None
    return context


def security_options(settings: Settings) -> dict[str, Any]:
    """Security keywords of kafka-python's and aiokafka's clients (both take the same ones)."""
    refuse_problems(settings)
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if protocol in SASL_PROTOCOLS:
        password = settings.kafka_sasl_password
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = password.get_secret_value() if password else None
    return options


def client_options(settings: Settings) -> dict[str, Any]:
    """`bootstrap_servers` and the security keywords of a kafka-python or aiokafka client."""
    if not settings.kafka_bootstrap:
        raise KafkaSecurityError(f"{env_name('kafka_bootstrap')} must be set")
    return {"bootstrap_servers": settings.kafka_bootstrap, **security_options(settings)}


def faust_credentials(settings: Settings) -> CredentialsT | None:
    """faust's `broker_credentials` (faust hands them to aiokafka); None for PLAINTEXT."""
    import faust

    options = security_options(settings)  # refuses what cannot work, builds the TLS context once
    context: ssl.SSLContext | None = options.get("ssl_context")
    if settings.kafka_security_protocol in SASL_PROTOCOLS:
        return faust.SASLCredentials(
            username=options["sasl_plain_username"],
            password=options["sasl_plain_password"],
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,  # a context makes it SASL_SSL, none SASL_PLAINTEXT
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def describe(settings: Settings) -> str:
    """How the clients connect, for a log line (never the password)."""
    protocol = settings.kafka_security_protocol
    text: str = protocol
    if protocol in SASL_PROTOCOLS:
        text += f" {settings.kafka_sasl_mechanism} as {settings.kafka_sasl_username}"
    if settings.kafka_ssl_certfile is not None:
        text += f", client certificate {settings.kafka_ssl_certfile}"
    return text
