"""The use cases: the inbox and preferences (for the API), the reactions to platform events
(for the consumer) and delivery (inline after an event, and the sweep that retries)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal

import msgspec

from deepiri_kit import NotFound, backoff, metrics, utcnow
from deepiri_kit.contracts.challenges import ChallengeCompleted
from deepiri_kit.contracts.gamification import BadgeAwarded, CurrencyCredited, LevelUp
from deepiri_kit.contracts.social import FriendAdded, FriendRequested
from deepiri_kit.contracts.tasks import TaskCompleted
from deepiri_kit.contracts.users import (
    PasswordResetRequested,
    UserRegistered,
    UserUpdated,
    VerificationRequested,
)
from notification_service.domain import notifications as rules
from notification_service.domain.deliveries import plan
from notification_service.domain.devices import Device, Provider, new_device, push_of
from notification_service.domain.digest import digest_day, digest_key, digest_mail
from notification_service.domain.notifications import Draft, Mail, Notification
from notification_service.domain.preferences import (
    Channel,
    Preferences,
    QuietHours,
    with_changes,
    zone,
)
from notification_service.events.publish import client_event, current_traceparent
from notification_service.store.channels import Rejected, RoomEmitter, SmtpRelay, Undelivered
from notification_service.store.devices import DeviceStore
from notification_service.store.notifications import Document, NotificationStore
from notification_service.store.push import ApnsSender, FcmSender

log = logging.getLogger("notification.delivery")
NOTIFIED = metrics.counter(
    "deepiri_notifications_created_total", "Notifications stored, by type.", ("kind",)
)
ATTEMPTS = metrics.counter(
    "deepiri_notification_delivery_attempts_total",
    "Delivery attempts by channel and outcome (delivered, failed, rejected, capped).",
    ("channel", "outcome"),
)
PUSHED = metrics.counter(
    "deepiri_push_sends_total",
    "Push sends by provider and result (delivered, invalid, retry).",
    ("provider", "result"),
)
DIGESTS = metrics.counter(
    "deepiri_notification_digests_total",
    "Daily digests claimed, by outcome (queued, recovered, empty, no_address).",
    ("outcome",),
)
Sender = FcmSender | ApnsSender
# A delivery whose notification never appeared (its event was dead-lettered) is dropped.
ORPHAN_AFTER = timedelta(days=1)
# How long one attempt may hold its delivery: longer than the slowest attempt (a push to
# many devices, each with a 10 s timeout); a claim older than this belongs to a dead process.
LEASE = timedelta(minutes=5)
Clock = Callable[[], datetime]
# Channels whose attempts are claimed across replicas: a second mail or push reaches a
# person. A repeated in-app emit carries the same id (the client shows it once), and the core
# loop's latency is spared the claim's round trips.
CLAIMED: frozenset[Channel] = frozenset({"email", "push"})


# A notification this process just recorded, with the user's unread count it made.
Recorded = tuple[Notification, int]


class Capped(Exception):
    """The user's push cap is reached: this notification stays in the inbox, unpushed."""


