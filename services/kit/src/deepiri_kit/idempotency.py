"""``Idempotency-Key`` for unsafe requests (the IETF httpapi draft, as Stripe does it):
one key runs its request at most once.

Same caller + same key + same request (method, path, query, body) → the stored response is
replayed with ``Idempotent-Replayed: true``; same key with a different request → 422; a
request still in flight with that key → 409 with ``Retry-After``.

How "at most once" holds on FerretDB, where only a unique insert is atomic:

1. **Claim.** A record ``{_id: hash(owner, key), owner, key, fingerprint, status: None}`` is
   *inserted*; the inserter owns the key. ``_id`` is a SHA-256 over a length-prefixed
   encoding of caller and key, so no two (caller, key) pairs share a record, and a record is
   only ever replayed to the caller stored in it.
2. **Stamp.** While the request runs, :func:`stamp` gives the write path the fields
   ``{"idempotency_key": <record id>}`` to put into the very document that commits the
   change (task-service: the version it inserts; gamification-service: the ledger entry or
   the match). A service lists those collections in ``Wiring(stamped=[...])``. Stamping
   is what lets a later request tell "applied" from "never ran" without trusting anything
   written after the commit.
3. **Finalise before answering.** The response is buffered, the record is finalised with it
   (retried a few times), and only then sent: a retry sent after the answer arrived replays
   it instead of meeting 409.
4. **Failure.** A response ≥ 500 (or an exception) is not stored. If the write path never
   asked for the stamp, nothing was committed under the key: the record is deleted and a
   retry runs again. If it did, the change may be committed: the record is marked
   ``uncertain`` and kept.
5. **Takeover.** An ``uncertain`` record, or one still in flight after ``abandoned_after``
   (its process died, or its final write failed), is taken over by exactly one retry (the
   inserter of a takeover lock). It first looks for a committed change stamped with the
   key: if there is one, the request is *not* run again; the retry (and every later one) is
   answered 409 ``idempotency-key-applied`` (the change is applied; its response was lost).
   Only if nothing carries the stamp does the request run again. A request may take at most
   half of ``abandoned_after`` (then it is cancelled), so the holder of an abandoned record
   cannot still commit while it is taken over.

If MongoDB cannot be reached, a keyed request is refused with 503 (``Retry-After``) within
the client's timeouts rather than run without its guarantee; requests without a key, and
safe methods, never touch the store. A deleted account's records are erased with its data
(``deepiri_kit.data.mongo.forget_idempotency_keys``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from deepiri_kit.data.transient import RETRY_AFTER_SECONDS
from deepiri_kit.faults import crash_point
from deepiri_kit.problems import send_problem
from deepiri_kit.retry import ATTEMPTS, backoff, pause, take_retry_mark
from deepiri_kit.stamps import STAMP_FIELD, _current, _Stamp, record_id, scoped_key, stamp

log = logging.getLogger("deepiri.idempotency")
HEADER = b"idempotency-key"
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
UNSAFE = frozenset({"POST", "PATCH", "PUT", "DELETE"})
KEPT_HEADERS = frozenset({b"content-type", b"etag", b"location"})
RETENTION = timedelta(hours=24)
FINALISE_ATTEMPTS = 3
INDEXES = [IndexModel([("created_at", 1)], name="created_at")]
STAMP_INDEX = IndexModel([(STAMP_FIELD, 1)], name=STAMP_FIELD)

ASGIApp = Any
Collection = AsyncCollection[dict[str, Any]]


class IdempotencyMiddleware:  # a plain ASGI middleware
    """Runs inside authentication (keys are scoped per caller) and needs the raw body."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, abandoned_after: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.abandoned_after = timedelta(seconds=abandoned_after)
        # The holder must be done (or cancelled) well before anyone may take its key over.
        self.deadline = abandoned_after / 2

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
        state = scope["app"].state
        records: Collection = state.idempotency_records
        ledger = _Ledger(records, list(state.get("idempotency_stamped", [])))
        request = {
            "_id": record_id(owner, raw_key),
            "owner": owner,
            "key": raw_key,
            "fingerprint": _fingerprint(scope, body),
            # Tells our own claim from others' (a claim whose answer was lost may have landed).
            "claim": uuid.uuid4().hex,
        }
        try:
            verdict = await ledger.claim(request, self.abandoned_after)
        except PyMongoError as exc:
            log.warning("idempotency store unavailable: %s", exc)
            await ledger.release_claim(request)
            await _send_problem(
                scope,
                send,
                503,
                "the idempotency store is unavailable; retry with the same key",
                retry_after=RETRY_AFTER_SECONDS,
            )
            return
        if verdict is not None:
            await verdict(scope, send)
            return
        await self._run(scope, body, send, ledger, request["_id"])

    async def _run(
        self, scope: dict[str, Any], body: bytes, send: Any, ledger: _Ledger, rid: str
    ) -> None:
        current = _Stamp(rid)
        for attempt in range(1, ATTEMPTS + 1):
            start, chunks = await self._attempt(scope, body, ledger, current)
            # A busy datastore before anything was stamped: nothing is committed, run again.
            busy = start["status"] == 503 and take_retry_mark(scope)
            if not (busy and not current.taken and attempt < ATTEMPTS):
                break
            await pause(attempt)
        status = start["status"]
        crash_point("idempotency.before_finalise")  # tests: die after the commit
        if status >= 500:
            await ledger.settle_failure(rid, stamped=current.taken)
        else:
            await ledger.finalise(rid, status, start.get("headers", ()), bytes(chunks))
        await send(start)
        await send({"type": "http.response.body", "body": bytes(chunks)})

    async def _attempt(
        self, scope: dict[str, Any], body: bytes, ledger: _Ledger, current: _Stamp
    ) -> tuple[dict[str, Any], bytearray]:
        start: dict[str, Any] = {"type": "http.response.start", "status": 500, "headers": []}
        chunks = bytearray()

        async def capture(message: dict[str, Any]) -> None:
            # Buffer everything: the record is written before the client sees the answer.
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.extend(message.get("body", b""))

        token = _current.set(current)
        try:
            async with asyncio.timeout(self.deadline):
                await self.app(scope, _replay_receive(body), capture)
        except BaseException:
            await ledger.settle_failure(current.record_id, stamped=current.taken)
            raise
        finally:
            _current.reset(token)
        return start, chunks


