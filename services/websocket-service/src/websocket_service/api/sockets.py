"""The Socket.IO side: who may connect, their rooms, how long they may stay, and the drain.

* Connect: the access token from ``auth: {token}`` or ``Authorization: Bearer``, verified like
  every HTTP request (user-service's JWKS). Refused with ``connect_error`` ``{message, data:
  {reason}}`` (domain/sessions.py lists the reasons). A user's sockets join ``user:<sub>``.
* A socket lives as long as its token: at ``exp`` it gets ``auth:expired`` and is closed,
  unless the client sent ``auth:refresh`` ``{token}`` (same user) before.
* WebSocket transport only (no sticky sessions anywhere): HTTP long-polling is answered with
  a 400 problem document saying so (:class:`SocketGate`).
* SIGTERM: the gate refuses new handshakes (503), every socket gets ``server:shutdown`` and
  its connection is closed, spread over the drain window, so clients reconnect (to another
  pod) by themselves.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import msgspec
from socketio.exceptions import ConnectionRefusedError as Refuse

from deepiri_kit import Principal, ServiceUnavailable, Unauthorized, metrics
from websocket_service.domain.deliveries import room_of
from websocket_service.domain.sessions import (
    Ending,
    Refused,
    bearer_token,
    ending_of,
    refusal_for,
    seconds_left,
)
from websocket_service.events.publish import (
    AUTH_EXPIRED,
    AUTH_REFRESH,
    PRESENCE_FRIENDS,
    SERVER_SHUTDOWN,
    AuthExpired,
    FriendsPresence,
    ServerShutdown,
)
from websocket_service.service import Realtime, friend_presence

log = logging.getLogger("websocket.sockets")
Verify = Callable[[str], Awaitable[Principal]]

LIVE = metrics.gauge("deepiri_websocket_sockets", "Sockets connected to this process now.")
CONNECTS = metrics.counter(
    "deepiri_websocket_connects_total",
    "Socket.IO connection attempts, by outcome (accepted or the refusal reason).",
    ("outcome",),
)
DISCONNECTS = metrics.counter(
    "deepiri_websocket_disconnects_total", "Sockets that ended, by reason.", ("reason",)
)


@dataclass
class Session:
    user_id: str
    expires_at: float
    timer: asyncio.TimerHandle | None = None
    ending: Ending | None = None  # set when the server ends it, for the metric
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class SocketGateway:
    """The connect / disconnect / ``auth:refresh`` handlers of one Socket.IO server and the
    sockets it holds in this process."""

    def __init__(self, sio: Any, verify: Verify, realtime: Realtime, limiter: Any = None) -> None:
        self.sio = sio
        self.verify = verify
        self.realtime = realtime
        # The kit's rate limiter (None when limits are off): refused handshakes count against
        # their address, as failed HTTP authentications do.
        self.limiter = limiter
        self.sessions: dict[str, Session] = {}
        self.draining = False
        sio.on("connect", self.connect)
        sio.on("disconnect", self.disconnect)
        sio.on(AUTH_REFRESH, self.refresh)

    # --- handlers -----------------------------------------------------------------------

    async def connect(self, sid: str, environ: dict[str, Any], auth: object = None) -> None:
        try:
            principal = await self._authenticate(auth, environ.get("HTTP_AUTHORIZATION"))
        except Refused as refused:
            refused = await self._limited(environ) or refused
            CONNECTS.labels(refused.reason).inc()
            raise Refuse(refused.message, {"reason": refused.reason}) from None
        user_id = principal.subject
        await self.sio.enter_room(sid, room_of(user_id))
        session = Session(user_id=user_id, expires_at=float(principal.claims["exp"]))
        self.sessions[sid] = session
        self._schedule_expiry(sid, session)
        LIVE.inc()
        CONNECTS.labels("accepted").inc()
        try:
            await self.realtime.seen([(user_id, sid)])
            friends = await self.realtime.friends_presence(user_id)
        except Exception as exc:  # presence is best effort: the next heartbeat records it
            log.warning("could not record %s coming online: %s", user_id, exc)
            return
        snapshot = msgspec.to_builtins(
            FriendsPresence(friends=[friend_presence(f) for f in friends])
        )

        async def send_snapshot() -> None:
            # Only this process holds the socket: no need to go through Redis.
            await self.sio.emit(PRESENCE_FRIENDS, snapshot, to=sid, ignore_queue=True)

        # After this handler returns: the server acknowledges the connection first (an event
        # before the CONNECT packet is a protocol error for strict clients).
        task = asyncio.get_running_loop().create_task(send_snapshot())
        session.tasks.add(task)
        task.add_done_callback(session.tasks.discard)

    async def disconnect(self, sid: str, reason: str | None = None) -> None:
        session = self.sessions.pop(sid, None)
        if session is None:
            return
        if session.timer is not None:
            session.timer.cancel()
        LIVE.dec()
        DISCONNECTS.labels(session.ending or ending_of(reason)).inc()
        try:
            await self.realtime.gone(session.user_id, sid)
        except Exception as exc:  # its presence entry expires by itself
            log.warning("could not record %s going offline: %s", session.user_id, exc)

    async def refresh(self, sid: str, data: object = None) -> dict[str, Any]:
        """``auth:refresh`` ``{token}``: the socket lives on until the new token's expiry.
        Acknowledged with ``{ok: true, expires_at}`` or ``{ok: false, reason, message}``."""
        session = self.sessions.get(sid)
        if session is None:
            return {"ok": False, "reason": "invalid_token", "message": "no session"}
        try:
            principal = await self._authenticate(data, None)
        except Refused as refused:
            return {"ok": False, "reason": refused.reason, "message": refused.message}
        if principal.subject != session.user_id:
            return {
                "ok": False,
                "reason": "invalid_token",
                "message": "the new token is another user's",
            }
        session.expires_at = float(principal.claims["exp"])
        self._schedule_expiry(sid, session)
        return {"ok": True, "expires_at": session.expires_at}

    # --- sessions -----------------------------------------------------------------------

    async def _authenticate(self, auth: object, authorization: str | None) -> Principal:
        if self.draining:
            raise Refused("shutting_down", "this server is shutting down: connect again")
        token = bearer_token(auth, authorization)
        try:
            principal = await self.verify(token)
        except Unauthorized as exc:
            raise refusal_for(exc.detail) from None
        except ServiceUnavailable as exc:
            raise Refused("auth_unavailable", exc.detail) from None
        if principal.is_service:
            raise Refused("not_a_user", "a user's access token is required")
        if seconds_left(float(principal.claims["exp"]), time.time()) <= 0:
            raise Refused("token_expired", "the access token expired")
        return principal

    async def _limited(self, environ: dict[str, Any]) -> Refused | None:
        """A refusal for an address over its limit of failed handshakes, else None."""
        if self.limiter is None:
            return None
        scope = environ.get("asgi.scope") or {}
        verdict = await self.limiter.check(f"ip:{(scope.get('client') or ('-',))[0]}")
        if verdict is None or verdict.allowed:
            return None
        return Refused(
            "rate_limited",
            f"too many refused handshakes from this address; retry in {verdict.retry_after}s",
        )

    def _schedule_expiry(self, sid: str, session: Session) -> None:
        if session.timer is not None:
            session.timer.cancel()
        loop = asyncio.get_running_loop()
        delay = max(0.0, seconds_left(session.expires_at, time.time()))

        def expire() -> None:
            task = loop.create_task(self._expire(sid))
            session.tasks.add(task)
            task.add_done_callback(session.tasks.discard)

        session.timer = loop.call_later(delay, expire)

    async def _expire(self, sid: str) -> None:
        session = self.sessions.get(sid)
        if session is None:
            return
        session.ending = "token_expired"
        payload = msgspec.to_builtins(AuthExpired())
        # Only this process holds the socket: no need to go through Redis.
        await self.sio.emit(AUTH_EXPIRED, payload, to=sid, ignore_queue=True)
        # A Socket.IO disconnect: clients do not reconnect by themselves (they need a token).
        await self.sio.disconnect(sid, ignore_queue=True)

    def live(self) -> list[tuple[str, str]]:
        """(user id, socket id) of every socket held here."""
        return [(s.user_id, sid) for sid, s in self.sessions.items()]

    async def heartbeat(self) -> None:
        """Renew the presence of every socket held here."""
        await self.realtime.seen(self.live())

    async def drain(self, seconds: float) -> None:
        """Tell every socket to reconnect, then close their connections over ``seconds``
        (spread, so the other pods are not hit by every reconnect at once). An Engine.IO close,
        not a Socket.IO disconnect: clients reconnect by themselves."""
        self.draining = True
        sids = list(self.sessions)
        log.info("draining %d socket(s) over %.1fs", len(sids), seconds)
        notice = msgspec.to_builtins(ServerShutdown())
        for sid in sids:
            await self.sio.emit(SERVER_SHUTDOWN, notice, to=sid, ignore_queue=True)
        pace = seconds / max(len(sids), 1)
        for index, sid in enumerate(sids):
            if index:
                await asyncio.sleep(pace)
            session = self.sessions.get(sid)
            if session is None:
                continue  # it left by itself
            session.ending = "shutdown"
            try:
                eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
                if eio_sid is not None:
                    await self.sio.eio.disconnect(eio_sid)
            except Exception as exc:
                log.warning("closing %s failed: %s", sid, exc)


class SocketGate:
    """The ASGI app at the Engine.IO path: refuses long-polling with a clear problem
    document and new handshakes while draining, hands the rest to the Socket.IO server."""

    def __init__(self, sio: Any, gateway: SocketGateway) -> None:
        self.sio = sio
        self.gateway = gateway

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if scope["type"] == "http" and query.get("transport", [""])[0] != "websocket":
            await _problem(
                send,
                400,
                "Bad request",
                "this Socket.IO server accepts the WebSocket transport only: connect with "
                "transports: ['websocket'] (HTTP long-polling would need sticky sessions)",
            )
            return
        if self.gateway.draining:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1013})  # try again later
            else:
                await _problem(send, 503, "Service unavailable", "shutting down: reconnect")
            return
        await self.sio.handle_request(scope, receive, send)


async def _problem(send: Any, status: int, title: str, detail: str) -> None:
    body = json.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": detail}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