class Inbox:
    def __init__(self, store: NotificationStore, devices: DeviceStore) -> None:
        self.store = store
        self.devices = devices

    async def page(
        self, user_id: str, limit: int, cursor: str | None, unread_only: bool
    ) -> tuple[list[Notification], str | None]:
        return await self.store.page(user_id, limit, cursor, unread_only)

    async def unread(self, user_id: str) -> int:
        return await self.store.unread(user_id)

    async def mark_read(self, user_id: str, notification_id: str) -> Notification:
        if not await self.store.mark_read(user_id, notification_id, utcnow()):
            raise NotFound(f"no notification {notification_id}")
        found = await self.store.get(user_id, notification_id)
        if found is None:  # deleted in between
            raise NotFound(f"no notification {notification_id}")
        return found

    async def mark_all_read(self, user_id: str) -> int:
        return await self.store.mark_all_read(user_id, utcnow())

    async def delete(self, user_id: str, notification_id: str) -> None:
        if not await self.store.delete(user_id, notification_id, utcnow()):
            raise NotFound(f"no notification {notification_id}")

    async def register_device(
        self, user_id: str, *, provider: str, platform: str, token: str, app_version: str
    ) -> Device:
        device = new_device(
            user_id=user_id,
            provider=provider,
            platform=platform,
            token=token,
            app_version=app_version,
            now=utcnow(),
        )
        await self.devices.register(device)
        return device

    async def devices_of(self, user_id: str) -> list[Device]:
        return await self.devices.of(user_id)

    async def remove_device(self, user_id: str, device: str) -> None:
        if not await self.devices.remove(user_id, device):
            raise NotFound(f"no device {device}")

    async def preferences(self, user_id: str) -> Preferences:
        return await self.store.preferences_of(user_id)

    async def change_preferences(
        self,
        user_id: str,
        *,
        channels: dict[str, list[str]] | None,
        quiet_hours: tuple[time, time] | Literal["keep"] | None,
        time_zone: str | Literal["keep"] | None,
        digest_hour: int | Literal["keep"] | None = "keep",
    ) -> Preferences:
        current = await self.store.preferences_of(user_id)
        hours = quiet_hours if quiet_hours in ("keep", None) else QuietHours(*quiet_hours)
        changed = with_changes(
            current,
            channels=channels,
            quiet_hours=hours,
            time_zone=time_zone,
            digest_hour=digest_hour,
        )
        await self.store.save_preferences(user_id, changed)
        return changed


