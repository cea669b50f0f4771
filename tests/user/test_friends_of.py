"""``GET /api/users/friends/of/{user_id}``: a user's friends for another service (what
gamification-service rebuilds its friends' boards from), on real FerretDB and Redis. Each
friend comes with the number of the pair's newest change — the number the pair's events
carry in their ids — and only a service's own token with ``social:read`` is answered."""

from __future__ import annotations

import httpx
import pytest

from deepiri_kit.contracts import social as social_events
from support.streams import published
from support.tokens import TokenIssuer
from support.users import PREFIX

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
FRIENDS = f"{PREFIX}/friends"
RW = "users:read users:write"


def service(issuer: TokenIssuer, scopes: str = "social:read") -> dict[str, str]:
    return issuer.headers("gamification-service", scopes, client_id="gamification-service")


async def friends_of(
    client: httpx.AsyncClient, issuer: TokenIssuer, user: str
) -> list[dict[str, object]]:
    r = await client.get(f"{FRIENDS}/of/{user}", headers=service(issuer))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user_id"] == user
    return list(body["friends"])


def change_in(event_id: str) -> int:
    return int(event_id.rsplit(":", 2)[1])


async def test_friends_of_a_user_with_their_pairs_change_numbers(
    client: httpx.AsyncClient, issuer: TokenIssuer, redis: object
) -> None:
    ann, bob = issuer.headers("ann", RW), issuer.headers("bob", RW)
    assert (await client.post(f"{FRIENDS}/requests/bob", headers=ann)).status_code == 200
    assert (await client.post(f"{FRIENDS}/requests/ann/accept", headers=bob)).status_code == 200
    assert (await client.post(f"{FRIENDS}/requests/cat", headers=ann)).status_code == 200

    added = await published(redis, social_events.STREAM.name, social_events.FRIEND_ADDED)
    assert len(added) == 1
    # cat's request is pending: not a friend.
    assert await friends_of(client, issuer, "ann") == [
        {"user_id": "bob", "version": change_in(added[0].id)}
    ]
    assert [f["user_id"] for f in await friends_of(client, issuer, "bob")] == ["ann"]
    assert await friends_of(client, issuer, "cat") == []
    assert await friends_of(client, issuer, "nobody-at-all") == []

    # Blocking ends it: the list follows, and the block's events carry the new number.
    assert (await client.put(f"{PREFIX}/blocks/ann", headers=bob)).status_code == 204
    assert await friends_of(client, issuer, "ann") == []
    blocked = await published(redis, social_events.STREAM.name, social_events.BLOCKED)
    assert change_in(blocked[0].id) > change_in(added[0].id)


async def test_only_a_service_token_with_social_read_is_answered(
    client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    url = f"{FRIENDS}/of/ann"
    assert (await client.get(url)).status_code == 401
    person = issuer.headers("bob", "users:read social:read")  # a person, even with the scope
    r = await client.get(url, headers=person)
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(url, headers=service(issuer, "users:read"))).status_code == 403
