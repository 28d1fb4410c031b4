"""Tokens for tests that exercise one service without the identity provider: a throw-away RSA key, tokens
with the platform's claims (see :mod:`motcua_common.auth`), and a verifier that trusts only that key.

End-to-end tests use the real provider (citizen-id) instead."""

import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from .auth import JWKSCache, TokenVerifier

ISSUER = "http://issuer.test"
AUDIENCE = "motcua"


class TestIssuer:
    __test__ = False  # not a pytest test class

    def __init__(self, issuer: str = ISSUER, audience: str = AUDIENCE, kid: str | None = None):
        self.issuer, self.audience = issuer, audience
        self.kid = kid or f"test-{uuid.uuid4().hex[:8]}"
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        jwk = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def verifier(self) -> TokenVerifier:
        cache = JWKSCache("http://jwks.invalid/")
        cache.set_jwks(self.jwks())
        cache._fetched_at = float("inf")  # never refresh: the static keys are all there is
        return TokenVerifier(cache, issuer=self.issuer, audience=self.audience)

    def token(self, kind: str, sub: str | None = None, *, ttl: int = 300, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": sub or f"{kind}-{uuid.uuid4().hex[:12]}",
            "iat": now,
            "exp": now + ttl,
            "kind": kind,
            "client_id": claims.pop("client_id", "motcua-app"),
            **claims,
        }
        return jwt.encode(payload, self.key, algorithm="RS256", headers={"kid": self.kid})

    def citizen(self, personal_id: str, sub: str | None = None, name: str = "Công dân thử nghiệm", **kw: Any) -> str:
        return self.token("citizen", sub or f"c-{personal_id}", personal_id=personal_id, name=name, **kw)

    def officer(
        self, unit: str, *roles: str, sub: str | None = None, name: str = "Cán bộ thử nghiệm", **kw: Any
    ) -> str:
        return self.token("officer", sub, unit=unit, roles=list(roles), name=name, **kw)

    def partner(self, client_id: str, *scopes: str, **kw: Any) -> str:
        return self.token("partner", client_id, client_id=client_id, scope=" ".join(scopes), **kw)

    def service(self, client_id: str, *scopes: str, **kw: Any) -> str:
        return self.token("service", client_id, client_id=client_id, scope=" ".join(scopes), **kw)

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}
