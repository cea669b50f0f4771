"""Protocol-faithful local fakes of the push providers, so no real one is ever called.

* :class:`FcmFake` — over TLS when given a :class:`~support.tls.TestCA`: FCM HTTP v1 (``POST /v1/projects/<id>/messages:send``) and its OAuth 2.0
  token endpoint (``POST /token``, the JWT-bearer grant google-auth uses for a service
  account): the assertion's RS256 signature, ``kid``, ``iss``, ``aud`` (Google's token
  endpoint, as google-auth addresses it), lifetime and scope are checked
  against the key it issued, and sends need a bearer it granted. One target per message
  (``token``), string data values; answers ``UNREGISTERED`` (404) for tokens marked dead and
  429 with ``Retry-After`` when told to throttle.
* :class:`ApnsFake` — an HTTP/2 server over TLS (h2 negotiated by ALPN, as Apple's only
  endpoint is; its certificate from a :class:`~support.tls.TestCA` the test makes, which the
  client must trust explicitly) for ``POST /3/device/<token>``: the ES256 provider token
  (``kid``, ``iss`` = team, ``iat`` within the hour, signature), ``apns-topic``,
  ``apns-push-type``, ``apns-priority`` and the token's format are checked; 410
  ``Unregistered`` for tokens marked gone, 429 when told to throttle.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import h2.config
import h2.connection
import h2.events
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from infra import free_port
from support.tls import TestCA

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


def _pem(key: Any) -> str:
    return str(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    )


@dataclass
class FcmFake:
    # Its certificate's CA (the client trusts ``ca.ca_file``); None: plain HTTP.
    ca: TestCA | None = None
    project_id: str = "deepiri-test"
    unregistered: set[str] = field(default_factory=set)
    throttle: int = 0  # answer this many sends with 429 first
    retry_after: int = 1
    sent: list[dict[str, Any]] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    tokens_issued: int = 0

    def __post_init__(self) -> None:
        self.port = free_port()
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._public = RSAKey.import_key(
            self._key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        self._bearers: set[str] = set()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.ca else 'http'}://127.0.0.1:{self.port}"

    @property
    def client_email(self) -> str:
        return f"push@{self.project_id}.iam.gserviceaccount.com"

    def service_account(self) -> dict[str, Any]:
        """A service-account key file as the Firebase console hands it out."""
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": "key-1",
            "private_key": _pem(self._key),
            "client_email": self.client_email,
            "client_id": "1234567890",
            "token_uri": f"{self.url}/token",
        }

    def start(self) -> FcmFake:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                status, payload, headers = fake.handle(self.path, dict(self.headers), body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        if self.ca is not None:
            context = self.ca.server_context()
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def handle(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if path == "/token":
            return self._token(body)
        if path == f"/v1/projects/{self.project_id}/messages:send":
            return self._send(headers, body)
        return 404, {"error": {"code": 404, "status": "NOT_FOUND"}}, {}

    def _token(self, body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        form = dict(urllib.parse.parse_qsl(body.decode()))
        if form.get("grant_type") != JWT_BEARER:
            return 400, {"error": "unsupported_grant_type"}, {}
        try:
            token = jwt.decode(form.get("assertion", ""), self._public, algorithms=["RS256"])
        except (JoseError, ValueError) as exc:
            return 400, {"error": "invalid_grant", "error_description": str(exc)}, {}
        claims, now = token.claims, time.time()
        problems = [
            token.header.get("kid") != "key-1" and "kid",
            claims.get("iss") != self.client_email and "iss",
            # google-auth addresses the assertion to Google's endpoint whatever token_uri is.
            claims.get("aud") != GOOGLE_TOKEN_AUDIENCE and "aud",
            FCM_SCOPE not in str(claims.get("scope", "")).split() and "scope",
            not (claims.get("iat", 0) - 60 <= now < claims.get("exp", 0)) and "lifetime",
        ]
        if any(problems):
            bad = [p for p in problems if p]
            return 400, {"error": "invalid_grant", "error_description": f"bad {bad}"}, {}
        bearer = f"ya29.{uuid.uuid4().hex}"
        self._bearers.add(bearer)
        self.tokens_issued += 1
        return 200, {"access_token": bearer, "expires_in": 3599, "token_type": "Bearer"}, {}

    def _error(self, status: int, code: str, fcm: str | None = None) -> dict[str, Any]:
        error: dict[str, Any] = {"code": status, "message": code, "status": code}
        if fcm:
            error["details"] = [
                {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": fcm}
            ]
        return {"error": error}

    def _send(
        self, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self._bearers:
            self.refused.append((401, "UNAUTHENTICATED"))
            return 401, self._error(401, "UNAUTHENTICATED"), {}
        try:
            message = json.loads(body)["message"]
        except (ValueError, KeyError, TypeError):
            return 400, self._error(400, "INVALID_ARGUMENT"), {}
        targets = [k for k in ("token", "topic", "condition") if k in message]
        data = message.get("data", {})
        if targets != ["token"] or not all(isinstance(v, str) for v in data.values()):
            self.refused.append((400, "INVALID_ARGUMENT"))
            return 400, self._error(400, "INVALID_ARGUMENT"), {}
        if self.throttle > 0:
            self.throttle -= 1
            self.refused.append((429, "QUOTA_EXCEEDED"))
            return (
                429,
                self._error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
                {"retry-after": str(self.retry_after)},
            )
        if message["token"] in self.unregistered:
            self.refused.append((404, "UNREGISTERED"))
            return 404, self._error(404, "NOT_FOUND", "UNREGISTERED"), {}
        self.sent.append(message)
        return 200, {"name": f"projects/{self.project_id}/messages/{uuid.uuid4().hex}"}, {}


@dataclass
class ApnsFake:
    # Its certificate's CA (the client trusts ``ca.ca_file``); None: cleartext h2 with prior
    # knowledge, only for showing that a client refuses it.
    ca: TestCA | None = None
    team_id: str = "TEAM123456"
    key_id: str = "KEY1234567"
    topic: str = "dev.deepiri.app"
    gone: set[str] = field(default_factory=set)
    throttle: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    # TLS connections closed for not negotiating h2 by ALPN.
    refused_connections: int = 0

    def __post_init__(self) -> None:
        self.port = free_port()
        self._tls = None if self.ca is None else self.ca.server_context(alpn=["h2"])
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._public = ECKey.import_key(
            self._key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    def key_pem(self) -> str:
        """The .p8 file Apple hands out (PKCS#8 PEM of a P-256 key)."""
        return _pem(self._key)

    def start(self) -> ApnsFake:
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()

            async def main() -> None:
                self._server = await asyncio.start_server(
                    self._connection,
                    "127.0.0.1",
                    self.port,
                    ssl=self._tls,
                    ssl_handshake_timeout=5 if self._tls else None,
                )
                ready.set()
                await self._server.serve_forever()

            with contextlib.suppress(asyncio.CancelledError):
                self._loop.run_until_complete(main())

        threading.Thread(target=serve, daemon=True).start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tls: ssl.SSLObject | None = writer.get_extra_info("ssl_object")
        if self._tls is not None and (tls is None or tls.selected_alpn_protocol() != "h2"):
            self.refused_connections += 1  # APNs speaks HTTP/2 only
            writer.close()
            return
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        conn = h2.connection.H2Connection(config=config)
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        streams: dict[int, dict[str, Any]] = {}
        try:
            while data := await reader.read(65535):
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        streams[event.stream_id] = {"headers": dict(event.headers), "body": b""}
                    elif isinstance(event, h2.events.DataReceived):
                        streams[event.stream_id]["body"] += event.data
                        conn.acknowledge_received_data(
                            event.flow_controlled_length, event.stream_id
                        )
                    elif isinstance(event, h2.events.StreamEnded):
                        request = streams.pop(event.stream_id)
                        status, reason = self.handle(request["headers"], request["body"])
                        apns_id = request["headers"].get("apns-id") or str(uuid.uuid4())
                        response = [(":status", str(status)), ("apns-id", apns_id)]
                        if reason is None:
                            conn.send_headers(event.stream_id, response, end_stream=True)
                        else:
                            body: dict[str, Any] = {"reason": reason}
                            if status == 410:
                                body["timestamp"] = int(time.time() * 1000)
                            conn.send_headers(
                                event.stream_id, [*response, ("content-type", "application/json")]
                            )
                            conn.send_data(
                                event.stream_id, json.dumps(body).encode(), end_stream=True
                            )
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        return
                writer.write(conn.data_to_send())
                await writer.drain()
        finally:
            writer.close()

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, str | None]:
        status, reason = self._check(headers, body)
        if reason is not None:
            self.refused.append((status, reason))
        return status, reason

    def _check(self, headers: dict[str, str], body: bytes) -> tuple[int, str | None]:
        if headers.get(":method") != "POST":
            return 405, "MethodNotAllowed"
        path = headers.get(":path", "")
        if not path.startswith("/3/device/"):
            return 404, "BadPath"
        token = path.removeprefix("/3/device/")
        if len(token) < 64 or any(c not in "0123456789abcdef" for c in token):
            return 400, "BadDeviceToken"
        auth = headers.get("authorization", "")
        if not auth.startswith("bearer "):
            return 403, "MissingProviderToken"
        try:
            provider = jwt.decode(auth[7:], self._public, algorithms=["ES256"])
        except (JoseError, ValueError):
            return 403, "InvalidProviderToken"
        if provider.header.get("kid") != self.key_id or provider.claims.get("iss") != self.team_id:
            return 403, "InvalidProviderToken"
        if time.time() - int(provider.claims.get("iat", 0)) > 3600:
            return 403, "ExpiredProviderToken"
        if headers.get("apns-topic") != self.topic:
            return 400, "DeviceTokenNotForTopic" if headers.get("apns-topic") else "MissingTopic"
        if headers.get("apns-push-type") not in ("alert", "background", "voip", "complication"):
            return 400, "InvalidPushType"
        if headers.get("apns-priority", "10") not in ("5", "10"):
            return 400, "BadPriority"
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, "PayloadEmpty"
        if not isinstance(payload, dict) or "aps" not in payload:
            return 400, "PayloadEmpty"
        if self.throttle > 0:
            self.throttle -= 1
            return 429, "TooManyRequests"
        if token in self.gone:
            return 410, "Unregistered"
        self.sent.append({"token": token, "headers": headers, "payload": payload})
        return 200, None
