"""Friends' leaderboards: the ranking rule (unit), and against real FerretDB and Redis the
friendships kept from ``events.social`` — exactly once whatever the order or repetition of
deliveries, a block parting both, an erased account leaving everyone's board — the route
over the app (every metric and period, bad input 4xx) and the rebuild's refusal when
user-service cannot be asked. The rebuild from a real user-service is proven with real
processes in tests/system/test_friends_board.py."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from deepiri_kit import utcnow
from deepiri_kit.chain import link_id
from deepiri_kit.events import Envelope, EventBus, new_event
from gamification_service.domain.boards import rank
from gamification_service.domain.periods import period_key
from gamification_service.domain.wallet import Draft
from gamification_service.events.consume import GROUP
from gamification_service.service import Gamification
from support.gamification import handlers, task_event
from support.streams import drained
from support.tokens import TokenIssuer
from support.waiting import eventually

API = "/api/gamification"
RW = "gamification:read gamification:write"


def pair_key(one: str, other: str) -> str:
    """user-service's pair key (length-prefixed ids in order)."""
    a, b = sorted((one, other))
    return f"{len(a)}:{a}|{b}"


def social(kind: str, actor: str, other: str, change: int, n: int = 1) -> Envelope:
    """A social event as user-service publishes it: id = ``<pair change link id>:<n>``."""
    data: dict[str, Any] = {"user_id": actor}
    if kind == "blocked":
        data["blocked_id"] = other
    else:
        data["friend_id"] = other
    if kind == "friend_removed":
        data["reason"] = "unfriended"
    return new_event(
        f"social.{kind}",
        source="user-service",
        user_id=actor,
        data=data,
        event_id=f"{link_id(pair_key(actor, other), change)}:{n}",
    )


async def grant(game: Gamification, name: str, xp: int) -> None:
    """XP (and nothing else) through the ledger, as a task would pay it."""
    await game.wallets.record(
        name, Draft(key=f"grant:{name}:{xp}", kind="grant", amounts={"xp": xp}), award=False
    )


# --- the ranking rule (pure) ---------------------------------------------------------------


@pytest.mark.unit
def test_rank_orders_by_value_then_user_id_with_positional_ranks() -> None:
    ranked = rank({"cy": 10.0, "al": 30.0, "bo": 10.0, "dee": 0.5})
    assert ranked == [(1, "al", 30.0), (2, "bo", 10.0), (3, "cy", 10.0), (4, "dee", 0.5)]


@pytest.mark.unit
def test_rank_of_nobody_and_of_one() -> None:
    assert rank({}) == []
    assert rank({"solo": 7.0}) == [(1, "solo", 7.0)]


@pytest.mark.unit
def test_rank_ties_follow_code_point_order_as_redis_byte_order_does() -> None:
    # Redis orders equal scores by member bytes; UTF-8 keeps code point order.
    ranked = rank({"é": 1.0, "z": 1.0, "A": 1.0, "a": 1.0})
    assert [u for _, u, _ in ranked] == ["A", "a", "z", "é"]


# --- friendships from events.social (real Redis, FerretDB) ----------------------------------


async def friends_of(game: Gamification, user: str) -> set[str]:
    return await game.friends.friendships.of(user)


@pytest.mark.integration
@pytest.mark.anyio
async def test_friend_events_apply_once_and_in_change_order(game: Gamification) -> None:
    handle = handlers(game).social
    await handle(social("friend_added", "ann", "bob", 1))
    assert await friends_of(game, "ann") == {"bob"}
    assert await friends_of(game, "bob") == {"ann"}
    await handle(social("friend_added", "ann", "bob", 1))  # redelivered: nothing changes
    await handle(social("friend_removed", "bob", "ann", 2))
    assert await friends_of(game, "ann") == set() == await friends_of(game, "bob")
    # A late redelivery of the older change never undoes the newer one.
    await handle(social("friend_added", "ann", "bob", 1))
    assert await friends_of(game, "ann") == set()
    # Arriving out of order: change 4 before change 3 ends as change 4 says.
    await handle(social("friend_added", "ann", "bob", 4))
    await handle(social("friend_removed", "ann", "bob", 3))
    assert await friends_of(game, "ann") == {"bob"}
    assert await friends_of(game, "bob") == {"ann"}


