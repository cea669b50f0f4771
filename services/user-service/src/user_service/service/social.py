"""The social graph's use cases: friend requests, friends, team invitations, teammates,
follows, rivals, blocks, mutual friends and suggestions — and who may see whom in each.

A change to what two people are to each other reads their pair's newest change, applies one
rule (``domain/social.py``) and claims the next change number by inserting it
(``store/social.py``). Two writers racing (two people sending each other a request, an
accept against a decline): one insert wins; the other re-reads and applies its rule to the
winner's result — so the second request accepts the first, and the loser of accept/decline
meets a 404 or 409. A rule that changes nothing writes nothing (repeats are harmless).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from deepiri_kit import Conflict, Invalid, NotFound, idempotency_stamp, metrics
from deepiri_kit.chain import link_id
from user_service.domain import social as rules
from user_service.domain.accounts import Account, Visibility
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

    async def invite(self, user: str, other: str) -> Relation:
        return await self._change(user, other, rules.invite)

    async def accept_invite(self, user: str, other: str) -> Relation:
        return await self._change(user, other, rules.accept_invite)

    async def decline_invite(self, user: str, other: str) -> Relation:
        return await self._change(user, other, rules.decline_invite)

    async def cancel_invite(self, user: str, other: str) -> Relation:
        return await self._change(user, other, rules.cancel_invite)

    async def leave(self, user: str, other: str) -> Relation:
        return await self._change(user, other, rules.leave)

    async def rival(self, user: str, other: str) -> Relation:
        return await self._change(user, other, rules.rival)

    async def unrival(self, user: str, other: str) -> Relation:
        return await self._change(user, other, rules.unrival)

    async def follow(self, user: str, other: str) -> Relation:
        return await self._change(user, other, rules.follow)

    async def unfollow(self, user: str, other: str) -> Relation:
        return await self._change(user, other, rules.unfollow)

    async def _change(self, user: str, other: str, rule: Rule) -> Relation:
        rules.check_id(other)
        if user == other:
            raise Invalid("that is you", user_id=other)
        for _ in range(MAX_RACES):
            before, seq = await self.store.pair(user, other)
            change = rule(before, user)
            if change.pair == before:
                await self.store.reindex(user, other)
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
    #
    # Whom a list shows is decided by rules.may_see: the other person's visibility and blocks
    # either way. What the caller did themselves (their requests, invitations, follows, rival
    # declarations, blocks) is listed as they made it; a request or invitation *to* the caller
    # shows its sender whatever their visibility, so that it can be answered.

    async def _view(self, user: str) -> tuple[list[Pair], dict[str, Pair]]:
        pairs = await self.store.edges_of(user)
        return pairs, {p.other(user): p for p in pairs}

    async def _seen(
        self, user: str, others: Iterable[str], by_other: Mapping[str, Pair]
    ) -> list[str]:
        """``others`` that ``user`` may see, sorted."""
        wanted = set(others)
        hidden = await self.store.visibilities(wanted)
        return sorted(o for o in wanted if self._sees(user, o, hidden.get(o, "public"), by_other))

    @staticmethod
    def _sees(user: str, other: str, visibility: Visibility, by_other: Mapping[str, Pair]) -> bool:
        pair = by_other.get(other)
        friends, blocked = (pair.friends, pair.blocked) if pair is not None else (False, False)
        return rules.may_see(user, other, visibility, friends=friends, blocked=blocked)

    async def relation(self, user: str, other: str) -> Relation:
        pair, _ = await self.store.pair(user, other)
        return rules.relation(pair, user)

    async def may_see(self, user: str, account: Account) -> bool:
        """Whether ``user`` may see ``account``'s profile (else it is absent to them)."""
        if user == account.id:
            return True
        pair, _ = await self.store.pair(user, account.id)
        return rules.may_see(
            user, account.id, account.visibility, friends=pair.friends, blocked=pair.blocked
        )

    async def audience(self, user: str) -> tuple[set[str], set[str]]:
        """``user``'s friends, and everyone ``user`` blocked or was blocked by (absent to
        ``user`` everywhere)."""
        pairs = await self.store.edges_of(user)
        friends = {p.other(user) for p in pairs if p.friends}
        return friends, {p.other(user) for p in pairs if p.blocked}

    async def friends(self, user: str) -> list[str]:
        pairs, by_other = await self._view(user)
        return await self._seen(user, (p.other(user) for p in pairs if p.friends), by_other)

    async def teammates(self, user: str) -> list[str]:
        pairs, by_other = await self._view(user)
        return await self._seen(user, (p.other(user) for p in pairs if p.teammates), by_other)

    async def friendships(self, user: str) -> dict[str, int]:
        """``user``'s friends → the number of their pair's newest change (which numbers the
        pair's events too): what another service rebuilds its copy from."""
        return await self.store.friendships_of(user)

    async def requests(self, user: str) -> Requests:
        """Friend requests to and from ``user`` (a shadow request shows to its sender only)."""
        return self._pending(user, await self.store.edges_of(user), rules.relation)

    async def invitations(self, user: str) -> Requests:
        """Team invitations to and from ``user`` (shadows: to their sender only)."""
        return self._pending(user, await self.store.edges_of(user), rules.team_relation)

    @staticmethod
    def _pending(
        user: str, pairs: list[Pair], seen_as: Callable[[Pair, str], Relation]
    ) -> Requests:
        incoming, outgoing = [], []
        for pair in pairs:
            seen = seen_as(pair, user)
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

    async def follows(self, user: str) -> tuple[list[str], list[str]]:
        """Whom ``user`` follows (shadow follows included: only they see them) and who
        follows ``user`` (never across a block; only those ``user`` may see)."""
        pairs, by_other = await self._view(user)
        following = sorted(p.other(user) for p in pairs if user in p.following)
        fans = (p.other(user) for p in pairs if rules.follows(p, p.other(user)))
        return following, await self._seen(user, fans, by_other)

    async def rivals(self, user: str) -> tuple[list[str], list[str]]:
        """Whom ``user`` declared a rival (shadows included) and who declared ``user`` theirs
        (only those ``user`` may see)."""
        pairs, by_other = await self._view(user)
        declared = sorted(p.other(user) for p in pairs if user in p.rivals)
        named_by = (p.other(user) for p in pairs if rules.rivals(p, p.other(user)))
        return declared, await self._seen(user, named_by, by_other)

    async def mutual(self, user: str, other: str) -> list[str]:
        """Friends ``user`` and ``other`` share that ``user`` may see (404 when ``user`` may
        not see ``other``: a block either way, or their visibility)."""
        rules.check_id(other)
        if user != other:
            pair, _ = await self.store.pair(user, other)
            visibility = (await self.store.visibilities([other])).get(other, "public")
            if not rules.may_see(
                user, other, visibility, friends=pair.friends, blocked=pair.blocked
            ):
                raise NotFound("the account does not exist")
        friends = await self.store.friends_of_each([user, other])
        shared = friends[user] & friends[other]
        by_other = {f: Pair(users=(user, f), friends=True) for f in shared}
        return await self._seen(user, shared, by_other)

    async def suggestions(self, user: str, limit: int = 20) -> list[tuple[str, int]]:
        """Friends of friends by mutual count; never a friend, a pending request either way,
        anyone blocked either way, or anyone ``user`` may not see (a candidate is no friend,
        so only public profiles are suggested)."""
        edges = await self.store.edges_of(user)
        friends = [p.other(user) for p in edges if p.friends]
        excluded = {p.other(user) for p in edges if p.requested_by or p.blocked}
        friends_of = await self.store.friends_of_each(friends) if friends else {}
        ranked = rules.rank_suggestions(user, friends, friends_of, excluded, limit=None)
        chosen: list[tuple[str, int]] = []
        for start in range(0, len(ranked), limit):  # best first, a page at a time
            page = ranked[start : start + limit]
            hidden = await self.store.visibilities(u for u, _ in page)
            chosen.extend(s for s in page if s[0] not in hidden)
            if len(chosen) >= limit:
                break
        return chosen[:limit]
