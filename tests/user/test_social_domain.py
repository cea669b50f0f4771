"""The social graph's rules (user_service.domain.social), pure: requests, their races as the
rules see them (whoever is second finds the first's change), blocks and what each side sees,
the ranking of friends-of-friends suggestions, and name searches as literal prefixes."""

from __future__ import annotations

import re

import pytest

from deepiri_kit.contracts.social import Blocked, FriendAdded, FriendRemoved, FriendRequested
from deepiri_kit.errors import Conflict, Invalid, NotFound
from user_service.domain import social
from user_service.domain.accounts import name_prefix_pattern
from user_service.domain.social import Pair, rank_suggestions, relation

pytestmark = pytest.mark.unit

A, B = "ann", "bob"


def fresh() -> Pair:
    return Pair.of(B, A)


def friends() -> Pair:
    return social.accept(social.send(fresh(), A).pair, B).pair


def test_a_pair_is_the_same_whoever_names_it() -> None:
    assert Pair.of(A, B) == Pair.of(B, A) == Pair(users=(A, B))
    assert social.pair_key(A, B) == social.pair_key(B, A)
    # Length-prefixed: ids holding the separator cannot make two pairs share a key.
    assert social.pair_key("a|b", "c") != social.pair_key("a", "b|c")


def test_ids_are_checked() -> None:
    for bad in ("", "x" * 201, "a\nb"):
        with pytest.raises(Invalid):
            social.check_id(bad)
    assert social.check_id("665f1c2e9b1e8a0001a1b2c3") == "665f1c2e9b1e8a0001a1b2c3"


def test_send_then_accept_makes_friends_once() -> None:
    sent = social.send(fresh(), A)
    assert (sent.relation, relation(sent.pair, B)) == ("outgoing", "incoming")
    assert sent.events == (FriendRequested(user_id=A, friend_id=B),)
    again = social.send(sent.pair, A)
    assert again.pair is sent.pair
    assert again.events == ()
    accepted = social.accept(sent.pair, B)
    assert accepted.relation == "friends"
    assert relation(accepted.pair, A) == "friends"
    assert accepted.events == (FriendAdded(user_id=B, friend_id=A),)
    # Accepting (or sending) again is harmless: nothing changes, no second event.
    assert social.accept(accepted.pair, B).events == ()
    assert social.send(accepted.pair, A).events == ()


def test_crossing_requests_make_friends() -> None:
    first = social.send(fresh(), A).pair
    second = social.send(first, B)
    assert second.pair.friends
    assert second.pair.requested_by is None
    assert second.events == (FriendAdded(user_id=B, friend_id=A),)


def test_only_the_recipient_accepts_or_declines_and_only_the_sender_cancels() -> None:
    sent = social.send(fresh(), A).pair
    with pytest.raises(NotFound):
        social.accept(sent, A)
    with pytest.raises(NotFound):
        social.decline(sent, A)
    with pytest.raises(NotFound):
        social.cancel(sent, B)
    assert social.decline(sent, B).pair == fresh()
    assert social.cancel(sent, A).pair == fresh()
    with pytest.raises(NotFound):
        social.accept(fresh(), B)


def test_accept_and_decline_have_one_outcome() -> None:
    """Each rule sees the other's result when it loses the race."""
    sent = social.send(fresh(), A).pair
    accepted = social.accept(sent, B).pair
    with pytest.raises(Conflict):
        social.decline(accepted, B)
    with pytest.raises(Conflict):
        social.cancel(accepted, A)
    declined = social.decline(sent, B).pair
    with pytest.raises(NotFound):
        social.accept(declined, B)


def test_unfriend() -> None:
    gone = social.unfriend(friends(), A)
    assert not gone.pair.friends
    assert gone.events == (FriendRemoved(user_id=A, friend_id=B, reason="unfriended"),)
    with pytest.raises(NotFound):
        social.unfriend(gone.pair, B)


def test_a_block_ends_everything_and_says_so() -> None:
    blocked = social.block(friends(), A)
    assert not blocked.pair.friends
    assert blocked.pair.blocked_by == (A,)
    assert blocked.events == (
        FriendRemoved(user_id=A, friend_id=B, reason="blocked"),
        Blocked(user_id=A, blocked_id=B),
    )
    assert social.block(blocked.pair, A).events == ()  # again: nothing
    pending = social.block(social.send(fresh(), B).pair, A).pair
    assert pending.requested_by is None
    assert (relation(pending, A), relation(pending, B)) == ("blocked", "none")


