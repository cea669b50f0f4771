"""Notifications, their pending deliveries, the attempt log, preferences and profiles in
MongoDB.

Exactly once without transactions: a notification's id follows from (user, event id), and
its deliveries (``<id>:<channel>``) are inserted *before* it. So an existing notification
means its deliveries were recorded; a crash in between leaves deliveries whose notification
does not exist yet, which wait until the redelivered event inserts it (the same ids). A
delivery is deleted when it succeeds, so a replayed event whose notification exists changes
nothing. A deleted notification leaves a tombstone (its id, in ``deleted``), so a replay does
not bring it back either. Notifications are updated only to set ``read_at`` (and deleted), never by
delivery, so FerretDB's non-atomic updates cannot lose a field another writer set.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from redis.asyncio import Redis

from deepiri_kit import decode_cursor, keyset_filter, page_of, stored_time
from deepiri_kit.data.mongo import Tombstones, ensure_indexes
from notification_service.domain.notifications import Mail, Notification, delivery_id
from notification_service.domain.preferences import (
    CHANNELS,
    DEFAULT_CHANNELS,
    Channel,
    Kind,
    Preferences,
    QuietHours,
)
from notification_service.store.push_cap import PushCap
from notification_service.store.unread import MARKS_KEPT, UnreadCounter

Document = dict[str, Any]


@dataclass(frozen=True)
class Profile:
    """What user-service announced about the user: zone, verified address, display name."""

    time_zone: str | None = None
    email: str | None = None
    display_name: str | None = None


SORT = "newest"
NOTIFICATION_INDEXES = [
    IndexModel([("user_id", 1), ("created_at", -1), ("_id", -1)], name="user_newest")
]
ATTEMPT_INDEXES = [IndexModel([("delivery_id", 1), ("at", 1)], name="delivery_at")]
CLAIM_INDEXES = [IndexModel([("delivery_id", 1)], name="delivery")]
PREFERENCE_INDEXES = [IndexModel([("digest_hour", 1)], name="digest_hour")]


def as_notification(doc: Document) -> Notification:
    return Notification(
        id=doc["_id"],
        user_id=doc["user_id"],
        kind=doc["kind"],
        title=doc["title"],
        body=doc["body"],
        data=doc.get("data") or {},
        created_at=doc["created_at"],
        read_at=doc.get("read_at"),
        event_id=doc["event_id"],
        event_type=doc["event_type"],
    )


def notification_doc(n: Notification) -> Document:
    return {
        "_id": n.id,
        "user_id": n.user_id,
        "kind": n.kind,
        "title": n.title,
        "body": n.body,
        "data": n.data,
        "created_at": n.created_at,
        "read_at": n.read_at,
        "event_id": n.event_id,
        "event_type": n.event_type,
    }


def _clock(value: str) -> time:
    return time.fromisoformat(value)


def as_preferences(doc: Document | None) -> Preferences:
    if doc is None:
        return Preferences()
    channels: dict[Kind, frozenset[Channel]] = dict(DEFAULT_CHANNELS)
    for kind, wanted in (doc.get("channels") or {}).items():
        if kind in channels:
            channels[kind] = frozenset(c for c in CHANNELS if c in wanted)
    quiet = doc.get("quiet_hours")
    return Preferences(
        channels=channels,
        quiet_hours=None
        if quiet is None
        else QuietHours(_clock(quiet["start"]), _clock(quiet["end"])),
        time_zone=doc.get("time_zone"),
        digest_hour=doc.get("digest_hour"),
    )


def preferences_doc(user_id: str, prefs: Preferences) -> Document:
    quiet = prefs.quiet_hours
    return {
        "_id": user_id,
        "channels": {kind: sorted(chs) for kind, chs in prefs.channels.items()},
        "quiet_hours": None
        if quiet is None
        else {"start": quiet.start.isoformat("minutes"), "end": quiet.end.isoformat("minutes")},
        "time_zone": prefs.time_zone,
        "digest_hour": prefs.digest_hour,
    }


class NotificationStore:
    def __init__(self, db: AsyncDatabase[Document], redis: Redis) -> None:
        self.notifications = db["notifications"]
        self.deliveries = db["deliveries"]
        # One document per attempt being made: two replicas never make the same attempt.
        self.claims = db["delivery_claims"]
        self.attempts = db["delivery_attempts"]
        self.preferences = db["preferences"]
        self.profiles = db["profiles"]
        self.tombstones = db["deleted"]
        # Each user's unread count (Redis; rebuilt from the notifications when lost).
        self.counter = UnreadCounter(redis, self._unread_ids)
        # Each user's pushes of the last hour, and those about to be sent (Redis).
        self.push_cap = PushCap(redis)
        # One document per (user, local day) whose digest was claimed: its _id is the key.
        self.digests = db["digests"]
        # Erased accounts: nothing is notified to them again, however late or replayed.
        self.erased = Tombstones(db)

    async def ensure_indexes(self) -> None:
        await ensure_indexes(self.notifications, NOTIFICATION_INDEXES)
        await ensure_indexes(self.attempts, ATTEMPT_INDEXES)
        await ensure_indexes(self.preferences, PREFERENCE_INDEXES)
        await ensure_indexes(self.claims, CLAIM_INDEXES)

    # --- recording ------------------------------------------------------------------------

    async def exists(self, notification_id: str) -> bool:
        for collection in (self.notifications, self.tombstones):
            if await collection.find_one({"_id": notification_id}, {"_id": 1}) is not None:
                return True
        return False

    async def handled(self, user_id: str, notification_id: str) -> bool:
        """The event that makes this notification was handled already (the notification, or
        its tombstone, exists), or its user was erased: nothing is to be done for it."""
        return await self.erased.buried(user_id) or await self.exists(notification_id)

    async def record(
        self, notification: Notification | None, deliveries: list[Document]
    ) -> int | None:
        """The deliveries, then the notification (see the module's docstring): the user's
        unread count with it (0 without one), or None if the notification existed already.
        The caller has seen that it did not exist (and was not deleted) — :meth:`handled` —
        before planning its deliveries."""
        for delivery in deliveries:
            with contextlib.suppress(DuplicateKeyError):  # recorded before a crash
                await self.deliveries.insert_one(delivery)
        if notification is None:
            return 0
        # Counted *before* it is inserted, once (the counter's marks): the redelivery after a
        # crash in between counts nothing twice.
        unread = await self.counter.counted(notification.user_id, notification.id)
        try:
            await self.notifications.insert_one(notification_doc(notification))
        except DuplicateKeyError:
            return None
        return unread

    async def _unread_ids(self, user_id: str) -> list[str]:
        """The user's unread notifications' ids: what a lost counter is rebuilt from."""
        found = self.notifications.find({"user_id": user_id, "read_at": None}, {"_id": 1})
        return [doc["_id"] for doc in await found.to_list()]

    # --- the inbox ------------------------------------------------------------------------

    async def page(
        self, user_id: str, limit: int, cursor: str | None, unread_only: bool
    ) -> tuple[list[Notification], str | None]:
        query: Document = {"user_id": user_id}
        if unread_only:
            query["read_at"] = None
        if cursor:  # empty: the first page
            value, after = decode_cursor(cursor, SORT)
            query = {"$and": [query, keyset_filter("created_at", True, value, after)]}
        found = (
            await self.notifications.find(query)
            .sort([("created_at", -1), ("_id", -1)])
            .limit(limit + 1)
            .to_list()
        )
        docs, next_cursor = page_of(found, limit, SORT, "created_at")
        return [as_notification(d) for d in docs], next_cursor

    async def unread(self, user_id: str) -> int:
        """The user's unread notifications (their counter, not a count over the inbox: on
        FerretDB that scans every notification, ~33 ms per emit in the profile)."""
        return await self.counter.count(user_id)

    async def get(self, user_id: str, notification_id: str) -> Notification | None:
        doc = await self.notifications.find_one({"_id": notification_id, "user_id": user_id})
        return None if doc is None else as_notification(doc)

    async def by_id(self, notification_id: str) -> Notification | None:
        doc = await self.notifications.find_one({"_id": notification_id})
        return None if doc is None else as_notification(doc)

    async def mark_read(self, user_id: str, notification_id: str, at: datetime) -> bool:
        """True if it exists (read now or before)."""
        result = await self.notifications.update_one(
            {"_id": notification_id, "user_id": user_id, "read_at": None},
            {"$set": {"read_at": at}},
        )
        if result.modified_count:
            await self.counter.uncounted(user_id, [notification_id])
            return True
        found = await self.get(user_id, notification_id)
        if found is None:
            return False
        # Read before: if that request failed to uncount it (Redis dropped), its retry does
        # (the mark lets it count once); past the marks' lifetime that was long settled.
        if found.read_at is not None and at - found.read_at < MARKS_KEPT:
            await self.counter.uncounted(user_id, [notification_id])
        return True

    async def mark_all_read(self, user_id: str, at: datetime) -> int:
        # By name, not "set to 0": one counted meanwhile stays counted, and one read or
        # deleted meanwhile by another request leaves the count once.
        # Uncounted first: if Redis is unreachable nothing is written and a retry does it all;
        # if MongoDB fails after, the retry finds them unread again and the marks count once.
        ids = await self._unread_ids(user_id)
        if not ids:
            return 0
        await self.counter.uncounted(user_id, ids)
        result = await self.notifications.update_many(
            {"_id": {"$in": ids}, "read_at": None}, {"$set": {"read_at": at}}
        )
        return result.modified_count

    async def delete(self, user_id: str, notification_id: str, at: datetime) -> bool:
        found = await self.get(user_id, notification_id)
        if found is None:
            return False
        if found.read_at is None:  # an unread one leaves the count (once, whoever says so),
            # before it goes: with Redis unreachable it stays, and the retry does both.
            await self.counter.uncounted(user_id, [notification_id])
        with contextlib.suppress(DuplicateKeyError):  # a concurrent delete
            await self.tombstones.insert_one({"_id": notification_id, "user_id": user_id, "at": at})
        await self.notifications.delete_one({"_id": notification_id, "user_id": user_id})
        await self.deliveries.delete_many({"notification_id": notification_id})
        ids = [delivery_id(notification_id, channel) for channel in CHANNELS]
        await self.claims.delete_many({"delivery_id": {"$in": ids}})
        return True

    # --- deliveries -----------------------------------------------------------------------

    async def pending(self) -> list[Document]:
        """Every delivery not yet done (done ones are deleted, so this stays small)."""
        return await self.deliveries.find({}).to_list()

    async def delivery(self, delivery_id: str) -> Document | None:
        return await self.deliveries.find_one({"_id": delivery_id})

    async def delivered(self, delivery_id: str, *, claimed: bool = True) -> None:
        """Done: the delivery goes, with its attempts' claims (if its channel makes any)."""
        await self.deliveries.delete_one({"_id": delivery_id})
        if claimed:
            await self.claims.delete_many({"delivery_id": delivery_id})

    async def claim_attempt(self, delivery_id: str, attempt: int, at: datetime) -> datetime | None:
        """Claim attempt ``attempt`` of a delivery (a unique insert): None if this caller
        got it, else when its holder claimed it."""
        key = f"{delivery_id}#{attempt}"
        try:
            await self.claims.insert_one({"_id": key, "delivery_id": delivery_id, "at": at})
        except DuplicateKeyError:
            held = await self.claims.find_one({"_id": key})
            return at if held is None else held["at"]
        return None

    async def postpone(self, delivery_id: str, failures: int, next_at: datetime) -> None:
        await self.deliveries.update_one(
            {"_id": delivery_id}, {"$set": {"failures": failures, "next_at": next_at}}
        )

    async def attempt(self, record: Document) -> None:
        """Every attempt, kept for support (never a secret: no mail link, no push token)."""
        await self.attempts.insert_one(record)

    async def attempts_of(self, delivery_id: str) -> list[Document]:
        return await self.attempts.find({"delivery_id": delivery_id}).sort("at", 1).to_list()

    # --- preferences and profiles ---------------------------------------------------------

    async def preferences_of(self, user_id: str) -> Preferences:
        return as_preferences(await self.preferences.find_one({"_id": user_id}))

    async def save_preferences(self, user_id: str, prefs: Preferences) -> None:
        await self.preferences.replace_one(
            {"_id": user_id}, preferences_doc(user_id, prefs), upsert=True
        )

    async def profile(self, user_id: str) -> Profile:
        doc = await self.profiles.find_one({"_id": user_id}) or {}
        return Profile(doc.get("time_zone"), doc.get("email"), doc.get("display_name"))

    async def profile_zone(self, user_id: str) -> str | None:
        return (await self.profile(user_id)).time_zone

    async def set_profile(self, user_id: str, changes: Document, at: datetime) -> bool:
        """What user-service announced at ``at`` (zone, verified address, name), unless a
        profile announced later is stored: a replay may bring an older event after a newer
        one. Fields left out stay. Replicas may handle two of the user's events at once, so
        the replace is conditional on the version read (a loser reads again): atomic on
        MongoDB; FerretDB, the test server, may let both win (docs/ferretdb.md). False if
        ours was newer."""
        at = stored_time(at)
        while True:
            current = await self.profiles.find_one({"_id": user_id})
            if current is None:
                with contextlib.suppress(DuplicateKeyError):
                    await self.profiles.insert_one({"_id": user_id, **changes, "at": at})
                    return True
                continue
            seen = current.get("at")
            if seen is not None and stored_time(seen) >= at:
                return False
            version = {"at": seen} if seen is not None else {"at": {"$exists": False}}
            replaced = await self.profiles.replace_one(
                {"_id": user_id, **version}, current | changes | {"at": at}
            )
            if replaced.matched_count:
                return True

    async def forget_profile(self, user_id: str) -> None:
        await self.profiles.delete_one({"_id": user_id})

    # --- digests --------------------------------------------------------------------------

    async def digest_subscribers(self) -> list[tuple[str, Preferences]]:
        found = await self.preferences.find({"digest_hour": {"$ne": None}}).to_list()
        return [(doc["_id"], as_preferences(doc)) for doc in found]

    async def digested(self, key: str) -> bool:
        return await self.digests.find_one({"_id": key}, {"_id": 1}) is not None

    async def claim_digest(self, key: str, user_id: str, at: datetime, mail: Mail | None) -> bool:
        """True for exactly one caller per key (a unique insert), whatever the replicas. The
        mail is kept until it is queued (``digest_queued``); None: nothing to send that day."""
        doc: Document = {"_id": key, "user_id": user_id, "at": at, "queued": mail is None}
        if mail is not None:
            doc["mail"] = {"to": mail.to, "subject": mail.subject, "text": mail.text}
        try:
            await self.digests.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def digest_queued(self, key: str) -> None:
        await self.digests.update_one(
            {"_id": key}, {"$set": {"queued": True}, "$unset": {"mail": ""}}
        )

    async def unqueued_digests(self, before: datetime) -> list[Document]:
        """Claims whose mail was never queued (their claimer died in between)."""
        return await self.digests.find({"queued": False, "at": {"$lt": before}}).to_list()

    async def unread_since(self, user_id: str, since: datetime, limit: int) -> list[Notification]:
        found = (
            await self.notifications.find(
                {"user_id": user_id, "read_at": None, "created_at": {"$gte": since}}
            )
            .sort([("created_at", -1), ("_id", -1)])
            .limit(limit)
            .to_list()
        )
        return [as_notification(d) for d in found]

    async def count_unread_since(self, user_id: str, since: datetime) -> int:
        return await self.notifications.count_documents(
            {"user_id": user_id, "read_at": None, "created_at": {"$gte": since}}
        )

    async def prune_digests(self, before: datetime) -> None:
        await self.digests.delete_many({"at": {"$lt": before}})

    async def erase(self, user_id: str, at: datetime) -> None:
        """Everything held about the user (``user.deleted``); the account's tombstone first,
        so an event for it handled meanwhile (or replayed later) notifies nothing."""
        await self.erased.bury(user_id, at)
        for delivery in await self.deliveries.find({"user_id": user_id}, {"_id": 1}).to_list():
            await self.claims.delete_many({"delivery_id": delivery["_id"]})
        await self.deliveries.delete_many({"user_id": user_id})
        await self.notifications.delete_many({"user_id": user_id})
        await self.tombstones.delete_many({"user_id": user_id})
        await self.attempts.delete_many({"user_id": user_id})
        await self.preferences.delete_one({"_id": user_id})
        await self.forget_profile(user_id)
        await self.digests.delete_many({"user_id": user_id})
        await self.counter.forget(user_id)
        await self.push_cap.forget(user_id)
        # The counter's MongoDB document, as versions before the Redis counter kept it.
        await self.notifications.database["unread_counts"].delete_one({"_id": user_id})