class Deliveries:
    """Records notifications with their deliveries, and delivers them: at once when they
    are due, later (the sweep) when held for quiet hours or when a transport failed."""

    def __init__(
        self,
        store: NotificationStore,
        emitter: RoomEmitter,
        relay: SmtpRelay,
        *,
        devices: DeviceStore | None = None,
        senders: dict[Provider, Sender] | None = None,
        retry_first: float = 2.0,
        retry_limit: float = 300.0,
        min_age: float = 5.0,
        push_per_hour: int = 20,
        clock: Clock = utcnow,
    ) -> None:
        self.clock = clock
        self.store = store
        self.emitter = emitter
        self.relay = relay
        self.devices = devices
        self.senders = senders or {}
        # Push once a provider is set; email once a relay is (and, per user, only to the
        # address user-service announced as verified).
        available: list[Channel] = ["in_app"]
        if self.senders and devices is not None:
            available.append("push")
        if relay.host:
            available.append("email")
        self.available: tuple[Channel, ...] = tuple(available)
        self.retry_first = retry_first
        self.retry_limit = retry_limit
        self.min_age = min_age
        self.push_per_hour = push_per_hour
        # Deliveries being attempted in this process: the sweep leaves them alone, however
        # long a slow provider keeps the consumer's inline attempt.
        self._in_flight: set[str] = set()

    # --- from events ----------------------------------------------------------------------

    async def notify(self, user_id: str, event_id: str, event_type: str, draft: Draft) -> None:
        """Store ``draft`` for ``user_id`` once per event and deliver what is due now."""
        now = self.clock()
        nid = rules.notification_id(user_id, event_id)
        if await self.store.handled(user_id, nid):
            return
        prefs = await self.store.preferences_of(user_id)
        profile = await self.store.profile(user_id)
        available = [c for c in self.available if c != "email" or profile.email]
        planned = plan(
            draft.kind, prefs, now=now, profile_zone=profile.time_zone, available=available
        )
        notification = Notification(
            id=nid,
            user_id=user_id,
            kind=draft.kind,
            title=draft.title,
            body=draft.body,
            data=draft.data,
            created_at=now,
            read_at=None,
            event_id=event_id,
            event_type=event_type,
        )
        jobs = [
            self._job(rules.delivery_id(nid, p.channel), user_id, p.channel, p.not_before, now, nid)
            for p in planned
        ]
        unread = await self.store.record(notification, jobs)
        if unread is not None:
            NOTIFIED.labels(draft.kind).inc()
            await self._deliver_due(jobs, now, (notification, unread))

    async def mail(self, user_id: str, event_id: str, mail: Mail) -> None:
        """Account mail, once per event; it waits while the relay is down."""
        await self.queue_mail(f"mail:{event_id}", user_id, mail)

    async def queue_mail(self, delivery_id: str, user_id: str, mail: Mail) -> None:
        """A ready-made mail (account mail, the digest) under ``delivery_id``, once."""
        now = self.clock()
        job = self._job(delivery_id, user_id, "email", now, now, None)
        job["mail"] = {"to": mail.to, "subject": mail.subject, "text": mail.text}
        if await self.store.delivery(job["_id"]) is not None or await self._mailed(job["_id"]):
            return
        await self.store.record(None, [job])
        await self._deliver_due([job], now)

    async def _mailed(self, delivery_id: str) -> bool:
        attempts = await self.store.attempts_of(delivery_id)
        return any(a["outcome"] in ("delivered", "rejected") for a in attempts)

    @staticmethod
    def _job(
        delivery_id: str,
        user_id: str,
        channel: Channel,
        not_before: datetime,
        now: datetime,
        notification_id: str | None,
    ) -> Document:
        return {
            "_id": delivery_id,
            "user_id": user_id,
            "channel": channel,
            "notification_id": notification_id,
            "created_at": now,
            "not_before": not_before,
            "next_at": not_before,
            "failures": 0,
            # The trace that made it: a retry from the sweep still belongs to the user's action.
            "traceparent": current_traceparent(),
        }

    # --- delivering -----------------------------------------------------------------------

    async def _deliver_due(
        self, jobs: Sequence[Document], now: datetime, recorded: Recorded | None = None
    ) -> None:
        """The jobs just recorded by this process, with their notification and the unread
        count it made: nothing to read back (the sweep leaves young, never-failed
        deliveries to their consumer)."""
        for job in jobs:
            if job["next_at"] <= now:
                await self.attempt(job, fresh=True, recorded=recorded)

    async def sweep(self) -> int:
        """Deliver what is due and not young (young ones belong to their consumer); returns
        how many were delivered."""
        now = self.clock()
        young = now - timedelta(seconds=self.min_age)
        delivered = 0
        for job in await self.store.pending():
            due = _aware(job["next_at"]) <= now
            if due and (job["failures"] or _aware(job["created_at"]) <= young):
                delivered += await self.attempt(job)
        return delivered

    async def attempt(
        self, job: Document, *, fresh: bool = False, recorded: Recorded | None = None
    ) -> bool:
        """One attempt at one delivery, recorded whatever happens. ``fresh``: ``job`` was
        just recorded by this caller, so it is current (``recorded``: its notification)."""
        if job["_id"] in self._in_flight:
            return False
        self._in_flight.add(job["_id"])
        try:
            # The sweep's list may be stale: done (deleted) or postponed meanwhile.
            current = job if fresh else await self.store.delivery(job["_id"])
            now = self.clock()
            if current is None or _aware(current["next_at"]) > now:
                return False
            if current["channel"] in CLAIMED and not await self._claim(current, now):
                return False
            return await self._attempt(current, recorded)
        finally:
            self._in_flight.discard(job["_id"])

    async def _claim(self, job: Document, now: datetime) -> bool:
        """One process per attempt, across replicas: the attempt's number is claimed by a
        unique insert. A claim left by a dead process (older than LEASE) turns into a failed
        attempt, so the next one has a number of its own."""
        held_since = await self.store.claim_attempt(job["_id"], job["failures"], now)
        if held_since is None:
            return True
        if now - _aware(held_since) > LEASE:
            await self.store.postpone(job["_id"], job["failures"] + 1, now)
        return False

    async def _done(self, job: Document) -> None:
        await self.store.delivered(job["_id"], claimed=job["channel"] in CLAIMED)

    async def _attempt(self, job: Document, recorded: Recorded | None = None) -> bool:
        channel: Channel = job["channel"]
        record: dict[str, Any] = {
            "delivery_id": job["_id"],
            "user_id": job["user_id"],
            "channel": channel,
            "attempt": job["failures"] + 1,
            "at": self.clock(),
        }
        try:
            delivered = await self._send(job, recorded)
        except Capped as exc:
            record |= {"outcome": "capped", "error": str(exc)}
            await self.store.attempt(record)
            await self._done(job)
            ATTEMPTS.labels(channel, "capped").inc()
            return False
        except Rejected as exc:
            record |= {"outcome": "rejected", "error": str(exc)[:500]}
            await self.store.attempt(record)
            await self._done(job)
            ATTEMPTS.labels(channel, "rejected").inc()
            log.error("delivery %s rejected for good: %s", job["_id"], exc)
            return False
        except Undelivered as exc:
            failures = job["failures"] + 1
            wait = backoff(failures, first=self.retry_first, limit=self.retry_limit)
            if exc.retry_after is not None:
                wait = max(wait, exc.retry_after)
            next_at = self.clock() + timedelta(seconds=wait)
            record |= {"outcome": "failed", "error": str(exc)[:500], "next_at": next_at}
            await self.store.attempt(record)
            await self.store.postpone(job["_id"], failures, next_at)
            ATTEMPTS.labels(channel, "failed").inc()
            log.warning(
                "delivery %s failed (attempt %d), retry in %.0fs: %s",
                job["_id"],
                failures,
                wait,
                exc,
            )
            return False
        if delivered is None:  # nothing to deliver any more (deleted, or orphaned)
            await self._done(job)
            return False
        record["outcome"] = "delivered"
        await self.store.attempt(record)
        await self._done(job)
        ATTEMPTS.labels(channel, "delivered").inc()
        return True

    async def _send(self, job: Document, recorded: Recorded | None) -> bool | None:
        if job["channel"] == "email" and "mail" in job:
            await self.relay.send(Mail(**job["mail"]), job["_id"])
            return True
        notification, unread = recorded or (None, None)
        if notification is None:
            notification = await self.store.by_id(job["notification_id"])
        if notification is None:
            if await self.store.exists(job["notification_id"]):
                return None  # deleted by the user: nothing to say any more
            if self.clock() - _aware(job["created_at"]) > ORPHAN_AFTER:
                return None
            raise Undelivered("its notification is not recorded yet")
        if job["channel"] == "in_app":
            if unread is None:
                unread = await self.store.unread(notification.user_id)
            await self.emitter.emit(
                notification.user_id,
                client_event(
                    notification.id,
                    notification.created_at,
                    in_app_data(notification, unread),
                    job.get("traceparent") or current_traceparent(),
                ),
            )
            return True
        if job["channel"] == "push":
            await self._capped_push(job, notification)
            return True
        if job["channel"] == "email":
            address = (await self.store.profile(notification.user_id)).email
            if address is None:
                raise Rejected("the user has no verified address any more")
            await self.relay.send(rules.notification_mail(notification, address), job["_id"])
            return True
        raise Undelivered(f"channel {job['channel']} is not available")

    async def _capped_push(self, job: Document, notification: Notification) -> None:
        """The push, counted against the user's cap *before* it is sent (atomically, so
        concurrent deliveries cannot all take the last slot); a retry of a delivery holding
        its slot is not counted again; a process dying mid-push frees its slot after LEASE."""
        cap, user = self.store.push_cap, notification.user_id
        if not await cap.reserve(
            user, job["_id"], per_hour=self.push_per_hour, lease=LEASE, now=self.clock()
        ):
            raise Capped(f"{self.push_per_hour} pushes this hour already")
        try:
            sent = await self._push(job, notification)
        except Undelivered:
            await cap.sent(user, job["_id"], now=self.clock())  # some went out, or will
            raise
        if sent:
            await cap.sent(user, job["_id"], now=self.clock())
        else:
            await cap.release(user, job["_id"])

    async def _push(self, job: Document, notification: Notification) -> bool:
        """One message per device token; devices already reached by this delivery are
        skipped on a retry, dead tokens deleted, and every send recorded (without the token).
        False if no device was tried, now or before (nothing to count against the cap)."""
        if self.devices is None:
            raise Undelivered("push is not configured")
        reached = {
            a.get("device_id")
            for a in await self.store.attempts_of(job["_id"])
            if a.get("outcome") == "delivered"
        }
        push = push_of(notification)
        waits: list[float] = []
        tried = 0
        for device in await self.devices.of(notification.user_id):
            sender = self.senders.get(device.provider)
            if device.id in reached or sender is None:
                continue
            outcome = await sender.send(device, push)
            tried += 1
            PUSHED.labels(device.provider, outcome.result).inc()
            await self.store.attempt(
                {
                    "delivery_id": job["_id"],
                    "user_id": job["user_id"],
                    "channel": "push",
                    "device_id": device.id,
                    "provider": device.provider,
                    "attempt": job["failures"] + 1,
                    "at": self.clock(),
                    "outcome": outcome.result,
                    "status": outcome.status,
                    "error": outcome.reason,
                }
            )
            if outcome.result == "invalid":
                await self.devices.forget(device.id)
            elif outcome.result == "retry":
                waits.append(outcome.retry_after or 0.0)
        if waits:
            raise Undelivered(
                f"push: {len(waits)} device(s) to try again", retry_after=max(waits) or None
            )
        return bool(tried or reached)


