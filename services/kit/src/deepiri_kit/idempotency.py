"""``Idempotency-Key`` for unsafe requests (the IETF httpapi draft, as Stripe does it).

Same caller + same key + same request (method, path, query, body) → the stored response is
replayed with ``Idempotent-Replayed: true``; same key with a different request → 422; a
request still in flight with that key → 409. Responses ≥ 500 are not stored, so a retry
after a server failure runs again. Records live in the service's MongoDB and expire lazily.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from deepiri_kit.problems import send_problem

HEADER = b"idempotency-key"
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
UNSAFE = frozenset({"POST", "PATCH", "PUT", "DELETE"})
KEPT_HEADERS = frozenset({b"content-type", b"etag", b"location"})
RETENTION = timedelta(hours=24)
# A record left "in flight" this long belongs to a request whose process died.
ABANDONED_AFTER = timedelta(seconds=60)
INDEXES = [IndexModel([("created_at", 1)], name="created_at")]

ASGIApp = Any


class IdempotencyMiddleware:  # a plain ASGI middleware
    """Runs inside authentication (keys are scoped per caller) and needs the raw body."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE:
            await self.app(scope, receive, send)
            return
        key = dict(scope["headers"]).get(HEADER)
        owner = getattr(scope.get("user"), "subject", None)
        if key is None or owner is None:
            # Keys are scoped per caller; on public routes there is no caller to scope by,
            # and a shared namespace would replay one client's response to another.
            await self.app(scope, receive, send)
            return
        raw_key = key.decode("latin-1")
        if not _VALID_KEY.match(raw_key):
            await _send_problem(
                scope, send, 400, "Idempotency-Key must be 1-255 visible ASCII characters"
            )
            return
        body, too_large = await _read_body(receive, self.max_body_bytes)
        if too_large:
            await _send_problem(scope, send, 413, "request body too large")
            return
        record_id = f"{owner}:{raw_key}"
        fingerprint = _fingerprint(scope, body)
        collection: AsyncCollection[dict[str, Any]] = scope["app"].state.idempotency_records

        existing = await _claim(collection, record_id, fingerprint)
        if existing is not None:
            if existing["fingerprint"] != fingerprint:
                await _send_problem(
                    scope,
                    send,
                    422,
                    "this Idempotency-Key was used for a different request",
                )
            elif existing.get("status") is None:
                await _send_problem(
                    scope,
                    send,
                    409,
                    "a request with this Idempotency-Key is still being processed; retry later",
                )
            else:
                await _replay(send, existing)
            return

        captured: dict[str, Any] = {"status": 500, "headers": [], "body": bytearray()}

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                # Documents, not pairs: FerretDB rejects nested arrays.
                captured["headers"] = [
                    {"name": k.decode("latin-1"), "value": v.decode("latin-1")}
                    for k, v in message.get("headers", ())
                    if k.lower() in KEPT_HEADERS
                ]
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, _replay_receive(body), capture)
        except BaseException:
            await collection.delete_one({"_id": record_id, "status": None})
            raise
        if captured["status"] >= 500:
            await collection.delete_one({"_id": record_id, "status": None})
            return
        await collection.update_one(
            {"_id": record_id},
            {
                "$set": {
                    "status": captured["status"],
                    "headers": captured["headers"],
                    "body": bytes(captured["body"]),
                }
            },
        )


async def _claim(
    collection: AsyncCollection[dict[str, Any]], record_id: str, fingerprint: str
) -> dict[str, Any] | None:
    """Insert our in-flight record; return the existing one if the key is taken."""
    now = datetime.now(UTC)
    record = {"_id": record_id, "fingerprint": fingerprint, "status": None, "created_at": now}
    for _ in range(2):
        try:
            await collection.insert_one(record)
            return None
        except DuplicateKeyError:
            existing = await collection.find_one({"_id": record_id})
            if existing is None:
                continue  # deleted between our insert and read: try again
            created = existing["created_at"]
            created = created if created.tzinfo else created.replace(tzinfo=UTC)
            expired = now - created > RETENTION
            abandoned = existing.get("status") is None and now - created > ABANDONED_AFTER
            if expired or abandoned:
                # Only one caller may take over this exact record. A conditional replace is
                # not enough (FerretDB evaluates conditions and writes non-atomically), but
                # a unique insert is atomic everywhere: the inserter of the lock wins.
                # (A document _id, so no caller's key can ever collide with a lock.)
                lock = {"_id": {"takeover_of": record_id, "created": created}, "created_at": now}
                try:
                    await collection.insert_one(lock)
                except DuplicateKeyError:
                    return existing  # a peer is taking it over: behave as "in flight"
                await collection.replace_one({"_id": record_id}, record)
                return None
            return existing
    return await collection.find_one({"_id": record_id})


async def prune(collection: AsyncCollection[dict[str, Any]]) -> int:
    """Forget records past retention (and takeover locks); no TTL indexes on FerretDB."""
    result = await collection.delete_many({"created_at": {"$lt": datetime.now(UTC) - RETENTION}})
    return result.deleted_count


def _fingerprint(scope: dict[str, Any], body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b"")):
        digest.update(part + b"\x00")
    digest.update(body)
    return digest.hexdigest()


async def _read_body(receive: Any, limit: int) -> tuple[bytes, bool]:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        if len(body) > limit:
            return b"", True
        if not message.get("more_body", False):
            break
    return bytes(body), False


def _replay_receive(body: bytes) -> Any:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _replay(send: Any, record: dict[str, Any]) -> None:
    headers = [
        (h["name"].encode("latin-1"), h["value"].encode("latin-1")) for h in record["headers"]
    ]
    headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": record["status"], "headers": headers})
    await send({"type": "http.response.body", "body": bytes(record["body"])})


async def _send_problem(scope: dict[str, Any], send: Any, status: int, detail: str) -> None:
    await send_problem(send, status, detail, instance=scope["path"])


__all__ = ["INDEXES", "IdempotencyMiddleware"]
