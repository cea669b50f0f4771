"""The social graph through the HTTP API, on real FerretDB and Redis: friend requests and team
invitations and their answers, two people asking each other at once through two app
instances (friends or teammates, once), accept racing decline (one outcome), blocks ending
every tie and hiding each from the other on every surface without telling the blocked,
profile visibility honoured on every surface, suggestions ranked by mutual friends,
Idempotency-Key replays, bad ids as 422 problems, and the events on ``events.social``."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from redis.asyncio import Redis

from deepiri_kit.contracts import social as social_events
from support.servers import OwnServers
from support.streams import published
from support.tokens import TokenIssuer
from support.users import PREFIX, client_of, register
from support.waiting import eventually
from user_service.app import create_app
from user_service.domain.social import pair_key
from user_service.settings import UserSettings

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
FRIENDS = f"{PREFIX}/friends"
TEAM = f"{PREFIX}/teammates"
BLOCKS = f"{PREFIX}/blocks"
# A consented bond: where it is asked for, and where its members are listed.
ASK = {"friends": f"{FRIENDS}/requests", "teammates": f"{TEAM}/invitations"}
MEMBERS = {"friends": f"{FRIENDS}/", "teammates": f"{TEAM}/"}
RW = "users:read users:write"


@pytest.fixture
async def other_client(user_settings: UserSettings, app: Litestar) -> AsyncIterator[Any]:
    """A second replica of the app (its own clients and head cache), on the same servers."""
    second = create_app(user_settings)
    async with second.lifespan(), client_of(second) as c:
        yield c


class Person:
    def __init__(self, client: httpx.AsyncClient, issuer: TokenIssuer, user_id: str) -> None:
        self.id = user_id
        self.client = client
        self.headers = issuer.headers(user_id, RW)

    def via(self, client: httpx.AsyncClient) -> Person:
        twin = Person.__new__(Person)
        twin.id, twin.client, twin.headers = self.id, client, self.headers
        return twin

    async def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {**self.headers, **kw.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **kw)

    async def ask(self, other: Person, bond: str = "friends") -> httpx.Response:
        return await self.call("POST", f"{ASK[bond]}/{other.id}")

    async def accept(self, other: Person, bond: str = "friends") -> httpx.Response:
        return await self.call("POST", f"{ASK[bond]}/{other.id}/accept")

    async def decline(self, other: Person, bond: str = "friends") -> httpx.Response:
        return await self.call("POST", f"{ASK[bond]}/{other.id}/decline")

    async def got(self, path: str, **kw: Any) -> Any:
        got = await self.call("GET", path, **kw)
        assert got.status_code == 200, got.text
        return got.json()

    async def friends(self, bond: str = "friends") -> list[str]:
        found: list[str] = (await self.got(MEMBERS[bond]))[bond]
        return found

    async def requests(self, bond: str = "friends") -> dict[str, list[str]]:
        found: dict[str, list[str]] = await self.got(ASK[bond])
        return found

    async def suggested(self) -> list[tuple[str, int]]:
        got = await self.call("GET", f"{FRIENDS}/suggestions")
        assert got.status_code == 200, got.text
        return [(s["user_id"], s["mutual"]) for s in got.json()["suggestions"]]


async def befriend(one: Person, other: Person, bond: str = "friends") -> None:
    assert (await one.ask(other, bond)).json()["relation"] == "outgoing"
    assert (await other.accept(one, bond)).json()["relation"] == bond


async def social_events_of(redis: Any, event_type: str) -> list[Any]:
    events = await published(redis, social_events.STREAM.name, event_type)
    for event in events:
        social_events.STREAM.decode(event)  # every event matches its contract
    return events


def people(client: httpx.AsyncClient, issuer: TokenIssuer, *names: str) -> list[Person]:
    return [Person(client, issuer, n) for n in names]


async def test_request_accept_unfriend(
    client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any
) -> None:
    ann, bob = people(client, issuer, "ann", "bob")
    sent = await ann.ask(bob)
    assert sent.status_code == 200, sent.text
    assert sent.json() == {"user_id": "bob", "relation": "outgoing"}
    assert (await ann.ask(bob)).json()["relation"] == "outgoing"  # again: nothing new
    assert await ann.requests() == {"incoming": [], "outgoing": ["bob"]}
    assert await bob.requests() == {"incoming": ["ann"], "outgoing": []}
    assert (await ann.accept(bob)).status_code == 404  # only bob can
    accepted = await bob.accept(ann)
    assert accepted.json() == {"user_id": "ann", "relation": "friends"}
    assert (await bob.accept(ann)).json()["relation"] == "friends"  # again: nothing new
    assert (await ann.friends(), await bob.friends()) == (["bob"], ["ann"])
    assert await bob.requests() == {"incoming": [], "outgoing": []}
    gone = await bob.call("DELETE", f"{FRIENDS}/ann")
    assert gone.status_code == 204
    assert (await ann.friends(), await bob.friends()) == ([], [])
    missing = await bob.call("DELETE", f"{FRIENDS}/ann")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    added = await social_events_of(redis, social_events.FRIEND_ADDED)
    assert [(e.user_id, e.data["friend_id"]) for e in added] == [("bob", "ann")]
    await eventually(lambda: _count(redis, social_events.FRIEND_REMOVED, 1))
    removed = await social_events_of(redis, social_events.FRIEND_REMOVED)
    assert [(e.data["user_id"], e.data["reason"]) for e in removed] == [("bob", "unfriended")]


async def _count(redis: Any, event_type: str, n: int) -> bool:
    return len(await social_events_of(redis, event_type)) >= n


async def test_decline_and_cancel(client: httpx.AsyncClient, issuer: TokenIssuer) -> None:
    ann, bob, cat = people(client, issuer, "ann", "bob", "cat")
    await ann.ask(bob)
    assert (await bob.decline(ann)).status_code == 204
    assert (await bob.decline(ann)).status_code == 404
    assert await bob.requests() == {"incoming": [], "outgoing": []}
    await ann.ask(cat)
    assert (await cat.call("DELETE", f"{FRIENDS}/requests/ann")).status_code == 404
    assert (await ann.call("DELETE", f"{FRIENDS}/requests/cat")).status_code == 204
    assert await cat.requests() == {"incoming": [], "outgoing": []}


async def test_bad_ids_are_422_problems_and_write_nothing(
    app: Litestar, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    (ann,) = people(client, issuer, "ann")
    for bad in ("ann", "x" * 201, "a%0Ab"):
        got = await ann.call("POST", f"{FRIENDS}/requests/{bad}")
        assert got.status_code == 422, got.text
        assert got.headers["content-type"].startswith("application/problem+json")
    assert await app.state.social.store.links.count_documents({}) == 0


@pytest.mark.parametrize("bond", ["friends", "teammates"])
async def test_crossing_requests_through_two_replicas_join_once(
    client: httpx.AsyncClient,
    other_client: httpx.AsyncClient,
    issuer: TokenIssuer,
    redis: Any,
    app: Litestar,
    bond: str,
) -> None:
    """Each pair asks each other at the same moment, one through each app instance."""
    pairs = [
        (Person(client, issuer, f"a{n}"), Person(other_client, issuer, f"b{n}")) for n in range(12)
    ]
    answers = await asyncio.gather(*(p.ask(q, bond) for a, b in pairs for p, q in ((a, b), (b, a))))
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    for n, (a, b) in enumerate(pairs):
        relations = {answers[2 * n].json()["relation"], answers[2 * n + 1].json()["relation"]}
        # Whoever was second accepted the first; the first may have seen either.
        assert bond in relations
        assert await a.friends(bond) == [b.id]
        assert await b.via(client).friends(bond) == [a.id]
        assert await a.requests(bond) == {"incoming": [], "outgoing": []}
    # Two changes per pair, never more: the request, then the crossing one joining them.
    assert await app.state.social.store.links.count_documents({}) == 2 * len(pairs)
    if bond == "friends":
        await eventually(lambda: _count(redis, social_events.FRIEND_ADDED, len(pairs)))
        added = await social_events_of(redis, social_events.FRIEND_ADDED)
        assert len(added) == len(pairs)  # once per pair
        assert len({e.id for e in added}) == len(pairs)


@pytest.mark.parametrize("bond", ["friends", "teammates"])
async def test_accept_racing_decline_has_one_outcome(
    client: httpx.AsyncClient,
    other_client: httpx.AsyncClient,
    issuer: TokenIssuer,
    redis: Any,
    bond: str,
) -> None:
    rounds = 12
    accepted = 0
    for n in range(rounds):
        asker, answerer = Person(client, issuer, f"s{n}"), Person(client, issuer, f"r{n}")
        await asker.ask(answerer, bond)
        yes, no = await asyncio.gather(
            answerer.accept(asker, bond), answerer.via(other_client).decline(asker, bond)
        )
        joined = await asker.friends(bond) == [answerer.id]
        if yes.status_code == 200:
            assert joined
            assert no.status_code == 409, no.text  # the accept came first
            accepted += 1
        else:
            assert not joined
            assert (yes.status_code, no.status_code) == (404, 204), (yes.text, no.text)
        assert await answerer.requests(bond) == {"incoming": [], "outgoing": []}
    if bond == "friends":
        await eventually(lambda: _count(redis, social_events.FRIEND_ADDED, accepted))
        assert len(await social_events_of(redis, social_events.FRIEND_ADDED)) == accepted


async def test_suggestions_rank_friends_of_friends_by_mutual_count(
    client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    me, f1, f2, f3, x, y, z, p = people(client, issuer, "me", "f1", "f2", "f3", "x", "y", "z", "p")
    for friend in (f1, f2, f3):
        await befriend(me, friend)
    for friend, theirs in ((f1, (x, y, z, p)), (f2, (x, y, p)), (f3, (x,))):
        for other in theirs:
            await befriend(friend, other)
    await me.ask(p)  # pending: not suggested
    assert await me.suggested() == [("x", 3), ("y", 2), ("z", 1)]
    limited = await me.call("GET", f"{FRIENDS}/suggestions", params={"limit": 1})
    assert [s["user_id"] for s in limited.json()["suggestions"]] == ["x"]
    too_many = await me.call("GET", f"{FRIENDS}/suggestions", params={"limit": 1000})
    assert too_many.status_code == 400
    mutual = await me.call("GET", f"{FRIENDS}/x/mutual")
    assert mutual.json() == {"user_id": "x", "mutual": ["f1", "f2", "f3"]}


async def test_a_block_hides_each_from_the_other_and_the_blocked_is_not_told(
    client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any
) -> None:
    ann_id = await register(client, redis, "ann@example.com", display_name="Ann")
    bob_id = await register(client, redis, "bob@example.com", display_name="Bob")
    ann, bob = Person(client, issuer, ann_id), Person(client, issuer, bob_id)
    pal, fan = people(client, issuer, "pal", "fan")
    await befriend(ann, bob)
    for person in (ann, bob):
        await befriend(person, pal)
    await befriend(pal, fan)
    assert await fan.suggested() == [(min(ann_id, bob_id), 1), (max(ann_id, bob_id), 1)]
    assert (await bob.call("GET", f"{PREFIX}/{ann_id}")).status_code == 200

    blocked = await ann.call("PUT", f"{BLOCKS}/{bob_id}")
    assert blocked.status_code == 204
    assert await ann.friends() == ["pal"]
    assert await bob.friends() == ["pal"]
    assert (await ann.call("GET", f"{BLOCKS}/")).json() == {"blocked": [bob_id]}
    assert (await bob.call("GET", f"{BLOCKS}/")).json() == {"blocked": []}

    # Each is absent to the other, exactly as a missing account is.
    absent = await bob.call("GET", f"{PREFIX}/no-such-account")
    for viewer, seen in ((bob, ann_id), (ann, bob_id)):
        got = await viewer.call("GET", f"{PREFIX}/{seen}")
        assert got.status_code == 404
        assert _same_problem(got.json(), absent.json())
        assert (await viewer.call("GET", f"{FRIENDS}/{seen}/mutual")).status_code == 404
    # pal still sees both; a third party's view is unchanged.
    assert (await pal.call("GET", f"{PREFIX}/{ann_id}")).status_code == 200
    # Not suggested to each other even with a friend in common.
    assert await ann.suggested() == [("fan", 1)]
    assert await bob.suggested() == [("fan", 1)]

    # bob's request answers as any new one does, and never reaches ann.
    fresh = await bob.ask(fan)
    shadow = await bob.ask(ann)
    assert shadow.status_code == fresh.status_code == 200
    assert shadow.json()["relation"] == fresh.json()["relation"] == "outgoing"
    assert ann_id in (await bob.requests())["outgoing"]
    assert await ann.requests() == {"incoming": [], "outgoing": []}
    assert (await ann.accept(bob)).status_code == 404
    # ann knows she blocked bob: her own request is refused until she unblocks.
    refused = await ann.ask(bob)
    assert refused.status_code == 409
    assert "unblock" in refused.json()["detail"]

    assert (await ann.call("DELETE", f"{BLOCKS}/{bob_id}")).status_code == 204
    assert await ann.requests() == {"incoming": [], "outgoing": []}  # the shadow is gone
    assert (await bob.call("GET", f"{PREFIX}/{ann_id}")).status_code == 200
    await eventually(lambda: _count(redis, social_events.BLOCKED, 1))
    [event] = await social_events_of(redis, social_events.BLOCKED)
    assert (event.user_id, event.data["blocked_id"]) == (ann_id, bob_id)
    removed = await social_events_of(redis, social_events.FRIEND_REMOVED)
    assert [e.data["reason"] for e in removed] == ["blocked"]


def _same_problem(one: dict[str, Any], other: dict[str, Any]) -> bool:
    """Equal but for what differs between any two requests."""
    own = {"instance", "request_id"}
    return {k: v for k, v in one.items() if k not in own} == {
        k: v for k, v in other.items() if k not in own
    }


async def test_search_by_name_prefix_is_literal_and_hides_blocks(
    client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any
) -> None:
    ids = {}
    for n, name in enumerate(["Ada Lovelace", "adam", "Bob", "a.b", "axb", "(a+)+x"]):
        ids[name] = await register(client, redis, f"p{n}@example.com", display_name=name)
    me = Person(client, issuer, ids["Bob"])

    async def search(q: str, who: Person = me) -> list[str]:
        got = await who.call("GET", f"{PREFIX}/search", params={"q": q})
        assert got.status_code == 200, got.text
        return [u["display_name"] for u in got.json()["users"]]

    assert await search("ad") == ["Ada Lovelace", "adam"]  # case-insensitive, by name
    assert await search("ADA L") == ["Ada Lovelace"]
    assert await search("a.b") == ["a.b"]  # the dot is a dot
    assert await search(".*") == []
    assert await search("(a+)+") == ["(a+)+x"]  # a catastrophic pattern is just text
    assert await search("(a+)+$") == []
    assert await search("[a-z]") == []
    assert await search("\\") == []
    for bad in ("", "x" * 101):
        assert (await me.call("GET", f"{PREFIX}/search", params={"q": bad})).status_code == 400
    control = await me.call("GET", f"{PREFIX}/search", params={"q": "a\x00"})
    assert control.status_code == 422
    assert control.headers["content-type"].startswith("application/problem+json")

    assert (await me.call("PUT", f"{BLOCKS}/{ids['adam']}")).status_code == 204
    assert await search("ad") == ["Ada Lovelace"]
    assert await search("B", Person(client, issuer, ids["adam"])) == []  # either way


async def test_follow_and_unfollow(client: httpx.AsyncClient, issuer: TokenIssuer) -> None:
    ann, bob, me, f = people(client, issuer, "ann", "bob", "me", "f")
    assert (await ann.call("PUT", f"{PREFIX}/follows/bob")).status_code == 204
    assert (await ann.call("PUT", f"{PREFIX}/follows/bob")).status_code == 204  # again
    assert (await ann.call("GET", f"{PREFIX}/follows/")).json() == {
        "following": ["bob"],
        "followers": [],
    }
    assert (await bob.call("GET", f"{PREFIX}/follows/")).json() == {
        "following": [],
        "followers": ["ann"],
    }
    assert await bob.friends() == []  # following is not friendship
    # A follow does not keep a friend of a friend out of the suggestions.
    await befriend(me, f)
    await befriend(f, bob)
    await me.call("PUT", f"{PREFIX}/follows/bob")
    assert await me.suggested() == [("bob", 1)]
    # A block ends it; bob's follow of a blocker is never shown to them.
    assert (await bob.call("PUT", f"{BLOCKS}/ann")).status_code == 204
    assert (await ann.call("PUT", f"{PREFIX}/follows/bob")).status_code == 204
    assert (await bob.call("GET", f"{PREFIX}/follows/")).json()["followers"] == ["me"]
    assert (await bob.call("PUT", f"{PREFIX}/follows/ann")).status_code == 409
    assert (await ann.call("DELETE", f"{PREFIX}/follows/bob")).status_code == 204
    assert (await ann.call("GET", f"{PREFIX}/follows/")).json()["following"] == []


async def test_an_idempotency_key_replays_a_request(
    app: Litestar, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    ann, bob = people(client, issuer, "ann", "bob")
    await bob.ask(ann)
    key = {"Idempotency-Key": "accept-bob-1"}
    first = await ann.call("POST", f"{FRIENDS}/requests/bob/accept", headers=key)
    second = await ann.call("POST", f"{FRIENDS}/requests/bob/accept", headers=key)
    assert (first.status_code, second.status_code) == (200, 200), second.text
    assert second.headers.get("idempotent-replayed") == "true"
    assert second.json() == first.json()
    stamped = await app.state.social.store.links.count_documents(
        {"rule": "accept", "idempotency_key": {"$exists": True}}
    )
    assert stamped == 1


async def test_deleting_an_account_takes_it_out_of_the_graph(
    app: Litestar, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    ann, bob = people(client, issuer, "ann", "bob")
    await befriend(ann, bob)
    await app.state.social.erase("ann")
    assert await bob.friends() == []
    assert await app.state.social.store.links.count_documents({"users": "ann"}) == 0
    await befriend(ann, bob)  # a fresh start, not a stale cached head
    assert await bob.friends() == ["ann"]


async def test_openapi_declares_the_routes_and_their_problems(client: httpx.AsyncClient) -> None:
    paths = (await client.get(f"{PREFIX}/schema/openapi.json")).json()["paths"]
    send = paths[f"{FRIENDS}/requests/{{user_id}}"]["post"]
    assert {"200", "401", "403", "409", "422"} <= set(send["responses"])
    assert "application/problem+json" in send["responses"]["409"]["content"]
    assert {"204", "404", "409"} <= set(
        paths[f"{FRIENDS}/requests/{{user_id}}/decline"]["post"]["responses"]
    )
    assert "204" in paths[f"{BLOCKS}/{{user_id}}"]["put"]["responses"]
    assert "200" in paths[f"{FRIENDS}/suggestions"]["get"]["responses"]
    invite = paths[f"{TEAM}/invitations/{{user_id}}"]["post"]
    assert {"200", "401", "403", "409", "422"} <= set(invite["responses"])
    assert {"204", "404", "409"} <= set(
        paths[f"{TEAM}/invitations/{{user_id}}/decline"]["post"]["responses"]
    )
    assert {"204", "404"} <= set(paths[f"{TEAM}/{{user_id}}"]["delete"]["responses"])
    assert {"204", "409", "422"} <= set(paths[f"{PREFIX}/rivals/{{user_id}}"]["put"]["responses"])
    rivals = paths[f"{PREFIX}/rivals"]["get"]["responses"]["200"]["content"]["application/json"]
    assert rivals["schema"]
    patch = paths[f"{PREFIX}/me"]["patch"]["requestBody"]["content"]["application/json"]
    assert patch["schema"]
    # Both bonds are served by one controller factory: each keeps its own operations (ids,
    # summaries) and answers (models).
    for base, (members, pending, ask, end) in {
        FRIENDS: ("Friends", "Requests", "Send", "Unfriend"),
        TEAM: ("Teammates", "Invitations", "Invite", "Leave"),
    }.items():
        op = base.removeprefix("/").title().replace("/", "")  # ApiUsersFriends
        one, each = f"{base}/{pending.lower()}", f"{base}/{pending.lower()}/{{user_id}}"
        expected = {  # (method, path): (operation id, summary, model of the 200 answer)
            ("get", base): (f"{op}{members}", members, f"{members}Out"),
            ("get", one): (f"{op}{pending}{pending}", pending, f"{pending}Out"),
            ("post", each): (f"{op}{pending}UserId{ask}", ask, "RelationOut"),
            ("delete", each): (f"{op}{pending}UserIdCancel", "Cancel", None),
            ("post", f"{each}/accept"): (
                f"{op}{pending}UserIdAcceptAccept",
                "Accept",
                "RelationOut",
            ),
            ("post", f"{each}/decline"): (f"{op}{pending}UserIdDeclineDecline", "Decline", None),
            ("delete", f"{base}/{{user_id}}"): (f"{op}UserId{end}", end, None),
        }
        for (method, path), (operation_id, summary, model) in expected.items():
            operation = paths[path][method]
            assert (operation["operationId"], operation["summary"]) == (operation_id, summary)
            answer = operation["responses"].get("200", {}).get("content", {})
            found = answer.get("application/json", {}).get("schema", {}).get("$ref")
            assert found == (model and f"#/components/schemas/{model}"), (path, method)


async def surfaces(viewer: Person, subject: str, name: str) -> dict[str, bool]:
    """Where ``viewer`` sees ``subject`` (display name ``name``), surface by surface."""
    profile = await viewer.call("GET", f"{PREFIX}/{subject}")
    mutual = await viewer.call("GET", f"{FRIENDS}/{subject}/mutual")
    found = await viewer.got(f"{PREFIX}/search", params={"q": name})
    follows = await viewer.got(f"{PREFIX}/follows/")
    rivals = await viewer.got(f"{PREFIX}/rivals/")
    return {
        "profile": profile.status_code == 200,
        "search": subject in [u["id"] for u in found["users"]],
        "mutual friends": mutual.status_code == 200,
        "suggestions": subject in [u for u, _ in await viewer.suggested()],
        "friends": subject in await viewer.friends(),
        "teammates": subject in await viewer.friends("teammates"),
        "friend requests": subject in (await viewer.requests())["incoming"],
        "team invitations": subject in (await viewer.requests("teammates"))["incoming"],
        "followers": subject in follows["followers"],
        "following": subject in follows["following"],
        "rivaled by": subject in rivals["rivaled_by"],
        "rivals": subject in rivals["rivals"],
    }


async def test_a_block_ends_every_tie_and_hides_each_from_the_other_everywhere(
    client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any
) -> None:
    ann_id = await register(client, redis, "ann@example.com", display_name="Ann Blocker")
    bob_id = await register(client, redis, "bob@example.com", display_name="Bob Blocked")
    ann, bob = Person(client, issuer, ann_id), Person(client, issuer, bob_id)
    pal, cat = people(client, issuer, "pal", "cat")
    await befriend(ann, bob)
    await befriend(bob, ann, "teammates")
    for one, other in ((ann, bob), (bob, ann)):
        for tie in ("follows", "rivals"):
            assert (await one.call("PUT", f"{PREFIX}/{tie}/{other.id}")).status_code == 204
        for friend in (pal, cat):
            if one is ann:
                await befriend(friend, one)
            else:
                await befriend(one, friend)
    names = {ann_id: "Ann B", bob_id: "Bob B"}
    everywhere_but = {  # friends are never suggested, and no request is pending yet
        k: k not in ("suggestions", "friend requests", "team invitations")
        for k in await surfaces(ann, bob_id, "Bob")
    }
    for viewer, seen in ((ann, bob_id), (bob, ann_id)):
        assert await surfaces(viewer, seen, names[seen]) == everywhere_but

    assert (await ann.call("PUT", f"{BLOCKS}/{bob_id}")).status_code == 204
    nowhere = dict.fromkeys(everywhere_but, False)
    for viewer, seen in ((ann, bob_id), (bob, ann_id)):
        # Sharing pal and cat and no longer friends, each would be suggested to the other.
        assert await surfaces(viewer, seen, names[seen]) == nowhere
        assert seen not in (await viewer.got(f"{FRIENDS}/pal/mutual"))["mutual"]
    # pal still sees both.
    assert (await surfaces(pal, bob_id, "Bob"))["profile"]

    # Everything bob asks or declares answers as it would to anyone, and reaches no one.
    stranger = Person(client, issuer, "stranger")
    for method, path in (
        ("POST", f"{ASK['friends']}/{{}}"),
        ("POST", f"{ASK['teammates']}/{{}}"),
        ("PUT", f"{PREFIX}/follows/{{}}"),
        ("PUT", f"{PREFIX}/rivals/{{}}"),
    ):
        to_ann = await bob.call(method, path.format(ann_id))
        to_anyone = await bob.call(method, path.format(stranger.id))
        assert (to_ann.status_code, to_ann.content) == (
            to_anyone.status_code,
            to_anyone.content.replace(b"stranger", ann_id.encode()),
        )
        refused = await ann.call(method, path.format(bob_id))  # ann knows she blocked bob
        assert refused.status_code == 409, refused.text
    assert await surfaces(ann, bob_id, "Bob") == nowhere
    assert (await bob.got(f"{BLOCKS}/"))["blocked"] == []  # bob is never told


async def test_visibility_is_honoured_on_every_surface(
    client: httpx.AsyncClient, issuer: TokenIssuer, redis: Any
) -> None:
    """Sam's friend Fay, a stranger Ned (Fay's friend: Sam is suggested to him) and Rae, to
    whom Sam sent a request, look at Sam under each visibility."""
    sam_id = await register(client, redis, "sam@example.com", display_name="Sam Seen")
    sam = Person(client, issuer, sam_id)
    fay, ned, gus, rae = people(client, issuer, "fay", "ned", "gus", "rae")
    await befriend(sam, fay)
    await befriend(sam, gus)
    await befriend(fay, gus)
    await befriend(fay, ned)
    for other in (fay, ned):
        await befriend(sam, other, "teammates")
        for tie in ("follows", "rivals"):
            assert (await sam.call("PUT", f"{PREFIX}/{tie}/{other.id}")).status_code == 204
    await sam.ask(rae)

    bad = await sam.call("PATCH", f"{PREFIX}/me", json={"visibility": "everyone"})
    assert bad.status_code == 400
    assert (await sam.got(f"{PREFIX}/me"))["visibility"] == "public"
    for visibility, to_friends, to_others in (
        ("public", True, True),
        ("friends", True, False),
        ("private", False, False),
    ):
        changed = await sam.call("PATCH", f"{PREFIX}/me", json={"visibility": visibility})
        assert changed.json()["visibility"] == visibility
        by_fay = await surfaces(fay, sam_id, "Sam")
        assert by_fay == {
            **dict.fromkeys(by_fay, to_friends),
            "suggestions": False,  # a friend
            "friend requests": False,
            "team invitations": False,
            "following": False,
            "rivals": False,
        }, visibility
        sam_in_common = sam_id in (await fay.got(f"{FRIENDS}/gus/mutual"))["mutual"]
        assert sam_in_common is to_friends
        by_ned = await surfaces(ned, sam_id, "Sam")
        assert by_ned == {
            **dict.fromkeys(by_ned, to_others),
            "friends": False,
            "friend requests": False,
            "team invitations": False,
            "following": False,
            "rivals": False,
        }, visibility
        # A request to Rae shows Rae who asks, whatever Sam's visibility: she can answer it.
        assert (await surfaces(rae, sam_id, "Sam"))["friend requests"]
        # Sam always sees Sam.
        assert (await surfaces(sam, sam_id, "Sam"))["profile"]
        assert (await surfaces(sam, sam_id, "Sam"))["search"]


async def test_the_index_is_rebuilt_from_the_database_when_redis_lost_it(
    app: Litestar,
    client: httpx.AsyncClient,
    other_client: httpx.AsyncClient,
    issuer: TokenIssuer,
    redis: Any,
) -> None:
    ann, bob, cat = people(client, issuer, "ann", "bob", "cat")
    await befriend(ann, bob)
    await befriend(bob, cat)
    await befriend(ann, cat, "teammates")
    assert (await cat.call("PUT", f"{PREFIX}/rivals/ann")).status_code == 204

    async def views() -> list[Any]:
        return [
            await ann.friends(),
            await ann.suggested(),
            await ann.friends("teammates"),
            await ann.got(f"{PREFIX}/rivals/"),
            await cat.got(f"{PREFIX}/rivals/"),
        ]

    sam_id = await register(client, redis, "sam@example.com", display_name="Sam")
    sam = Person(client, issuer, sam_id)
    await befriend(sam, bob)
    assert (await sam.call("PATCH", f"{PREFIX}/me", json={"visibility": "private"})).is_success
    before = await views()
    assert before[:2] == [["bob"], [("cat", 1)]]  # not sam: private
    await redis.flushdb()
    # Two replicas read at once: one rebuilds, the other waits for it.
    first, second = await asyncio.gather(ann.friends(), ann.via(other_client).friends())
    assert first == second == ["bob"]
    assert await views() == before
    # The index never goes backwards: an older version of a pair changes nothing.
    stale = {"users": ["ann", "bob"], "friends": False, "version": 1}
    assert not await app.state.social.store.index.project(pair_key("ann", "bob"), stale, True)
    assert await ann.friends() == ["bob"]
    # The operator's repair (python -m user_service reindex-social) drops and rebuilds it.
    await redis.hset("social:pairs:ann", "ghost", '{"users": ["ann", "ghost"], "friends": true}')
    await app.state.social.store.rebuild_index()
    assert await views() == before


async def test_social_events_a_lost_redis_dropped_are_published_again(
    own_servers: OwnServers, user_settings: UserSettings, issuer: TokenIssuer, mongo: Any
) -> None:
    """The bus guard covers the social log: Redis dies and comes back without its data. The
    request and the friendship it held, and the unfriending written while it was down, are
    on the new Redis's ``events.social`` again, each under its own id."""
    own = own_servers.redis  # killed and wiped: nobody else's
    settings = dataclasses.replace(
        user_settings, redis_port=own.port, bus_guard_interval_seconds=0.2, consumer_block_ms=100
    )
    bus = Redis(host="127.0.0.1", port=own.port, decode_responses=True)
    app = create_app(settings)
    stream = social_events.STREAM.name

    async def on_the_bus() -> dict[str, str]:
        return {e.id: e.type for e in await published(bus, stream)}

    async with app.lifespan(), client_of(app) as client:
        ann = Person(client, issuer, "ann-lost-bus")
        bob = Person(client, issuer, "bob-lost-bus")

        async def guarded() -> bool:  # the guard has noted which Redis this is
            return await mongo["bus_checkpoints"].find_one({"_id": stream}) is not None

        await eventually(guarded)
        assert (await ann.ask(bob)).status_code == 200
        assert (await bob.accept(ann)).status_code == 200
        before = await on_the_bus()
        assert sorted(before.values()) == [
            social_events.FRIEND_ADDED,
            social_events.FRIEND_REQUESTED,
        ]

        own.kill()
        own.wipe()
        # Committed in the social log; its event cannot reach the bus (nor the index: 503).
        await bob.call("DELETE", f"{FRIENDS}/{ann.id}")
        assert await app.state.social.store.links.count_documents({"rule": "unfriend"}) == 1
        own.start()

        async def all_back() -> bool:
            return len(await on_the_bus()) == 3

        await eventually(all_back, timeout=30)
        after = await on_the_bus()
        assert {i: t for i, t in after.items() if i in before} == before
        assert sorted(after.values()) == sorted([*before.values(), social_events.FRIEND_REMOVED])
        assert await ann.friends() == []
    await bus.aclose()
