"""notification-service through its HTTP API and its consumer, on real FerretDB and Redis:
events become notifications once per event id, the inbox (unread count, cursor pages, read,
all read, delete), preferences and quiet hours, the in-app emit on the Socket.IO manager's
channel, bad input and scopes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from deepiri_kit.contracts.challenges import ChallengeCompleted
from deepiri_kit.contracts.gamification import CurrencyCredited, LevelUp
from deepiri_kit.contracts.social import Blocked, FriendAdded, FriendRequested
from deepiri_kit.contracts.tasks import Streak, TaskCompleted
from deepiri_kit.contracts.users import UserDeleted, UserRegistered, UserUpdated
from support.erasure import mongo_traces, publish_deletion, someone
from support.gamification import badge_awarded
from support.rooms import listening
from support.streams import drained, publish_event
from support.tokens import TokenIssuer
from support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
INBOX = "/api/notifications/inbox"
PREFS = "/api/notifications/preferences"
RW = "notifications:read notifications:write"
MINUTE = timedelta(minutes=1)


def credited(user: str, xp: int = 10) -> CurrencyCredited:
    return CurrencyCredited(
        user_id=user,
        entry_key=uuid.uuid4().hex,
        kind="task_completed",
        reason="Completed a task",
        amounts={"xp": xp, "coins": 2},
        balances={"xp": xp, "coins": 2},
        level=1,
    )


async def inbox(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    response = await client.get(INBOX, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def unread(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    response = await client.get(f"{INBOX}/unread-count", headers=headers)
    assert response.status_code == 200, response.text
    return int(response.json()["unread"])


async def until_count(client: httpx.AsyncClient, headers: dict[str, str], n: int) -> None:
    async def arrived() -> bool:
        return len((await inbox(client, headers))["items"]) >= n

    await eventually(arrived)


async def test_events_become_notifications_once_and_reach_the_users_room(
    client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any, socket_channel: str
) -> None:
    alice = issuer.headers("alice", RW)
    async with listening(redis, socket_channel) as emits:
        credit_id = await publish_event(redis, "events.gamification", credited("alice"), "alice")
        # The same event again (a redelivery, a replay): nothing new.
        await publish_event(
            redis, "events.gamification", credited("alice"), "alice", event_id=credit_id
        )
        await publish_event(redis, "events.gamification", badge_awarded("alice"), "alice")
        level = LevelUp(user_id="alice", level=2, previous_level=1, xp=1000, xp_to_next_level=1000)
        await publish_event(redis, "events.gamification", level, "alice")
        await until_count(client, alice, 3)

        async def emitted() -> bool:
            return len(emits.to("user:alice", "notification.created")) == 3

        await eventually(emitted)

    page = await inbox(client, alice)
    kinds = [n["kind"] for n in page["items"]]
    assert sorted(kinds) == ["badge", "level_up", "reward"]
    reward = next(n for n in page["items"] if n["kind"] == "reward")
    assert reward["title"] == "You earned 2 coins, 10 xp"
    assert reward["read_at"] is None
    assert reward["event_type"] == "gamification.currency_credited"
    assert await unread(client, alice) == 3

    payloads = emits.to("user:alice", "notification.created")
    assert {p["id"] for p in payloads} == {n["id"] for n in page["items"]}
    first = payloads[0]
    assert set(first) == {"type", "id", "occurred_at", "data", "traceparent"}
    assert first["type"] == "notification.created"
    assert first["data"]["notification_id"] == first["id"]
    assert first["data"]["unread_count"] >= 1
    assert emits.to("user:bob") == []
    # Nobody else's inbox.
    assert (await inbox(client, issuer.headers("bob", RW)))["items"] == []


async def test_events_that_matter_and_those_that_do_not(
    client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any, socket_channel: str
) -> None:
    carol = issuer.headers("carol", RW)
    now = datetime.now(UTC)
    plain = TaskCompleted(task_id="t1", kind="todo", difficulty="easy", completed_at=now)
    milestone = TaskCompleted(
        task_id="t2",
        kind="daily",
        difficulty="easy",
        completed_at=now,
        streak=Streak(current=7, best=7),
        title="Run",
    )
    await publish_event(redis, "events.tasks", plain, "carol")
    await publish_event(redis, "events.gamification", credited("carol", xp=0), "carol")
    await publish_event(redis, "events.tasks", milestone, "carol")
    won = ChallengeCompleted(challenge_id="c1", difficulty="hard", points=500)
    await publish_event(redis, "events.challenges", won, "carol")
    await until_count(client, carol, 3)
    kinds = [n["kind"] for n in (await inbox(client, carol))["items"]]
    # A plain completion is not a notification.
    assert sorted(kinds) == ["challenge", "reward", "streak"]


async def test_friend_requests_and_new_friends_notify_once_per_event(
    client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any, socket_channel: str
) -> None:
    uma, vic = issuer.headers("uma", RW), issuer.headers("vic", RW)
    await publish_event(
        redis, "events.users", UserRegistered(user_id="uma", display_name="Uma"), "uma"
    )
    # vic does not want friend requests in the app (they stay in the inbox).
    off = await client.patch(PREFS, json={"channels": {"friend_request": []}}, headers=vic)
    assert off.status_code == 200, off.text
    async with listening(redis, socket_channel) as emits:
        asked = FriendRequested(user_id="uma", friend_id="vic")
        request_id = await publish_event(redis, "events.social", asked, "uma")
        await publish_event(redis, "events.social", asked, "uma", event_id=request_id)  # again
        await until_count(client, vic, 1)
        added = FriendAdded(user_id="vic", friend_id="uma")
        await publish_event(redis, "events.social", added, "vic")
        # Internal: the blocked person is never told.
        await publish_event(redis, "events.social", Blocked(user_id="vic", blocked_id="uma"), "vic")
        await until_count(client, uma, 1)

        async def emitted() -> bool:
            return len(emits.to("user:uma")) == 1

        await eventually(emitted)
    [request] = (await inbox(client, vic))["items"]
    assert (request["kind"], request["title"]) == ("friend_request", "Uma wants to be friends")
    assert request["data"] == {"user_id": "uma"}
    assert request["event_type"] == "social.friend_requested"
    [friend] = (await inbox(client, uma))["items"]
    assert (friend["kind"], friend["title"]) == ("friend", "Someone is now your friend")
    assert emits.to("user:vic") == []  # its in-app channel is off
    assert [p["data"]["kind"] for p in emits.to("user:uma")] == ["friend"]


async def test_pages_read_all_read_and_delete(
    client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any
) -> None:
    dave = issuer.headers("dave", RW)
    for _ in range(5):
        await publish_event(redis, "events.gamification", credited("dave"), "dave")
    await until_count(client, dave, 5)

    first = await inbox(client, dave, limit=2)
    second = await inbox(client, dave, limit=2, cursor=first["next_cursor"])
    third = await inbox(client, dave, limit=2, cursor=second["next_cursor"])
    assert third["next_cursor"] is None
    seen = [n["id"] for page in (first, second, third) for n in page["items"]]
    assert len(seen) == len(set(seen)) == 5
    created = [n["created_at"] for page in (first, second, third) for n in page["items"]]
    assert created == sorted(created, reverse=True)

    one = seen[0]
    read = await client.post(f"{INBOX}/{one}/read", headers=dave)
    assert read.status_code == 200, read.text
    assert read.json()["read_at"] is not None
    again = await client.post(f"{INBOX}/{one}/read", headers=dave)
    assert again.json()["read_at"] == read.json()["read_at"]  # read once, unchanged after
    assert await unread(client, dave) == 4
    assert [n["id"] for n in (await inbox(client, dave, unread="true"))["items"]] == seen[1:]

    deleted = await client.delete(f"{INBOX}/{seen[1]}", headers=dave)
    assert deleted.status_code == 204
    assert (await client.delete(f"{INBOX}/{seen[1]}", headers=dave)).status_code == 404
    assert await unread(client, dave) == 3

    marked = await client.post(f"{INBOX}/read-all", headers=dave)
    assert marked.json() == {"marked": 3, "unread": 0}
    assert (await client.post(f"{INBOX}/read-all", headers=dave)).json() == {
        "marked": 0,
        "unread": 0,
    }
    assert len((await inbox(client, dave))["items"]) == 4


async def test_a_deleted_notification_stays_deleted_when_its_event_is_replayed(
    client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any, mongo: Any
) -> None:
    erin = issuer.headers("erin", RW)
    event_id = await publish_event(redis, "events.gamification", badge_awarded("erin"), "erin")
    await until_count(client, erin, 1)
    [n] = (await inbox(client, erin))["items"]
    assert (await client.delete(f"{INBOX}/{n['id']}", headers=erin)).status_code == 204
    # The consumer's own record of handled events forgotten (as after its retention): the
    # replay still makes nothing, because the notification's tombstone remains.
    await mongo["consumed_events"].delete_many({})
    await publish_event(
        redis, "events.gamification", badge_awarded("erin"), "erin", event_id=event_id
    )
    marker = await publish_event(redis, "events.gamification", credited("erin"), "erin")
    await until_count(client, erin, 1)
    [left] = (await inbox(client, erin))["items"]
    assert left["event_type"] == "gamification.currency_credited"
    assert marker


async def test_another_users_notification_is_not_found(
    client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any
) -> None:
    await publish_event(redis, "events.gamification", badge_awarded("frank"), "frank")
    frank = issuer.headers("frank", RW)
    await until_count(client, frank, 1)
    [n] = (await inbox(client, frank))["items"]
    grace = issuer.headers("grace", RW)
    assert (await client.post(f"{INBOX}/{n['id']}/read", headers=grace)).status_code == 404
    assert (await client.delete(f"{INBOX}/{n['id']}", headers=grace)).status_code == 404
    assert (await inbox(client, frank))["items"][0]["read_at"] is None


async def test_preferences_switch_channels_off(
    client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any, socket_channel: str
) -> None:
    henry = issuer.headers("henry", RW)
    defaults = (await client.get(PREFS, headers=henry)).json()
    assert defaults["channels"]["reward"] == ["in_app"]
    assert defaults["quiet_hours"] is None
    changed = await client.patch(
        PREFS,
        json={"channels": {"badge": []}, "quiet_hours": {"start": "22:00", "end": "07:00"}},
        headers=henry,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["channels"]["badge"] == []
    assert changed.json()["channels"]["reward"] == ["in_app"]
    assert changed.json()["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert (await client.get(PREFS, headers=henry)).json() == changed.json()

    async with listening(redis, socket_channel) as emits:
        await publish_event(redis, "events.gamification", badge_awarded("henry"), "henry")
        await publish_event(redis, "events.gamification", credited("henry"), "henry")
        await until_count(client, henry, 2)

        async def emitted() -> bool:
            return len(emits.to("user:henry")) == 1

        await eventually(emitted)
    # The badge is in the inbox, but was not emitted in-app: its channels are off.
    [payload] = emits.to("user:henry")
    assert payload["data"]["kind"] == "reward"


async def test_the_profile_zone_comes_from_user_events_and_deletion_erases(
    client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any, mongo: Any
) -> None:
    ivy = issuer.headers("ivy", RW)
    await publish_event(
        redis, "events.users", UserRegistered(user_id="ivy", time_zone="Asia/Tokyo"), "ivy"
    )

    async def zoned() -> bool:
        return (
            await mongo["profiles"].find_one({"_id": "ivy", "time_zone": "Asia/Tokyo"}) is not None
        )

    await eventually(zoned)
    badge_id = await publish_event(redis, "events.gamification", badge_awarded("ivy"), "ivy")
    await until_count(client, ivy, 1)
    await publish_event(redis, "events.users", UserDeleted(user_id="ivy"), "ivy")

    async def erased() -> bool:
        return (
            await mongo["notifications"].count_documents({"user_id": "ivy"}) == 0
            and await mongo["profiles"].count_documents({"_id": "ivy"}) == 0
        )

    await eventually(erased)
    # The badge's event again (a replay, the consumer keeps no inbox for this stream) and a
    # late credit: an erased account is notified nothing, and a marker after them shows the
    # consumer went past both.
    await publish_event(redis, "events.gamification", badge_awarded("ivy"), "ivy", badge_id)
    await publish_event(redis, "events.gamification", credited("ivy"), "ivy")
    await publish_event(redis, "events.gamification", badge_awarded("ivan"), "ivan")
    await until_count(client, issuer.headers("ivan", RW), 1)
    assert await mongo["notifications"].count_documents({"user_id": "ivy"}) == 0
    assert await redis.keys("notifications:unread*{ivy}") == []


async def profile_of(mongo: Any, user: str) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = await mongo["profiles"].find_one({"_id": user}, {"at": 0})
    return doc


async def test_an_older_profile_replayed_after_a_newer_one_changes_nothing(
    client: httpx.AsyncClient, redis: Any, mongo: Any
) -> None:
    """After Redis lost the bus, user-service's guard replays what the consumer had not
    confirmed (``docs/services/user-service.md``): an update the user made later may
    already have been handled."""
    uma, t0 = someone("uma"), datetime.now(UTC) - timedelta(hours=1)
    old = UserUpdated(
        user_id=uma, display_name="Uma", time_zone="Asia/Tokyo", email="uma@old.example"
    )
    new = UserUpdated(
        user_id=uma, display_name="Uma B", time_zone="Europe/Paris", email="uma@new.example"
    )
    await publish_event(redis, "events.users", new, uma, f"{uma}:3", occurred_at=t0 + MINUTE)
    await publish_event(redis, "events.users", old, uma, f"{uma}:2", occurred_at=t0)
    await eventually(lambda: drained(redis, "events.users", "notification-service"))
    expected = {
        "_id": uma,
        "display_name": "Uma B",
        "time_zone": "Europe/Paris",
        "email": "uma@new.example",
    }
    assert await profile_of(mongo, uma) == expected
    # A newer one still counts; a field it leaves out stays.
    newest = UserUpdated(user_id=uma, time_zone="America/New_York")
    await publish_event(redis, "events.users", newest, uma, occurred_at=t0 + 2 * MINUTE)
    await eventually(lambda: drained(redis, "events.users", "notification-service"))
    assert await profile_of(mongo, uma) == expected | {"time_zone": "America/New_York"}
    assert await redis.xlen("dlq.notification-service") == 0


async def test_a_profile_replayed_after_the_deletion_recreates_nothing(
    client: httpx.AsyncClient, redis: Any, mongo: Any
) -> None:
    """The guard read a link just before the erasure scrubbed it: its ``user.updated``
    arrives after ``user.deleted``. Nothing of the account may come back."""
    val, t0 = someone("val"), datetime.now(UTC) - timedelta(hours=1)
    address = f"{val}@example.org"
    profile = UserUpdated(user_id=val, display_name="Val", time_zone="Asia/Tokyo", email=address)
    await publish_event(redis, "events.users", profile, val, f"{val}:1", occurred_at=t0)
    await eventually(lambda: profile_present(mongo, val))
    await publish_deletion(redis, val)
    await eventually(lambda: drained(redis, "events.users", "notification-service"))
    assert await profile_of(mongo, val) is None
    # The replay: the account's update (made before the deletion, under its own id).
    renamed = UserUpdated(user_id=val, display_name="Valerie", email=address)
    await publish_event(redis, "events.users", renamed, val, f"{val}:2", occurred_at=t0 + MINUTE)
    await eventually(lambda: drained(redis, "events.users", "notification-service"))
    assert await profile_of(mongo, val) is None
    assert await mongo_traces(mongo, address) == {}
    assert await mongo_traces(mongo, val, besides=["erased_users", "consumed_events"]) == {}
    assert await redis.xlen("dlq.notification-service") == 0


async def profile_present(mongo: Any, user: str) -> bool:
    return await profile_of(mongo, user) is not None


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"channels": {"gossip": ["push"]}}, 422),  # unknown type
        ({"channels": {"badge": ["pigeon"]}}, 422),  # unknown channel
        ({"channels": {"account": []}}, 422),  # account mail cannot be switched off
        ({"time_zone": "Mars/Olympus"}, 422),
        ({"quiet_hours": {"start": "22:00", "end": "22:00"}}, 422),
        ({"quiet_hours": {"start": "25:00", "end": "07:00"}}, 400),
        ({"quiet_hours": {"start": "22:00"}}, 400),
        ({"channels": {"badge": "push"}}, 400),
        ({"$set": {"channels": {}}}, 400),
        ({"colour": "blue"}, 400),
    ],
)
async def test_bad_preferences_are_problems_and_write_nothing(
    client: httpx.AsyncClient, issuer: TokenIssuer, mongo: Any, body: Any, status: int
) -> None:
    response = await client.patch(PREFS, json=body, headers=issuer.headers("jack", RW))
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await mongo["preferences"].count_documents({}) == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"{INBOX}/not-an-id/read"),
        ("DELETE", f"{INBOX}/{'Z' * 32}"),
        ("GET", f"{INBOX}?cursor=garbage"),
        ("GET", f"{INBOX}?limit=0"),
        ("GET", f"{INBOX}?colour=blue"),
    ],
)
async def test_bad_requests_are_problems(
    client: httpx.AsyncClient, issuer: TokenIssuer, method: str, path: str
) -> None:
    response = await client.request(method, path, headers=issuer.headers("kim", RW))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_scopes_are_required(client: httpx.AsyncClient, issuer: TokenIssuer) -> None:
    assert (await client.get(INBOX)).status_code == 401
    read_only = issuer.headers("alice", "notifications:read")
    assert (await client.get(INBOX, headers=read_only)).status_code == 200
    assert (await client.post(f"{INBOX}/read-all", headers=read_only)).status_code == 403
    assert (await client.patch(PREFS, json={}, headers=read_only)).status_code == 403


async def test_health_metrics_and_openapi(client: httpx.AsyncClient) -> None:
    health = await client.get("/health")
    assert health.status_code == 200, health.text
    assert (await client.get("/livez")).status_code == 200
    assert "http_server_requests_total" in (await client.get("/metrics")).text
    schema = (await client.get("/api/notifications/schema/openapi.json")).json()
    assert {"/api/notifications/inbox", "/api/notifications/preferences"} <= set(schema["paths"])


async def test_a_crash_between_counting_and_storing_counts_the_notification_once(
    client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any, mongo: Any, socket_channel: str
) -> None:
    """The unread counter is raised before the notification is inserted, naming it; the state
    a process that died in between leaves (counted, not stored) is what the redelivery finds."""
    from notification_service.domain.notifications import notification_id
    from notification_service.store.notifications import NotificationStore

    fay = issuer.headers("fay", RW)
    event_id = uuid.uuid4().hex
    counted = notification_id("fay", event_id)
    # What the process that died left: the notification counted, not inserted.
    assert await NotificationStore(mongo, redis).counter.counted("fay", counted) == 1
    async with listening(redis, socket_channel) as emits:
        await publish_event(redis, "events.gamification", badge_awarded("fay"), "fay", event_id)
        await until_count(client, fay, 1)

        async def emitted() -> bool:
            return len(emits.to("user:fay", "notification.created")) == 1

        await eventually(emitted)
    [emit] = emits.to("user:fay", "notification.created")
    assert emit["data"]["unread_count"] == 1
    assert await unread(client, fay) == 1
    await publish_event(redis, "events.gamification", credited("fay"), "fay")
    await until_count(client, fay, 2)
    assert await unread(client, fay) == 2
