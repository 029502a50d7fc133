"""OIDC bearer tokens: JWTs signed by the identity provider, verified with PyJWT.

The signing key comes from the issuer's JSON Web Key Set (`PyJWKClient`, cached, refetched once
for an unknown `kid`); only asymmetric algorithms are accepted — never `none`, never an HMAC one,
whose "key" would be public. Issuer, audience, `exp` and `nbf` are checked.
"""

from __future__ import annotations

import threading
import time

import jwt

ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
LEEWAY_SECONDS = 30  # clock skew between the provider and us
FETCH_TIMEOUT_SECONDS = 5
RETRY_SECONDS = 10  # after a failed fetch of the key set, refuse at once for this long


class TokenError(Exception):
    """A token that does not let its bearer in: `reason` says why, `error` is RFC 6750's code."""

    def __init__(self, reason: str, error: str | None = "invalid_token") -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error


class OidcVerifier:
    """Verifies a provider's JWTs against its key set, issuer and audience."""

    def __init__(self, issuer: str, audience: str, jwks_url: str) -> None:
        self.issuer = issuer
        self.audience = audience
        self._keys = jwt.PyJWKClient(
            jwks_url, cache_keys=True, lifespan=300, timeout=FETCH_TIMEOUT_SECONDS
        )
        self._lock = threading.Lock()
        self._down_until = 0.0

    def subject(self, token: str) -> str:
        """The `sub` of a valid token (blocking: may fetch the key set); else TokenError."""
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.InvalidTokenError as exc:  # also a bad `kid` or `crit` header
            raise TokenError(f"malformed token: {exc}") from None
        if algorithm not in ALGORITHMS:
            raise TokenError(f"algorithm {algorithm!r} is not accepted; sign with RS*, PS* or ES*")
        try:
            key = self._signing_key(token)
        except jwt.PyJWKClientError as exc:
            raise TokenError(f"no key of the issuer signs this token: {exc}") from None
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"malformed token: {exc}") from None
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenError("token not valid yet (nbf)") from None
        except jwt.InvalidAudienceError:
            raise TokenError(f"wrong audience: the token is not for {self.audience!r}") from None
        except jwt.InvalidIssuerError:
            raise TokenError(f"wrong issuer: only {self.issuer!r} is trusted") from None
        except jwt.InvalidSignatureError:
            raise TokenError("signature does not verify") from None
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"invalid token: {exc}") from None
        except (jwt.InvalidKeyError, TypeError, ValueError):
            # the header's `alg` does not fit the key its `kid` names (an RS* token on an EC key)
            raise TokenError(f"algorithm {algorithm!r} does not fit the issuer's key") from None
        return str(claims.get("sub", ""))

    def _signing_key(self, token: str) -> jwt.PyJWK:
        """The key of the token's `kid`. While the key set cannot be fetched, every token is
        refused at once instead of each waiting for its own fetch: a hanging provider would
        otherwise hold a thread per request for the fetch timeout, one after another."""
        with self._lock:
            if time.monotonic() < self._down_until:
                raise TokenError("the key set cannot be fetched; retrying in a few seconds")
            try:
                return self._keys.get_signing_key_from_jwt(token)
            except jwt.PyJWKClientConnectionError as exc:
                self._down_until = time.monotonic() + RETRY_SECONDS
                raise TokenError(f"the key set cannot be fetched: {exc}") from None
