"""A key set served on a local JWKS endpoint, and the tokens a test signs with it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://idp.stockholm.test/realms/stad"
AUDIENCE = "stadspuls-api"


@dataclass
class KeySet:
    """An RSA and an EC signing key, both published on the JWKS URL, and one that is not."""

    url: str
    rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey
    stranger: rsa.RSAPrivateKey  # signs with a kid the key set does not have

    def token(self, *, key: str = "rsa", lifetime: float = 300, **claims: Any) -> str:
        """A token of the issuer for the audience, changed by `claims` (None drops a claim)."""
        now = time.time()
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "analyst", "iat": now, "exp": now + lifetime}
        body |= claims
        body = {k: v for k, v in body.items() if v is not None}
        if key == "ec":
            return jwt.encode(body, self.ec_key, "ES256", headers={"kid": "ec-1"})
        if key == "stranger":
            return jwt.encode(body, self.stranger, "RS256", headers={"kid": "gone-9"})
        return jwt.encode(body, self.rsa_key, "RS256", headers={"kid": "rsa-1"})


@contextmanager
def jwks_server() -> Iterator[KeySet]:
    """Generate keys and serve their public halves as a JWKS on 127.0.0.1 until the block ends."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    keys = [
        RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True) | {"kid": "rsa-1", "alg": "RS256"},
        ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True) | {"kid": "ec-1", "alg": "ES256"},
    ]
    body = json.dumps({"keys": keys}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="jwks", daemon=True)
    thread.start()
    try:
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        yield KeySet(f"http://127.0.0.1:{server.server_port}/jwks", rsa_key, ec_key, stranger)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
