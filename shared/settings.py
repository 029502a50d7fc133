"""One settings model for every Stadspuls service, read from `STADSPULS_*` variables and `.env`."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_CATALOG = Path(__file__).parent / "catalog" / "stockholm.yaml"
_PLACEHOLDER_SECRETS = {"changethis", "changeme", "secret", "password"}


class SourceLimit(BaseModel):
    """One source's ingest budget; an unset field takes the default of every source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_minute: int | None = Field(
        default=None, ge=0, description="Batch requests per minute (0 = no limit)."
    )
    rows_per_minute: int | None = Field(
        default=None,
        ge=0,
        description="Rows per minute, rejected ones and dry runs included (0 = no limit).",
    )


class Settings(BaseSettings):
    """Configuration shared by ingest, aggregate, api and the command line."""

    # Errors never echo the input: it holds the secrets.
    model_config = SettingsConfigDict(
        env_prefix="STADSPULS_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    kafka_bootstrap: str | None = Field(
        default=None,
        description="Kafka bootstrap servers (host:port,...); unset means `stadspuls up` starts a local broker.",
    )
    topic_prefix: str = Field(
        default="", description="Prefix for every topic name (one cluster, many environments)."
    )
    database_url: str = Field(
        default="sqlite:///stadspuls.db",
        description="SQLAlchemy URL of the read model (PostgreSQL in production, SQLite embedded).",
    )
    catalog_path: Path = Field(default=DEFAULT_CATALOG, description="The catalog YAML file.")
    host: str = Field(default="127.0.0.1", description="Address the HTTP servers bind to.")
    api_port: int = Field(default=8080, description="Port of the read API.")
    ingest_port: int = Field(default=8081, description="Port of the ingest API.")
    ingest_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Worker processes of one ingest replica, on its one port (about one a core):"
        " they share its source budgets and sum their metrics.",
    )
    aggregate_port: int = Field(
        default=8082, description="Port of the aggregator's metrics/health server."
    )
    connector_port: int = Field(
        default=8083, description="Port of a connector's health/metrics server (`serve connector`)."
    )
    kolada_base_url: str = Field(
        default="https://api.kolada.se/v3", description="Base URL of the Kolada API (v3)."
    )
    connector_http_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Timeout of one HTTP request of a connector."
    )
    connector_retries: int = Field(
        default=3, ge=0, le=10, description="Retries of a 429 or 5xx answer before a run fails."
    )
    connector_backoff_seconds: float = Field(
        default=2.0,
        ge=0,
        description="First wait before a retry (doubled each time: 2, 4, 8 s); Retry-After wins.",
    )
    key_secret: SecretStr = Field(
        default=SecretStr("stadspuls-local-development-only"),
        description="Server secret (pepper) mixed into source-key hashes; set a strong value in production.",
    )
    max_rows: int = Field(default=10_000, description="Most observations accepted in one batch.")
    max_body_bytes: int = Field(
        default=20 * 1024 * 1024, description="Largest request body accepted by ingest."
    )
    http_max_header_bytes: int = Field(
        default=32 * 1024,
        ge=1024,
        description="Largest request line plus headers the HTTP services read; more is answered 431.",
    )
    http_header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Longest time to receive a request's headers (from connect, or from its first byte on a kept-alive connection); then 408.",
    )
    http_body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Longest pause between two reads of a request body; then 408.",
    )
    http_keepalive_timeout_seconds: int = Field(
        default=5, ge=1, description="How long an idle kept-alive connection stays open."
    )
    http_max_connections: int = Field(
        default=1000,
        ge=1,
        description="Most open connections per HTTP server process; more are answered 503.",
    )
    http_max_requests_per_connection: int = Field(
        default=100,
        ge=0,
        description="Requests a kept-alive connection serves before the answer says `connection:"
        " close` (0: no limit). Clients reconnect, so connections spread again over a replica's"
        " workers and a load balancer's replicas.",
    )
    aggregate_app_id: str = Field(
        default="stadspuls-aggregate", description="Faust app id / consumer group."
    )
    aggregate_batch_size: int = Field(
        default=1000, description="Most events the aggregator applies per SQL transaction."
    )
    aggregate_batch_seconds: float = Field(
        default=0.1, description="Longest wait to fill an aggregator batch."
    )
    aggregate_projection_seconds: float = Field(
        default=0.1,
        ge=0,
        description="Under a steady stream, the longest a status waits for its series' batch to be "
        "projected (summaries are recomputed at most this often).",
    )
    aggregate_refresh_seconds: float = Field(
        default=60.0,
        description="How often the aggregator recomputes every summary (staleness moves with time).",
    )
    aggregate_lag_seconds: float = Field(
        default=10.0, description="How often consumer lag is measured."
    )
    rebuild_processes: int = Field(
        default=0,
        ge=0,
        description="Processes `stadspuls rebuild` computes the read model in, each a share of the"
        " (indicator, period, gender) groups (0: one per CPU core, at most 4, on SQLite; one on"
        " PostgreSQL, whose server copies the versions in on the other core).",
    )
    aggregate_data_dir: Path = Field(
        default=Path(tempfile.gettempdir()) / "stadspuls-aggregate",
        description="Folder for the faust worker's local files (the read model is its real state).",
    )
    environment: Literal["local", "test", "production"] = Field(
        default="local",
        description="Where it runs: `local`, `test` or `production` (production refuses development defaults).",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="How every Kafka client of the project connects."
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="SCRAM-SHA-512", description="SASL mechanism (with SASL_PLAINTEXT or SASL_SSL)."
    )
    kafka_sasl_username: str | None = Field(default=None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="SASL password.")
    kafka_ssl_cafile: Path | None = Field(
        default=None,
        description="PEM file of the CA(s) that sign the brokers' certificates (default: the system's).",
    )
    kafka_ssl_certfile: Path | None = Field(
        default=None, description="PEM client certificate for mutual TLS."
    )
    kafka_ssl_keyfile: Path | None = Field(
        default=None, description="PEM private key of the client certificate."
    )
    kafka_allow_plaintext: bool = Field(
        default=False,
        description="Let production run on PLAINTEXT or SASL_PLAINTEXT Kafka (e.g. inside a private mesh).",
    )
    api_anonymous: Literal["all", "final", "none"] = Field(
        default="all",
        description="What a read request without a token sees: everything, final values only, or 401.",
    )
    oidc_issuer: str | None = Field(
        default=None, description="OIDC issuer whose bearer tokens the read API accepts."
    )
    oidc_audience: str | None = Field(
        default=None, description="Audience (`aud`) an OIDC token must carry."
    )
    oidc_jwks_url: str | None = Field(
        default=None, description="URL of the issuer's JSON Web Key Set."
    )
    ingest_publish_timeout_seconds: float = Field(
        default=10.0,
        description="Longest wait for Kafka to acknowledge a batch before ingest answers 503.",
    )
    ingest_retry_after_seconds: int = Field(
        default=5, description="`Retry-After` of ingest's 503 answers."
    )
    ingest_compression: Literal["zstd", "lz4", "gzip", "none"] = Field(
        default="zstd",
        description="Ingest producer compression: zstd, lz4, gzip or none (zstd: batches a third "
        "smaller than lz4's).",
    )
    ingest_linger_ms: int = Field(
        default=0, description="How long the ingest producer waits to fill a batch."
    )
    ingest_key_cache_seconds: float = Field(
        default=2.0,
        description="How long ingest trusts a looked-up source key (revocation delay); 0 = no cache.",
    )
    ingest_requests_per_minute: int = Field(
        default=1200,
        ge=0,
        description="Batch requests a source may make per minute on each ingest replica; more are"
        " answered 429 (0 = no limit).",
    )
    ingest_rows_per_minute: int = Field(
        default=1_200_000,
        ge=0,
        description="Rows a source may send per minute on each ingest replica; more are answered"
        " 429 (0 = no limit).",
    )
    ingest_source_limits: dict[str, SourceLimit] = Field(
        default_factory=dict,
        description='Per-source budgets as JSON: {"source-id": {"requests_per_minute": 60,'
        ' "rows_per_minute": 100000}}; a source not named takes the defaults.',
    )
    ingest_idempotency_ttl_hours: float = Field(
        default=168.0,
        description="How long an Idempotency-Key's first answer is kept and replayed.",
    )
    ingest_idempotency_lease_seconds: float | None = Field(
        default=None,
        description="How long a pending Idempotency-Key claim holds the key"
        " (default: the publish timeout + 5 s).",
    )
    ingest_raw_validator: bool = Field(
        default=True, description="Run the raw-topic validator inside the ingest service."
    )
    ingest_raw_group: str = Field(
        default="stadspuls-ingest-raw", description="Consumer group of the raw validator."
    )

    pxweb_cell_limit: int = Field(
        default=150_000, ge=1, description="Most cells one PxWeb query asks for (SCB: 150 000)."
    )
    pxweb_requests_per_window: int = Field(
        default=10, ge=1, description="Most PxWeb requests started in one window (SCB: 10)."
    )
    pxweb_window_seconds: float = Field(
        default=10.0, gt=0, description="The window of `pxweb_requests_per_window` (SCB: 10 s)."
    )
    pxweb_retries: int = Field(
        default=3, ge=0, description="Retries of a PxWeb request answered 429 or 5xx."
    )
    pxweb_max_wait_seconds: float = Field(
        default=60.0, ge=0, description="Longest wait before a PxWeb retry, `Retry-After` included."
    )
    pxweb_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Timeout of one PxWeb request."
    )

    @field_validator("key_secret")
    @classmethod
    def _refuse_placeholder(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value().lower() in _PLACEHOLDER_SECRETS:
            raise ValueError(
                "key_secret is a placeholder; set STADSPULS_KEY_SECRET to a real secret"
            )
        return value

    @model_validator(mode="after")
    def _oidc_all_or_nothing(self) -> Settings:
        # A partial OIDC configuration would silently turn OIDC off: say what is missing instead.
        fields = ("oidc_issuer", "oidc_audience", "oidc_jwks_url")
        missing = [f"STADSPULS_{f.upper()}" for f in fields if not getattr(self, f)]
        if 0 < len(missing) < len(fields):
            raise ValueError(
                f"OIDC is half configured: set {', '.join(missing)} too (or none of the three)"
            )
        return self

    def topic(self, name: str) -> str:
        """Return the full topic name for a logical topic such as `observations.v1`."""
        return f"{self.topic_prefix}stadspuls.{name}"