@pytest.mark.integration
@pytest.mark.anyio
async def test_a_block_parts_both_whichever_of_its_events_comes_first(game: Gamification) -> None:
    handle = handlers(game).social
    for user in ("cat", "dan", "eve"):
        await handle(social("friend_added", "ann", user, 1))
    # One change, two events (friend_removed reason=blocked, then blocked): either order.
    await handle(social("blocked", "cat", "ann", 2, n=2))
    removed = social("friend_removed", "cat", "ann", 2, n=1)
    await handle(removed)
    await handle(social("blocked", "ann", "dan", 2))  # a block with nothing to end first
    assert await friends_of(game, "ann") == {"eve"}
    assert await friends_of(game, "cat") == set() == await friends_of(game, "dan")
    await handle(social("friend_added", "ann", "cat", 1))  # stale: the block is newer
    assert await friends_of(game, "ann") == {"eve"}


@pytest.mark.integration
@pytest.mark.anyio
async def test_other_social_events_change_no_friendship(game: Gamification) -> None:
    """Events on events.social that are no friendship change (a request, say) are ignored,
    whatever their id."""
    request = new_event(
        "social.friend_requested",
        source="user-service",
        user_id="ann",
        data={"user_id": "ann", "friend_id": "bob"},
        event_id="any-id",
    )
    await handlers(game).social(request)
    assert await friends_of(game, "ann") == set() == await friends_of(game, "bob")


@pytest.mark.integration
@pytest.mark.anyio
async def test_an_event_whose_id_names_no_change_is_refused(game: Gamification) -> None:
    bad = new_event(
        "social.friend_added",
        source="user-service",
        user_id="ann",
        data={"user_id": "ann", "friend_id": "bob"},
        event_id="not-a-change-id",
    )
    with pytest.raises(ValueError, match="not <pair>:<change>:<n>"):
        await handlers(game).social(bad)
    assert await friends_of(game, "ann") == set()


@pytest.mark.integration
@pytest.mark.anyio
async def test_an_erased_account_leaves_every_friends_board_and_stays_gone(
    game: Gamification, redis: Any
) -> None:
    handle = handlers(game).social
    await handle(social("friend_added", "ann", "zed", 1))
    await handle(social("friend_added", "bob", "zed", 1))
    await game.reactions.on_user_deleted("zed", utcnow())
    assert await friends_of(game, "ann") == set() == await friends_of(game, "bob")
    assert not [k async for k in redis.scan_iter(match="fr:*zed*")]
    assert not [k async for k in redis.scan_iter(match="fr:*") if await redis.hexists(k, "zed")]
    await handle(social("friend_added", "ann", "zed", 5))  # late: dropped
    assert await friends_of(game, "ann") == set()


@pytest.mark.integration
@pytest.mark.anyio
async def test_the_friends_board_ranks_the_caller_and_friends_only(game: Gamification) -> None:
    handle = handlers(game).social
    for friend in ("bob", "cat", "dan"):
        await handle(social("friend_added", "ann", friend, 1))
    for name, xp in (("ann", 20), ("bob", 50), ("cat", 20), ("stranger", 999)):
        await grant(game, name, xp)
    # dan has earned nothing: a friend, but not on the board.
    key = "all"
    board = await game.friends.board("xp", "all", key, "ann")
    assert [(s.rank, s.user_id, s.value) for s in board.entries] == [
        (1, "bob", 50.0),
        (2, "ann", 20.0),
        (3, "cat", 20.0),
    ]
    assert board.me is not None
    assert (board.me.rank, board.me.user_id) == (2, "ann")
    assert board.total == 3
    # bob's board holds bob and ann only (cat is ann's friend, not bob's).
    bobs = await game.friends.board("xp", "all", key, "bob")
    assert [s.user_id for s in bobs.entries] == ["bob", "ann"]
    # Someone with no friends and no XP: an empty board, no standing.
    lonely = await game.friends.board("xp", "all", key, "nobody")
    assert (lonely.entries, lonely.me, lonely.total) == ([], None, 0)


