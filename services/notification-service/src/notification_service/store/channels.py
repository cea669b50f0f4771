"""The delivery channels' transports: the user's Socket.IO room (through the Redis manager,
write-only) and the SMTP relay. Each raises :class:`Undelivered` when the message did not
leave, so the delivery waits and is tried again, or :class:`Rejected` when the relay refused
it for good; none drops a message silently."""

from __future__ import annotations

import hashlib
import ssl
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import msgspec
import socketio

from notification_service.domain.notifications import Mail
from notification_service.events.publish import ClientEvent, room


class Undelivered(Exception):
    """The transport could not take the message; ``retry_after`` (s) if it said when."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Rejected(Exception):
    """The transport refused the message for good (an SMTP 5xx): trying again cannot help."""


class _StrictRedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    """python-socketio's manager logs and drops a message it cannot publish after one
    reconnect; a notification must wait instead, so a failed publish raises here."""

    async def _publish(self, data: Any) -> Any:
        try:
            if not self.connected:  # type: ignore[has-type]
                self._redis_connect()
            return await self.redis.publish(self.channel, self.json.dumps(data))
        except Exception as exc:
            self.connected = False  # reconnect on the next attempt
            raise Undelivered(f"Redis publish failed: {exc}") from exc


class RoomEmitter:
    """Emits to ``user:<sub>`` on the channel websocket-service's Redis manager listens on."""

    def __init__(self, redis_url: str, channel: str) -> None:
        self.manager = _StrictRedisManager(redis_url, channel=channel, write_only=True)

    async def emit(self, user_id: str, event: ClientEvent) -> None:
        payload = msgspec.to_builtins(event)
        await self.manager.emit(event.type, payload, room=room(user_id), namespace="/")

    async def close(self) -> None:
        if self.manager.redis is not None:
            await self.manager.redis.aclose()


def message_id_of(delivery_id: str) -> str:
    """The same ``Message-ID`` for every attempt at one delivery, so a mail sent twice (a
    crash between the relay's 250 and the record of it) is recognisably one message."""
    return f"<{hashlib.sha256(delivery_id.encode()).hexdigest()[:32]}@deepiri.dev>"


class SmtpRelay:
    """Mail through the configured relay (aiosmtplib). No host configured: every message
    waits for one."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str = "",
        password: str = "",
        security: str = "starttls",
        timeout: float = 10.0,
    ) -> None:
        if security not in ("starttls", "tls", "none"):
            raise ValueError(f"SMTP_SECURITY {security!r}: starttls, tls or none")
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password = username, password
        self.security, self.timeout = security, timeout

    def message(self, mail: Mail, message_id: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = mail.to
        msg["Subject"] = mail.subject
        msg["Message-ID"] = message_id_of(message_id)
        msg.set_content(mail.text)
        return msg

    async def send(self, mail: Mail, message_id: str) -> None:
        if not self.host:
            raise Undelivered("no SMTP relay configured (SMTP_HOST)")
        try:
            await aiosmtplib.send(
                self.message(mail, message_id),
                hostname=self.host,
                port=self.port,
                username=self.username or None,
                password=self.password or None,
                use_tls=self.security == "tls",
                start_tls=self.security == "starttls",
                tls_context=ssl.create_default_context(),
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPResponseException as exc:
            # 5xx is the relay's final word on this message (no such mailbox…); 4xx: later.
            if 500 <= exc.code < 600:
                raise Rejected(f"SMTP {exc.code}: {exc.message}") from exc
            raise Undelivered(f"SMTP {exc.code}: {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise Undelivered(f"SMTP relay unreachable: {exc}") from exc