def in_app_data(n: Notification, unread: int) -> dict[str, Any]:
    return {
        "notification_id": n.id,
        "kind": n.kind,
        "title": n.title,
        "body": n.body,
        "data": n.data,
        "created_at": n.created_at.isoformat().replace("+00:00", "Z"),
        "read": n.read_at is not None,
        "unread_count": unread,
        "event_id": n.event_id,
        "event_type": n.event_type,
    }


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Reactions:
    """What the consumer hands platform events to (events/consume.py)."""

    def __init__(self, store: NotificationStore, deliveries: Deliveries) -> None:
        self.store = store
        self.deliveries = deliveries

    async def on_credited(self, user_id: str, event_id: str, event: CurrencyCredited) -> None:
        draft = rules.reward(event)
        if draft is not None:
            await self.deliveries.notify(user_id, event_id, event.TYPE, draft)

    async def on_level_up(self, user_id: str, event_id: str, event: LevelUp) -> None:
        await self.deliveries.notify(user_id, event_id, event.TYPE, rules.level_up(event))

    async def on_badge(self, user_id: str, event_id: str, event: BadgeAwarded) -> None:
        await self.deliveries.notify(user_id, event_id, event.TYPE, rules.badge(event))

    async def on_task_completed(self, user_id: str, event_id: str, event: TaskCompleted) -> None:
        draft = rules.streak(event)
        if draft is not None:
            await self.deliveries.notify(user_id, event_id, event.TYPE, draft)

    async def on_challenge(self, user_id: str, event_id: str, event: ChallengeCompleted) -> None:
        await self.deliveries.notify(user_id, event_id, event.TYPE, rules.challenge(event))

    async def on_profile(
        self, user_id: str, event: UserRegistered | UserUpdated, at: datetime
    ) -> None:
        """The newest profile announced (``at``: when user-service made the change) is kept;
        an erased account's is never taken back, even from an event replayed after the
        deletion — not even for the instant between the write and the tombstone's check."""
        changes: dict[str, Any] = {}
        if isinstance(event.time_zone, str):
            try:
                zone(event.time_zone)
                changes["time_zone"] = event.time_zone
            except Exception:  # a zone this machine's tzdata lacks: keep the last good one
                log.warning("user %s: unknown time zone %r ignored", user_id, event.time_zone)
        if event.email is not msgspec.UNSET:
            changes["email"] = event.email
        if event.display_name is not msgspec.UNSET:
            changes["display_name"] = event.display_name
        erased = self.store.erased
        if not changes or await erased.buried(user_id):
            return
        async with erased.undone_if_buried([user_id], self.store.forget_profile):
            await self.store.set_profile(user_id, changes, at)

    async def on_friend_requested(self, event_id: str, event: FriendRequested) -> None:
        sender = (await self.store.profile(event.user_id)).display_name
        draft = rules.friend_request(event, sender)
        await self.deliveries.notify(event.friend_id, event_id, event.TYPE, draft)

    async def on_friend_added(self, event_id: str, event: FriendAdded) -> None:
        friend = (await self.store.profile(event.user_id)).display_name
        draft = rules.friend_added(event, friend)
        await self.deliveries.notify(event.friend_id, event_id, event.TYPE, draft)

    async def on_user_deleted(self, user_id: str) -> None:
        await self.store.erase(user_id, utcnow())
        if self.deliveries.devices is not None:
            await self.deliveries.devices.erase(user_id)

    async def on_mail(
        self, user_id: str, event_id: str, event: VerificationRequested | PasswordResetRequested
    ) -> None:
        # A late request for an erased account: its link is dead, its address must not be
        # written again.
        if await self.store.erased.buried(user_id):
            return
        await self.deliveries.mail(user_id, event_id, rules.mail(event))