# --- over the app: the route, its periods and its errors -------------------------------------


@pytest.mark.integration
@pytest.mark.anyio
async def test_the_route_through_the_bus_every_period_and_bad_input(
    client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any
) -> None:
    bus = EventBus(redis)
    before = utcnow()
    await bus.publish("events.social", social("friend_added", "fay", "gus", 1))
    await bus.publish("events.social", social("friend_added", "gus", "fay", 1))  # twice: once
    for name, difficulty in (("fay", "hard"), ("gus", "easy"), ("hal", "hard")):
        await bus.publish("events.tasks", task_event(name, difficulty=difficulty, on_time=True))

    async def settled() -> bool:
        return all([await drained(redis, s, GROUP) for s in ("events.social", "events.tasks")])

    await eventually(settled)
    after = utcnow()
    headers = issuer.headers("fay", RW)
    seen = {}
    # The periods the credits fell in, named: a run at midnight (or a week's or a month's
    # end) may split them between two periods, whose boards say nothing certain.
    keys = {
        period: period_key(period, before)
        for period in ("all", "day", "week", "month")
        if period_key(period, before) == period_key(period, after)
    }
    assert "all" in keys
    for period, key in keys.items():
        for metric in ("xp", "coins"):
            r = await client.get(
                f"{API}/leaderboards/{metric}/friends",
                params={"period": period}
                if period == "all"
                else {"period": period, "period_key": key},
                headers=headers,
            )
            assert r.status_code == 200, r.text
            body = r.json()
            seen[(metric, period)] = [(e["rank"], e["user_id"]) for e in body["entries"]]
            assert body["me"]["user_id"] == "fay"
            assert body["total"] == 2
    # A hard task on time pays more than an easy one: fay first on every board; hal (not a
    # friend) on none.
    assert set(map(tuple, seen.values())) == {((1, "fay"), (2, "gus"))}
    public = await client.get(f"{API}/leaderboards/xp", headers=headers)
    assert "hal" in {e["user_id"] for e in public.json()["entries"]}
    for path, status in (
        ("/leaderboards/gold/friends", 422),
        ("/leaderboards/xp/friends?period=year", 400),
        ("/leaderboards/xp/friends?period=week&period_key=2026-13", 422),
        ("/leaderboards/xp/friends?period=week&period_key=W13", 400),
    ):
        r = await client.get(f"{API}{path}", headers=headers)
        assert r.status_code == status, (path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(f"{API}/leaderboards/xp/friends")).status_code == 401
    no_scope = issuer.headers("fay", "tasks:read")
    assert (await client.get(f"{API}/leaderboards/xp/friends", headers=no_scope)).status_code == 403


@pytest.mark.integration
@pytest.mark.anyio
async def test_the_rebuild_needs_an_admin_and_a_reachable_user_service(
    client: httpx.AsyncClient, issuer: TokenIssuer, game: Gamification, redis: Any
) -> None:
    await handlers(game).social(social("friend_added", "ann", "bob", 1))
    route = f"{API}/admin/friends/rebuild"
    r = await client.post(route, json={}, headers=issuer.headers("ann", RW))
    assert r.status_code == 403
    r = await client.post(
        route, json={"user_ids": [""]}, headers=issuer.headers("op", "gamification:admin")
    )
    assert r.status_code == 400, r.text
    # The test settings point at no user-service: a 503 problem, and nothing changed.
    r = await client.post(
        route, json={"user_ids": ["ann"]}, headers=issuer.headers("op", "gamification:admin")
    )
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await friends_of(game, "ann") == {"bob"}
