"""A stand-in authorization server for tests until user-service exists: real keys, a real
JWKS document served over HTTP on loopback, and RFC 9068 access tokens. Its endpoint can be
made to fail or hang, as a real one might."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from support.loopback import LoopbackServer

ISSUER = "http://issuer.test/api/users"
AUDIENCE = "deepiri"


class TokenIssuer:
    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.published: list[str] = []
        self.jwks_requests = 0
        # "ok" serves the keys, "fail" answers 503, "hang" waits (until closed, at most 30 s).
        self.mode = "ok"
        self._released = threading.Event()
        self.rotate()
        self._server = LoopbackServer(self._respond)

    @property
    def jwks_url(self) -> str:
        return f"{self._server.url}/jwks"

    def rotate(self, kind: str = "RSA") -> str:
        """Add a new signing key, publish it, and make it the one tokens are signed with."""
        kid = uuid.uuid4().hex[:12]
        if kind == "RSA":
            self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            self.keys[kid] = ec.generate_private_key(ec.SECP256R1())
        self.published.append(kid)
        self.current = kid
        return kid

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid in self.published:
            key = self.keys[kid]
            alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
            jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "alg": alg, "use": "sig"})
        return {"keys": keys}

    def token(
        self,
        subject: str = "user-1",
        scopes: str = "",
        *,
        kid: str | None = None,
        lifetime: int = 300,
        typ: str = "at+jwt",
        **claims: Any,
    ) -> str:
        kid = kid or self.current
        key = self.keys[kid]
        alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "client_id": "deepiri-web",
            "iat": now,
            "exp": now + lifetime,
            "jti": uuid.uuid4().hex,
            "scope": scopes,
            **claims,
        }
        return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid, "typ": typ})

    def headers(self, subject: str = "user-1", scopes: str = "", **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(subject, scopes, **kw)}"}

    def close(self) -> None:
        self._released.set()
        self._server.close()

    def _respond(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, str, bytes]:
        self.jwks_requests += 1
        if self.mode == "hang":
            self._released.wait(30)
        if self.mode == "fail":
            return 503, "text/plain", b"unavailable"
        return 200, "application/json", json.dumps(self.jwks()).encode()
