"""The check every Kafka-using process makes at start: can it connect, as configured, within 15 s?

The clients themselves retry quietly (kafka-python only says "Unable to bootstrap"), so a wrong
password or an untrusted certificate would look like a hang. The probe opens one aiokafka
connection per bootstrap address — TCP, TLS, SASL, one metadata request — and turns what fails
into a `KafkaProbeError` of one line that names the setting to change and never a secret.
"""

from __future__ import annotations

import asyncio
import ssl

from aiokafka.conn import create_conn
from aiokafka.errors import (
    KafkaConnectionError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.protocol.metadata import MetadataRequest

from shared.kafka_security import TLS_PROTOCOLS, env_name, security_options
from shared.settings import Settings

PROBE_SECONDS = 15.0


class KafkaProbeError(RuntimeError):
    """Kafka cannot be used as configured; the message says which setting to look at."""


class _UnreachableError(KafkaProbeError):
    """Nothing answers at this address (another bootstrap address may)."""


class KafkaUnreachableError(KafkaProbeError):
    """No bootstrap address answers at all: a broker that is down, not a wrong setting."""


def probe_kafka(settings: Settings, timeout: float = PROBE_SECONDS) -> None:
    """Connect to Kafka as the settings say, or raise KafkaProbeError within about `timeout`."""
    asyncio.run(probe_kafka_async(settings, seconds=timeout))


async def probe_kafka_async(settings: Settings, *, seconds: float = PROBE_SECONDS) -> None:
    """The probe inside a running event loop."""
    bootstrap = settings.kafka_bootstrap
    if not bootstrap:
        raise KafkaProbeError(f"{env_name('kafka_bootstrap')} is not set")
    options = security_options(settings)  # raises KafkaSecurityError on unreadable files
    addresses = [a.strip() for a in bootstrap.split(",") if a.strip()]
    share = seconds / len(addresses)
    unreachable: list[str] = []
    for address in addresses:
        try:
            await asyncio.wait_for(_connect(settings, address, options), share)
            return
        except TimeoutError:
            unreachable.append(f"{address}: no answer in {share:.0f} s")
        except _UnreachableError as exc:
            unreachable.append(str(exc))
    protocol = f"{env_name('kafka_security_protocol')}={settings.kafka_security_protocol}"
    raise KafkaUnreachableError(
        f"cannot connect to Kafka ({'; '.join(unreachable)}): check "
        f"{env_name('kafka_bootstrap')}={bootstrap} and {protocol}"
    )


async def _connect(settings: Settings, address: str, options: dict[str, object]) -> None:
    host, _, port = address.rpartition(":")
    try:
        conn = await create_conn(
            host, int(port), client_id="stadspuls-probe", request_timeout_ms=10_000, **options
        )
        try:
            await conn.send(MetadataRequest([]))
        finally:
            conn.close()
    except ssl.SSLCertVerificationError as exc:
        cafile = settings.kafka_ssl_cafile or "the system's CAs"
        raise KafkaProbeError(
            f"the TLS certificate of Kafka at {address} is not trusted "
            f"({exc.verify_message}): set {env_name('kafka_ssl_cafile')} to the CA that signs "
            f"the brokers' certificates (now {cafile}) and name the brokers in "
            f"{env_name('kafka_bootstrap')} as their certificates do"
        ) from None
    except ssl.SSLError as exc:
        raise KafkaProbeError(
            f"no TLS handshake with Kafka at {address} ({exc.reason or exc}): does that listener "
            f"speak TLS? check {env_name('kafka_security_protocol')}="
            f"{settings.kafka_security_protocol} and {env_name('kafka_bootstrap')}"
        ) from None
    except SaslAuthenticationFailed as exc:
        raise KafkaProbeError(
            f"Kafka at {address} refused the SASL login of user {settings.kafka_sasl_username!r} "
            f"with {settings.kafka_sasl_mechanism} ({exc}): check "
            f"{env_name('kafka_sasl_username')}, {env_name('kafka_sasl_password')} and "
            f"{env_name('kafka_sasl_mechanism')}"
        ) from None
    except UnsupportedSaslMechanismError as exc:
        raise KafkaProbeError(
            f"Kafka at {address} does not offer SASL {settings.kafka_sasl_mechanism} ({exc}): "
            f"set {env_name('kafka_sasl_mechanism')} to one it offers"
        ) from None
    except (KafkaConnectionError, ConnectionResetError, BrokenPipeError) as exc:
        tls = settings.kafka_security_protocol in TLS_PROTOCOLS
        expects = "SASL" if tls else "TLS or SASL"
        raise KafkaProbeError(
            f"Kafka at {address} closed the connection ({exc or type(exc).__name__}): "
            f"the listener may expect {expects}; check {env_name('kafka_security_protocol')}="
            f"{settings.kafka_security_protocol} and {env_name('kafka_bootstrap')}"
        ) from None
    except (OSError, ValueError) as exc:  # refused, unknown host, bad port
        raise _UnreachableError(f"{address}: {exc}") from None