class Digests:
    """The daily digest: for each user who chose one, once per local day at their hour, one
    mail listing the unread notifications of the past day. Run by a periodic worker on every
    replica; the (user, local day) key is claimed by a unique insert, so one of them sends it,
    once, and a restart later that day finds it claimed. The claim is made before the mail is
    queued; a claim whose mail never got queued (a crash in between) is queued by the next
    round after LEASE."""

    def __init__(self, store: NotificationStore, deliveries: Deliveries) -> None:
        self.store = store
        self.deliveries = deliveries
        self.clock = deliveries.clock

    async def run(self) -> int:
        """One round; returns how many digests were queued."""
        now = self.clock()
        queued = await self._recover(now)
        for user_id, prefs in await self.store.digest_subscribers():
            if prefs.digest_hour is None:
                continue
            profile = await self.store.profile(user_id)
            tz = zone(prefs.time_zone or profile.time_zone or "UTC")
            day = digest_day(now, tz, prefs.digest_hour)
            if day is None:
                continue
            key = digest_key(user_id, day)
            if await self.store.digested(key):
                continue
            since = now - timedelta(days=1)
            total = await self.store.count_unread_since(user_id, since)
            if not total or profile.email is None:  # nothing to say, or nowhere to say it
                if await self.store.claim_digest(key, user_id, now, None):
                    DIGESTS.labels("empty" if not total else "no_address").inc()
                continue
            unread = await self.store.unread_since(user_id, since, limit=20)
            mail = digest_mail(profile.email, day, unread, total)
            if await self.store.claim_digest(key, user_id, now, mail):
                await self.deliveries.queue_mail(key, user_id, mail)
                await self.store.digest_queued(key)
                DIGESTS.labels("queued").inc()
                queued += 1
        await self.store.prune_digests(now - timedelta(days=3))
        return queued

    async def _recover(self, now: datetime) -> int:
        recovered = 0
        for claim in await self.store.unqueued_digests(now - LEASE):
            mail = Mail(**claim["mail"])
            await self.deliveries.queue_mail(claim["_id"], claim["user_id"], mail)
            await self.store.digest_queued(claim["_id"])
            DIGESTS.labels("recovered").inc()
            recovered += 1
        return recovered
