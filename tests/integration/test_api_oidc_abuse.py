"""Hostile OIDC tokens and a hanging identity provider against the read API over real HTTP.

A token whose header does not fit the key its `kid` names is a bad token (401 with the reason),
never a server error; a key set that cannot be fetched refuses OIDC tokens without making every
request wait for its own fetch, and never holds up readers with a reader token.
"""

from __future__ import annotations

import base64
import socket
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pydantic import SecretStr
from sqlalchemy import Engine

from bench.api.server import serving
from services.api.app import create_app
from services.api.readers import create_reader
from shared.catalog.loader import default_catalog
from shared.db.engine import make_engine, upgrade
from shared.settings import Settings
from tests.integration.readers_helpers import AUDIENCE, ISSUER, KeySet, jwks_server
from tests.integration.test_api_readers import bearer

SECRET = "a-test-secret-for-oidc-abuse"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """An empty read model (every status `saknar_data`)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('oidc') / 'read.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def keys() -> Iterator[KeySet]:
    """An identity provider's key set on a local JWKS endpoint."""
    with jwks_server() as key_set:
        yield key_set


def _settings(engine: Engine, jwks_url: str) -> Settings:
    return Settings(
        database_url=str(engine.url),
        key_secret=SecretStr(SECRET),
        api_anonymous="final",
        oidc_issuer=ISSUER,
        oidc_audience=AUDIENCE,
        oidc_jwks_url=jwks_url,
        ingest_key_cache_seconds=0.0,
    )


@contextmanager
def api_on(engine: Engine, settings: Settings) -> Iterator[httpx.Client]:
    """The API on this read model with these settings, and a client of it."""
    app = create_app(settings, engine=engine, catalog=default_catalog())
    with serving(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        yield http


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forged(header: dict[str, object]) -> str:
    """A token with this header, valid claims and a signature of nobody."""
    parts = (orjson.dumps(header), orjson.dumps(_claims()), b"\x00" * 64)
    return ".".join(_b64(part) for part in parts)


def _claims() -> dict[str, object]:
    return {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": time.time() + 300}


def _hostile_tokens() -> dict[str, tuple[str, str]]:
    """name → (token, what the 401's detail says)."""
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "EC-signed, names the RSA key": (
            jwt.encode(
                _claims(), ec.generate_private_key(ec.SECP256R1()), "ES256", {"kid": "rsa-1"}
            ),
            "does not fit",
        ),
        "RSA-signed, names the EC key": (
            jwt.encode(_claims(), other_rsa, "RS256", headers={"kid": "ec-1"}),
            "does not fit",
        ),
        "EdDSA, names the RSA key": (
            jwt.encode(_claims(), ed25519.Ed25519PrivateKey.generate(), "EdDSA", {"kid": "rsa-1"}),
            "does not fit",
        ),
        "ES384 on the P-256 key": (_forged({"alg": "ES384", "kid": "ec-1"}), "does not fit"),
        "a kid that is no string": (_forged({"alg": "RS256", "kid": 7}), "malformed"),
        "an unknown critical header": (
            _forged({"alg": "RS256", "kid": "rsa-1", "crit": ["x"], "x": 1}),
            "malformed",
        ),
    }


def test_a_token_whose_header_does_not_fit_its_key_is_401_never_500(
    engine: Engine, keys: KeySet
) -> None:
    with api_on(engine, _settings(engine, keys.url)) as http:
        assert http.get("/v1/etappmal", headers=bearer(keys.token())).status_code == 200
        for name, (token, reason) in _hostile_tokens().items():
            refused = http.get("/v1/etappmal", headers=bearer(token))
            assert refused.status_code == 401, (name, refused.text)
            assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"], name
            assert reason in refused.json()["detail"], (name, refused.json()["detail"])


@pytest.fixture
def hanging_jwks() -> Iterator[tuple[str, list[socket.socket]]]:
    """A key-set URL whose server accepts connections and never answers; the accepted sockets."""
    server = socket.create_server(("127.0.0.1", 0), backlog=128)
    server.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = False

    def accept() -> None:
        while not stop:
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    with ThreadPoolExecutor(1) as pool:
        pool.submit(accept)
        try:
            yield f"http://127.0.0.1:{server.getsockname()[1]}/jwks", accepted
        finally:
            stop = True
    for conn in accepted:
        conn.close()
    server.close()


def test_a_hanging_key_set_neither_queues_oidc_requests_nor_holds_up_reader_tokens(
    engine: Engine, keys: KeySet, hanging_jwks: tuple[str, list[socket.socket]]
) -> None:
    url, accepted = hanging_jwks
    token = create_reader(engine, SECRET, f"bi-{uuid.uuid4().hex[:6]}")
    with api_on(engine, _settings(engine, url)) as http, ThreadPoolExecutor(16) as pool:
        burst = [
            pool.submit(http.get, "/v1/etappmal", headers=bearer(keys.token())) for _ in range(16)
        ]
        # a reader token is looked up on other threads than the provider's fetches
        with httpx.Client(base_url=str(http.base_url), timeout=30) as other:
            assert other.get("/v1/etappmal", headers=bearer(token)).status_code == 200
        answers = [future.result() for future in burst]
    assert {a.status_code for a in answers} == {401}
    assert all("key set cannot be fetched" in a.json()["detail"] for a in answers)
    # one fetch waited for the provider; the others were refused at once instead of each fetching
    assert len(accepted) == 1, len(accepted)
