"""The one Settings model: what it refuses, with the field named."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import Settings


def test_environment_is_one_of_three_and_a_misspelt_one_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("local", "test", "production"):
        monkeypatch.setenv("STADSPULS_ENVIRONMENT", name)
        assert Settings().environment == name
    monkeypatch.setenv("STADSPULS_ENVIRONMENT", "prod")
    with pytest.raises(ValidationError, match="environment"):
        Settings()


@pytest.mark.parametrize(
    "given", [{"oidc_issuer": "https://idp.example"}, {"oidc_audience": "a", "oidc_jwks_url": "u"}]
)
def test_half_an_oidc_configuration_is_refused_naming_what_is_missing(
    given: dict[str, str],
) -> None:
    with pytest.raises(ValidationError, match="OIDC is half configured") as refused:
        Settings(**given)
    missing = {"oidc_issuer", "oidc_audience", "oidc_jwks_url"} - set(given)
    for name in missing:
        assert f"STADSPULS_{name.upper()}" in str(refused.value)


def test_all_three_oidc_settings_or_none_are_accepted() -> None:
    Settings(oidc_issuer="https://idp.example", oidc_audience="a", oidc_jwks_url="https://idp/j")
    Settings()


def test_ingest_compression_is_a_codec_every_consumer_reads_and_a_misspelt_one_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().ingest_compression == "zstd"
    for name in ("zstd", "lz4", "gzip", "none"):
        monkeypatch.setenv("STADSPULS_INGEST_COMPRESSION", name)
        assert Settings().ingest_compression == name
    for name in ("lz5", "snappy", ""):  # snappy: kafka-python consumers could not read it
        monkeypatch.setenv("STADSPULS_INGEST_COMPRESSION", name)
        with pytest.raises(ValidationError, match="ingest_compression"):
            Settings()