def test_the_blocked_are_not_told() -> None:
    """B's request to A, who blocked B, answers exactly as a fresh request does; A never sees
    it, cannot accept it, and an unblock discards it."""
    blocked = social.block(fresh(), A).pair
    shadow = social.send(blocked, B)
    assert shadow.relation == social.send(fresh(), B).relation == "outgoing"
    assert shadow.events == ()
    assert relation(shadow.pair, A) == "blocked"
    with pytest.raises(NotFound):
        social.accept(shadow.pair, A)
    # The blocker knows: their own request is refused.
    with pytest.raises(Conflict, match="unblock"):
        social.send(shadow.pair, A)
    assert social.cancel(shadow.pair, B).pair == blocked
    lifted = social.unblock(shadow.pair, A).pair
    assert lifted == fresh()
    assert social.unblock(lifted, A).pair is lifted


def test_a_block_either_way_stands_until_both_lift_theirs() -> None:
    both = social.block(social.block(fresh(), A).pair, B).pair
    assert both.blocked_by == (A, B)
    one = social.unblock(both, A).pair
    assert one.blocked
    assert relation(one, A) == "none"
    assert relation(one, B) == "blocked"
    assert social.send(one, A).relation == "outgoing"  # a shadow request: B blocked A
    assert relation(social.send(one, A).pair, B) == "blocked"


def test_suggestions_rank_by_mutual_friends() -> None:
    graph = {
        "f1": ["me", "x", "y", "z"],
        "f2": ["me", "x", "y"],
        "f3": ["me", "x", "f1"],
    }
    ranked = rank_suggestions("me", ["f1", "f2", "f3"], graph)
    assert ranked == [("x", 3), ("y", 2), ("z", 1)]


def test_suggestions_exclude_self_friends_and_the_excluded() -> None:
    graph = {"f1": ["me", "f2", "p", "b", "c"], "f2": ["me", "f1", "c", "c"]}
    ranked = rank_suggestions("me", ["f1", "f2"], graph, excluded={"p", "b"})
    assert ranked == [("c", 2)]  # a duplicate edge counts once
    assert rank_suggestions("me", [], graph) == []
    assert rank_suggestions("me", ["f1"], graph, limit=0) == []


def test_suggestion_ties_are_broken_by_id() -> None:
    graph = {"f": ["me", "d", "b", "c", "a"]}
    assert [c for c, _ in rank_suggestions("me", ["f"], graph, limit=3)] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("query", "matches", "misses"),
    [
        ("Ada", "Ada Lovelace", "Bada"),
        (".*", ".*x", "anything"),
        ("(a+)+$", "(a+)+$", "aaaa"),
        ("a.b", "a.b c", "axb"),
        ("  Ada   L ", "Ada Lovelace", "AdaL"),
        ("[^x]", "[^x]", "y"),
    ],
)
def test_a_name_search_is_a_literal_prefix(query: str, matches: str, misses: str) -> None:
    pattern = name_prefix_pattern(query)
    assert re.match(pattern, matches)
    assert not re.match(pattern, misses)


def test_a_name_search_is_checked() -> None:
    for bad in ("", "   ", "x" * 101, "a\x00"):
        with pytest.raises(Invalid):
            name_prefix_pattern(bad)


def test_following_is_one_way_and_ends_with_a_block() -> None:
    followed = social.follow(fresh(), A).pair
    assert followed.following == (A,)
    assert social.follows(followed, A)
    assert not social.follows(followed, B)
    assert social.follow(followed, A).pair is followed  # again: nothing
    both = social.follow(followed, B).pair
    assert both.following == (A, B)
    assert not both.friends  # following is not friendship
    blocked = social.block(both, B).pair
    assert blocked.following == ()
    with pytest.raises(Conflict, match="unblock"):
        social.follow(blocked, B)
    shadow = social.follow(blocked, A).pair  # A is not told
    assert A in shadow.following
    assert not social.follows(shadow, A)  # B never sees it
    assert social.unblock(shadow, B).pair.following == ()
    assert social.unfollow(social.unfollow(followed, A).pair, A).pair.following == ()
