"""The account log's events (``events.users``) and the bus guard, on real FerretDB and Redis:
every change's events are journalled so a Redis that lost them gets them again, and an
erasure leaves only ``user.deleted`` (the account id) there — a ``user.deleted`` lost with
Redis reaches a consuming service (gamification-service, in-process) and is applied once."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from deepiri_kit import load_settings, utcnow
from deepiri_kit.chain import link_seq
from deepiri_kit.contracts import users as user_events
from deepiri_kit.events import JOURNAL, BusGuard, EventBus, outbox_entry
from gamification_service.app import create_app as create_gamification
from gamification_service.events.consume import GROUP as GAMIFICATION
from gamification_service.settings import GamificationSettings
from support.erasure import mongo_traces, redis_traces
from support.gamification import gamification_env
from support.servers import OwnServers
from support.streams import drained, published
from support.tokens import TokenIssuer
from support.users import PREFIX, client_of, mailed_secret, register
from support.waiting import eventually
from user_service.app import create_app
from user_service.domain.accounts import erased
from user_service.events import publish
from user_service.settings import UserSettings

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
RW = "users:read users:write"
STREAM = user_events.STREAM.name
EMAIL, NAME, RENAMED = "journal@example.com", "Journalled Person", "Renamed Person"
PERSONAL = (EMAIL, NAME, RENAMED)


async def known_person(client: httpx.AsyncClient, redis: Any, issuer: TokenIssuer) -> str:
    """An account whose events carry all there is to erase: registered, its address verified
    (``user.updated`` then names it), renamed."""
    user_id = await register(client, redis, EMAIL, display_name=NAME)
    secret = await mailed_secret(redis, user_events.VERIFICATION_REQUESTED, user_id)
    verified = await client.post(f"{PREFIX}/email/verifications", json={"token": secret})
    assert verified.status_code == 204, verified.text
    renamed = await client.patch(
        f"{PREFIX}/me", json={"display_name": RENAMED}, headers=issuer.headers(user_id, RW)
    )
    assert renamed.status_code == 200, renamed.text
    return user_id


async def journal_of(mongo: Any, user_id: str) -> list[tuple[str, str]]:
    """(event id, type) of every journalled event of the account, in change order."""
    links = mongo["account_log"].find({"_id": {"$regex": f"^{re.escape(user_id)}:"}})
    ordered = sorted(await links.to_list(), key=link_seq)
    return [(e["id"], e["type"]) for link in ordered for e in link.get(JOURNAL) or []]


def guard_of(redis: Any, mongo: Any, app: Any) -> BusGuard:
    """A bus guard over the app's account log (what the app's worker and an on-demand
    replay use)."""
    journal = app.state.accounts.store.journal
    return BusGuard(redis, EventBus(redis), mongo["bus_checkpoints"], [journal], [STREAM])


async def test_an_erasure_leaves_only_the_deletion_in_the_journal(
    app: Any, client: httpx.AsyncClient, redis: Any, mongo: Any, issuer: TokenIssuer
) -> None:
    start = utcnow()
    user_id = await known_person(client, redis, issuer)
    kept = await journal_of(mongo, user_id)
    assert [t for _, t in kept] == [user_events.USER_REGISTERED, *[user_events.USER_UPDATED] * 2]
    assert await mongo_traces(mongo, EMAIL) != {}  # in the journal, before the erasure

    assert (await client.delete(f"{PREFIX}/me", headers=issuer.headers(user_id, RW))).is_success

    assert await journal_of(mongo, user_id) == [(f"{user_id}:deleted", user_events.USER_DELETED)]
    for personal in PERSONAL:
        assert await mongo_traces(mongo, personal) == {}, personal
    # A replay over the whole window publishes the deletion again, under its id, and only it.
    before = len(await published(redis, STREAM))
    assert await guard_of(redis, mongo, app).replay(start) == 1
    [again] = (await published(redis, STREAM))[before:]
    assert (again.id, again.type, again.data) == (
        f"{user_id}:deleted",
        user_events.USER_DELETED,
        {"user_id": user_id},
    )


async def test_a_deletion_its_writer_left_is_scrubbed_by_the_sweep(
    app: Any, client: httpx.AsyncClient, redis: Any, mongo: Any, issuer: TokenIssuer
) -> None:
    """The deleting process died right after its insert (no delivery, no scrub): the sweep
    delivers ``user.deleted`` and scrubs the history, journal included."""
    user_id = await known_person(client, redis, issuer)
    store = app.state.accounts.store
    account, seq = await store.head(user_id)
    event = publish.event(
        user_events.UserDeleted(user_id=user_id), user_id, event_id=f"{user_id}:deleted"
    )
    # What DELETE /me writes first; its process dies before delivering and scrubbing.
    left = await store.record(
        erased(account), seq + 1, [outbox_entry(publish.STREAM, event)], utcnow()
    )
    assert left is not None

    assert await store.log.sweep(0) == 1

    assert [e.id for e in await published(redis, STREAM, user_events.USER_DELETED)] == [
        f"{user_id}:deleted"
    ]
    assert await journal_of(mongo, user_id) == [(f"{user_id}:deleted", user_events.USER_DELETED)]
    # The log and its read model (the address claim and the credentials wait for the
    # person's retry of DELETE /me, which finishes the erasure).
    for personal in PERSONAL:
        left_of_it = await mongo_traces(mongo, personal)
        assert not {"account_log", "users"} & set(left_of_it), (personal, left_of_it)


def erasures() -> float:
    return REGISTRY.get_sample_value("deepiri_gamification_account_erasures_total") or 0.0


async def test_a_deletion_a_lost_redis_dropped_reaches_its_consumer_once(
    own_servers: OwnServers,
    user_settings: UserSettings,
    service_env: dict[str, Any],
    db_name: str,
    issuer: TokenIssuer,
    mongo: Any,
) -> None:
    """gamification-service knows the person (their name) and is down when the account is
    deleted; Redis then dies and comes back without its data, ``user.deleted`` with it. The
    bus guard publishes it again (and nothing personal: the erasure dropped the rest of the
    journal), and gamification-service, back, erases the account; a further replay of the
    same event is not applied again (its inbox)."""
    own = own_servers.redis  # killed and wiped: nobody else's
    settings = dataclasses.replace(
        user_settings, redis_port=own.port, bus_guard_interval_seconds=0.2, consumer_block_ms=100
    )
    game_env = {**service_env, "redis_port": own.port, "mongo_db": f"{db_name}_game"}
    game_settings = load_settings(GamificationSettings, {}, **gamification_env(game_env))
    game_db = mongo.client[f"{db_name}_game"]
    bus = Redis(host="127.0.0.1", port=own.port, decode_responses=True)
    app = create_app(settings)
    async with app.lifespan(), client_of(app) as client:

        async def guarded() -> bool:  # the guard has noted which Redis this is
            return await mongo["bus_checkpoints"].find_one({"_id": STREAM}) is not None

        await eventually(guarded)
        async with create_gamification(game_settings).lifespan():
            user_id = await known_person(client, bus, issuer)

            async def named() -> bool:
                profile = await game_db["profiles"].find_one({"_id": user_id})
                return profile is not None and RENAMED in str(profile)

            await eventually(named)
        # gamification-service is down: the deletion waits for it on the bus.
        deleted = await client.delete(f"{PREFIX}/me", headers=issuer.headers(user_id, RW))
        assert deleted.status_code == 204
        assert await published(bus, STREAM, user_events.USER_DELETED)
        own.kill()
        own.wipe()
        own.start()

        async def replayed() -> list[str]:
            return [e.id for e in await published(bus, STREAM)]

        async def deletion_back() -> bool:
            return await replayed() == [f"{user_id}:deleted"]

        await eventually(deletion_back)
        for personal in PERSONAL:
            assert await redis_traces(bus, personal) == [], personal

        applied = erasures()
        async with create_gamification(game_settings).lifespan():

            async def erased_there() -> bool:
                buried = await game_db["erased_users"].find_one({"_id": user_id})
                return buried is not None and await drained(bus, STREAM, GAMIFICATION)

            await eventually(erased_there)
            assert await mongo_traces(game_db, user_id, besides=["erased_users"]) == {}
            # Replayed once more (an operator's replay, a second Redis change): the same id,
            # which the consumer's inbox has seen.
            assert await guard_of(bus, mongo, app).replay(datetime(2000, 1, 1, tzinfo=UTC)) == 1
            await eventually(lambda: drained(bus, STREAM, GAMIFICATION), what="replay consumed")
            assert len(await replayed()) == 2
        assert erasures() - applied == 1
    await bus.aclose()
