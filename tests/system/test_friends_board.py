"""Friends' leaderboards across real processes: people registered and signed in at the real
user-service become friends there (a request and its accept over HTTP), complete tasks at
task-service, and gamification-service — fed by ``events.social`` and ``events.tasks`` on
the real bus — shows each of them both friends on their friends' board and never a
stranger. Unfriending and blocking take them off each other's board; after gamification's
Redis state is wiped, the rebuild (boards from MongoDB, friendships from user-service with
gamification-service's own client-credentials token) restores exactly what user-service
says."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import redis as redis_client

from infra import RedisServer
from support.accounts import Accounts, Person
from support.processes import ServiceProcess, ServiceProcesses
from support.waiting import wait_for

pytestmark = [pytest.mark.system, pytest.mark.slow]

TASKS, GAME, USERS = "/api/tasks", "/api/gamification", "/api/users"


def complete_a_task(tasks: ServiceProcess, person: Person, difficulty: str) -> None:
    with tasks.client(person.headers()) as api:
        created = api.post(TASKS, json={"title": "ship it", "difficulty": difficulty})
        assert created.status_code == 201, created.text
        done = api.post(f"{TASKS}/{created.json()['id']}/complete", json={})
        assert done.status_code == 200, done.text


def friends_board(game: ServiceProcess, person: Person) -> list[str]:
    """The user ids on the person's friends' XP board (all time: a run across Sunday
    midnight has some credits on last week's board), in rank order."""
    with game.client(person.headers()) as api:
        got = api.get(f"{GAME}/leaderboards/xp/friends", params={"period": "all"})
        assert got.status_code == 200, got.text
        return [e["user_id"] for e in got.json()["entries"]]


def social(accounts: Accounts, person: Person, method: str, path: str) -> None:
    answer = httpx.request(
        method, f"{accounts.base}{path}", headers=person.headers(), timeout=accounts.timeout
    )
    assert answer.status_code in (200, 204), answer.text


def befriend(accounts: Accounts, one: Person, other: Person) -> None:
    social(accounts, one, "POST", f"/friends/requests/{other.id}")
    social(accounts, other, "POST", f"/friends/requests/{one.id}/accept")


def boards_show(game: ServiceProcess, expected: dict[str, tuple[Person, set[str]]]) -> Any:
    """Wait until each person's friends' board holds exactly the expected people."""

    def shown() -> bool:
        return all(set(friends_board(game, p)) == ids for p, ids in expected.values())

    return wait_for(shown, what=f"friends' boards {sorted(expected)}")


def wipe_gamification_redis(server: RedisServer) -> int:
    """Drop every leaderboard and friendship gamification-service keeps in Redis."""
    cache = redis_client.Redis(port=server.port, decode_responses=True)
    try:
        keys = [*cache.scan_iter(match="lb:*"), *cache.scan_iter(match="fr:*")]
        return int(cache.delete(*keys)) if keys else 0
    finally:
        cache.close()


def rebuild(game: ServiceProcess, accounts: Accounts) -> dict[str, Any]:
    admin = {"Authorization": f"Bearer {accounts.service_token()}"}
    with game.client(admin) as api:
        boards = api.post(f"{GAME}/admin/leaderboards/rebuild")
        assert boards.status_code == 200, boards.text
        friends = api.post(f"{GAME}/admin/friends/rebuild", json={})
        assert friends.status_code == 200, friends.text
        rebuilt: dict[str, Any] = friends.json()["friends"]
        return rebuilt


def test_friends_see_each_other_and_nobody_else(
    accounts: Accounts, services: ServiceProcesses, redis_server: RedisServer
) -> None:
    ann, bob, cat = (accounts.person(n) for n in ("Ann", "Bob", "Cat"))
    tasks = services("task-service")
    game = services("gamification-service", **accounts.service_client())
    befriend(accounts, ann, bob)
    complete_a_task(tasks, ann, "hard")
    complete_a_task(tasks, bob, "easy")
    complete_a_task(tasks, cat, "hard")  # not a friend of either

    # Each sees both friends, ranked (a hard task pays more), and never cat; cat only cat.
    boards_show(
        game,
        {"ann": (ann, {ann.id, bob.id}), "bob": (bob, {ann.id, bob.id}), "cat": (cat, {cat.id})},
    )
    assert friends_board(game, bob) == [ann.id, bob.id]

    # Unfriending takes each off the other's board.
    social(accounts, ann, "DELETE", f"/friends/{bob.id}")
    boards_show(game, {"ann": (ann, {ann.id}), "bob": (bob, {bob.id})})

    # Friends again, then Redis loses gamification's boards and friendships: the rebuild
    # restores both from MongoDB and user-service.
    befriend(accounts, bob, ann)
    boards_show(game, {"ann": (ann, {ann.id, bob.id}), "bob": (bob, {ann.id, bob.id})})
    assert wipe_gamification_redis(redis_server) > 0
    assert friends_board(game, ann) == []
    rebuilt = rebuild(game, accounts)
    assert (rebuilt[ann.id], rebuilt[bob.id], rebuilt[cat.id]) == (1, 1, 0)
    assert friends_board(game, ann) == [ann.id, bob.id]
    assert friends_board(game, bob) == [ann.id, bob.id]
    assert friends_board(game, cat) == [cat.id]

    # A block parts them on both boards, and a rebuild agrees with user-service.
    social(accounts, bob, "PUT", f"/blocks/{ann.id}")
    boards_show(game, {"ann": (ann, {ann.id}), "bob": (bob, {bob.id})})
    rebuilt = rebuild(game, accounts)
    assert (rebuilt[ann.id], rebuilt[bob.id]) == (0, 0)
    assert friends_board(game, ann) == [ann.id]
    assert friends_board(game, bob) == [bob.id]