Verdict = Any  # async (scope, send) -> None: an answer given instead of running the request


class _Ledger:
    def __init__(self, records: Collection, stamped: list[Collection]) -> None:
        self.records = records
        self.stamped = stamped

    async def claim(self, request: dict[str, Any], abandoned_after: timedelta) -> Verdict | None:
        """Own the key (None: run the request) or the answer to give instead."""
        rid = request["_id"]
        for _ in range(3):
            now = datetime.now(UTC)
            record = {**request, "status": None, "created_at": now}
            try:
                await self.records.insert_one(record)
                return None
            except DuplicateKeyError:
                existing = await self.records.find_one({"_id": rid})
            if existing is None:
                continue  # deleted between our insert and read: try again
            if existing.get("owner") != request["owner"] or existing.get("key") != request["key"]:
                # Not this caller's record (a record from before keys were hashed): never
                # replay it, never run under it.
                return _problem(422, "this Idempotency-Key cannot be used; choose another")
            created = _aware(existing["created_at"])
            expired = now - created > RETENTION
            if existing["fingerprint"] != request["fingerprint"] and not expired:
                return _problem(422, "this Idempotency-Key was used for a different request")
            if existing.get("status") is not None and not expired:
                return _replay(existing)
            uncertain = existing.get("uncertain", False)
            if not (expired or uncertain or now - created > abandoned_after):
                return _problem(
                    409,
                    "a request with this Idempotency-Key is still being processed; retry later",
                    retry_after=1,
                )
            # Exactly one retry takes the record over: conditional replaces are not atomic on
            # FerretDB, but a unique insert is everywhere (a document _id: no key collides).
            lock = {"_id": {"takeover_of": rid, "created": created}, "created_at": now}
            try:
                await self.records.insert_one(lock)
            except DuplicateKeyError:
                return _problem(
                    409,
                    "a request with this Idempotency-Key is still being processed; retry later",
                    retry_after=1,
                )
            if not expired and await self._applied(rid):
                answer = _applied_problem()
                await self.records.replace_one({"_id": rid}, {**record, **answer})
                return _replay({**record, **answer})
            await self.records.replace_one({"_id": rid}, record)
            return None
        return _problem(409, "this Idempotency-Key is contended; retry later", retry_after=1)

    async def _applied(self, rid: str) -> bool:
        for collection in self.stamped:
            if await collection.find_one({STAMP_FIELD: rid}, {"_id": 1}) is not None:
                return True
        return False

    async def finalise(self, rid: str, status: int, headers: Any, body: bytes) -> None:
        kept = [
            # Documents, not pairs: FerretDB rejects nested arrays.
            {"name": k.decode("latin-1"), "value": v.decode("latin-1")}
            for k, v in headers
            if k.lower() in KEPT_HEADERS
        ]
        update = {"$set": {"status": status, "headers": kept, "body": body}}
        for attempt in range(1, FINALISE_ATTEMPTS + 1):
            try:
                await self.records.update_one({"_id": rid}, update)
                return
            except PyMongoError as exc:
                if attempt == FINALISE_ATTEMPTS:
                    # The answer still goes out; the record stays in flight, and a retry
                    # takes it over later and finds the stamped change (see the docstring).
                    log.warning("could not finalise idempotency record: %s", exc)
                    return
                await asyncio.sleep(backoff(attempt, first=0.1, factor=3))

    async def release_claim(self, request: dict[str, Any]) -> None:
        """Best effort: our claim may have been written although its answer never came; the
        request never ran, so the key must not wait for abandonment."""
        # If this fails too, a retry takes the key over once it is abandoned.
        with contextlib.suppress(PyMongoError):
            await self.records.delete_one({"_id": request["_id"], "claim": request["claim"]})

    async def settle_failure(self, rid: str, *, stamped: bool) -> None:
        try:
            if stamped:
                # Perhaps committed: keep the key, let the next retry check at once.
                await self.records.update_one({"_id": rid}, {"$set": {"uncertain": True}})
            else:
                await self.records.delete_one({"_id": rid, "status": None})
        except PyMongoError as exc:
            log.warning("could not release idempotency record: %s", exc)


