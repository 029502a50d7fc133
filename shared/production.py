"""The production guard: what `STADSPULS_ENVIRONMENT=production` refuses to start with, and why.

`production_refusals` is pure: it reads a `Settings` and lists every refusal, each saying which
`STADSPULS_` variable to set and to what. A default counts as chosen only when it was set explicitly
(an environment variable, `.env` or an argument: pydantic's `model_fields_set`).
"""

from __future__ import annotations

from shared.settings import Settings

DEVELOPMENT_KEY_SECRET = Settings.model_fields["key_secret"].get_default().get_secret_value()
DEFAULT_DATABASE_URL: str = Settings.model_fields["database_url"].get_default()
PLAINTEXT_PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT")
SECURITY_DOC = "docs/security.md"
MIN_KEY_SECRET = 16  # characters; an empty or short pepper is no secret
EXIT_CONFIG = 78  # sysexits' EX_CONFIG: the configuration is wrong, a restart will not help


class RefusedToStartError(Exception):
    """Settings a process must not start with; `problems` says each and what to set."""

    def __init__(self, problems: list[str], heading: str) -> None:
        super().__init__(heading + "".join(f"\n  - {p}" for p in problems))
        self.problems = problems


def production_refusals(settings: Settings) -> list[str]:
    """Every reason a production process must not start with these settings (none elsewhere)."""
    if settings.environment != "production":
        return []
    chosen = settings.model_fields_set
    found = []
    key_secret = settings.key_secret.get_secret_value()
    if key_secret == DEVELOPMENT_KEY_SECRET:
        found.append(
            "STADSPULS_KEY_SECRET is the built-in development secret, which anyone can read in the"
            " source: set it to a long random value kept in a secret store"
            " (e.g. `openssl rand -base64 48`)"
        )
    elif len(key_secret) < MIN_KEY_SECRET:
        found.append(
            f"STADSPULS_KEY_SECRET has {len(key_secret)} characters, fewer than {MIN_KEY_SECRET}:"
            " set it to a long random value kept in a secret store (e.g. `openssl rand -base64 48`)"
        )
    protocol = settings.kafka_security_protocol
    if protocol in PLAINTEXT_PROTOCOLS and not settings.kafka_allow_plaintext:
        found.append(
            f"STADSPULS_KAFKA_SECURITY_PROTOCOL is {protocol}: Kafka traffic (and with"
            " SASL_PLAINTEXT the SASL exchange) would cross the network unencrypted; set it to"
            " SASL_SSL (or SSL with client certificates), or set STADSPULS_KAFKA_ALLOW_PLAINTEXT=true"
            " where the network itself is trusted"
        )
    if settings.api_anonymous == "all" and "api_anonymous" not in chosen:
        found.append(
            "STADSPULS_API_ANONYMOUS is not set, and its default `all` serves preliminary values to"
            " anyone: set it to `final` (anonymous readers see published values only), `none`"
            " (a token is required) or, deliberately, `all`"
        )
    if settings.database_url == DEFAULT_DATABASE_URL and "database_url" not in chosen:
        found.append(
            f"STADSPULS_DATABASE_URL is not set, so the read model would be {DEFAULT_DATABASE_URL}"
            " in the working directory: set it to the PostgreSQL URL"
            " (postgresql+psycopg://user:password@host:5432/stadspuls), or name a SQLite file"
            " explicitly"
        )
    found += _oidc_refusals(settings)
    return found


def _oidc_refusals(settings: Settings) -> list[str]:
    """An OIDC issuer or key set over plain HTTP: whoever is on the path could serve their own
    keys and sign tokens that see everything."""
    return [
        f"{name} is {url!r}, not https: anyone between the API and the identity provider could"
        " hand the API their own signing keys; set it to the provider's https URL"
        for name, url in (
            ("STADSPULS_OIDC_ISSUER", settings.oidc_issuer),
            ("STADSPULS_OIDC_JWKS_URL", settings.oidc_jwks_url),
        )
        if url and not url.lower().startswith("https://")
    ]


def check_production(settings: Settings) -> None:
    """Raise `RefusedToStartError` when production settings keep a development default."""
    if problems := production_refusals(settings):
        raise RefusedToStartError(
            problems,
            f"refusing to start with STADSPULS_ENVIRONMENT=production ({SECURITY_DOC}):",
        )
