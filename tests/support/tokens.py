"""A stand-in authorization server for tests until user-service exists: real keys, a real
JWKS document served over HTTP on loopback, and RFC 9068 access tokens."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ISSUER = "http://issuer.test/api/users"
AUDIENCE = "deepiri"


class TokenIssuer:
    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.published: list[str] = []
        self.jwks_requests = 0
        self.rotate()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def jwks_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/jwks"

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
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.jwks_requests += 1
                body = json.dumps(issuer.jwks()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
