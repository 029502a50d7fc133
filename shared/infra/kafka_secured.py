"""The secured mode of the local broker: TLS with generated certificates, SASL, ACLs.

The broker's one client listener speaks SASL_SSL (SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN); there
is no plaintext client listener. KRaft's StandardAuthorizer refuses what no ACL allows, except to
the super user (the admin, the broker's own principal). The controller listener speaks
SASL_PLAINTEXT with PLAIN as the admin on 127.0.0.1: SCRAM credentials live in the metadata log,
which the controllers cannot read before they authenticate one another. SCRAM credentials of the
admin and of `users` are written when the storage is formatted; more come through the admin API.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from shared.infra.certs import CertificateAuthority

SCRAM_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")
MECHANISMS = (*SCRAM_MECHANISMS, "PLAIN")
LISTENER = "SECURE"
_SAFE = re.compile(r"[A-Za-z0-9_.@-]+")  # survives JAAS quoting and the storage tool's [k=v,…]


def new_password() -> str:
    """A random password of characters every configuration syntax here takes as they are."""
    return secrets.token_urlsafe(18)


def _checked(text: str, what: str) -> str:
    if not _SAFE.fullmatch(text):
        raise ValueError(f"{what} {text!r} must match {_SAFE.pattern}")
    return text


def _jaas(module: str, **options: str) -> str:
    listed = " ".join(f'{key}="{value}"' for key, value in options.items())
    return f"org.apache.kafka.common.security.{module} required {listed}".rstrip() + ";"


@dataclass
class BrokerSecurity:
    """Who may connect to a secured LocalKafka: the admin (super user) and the first users."""

    admin_user: str = "admin"
    admin_password: str = field(default_factory=new_password)
    users: dict[str, str] = field(default_factory=dict)  # name → password, made at format time

    def __post_init__(self) -> None:
        for name, password in self.everyone().items():
            _checked(name, "user name")
            _checked(password, f"the password of {name}")

    def prepare(self, workdir: Path) -> tuple[Path, Path]:
        """Make the CA and the broker's key store in `workdir/tls` once; return (CA, key store)."""
        folder = workdir / "tls"
        ca_file, keystore = folder / "ca.pem", folder / "broker-keystore.pem"
        if not keystore.exists():  # a restart keeps the certificates clients already trust
            ca = CertificateAuthority.create(folder, "Stadspuls local Kafka CA")
            ca.issue(folder, "broker", hosts=["127.0.0.1", "localhost"]).bundle(keystore)
        return ca_file, keystore

    def properties(self, port: int, controller_port: int, workdir: Path) -> dict[str, str]:
        """server.properties entries of the secured mode (they replace the plaintext listeners)."""
        ca_file, keystore = self.prepare(workdir)
        admin = {"username": self.admin_user, "password": self.admin_password}
        plain_users = {f"user_{name}": password for name, password in self.everyone().items()}
        secure = f"listener.name.{LISTENER.lower()}"
        entries = {
            "listeners": f"{LISTENER}://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"{LISTENER}://127.0.0.1:{port}",
            "inter.broker.listener.name": LISTENER,
            "listener.security.protocol.map": f"CONTROLLER:SASL_PLAINTEXT,{LISTENER}:SASL_SSL",
            "sasl.mechanism.controller.protocol": "PLAIN",
            "sasl.mechanism.inter.broker.protocol": "PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": _jaas(
                "plain.PlainLoginModule",
                **admin,
                **{f"user_{self.admin_user}": self.admin_password},
            ),
            f"{secure}.sasl.enabled.mechanisms": ",".join(MECHANISMS),
            f"{secure}.plain.sasl.jaas.config": _jaas(
                "plain.PlainLoginModule", **admin, **plain_users
            ),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(ca_file),
            "ssl.client.auth": "none",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": f"User:{self.admin_user}",
        }
        for mechanism in SCRAM_MECHANISMS:
            entries[f"{secure}.{mechanism.lower()}.sasl.jaas.config"] = _jaas(
                "scram.ScramLoginModule"
            )
        return entries

    def format_args(self) -> list[str]:
        """`StorageTool format` arguments that write the SCRAM credentials of every first user."""
        args = []
        for name, password in self.everyone().items():
            for mechanism in SCRAM_MECHANISMS:
                args += ["--add-scram", f"{mechanism}=[name={name},password={password}]"]
        return args

    def everyone(self) -> dict[str, str]:
        """The first users and the admin: name → password."""
        return {**self.users, self.admin_user: self.admin_password}
