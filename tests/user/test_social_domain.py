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


def test_teammates_are_a_bond_of_their_own_with_the_request_rules() -> None:
    invited = social.invite(fresh(), A)
    assert (invited.relation, social.team_relation(invited.pair, B)) == ("outgoing", "incoming")
    assert relation(invited.pair, B) == "none"  # not a friend request
    assert social.invite(invited.pair, A).pair is invited.pair  # again: nothing
    with pytest.raises(NotFound, match="team invitation"):
        social.accept_invite(invited.pair, A)  # only B can
    with pytest.raises(NotFound):
        social.accept(invited.pair, B)  # nor is it a friend request
    joined = social.accept_invite(invited.pair, B)
    assert (joined.relation, joined.events) == ("teammates", ())
    assert joined.pair.teammates
    assert not joined.pair.friends
    assert social.accept_invite(joined.pair, B).pair is joined.pair
    with pytest.raises(Conflict, match="leave the team"):
        social.decline_invite(joined.pair, B)  # the accept won
    with pytest.raises(Conflict):
        social.cancel_invite(joined.pair, A)
    left = social.leave(joined.pair, A).pair
    assert left == fresh()
    with pytest.raises(NotFound):
        social.leave(left, B)
    # Crossing invitations join at once; decline and cancel clear an invitation.
    crossed = social.invite(invited.pair, B)
    assert crossed.pair.teammates
    assert crossed.relation == "teammates"
    assert social.decline_invite(invited.pair, B).pair == fresh()
    assert social.cancel_invite(invited.pair, A).pair == fresh()
    with pytest.raises(NotFound):
        social.decline_invite(fresh(), B)
    # Friends and teammates at once, independently.
    both = social.accept_invite(social.invite(friends(), A).pair, B).pair
    assert both.friends
    assert both.teammates
    assert social.unfriend(both, A).pair.teammates


def test_rivalry_is_declared_one_way_and_mutual_when_both_declare() -> None:
    declared = social.rival(fresh(), A)
    assert declared.events == ()
    assert social.rivals(declared.pair, A)
    assert not social.rivals(declared.pair, B)
    assert social.rival(declared.pair, A).pair is declared.pair  # again: nothing
    mutual = social.rival(declared.pair, B).pair
    assert mutual.rivals == (A, B)
    assert social.unrival(mutual, A).pair.rivals == (B,)
    assert social.unrival(fresh(), A).pair == fresh()


def everything_between() -> Pair:
    pair = social.accept_invite(social.invite(friends(), A).pair, B).pair
    for rule in (social.follow, social.rival):
        pair = rule(rule(pair, A).pair, B).pair
    return pair


def test_a_block_ends_every_tie_both_ways_and_refuses_new_ones_silently() -> None:
    tied = everything_between()
    assert (tied.friends, tied.teammates, tied.following, tied.rivals) == (
        True,
        True,
        (A, B),
        (A, B),
    )
    blocked = social.block(tied, B).pair
    assert blocked == Pair(users=(A, B), blocked_by=(B,))
    # Pending on both bonds too.
    pending = social.invite(social.send(fresh(), A).pair, B).pair
    assert social.block(pending, A).pair == Pair(users=(A, B), blocked_by=(A,))
    # The blocker is refused everything; the blocked is answered as anyone would be, but
    # nothing reaches the blocker, and an unblock discards every shadow.
    for rule in (social.send, social.invite, social.follow, social.rival):
        with pytest.raises(Conflict, match="unblock"):
            rule(blocked, B)
    shadows = blocked
    for rule, fresh_answer in (
        (social.send, "outgoing"),
        (social.invite, "outgoing"),
        (social.follow, "none"),
        (social.rival, "none"),
    ):
        change = rule(shadows, A)
        assert change.relation == rule(fresh(), A).relation == fresh_answer
        assert change.events == ()
        shadows = change.pair
    assert (relation(shadows, B), social.team_relation(shadows, B)) == ("blocked", "blocked")
    assert not social.follows(shadows, A)
    assert not social.rivals(shadows, A)
    with pytest.raises(NotFound):
        social.accept_invite(shadows, B)
    assert social.unblock(shadows, B).pair == fresh()


@pytest.mark.parametrize(
    ("visibility", "friends", "blocked", "seen"),
    [
        ("public", False, False, True),
        ("public", True, True, False),
        ("friends", False, False, False),
        ("friends", True, False, True),
        ("private", True, False, False),
        ("private", False, False, False),
    ],
)
def test_who_may_see_whom(
    visibility: social.Visibility, friends: bool, blocked: bool, seen: bool
) -> None:
    assert social.may_see(A, B, visibility, friends=friends, blocked=blocked) is seen
    assert social.may_see(B, B, visibility, friends=friends, blocked=blocked)  # oneself


def test_suggestions_exclude_what_the_caller_may_not_see() -> None:
    graph = {"f1": ["me", "pub", "hidden"], "f2": ["me", "hidden", "pub", "other"]}
    assert rank_suggestions("me", ["f1", "f2"], graph, excluded={"hidden"}) == [
        ("pub", 2),
        ("other", 1),
    ]
