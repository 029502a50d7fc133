"""The production guard: every development default refused, each naming what to set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.production import (
    DEFAULT_DATABASE_URL,
    DEVELOPMENT_KEY_SECRET,
    RefusedToStartError,
    check_production,
    production_refusals,
)
from shared.settings import Settings

GOOD = {
    "STADSPULS_KEY_SECRET": "a-real-secret-of-enough-length-0123456789",
    "STADSPULS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "STADSPULS_API_ANONYMOUS": "final",
    "STADSPULS_DATABASE_URL": "postgresql+psycopg://stadspuls:pw@db:5432/stadspuls",
}
VARIABLES = list(GOOD)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No STADSPULS_* variable and no .env, but STADSPULS_ENVIRONMENT=production."""
    for name in os.environ:
        if name.startswith("STADSPULS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STADSPULS_ENVIRONMENT", "production")
    return monkeypatch


def named(refusals: list[str]) -> set[str]:
    """The variable each refusal starts with."""
    return {r.split(" ", 1)[0] for r in refusals}


def test_the_development_defaults_are_each_refused(env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.key_secret.get_secret_value() == DEVELOPMENT_KEY_SECRET
    refusals = production_refusals(settings)
    assert named(refusals) == set(VARIABLES)
    with pytest.raises(RefusedToStartError, match="STADSPULS_ENVIRONMENT=production") as raised:
        check_production(settings)
    assert raised.value.problems == refusals


@pytest.mark.parametrize("variable", VARIABLES)
def test_each_refusal_says_what_to_set_and_goes_when_it_is_set(
    env: pytest.MonkeyPatch, variable: str
) -> None:
    for name, value in GOOD.items():
        if name != variable:
            env.setenv(name, value)
    (refusal,) = production_refusals(Settings())
    assert refusal.startswith(variable)
    safe = {
        "STADSPULS_KEY_SECRET": "openssl rand",
        "STADSPULS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "STADSPULS_API_ANONYMOUS": "`final`",
        "STADSPULS_DATABASE_URL": "postgresql+psycopg://",
    }
    assert safe[variable] in refusal
    env.setenv(variable, GOOD[variable])
    assert production_refusals(Settings()) == []


def test_other_environments_are_not_guarded(env: pytest.MonkeyPatch) -> None:
    for environment in ("local", "test"):
        env.setenv("STADSPULS_ENVIRONMENT", environment)
        assert production_refusals(Settings()) == []
        check_production(Settings())


@pytest.mark.parametrize(
    ("protocol", "allowed", "refused"),
    [
        ("PLAINTEXT", False, True),
        ("SASL_PLAINTEXT", False, True),
        ("PLAINTEXT", True, False),
        ("SASL_PLAINTEXT", True, False),
        ("SSL", False, False),
        ("SASL_SSL", False, False),
    ],
)
def test_unencrypted_kafka_needs_an_explicit_allowance(
    env: pytest.MonkeyPatch, protocol: str, allowed: bool, refused: bool
) -> None:
    for name, value in GOOD.items():
        env.setenv(name, value)
    env.setenv("STADSPULS_KAFKA_SECURITY_PROTOCOL", protocol)
    env.setenv("STADSPULS_KAFKA_ALLOW_PLAINTEXT", str(allowed).lower())
    refusals = production_refusals(Settings())
    assert named(refusals) == ({"STADSPULS_KAFKA_SECURITY_PROTOCOL"} if refused else set())
    assert all(protocol in r and "STADSPULS_KAFKA_ALLOW_PLAINTEXT=true" in r for r in refusals)


def test_defaults_set_explicitly_by_environment_variable_are_choices(
    env: pytest.MonkeyPatch,
) -> None:
    """`all` and the SQLite URL are allowed when chosen: env-set fields are in model_fields_set."""
    env.setenv("STADSPULS_KEY_SECRET", GOOD["STADSPULS_KEY_SECRET"])
    env.setenv("STADSPULS_KAFKA_ALLOW_PLAINTEXT", "true")
    env.setenv("STADSPULS_API_ANONYMOUS", "all")
    env.setenv("STADSPULS_DATABASE_URL", DEFAULT_DATABASE_URL)
    settings = Settings()
    assert {"api_anonymous", "database_url"} <= settings.model_fields_set
    assert production_refusals(settings) == []


def test_defaults_set_in_a_dotenv_file_or_as_arguments_are_choices(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        f"STADSPULS_API_ANONYMOUS=all\nSTADSPULS_DATABASE_URL={DEFAULT_DATABASE_URL}\n"
    )
    from_file = Settings(kafka_allow_plaintext=True)
    assert named(production_refusals(from_file)) == {"STADSPULS_KEY_SECRET"}
    (tmp_path / ".env").unlink()
    given = Settings(api_anonymous="all", database_url=DEFAULT_DATABASE_URL)
    assert named(production_refusals(given)) == {
        "STADSPULS_KEY_SECRET",
        "STADSPULS_KAFKA_SECURITY_PROTOCOL",
    }


@pytest.mark.parametrize("secret", ["", "short-secret"])
def test_an_empty_or_short_key_secret_is_refused(env: pytest.MonkeyPatch, secret: str) -> None:
    for name, value in GOOD.items():
        env.setenv(name, value)
    env.setenv("STADSPULS_KEY_SECRET", secret)
    (refusal,) = production_refusals(Settings())
    assert refusal.startswith("STADSPULS_KEY_SECRET")
    assert f"has {len(secret)} characters" in refusal
    assert secret == "" or secret not in refusal  # the secret itself is never echoed


def test_an_oidc_issuer_or_key_set_over_plain_http_is_refused(env: pytest.MonkeyPatch) -> None:
    for name, value in GOOD.items():
        env.setenv(name, value)
    env.setenv("STADSPULS_OIDC_AUDIENCE", "stadspuls-api")
    env.setenv("STADSPULS_OIDC_ISSUER", "http://idp.example/realms/stad")
    env.setenv("STADSPULS_OIDC_JWKS_URL", "http://idp.example/realms/stad/certs")
    refusals = production_refusals(Settings())
    assert named(refusals) == {"STADSPULS_OIDC_ISSUER", "STADSPULS_OIDC_JWKS_URL"}
    assert all("https" in r for r in refusals)
    env.setenv("STADSPULS_OIDC_ISSUER", "https://idp.example/realms/stad")
    env.setenv("STADSPULS_OIDC_JWKS_URL", "https://idp.example/realms/stad/certs")
    assert production_refusals(Settings()) == []
