"""Who may hold a socket, and for how long: the refusal reasons a client sees at connect
(Socket.IO ``connect_error`` with ``{message, data: {reason}}``) and the session's end."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Refusal = Literal[
    "missing_token",  # neither auth.token nor an Authorization: Bearer header
    "invalid_token",  # signature, issuer, audience, type or claims wrong
    "token_expired",
    "not_a_user",  # a client-credentials (service) token
    "auth_unavailable",  # the authorization server's keys cannot be fetched: retry later
    "shutting_down",  # this pod is draining: connect again (another pod answers)
    "rate_limited",  # too many refused handshakes from the address: wait
]
REFUSALS: tuple[Refusal, ...] = (
    "missing_token",
    "invalid_token",
    "token_expired",
    "not_a_user",
    "auth_unavailable",
    "shutting_down",
    "rate_limited",
)
# How a socket ended, for metrics: the transport's reasons plus the server's own.
Ending = Literal[
    "client", "server", "ping_timeout", "transport_close", "transport_error", "token_expired",
    "shutdown",
]  # fmt: skip


@dataclass(frozen=True)
class Refused(Exception):
    """A connection or token refused, with the reason a client can act on."""

    reason: Refusal
    message: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


def bearer_token(auth: object, authorization: str | None) -> str:
    """The access token of a handshake: ``auth: {token}`` first (browsers cannot set headers
    on a WebSocket), else ``Authorization: Bearer``."""
    if isinstance(auth, dict) and auth.get("token") is not None:
        token = auth["token"]
        if isinstance(token, str) and token.strip():
            return token.strip()
        raise Refused("invalid_token", "auth.token must be a non-empty string")
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    raise Refused(
        "missing_token", "send the access token as auth: {token} or Authorization: Bearer"
    )


def refusal_for(detail: str) -> Refused:
    """The verifier's reason (an Unauthorized's detail) as a refusal."""
    if detail == "token expired":
        return Refused("token_expired", "the access token expired")
    return Refused("invalid_token", detail)


def seconds_left(expires_at: float, now: float) -> float:
    """How long a session may last. The verifier forgives a little clock skew at expiry; a
    socket does not outlive its token at all."""
    return expires_at - now


def ending_of(transport_reason: str | None) -> Ending:
    """python-socketio's disconnect reasons, named for the metric."""
    return {
        "client disconnect": "client",
        "server disconnect": "server",
        "ping timeout": "ping_timeout",
        "transport close": "transport_close",
        "transport error": "transport_error",
    }.get(transport_reason or "", "transport_close")  # type: ignore[return-value]