def _applied_problem() -> dict[str, Any]:
    from deepiri_kit.problems import problem_body

    body = problem_body(
        409,
        title="Already applied",
        detail=(
            "the request with this Idempotency-Key was applied, but its response was lost; "
            "read the resource for its current state"
        ),
        slug="idempotency-key-applied",
    )
    import msgspec

    return {
        "status": 409,
        "headers": [{"name": "content-type", "value": "application/problem+json"}],
        "body": msgspec.json.encode(body),
    }


async def prune(collection: Collection) -> int:
    """Forget records past retention (and takeover locks); no TTL indexes on FerretDB."""
    result = await collection.delete_many({"created_at": {"$lt": datetime.now(UTC) - RETENTION}})
    return result.deleted_count


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _fingerprint(scope: dict[str, Any], body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b"")):
        digest.update(len(part).to_bytes(8, "big") + part)
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


def _replay(record: dict[str, Any]) -> Verdict:
    async def answer(_scope: dict[str, Any], send: Any) -> None:
        headers = [
            (h["name"].encode("latin-1"), h["value"].encode("latin-1")) for h in record["headers"]
        ]
        headers.append((b"idempotent-replayed", b"true"))
        await send({"type": "http.response.start", "status": record["status"], "headers": headers})
        await send({"type": "http.response.body", "body": bytes(record["body"])})

    return answer


def _problem(status: int, detail: str, retry_after: int | None = None) -> Verdict:
    async def answer(scope: dict[str, Any], send: Any) -> None:
        await _send_problem(scope, send, status, detail, retry_after=retry_after)

    return answer


async def _send_problem(
    scope: dict[str, Any], send: Any, status: int, detail: str, retry_after: int | None = None
) -> None:
    headers = {"retry-after": str(retry_after)} if retry_after is not None else None
    await send_problem(send, status, detail, instance=scope["path"], headers=headers)


__all__ = [
    "INDEXES",
    "STAMP_FIELD",
    "STAMP_INDEX",
    "IdempotencyMiddleware",
    "record_id",
    "scoped_key",
    "stamp",
]
