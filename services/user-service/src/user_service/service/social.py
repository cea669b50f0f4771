"""The social graph's use cases: friend requests, friends, blocks, mutual friends and
suggestions.

A change to what two people are to each other reads their pair's newest change, applies one
rule (``domain/social.py``) and claims the next change number by inserting it
(``store/social.py``). Two writers racing (two people sending each other a request, an
accept against a decline): one insert wins; the other re-reads and applies its rule to the
winner's result — so the second request accepts the first, and the loser of accept/decline
meets a 404 or 409. A rule that changes nothing writes nothing (repeats are harmless).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from deepiri_kit import Conflict, Invalid, NotFound, idempotency_stamp, metrics
from deepiri_kit.chain import link_id
from user_service.domain import social as rules
from user_service.domain.social import Change, Pair, Relation
from user_service.events.publish import social_outbox
from user_service.store.social import SocialStore

MAX_RACES = 50  # lost change numbers before a change gives up (a 409 the caller may retry)
Rule = Callable[[Pair, str], Change]

SOCIAL_CHANGES = metrics.counter(
    "deepiri_social_changes_total", "Social graph changes, by rule.", ("rule",)
)


@dataclass(frozen=True)
class Requests:
    incoming: list[str]
    outgoing: list[str]


class SocialGraph:
    def __init__(self, store: SocialStore) -> None:
        self.store = store

    # --- changes ----------------------------------------------------------------------------

    async def send(self, user: str, other: str) -> Relation:
        return await self._change(user, other, rules.send)

    async def accept(self, user: str, other: str) -> Relation:
        return await self._change(user, other, rules.accept)

    async def decline(self, user: str, other: str) -> Relation:
        return await self._change(user, other, rules.decline)

    async def cancel(self, user: str, other: str) -> Relation:
        return await self._change(user, other, rules.cancel)

    async def unfriend(self, user: str, other: str) -> Relation:
        return await self._change(user, other, rules.unfriend)

    async def block(self, user: str, other: str) -> Relation:
        return await self._change(user, other, rules.block)

    async def unblock(self, user: str, other: str) -> Relation:
        return await self._change(user, other, rules.unblock)

    async def follow(self, user: str, other: str) -> Relation:
        return await self._change(user, other, rules.follow)

    async def unfollow(self, user: str, other: str) -> Relation:
        return await self._change(user, other, rules.unfollow)

    async def follows(self, user: str) -> tuple[list[str], list[str]]:
        """Whom ``user`` follows (shadow follows included: only they see them) and who
        follows ``user`` (never across a block)."""
        pairs = await self.store.edges_of(user)
        following = sorted(p.other(user) for p in pairs if user in p.following)
        followers = sorted(p.other(user) for p in pairs if rules.follows(p, p.other(user)))
        return following, followers

    async def _change(self, user: str, other: str, rule: Rule) -> Relation:
        rules.check_id(other)
        if user == other:
            raise Invalid("that is you", user_id=other)
        for _ in range(MAX_RACES):
            before, seq = await self.store.pair(user, other)
            change = rule(before, user)
            if change.pair == before:
                return change.relation
            change_id = link_id(rules.pair_key(user, other), seq + 1)
            link = await self.store.record(
                change.pair,
                seq + 1,
                actor=user,
                rule=rule.__name__,
                outbox=social_outbox(user, change_id, change.events),
                # A keyed request stamps the change that commits it.
                extra=idempotency_stamp(),
            )
            if link is None:
                continue  # another change came first: decide again on it
            await self.store.deliver(link)
            SOCIAL_CHANGES.labels(rule.__name__).inc()
            return change.relation
        raise Conflict("too many concurrent changes between you two; retry", user_id=other)

    async def erase(self, user: str) -> None:
        """A deleted account leaves the graph."""
        await self.store.erase(user)

    # --- reads ------------------------------------------------------------------------------

    async def relation(self, user: str, other: str) -> Relation:
        pair, _ = await self.store.pair(user, other)
        return rules.relation(pair, user)

    async def hidden(self, user: str, other: str) -> bool:
        """Whether either has blocked the other (each is then absent to the other)."""
        if user == other:
            return False
        pair, _ = await self.store.pair(user, other)
        return pair.blocked

    async def hidden_from(self, user: str) -> set[str]:
        """Everyone ``user`` blocked or was blocked by: absent to ``user`` everywhere."""
        return {p.other(user) for p in await self.store.edges_of(user) if p.blocked}

    async def friends(self, user: str) -> list[str]:
        return sorted(p.other(user) for p in await self.store.edges_of(user) if p.friends)

    async def friendships(self, user: str) -> dict[str, int]:
        """``user``'s friends → the number of their pair's newest change (which numbers the
        pair's events too): what another service rebuilds its copy from."""
        return await self.store.friendships_of(user)

    async def requests(self, user: str) -> Requests:
        """Requests to and from ``user`` (a shadow request shows to its sender only)."""
        incoming, outgoing = [], []
        for pair in await self.store.edges_of(user):
            seen = rules.relation(pair, user)
            if seen == "incoming":
                incoming.append(pair.other(user))
            elif seen == "outgoing":
                outgoing.append(pair.other(user))
        return Requests(sorted(incoming), sorted(outgoing))

    async def blocked(self, user: str) -> list[str]:
        """Whom ``user`` blocked (never who blocked them)."""
        return sorted(
            p.other(user) for p in await self.store.edges_of(user) if user in p.blocked_by
        )

    async def mutual(self, user: str, other: str) -> list[str]:
        """Friends ``user`` and ``other`` share (404 if either blocked the other)."""
        rules.check_id(other)
        if await self.hidden(user, other):
            raise NotFound("the account does not exist")
        friends = await self.store.friends_of_each([user, other])
        return sorted(friends[user] & friends[other])

    async def suggestions(self, user: str, limit: int = 20) -> list[tuple[str, int]]:
        """Friends of friends by mutual count; never a friend, a pending request either way
        or anyone blocked either way."""
        edges = await self.store.edges_of(user)
        friends = [p.other(user) for p in edges if p.friends]
        excluded = [p.other(user) for p in edges if p.requested_by or p.blocked]
        friends_of = await self.store.friends_of_each(friends) if friends else {}
        return rules.rank_suggestions(user, friends, friends_of, excluded, limit=limit)
