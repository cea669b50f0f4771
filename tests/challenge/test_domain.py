"""The pure rules of a challenge: what may be offered, who may be invited, the lifecycle,
what counts as progress (and what does not), streaks, and how challenges end and are scored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from challenge_service.domain import challenges as rules
from challenge_service.domain.challenges import Activity, Challenge, Progress
from deepiri_kit.contracts.agent import GeneratedChallenge, Goal, Milestone
from deepiri_kit.errors import Conflict, Forbidden, Invalid, NotFound

pytestmark = pytest.mark.unit
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def made(
    kind: rules.Kind = "solo", invitees: tuple[str, ...] = (), at: datetime = T0, **goal: object
) -> Challenge:
    metric = {"solo": "tasks_tagged", "streak": "streak_days"}.get(kind, "tasks_completed")
    fields: dict[str, object] = {"metric": metric, "target": 3}
    if metric == "tasks_tagged":
        fields["tag"] = "deep-work"
    fields.update(goal)
    return Challenge(
        id="c" * 32,
        kind=kind,
        owner="ann",
        title="t",
        description="d",
        difficulty="medium",
        category="productivity",
        reward_points=250,
        time_limit_hours=72 if kind != "streak" else 24 * 5,
        goal=msgspec.convert(fields, Goal),
        players=rules.offered_players("ann", list(invitees)),
        created_at=at,
        offer_expires_at=rules.new_offer_deadline(at),
    )


def task(at: datetime, task_id: str = "t1", tags: tuple[str, ...] = ("deep-work",)) -> Activity:
    return Activity(at=at, task_id=task_id, tags=tags)


def played(challenge: Challenge, *activities: tuple[str, Activity]) -> dict[str, Progress]:
    progress: dict[str, Progress] = {}
    seen: set[tuple[str, str]] = set()
    for user, activity in activities:
        if not rules.counts(challenge, user, activity):
            continue
        key = (user, rules.counted_as(challenge, user, activity, f"e{len(seen)}"))
        if key in seen:
            continue
        seen.add(key)
        progress[user] = rules.advance(challenge, user, progress.get(user, Progress()), activity)
    return progress


# --- offers -------------------------------------------------------------------------------


def check(**changes: object) -> None:
    base: dict[str, object] = {
        "kind": "solo",
        "title": "t",
        "description": "d",
        "difficulty": "medium",
        "category": "productivity",
        "reward_points": 250,
        "time_limit_hours": 72,
        "goal": Goal(metric="tasks_completed", target=5),
        "milestones": [],
        "answered_by": "model",
        "prompt_version": "challenge-v1",
    }
    base.update(changes)
    rules.check_offer(GeneratedChallenge(**base))  # type: ignore[arg-type]


def test_a_playable_offer_passes_and_every_rule_of_the_contract_is_enforced() -> None:
    check()
    for changes, message in [
        ({"reward_points": 1000}, "outside medium's range"),
        ({"goal": Goal(metric="streak_days", target=3)}, "cannot measure"),
        ({"goal": Goal(metric="tasks_completed", target=500)}, "target 500"),
        ({"goal": Goal(metric="tasks_tagged", target=5)}, "goal.tag is required"),
        ({"goal": Goal(metric="tasks_completed", target=5, tag="x")}, "goal.tag is required"),
        ({"goal": Goal(metric="skill_xp", target=500)}, "goal.skill_id is required"),
        (
            {
                "kind": "streak",
                "goal": Goal(metric="streak_days", target=5),
                "time_limit_hours": 48,
            },
            "at least N days",
        ),
        ({"milestones": [Milestone(at=5, label="x")]}, "milestones"),
    ]:
        with pytest.raises(Invalid, match=message):
            check(**changes)


def test_the_challenge_holds_the_contracts_goal_and_milestones() -> None:
    # One definition (the kit's): a goal stored is the goal the contract validated.
    assert rules.Goal is Goal
    assert rules.Milestone is Milestone


def test_invitations_are_for_friends_and_fit_the_kind() -> None:
    assert rules.invitees_for("duel", "ann", ["bob"], {"bob"}) == ["bob"]
    assert rules.invitees_for("group", "ann", ["bob", "cy", "bob"], {"bob", "cy"}) == ["bob", "cy"]
    assert rules.invitees_for("solo", "ann", [], set()) == []
    with pytest.raises(Invalid):
        rules.invitees_for("solo", "ann", ["bob"], {"bob"})
    with pytest.raises(Invalid):
        rules.invitees_for("duel", "ann", ["bob", "cy"], {"bob", "cy"})
    with pytest.raises(Invalid):
        rules.invitees_for("duel", "ann", ["ann"], {"ann"})
    with pytest.raises(Invalid):
        rules.invitees_for("group", "ann", [], set())
    with pytest.raises(Forbidden):
        rules.invitees_for("duel", "ann", ["eve"], {"bob"})


# --- lifecycle ----------------------------------------------------------------------------


def test_solo_starts_on_accept_and_cannot_be_accepted_twice() -> None:
    now = T0 + timedelta(hours=1)
    started = rules.accept(made(), "ann", now)
    assert started.status == "active"
    assert started.started_at == now
    assert started.deadline == now + timedelta(hours=72)
    with pytest.raises(Conflict):
        rules.accept(started, "ann", now)
    with pytest.raises(NotFound):
        rules.accept(made(), "eve", now)


def test_an_offer_lapses() -> None:
    late = rules.new_offer_deadline(T0)
    with pytest.raises(Conflict):
        rules.accept(made(), "ann", late)
    assert rules.due(made(), late)
    assert not rules.due(made(), late - timedelta(seconds=1))
    assert rules.conclude(made(), {}, late).status == "expired"


def test_a_duel_starts_when_both_accepted_and_a_declined_one_is_off() -> None:
    duel = made("duel", ("bob",))
    one = rules.accept(duel, "ann", T0)
    assert one.status == "available"
    both = rules.accept(one, "bob", T0 + timedelta(minutes=5))
    assert both.status == "active"
    assert both.started_at == T0 + timedelta(minutes=5)
    assert rules.decline(duel, "bob", T0).status == "declined"


def test_a_group_starts_when_its_owner_accepts_after_an_invitee() -> None:
    group = made("group", ("bob", "cy"))
    with pytest.raises(Conflict, match="at least one invitee"):
        rules.accept(group, "ann", T0)
    bob_in = rules.accept(group, "bob", T0)
    started = rules.accept(bob_in, "ann", T0 + timedelta(hours=1))
    assert started.status == "active"
    assert started.playing() == ["ann", "bob"]
    assert started.player("cy").state == "declined"  # type: ignore[union-attr]


# --- progress -----------------------------------------------------------------------------


def test_only_qualifying_activity_while_it_runs_counts() -> None:
    accepted_at = T0 + timedelta(hours=1)
    challenge = rules.accept(made(), "ann", accepted_at)
    assert rules.counts(challenge, "ann", task(accepted_at))
    assert not rules.counts(challenge, "ann", task(accepted_at - timedelta(seconds=1)))  # before
    assert not rules.counts(challenge, "ann", task(challenge.deadline))  # type: ignore[arg-type]
    assert not rules.counts(challenge, "ann", task(accepted_at, tags=("chores",)))  # wrong tag
    assert rules.counts(challenge, "ann", task(accepted_at, tags=("Deep-Work",)))
    assert not rules.counts(challenge, "bob", task(accepted_at))  # not a player
    assert not rules.counts(made(), "ann", task(accepted_at))  # not accepted yet
    skill = Activity(at=accepted_at, skill_id="python", xp_gained=1000)
    assert not rules.counts(challenge, "ann", skill)


def test_a_task_counts_once_and_the_goal_is_reached_by_distinct_tasks() -> None:
    challenge = rules.accept(made(), "ann", T0)
    at = T0 + timedelta(hours=1)
    progress = played(
        challenge,
        ("ann", task(at, "t1")),
        ("ann", task(at, "t1")),  # the same task again: nothing
        ("ann", task(at, "t2")),
    )
    assert progress["ann"].value == 2
    assert not rules.reached(challenge, progress["ann"])
    progress = played(
        challenge, *[("ann", task(at + timedelta(minutes=i), f"t{i}")) for i in range(3)]
    )
    assert rules.reached(challenge, progress["ann"])
    assert progress["ann"].reached_at == at + timedelta(minutes=2)


def test_streaks_count_consecutive_days_in_any_order() -> None:
    challenge = rules.accept(made("streak"), "ann", T0)
    day = timedelta(days=1)
    progress = played(
        challenge,
        ("ann", task(T0 + 2 * day, "a")),
        ("ann", task(T0 + 2 * day + timedelta(hours=1), "b")),  # same day: one day
        ("ann", task(T0, "c")),
        ("ann", task(T0 + 4 * day, "d")),
    )
    assert progress["ann"].value == 1
    progress = played(challenge, *[("ann", task(T0 + n * day, f"t{n}")) for n in (2, 0, 1)])
    assert progress["ann"].value == 3
    assert rules.reached(challenge, progress["ann"])
    assert rules.longest_run(("2026-12-31", "2027-01-01", "2026-12-29")) == 2


def streak_days(zone: str | None, *instants: str) -> tuple[int, tuple[str, ...]]:
    """A streak accepted in ``zone`` (None: the default, UTC) played with completions at
    ``instants`` (UTC): its value and the days it counted."""
    first = datetime.fromisoformat(instants[0])
    accepted_at = first - timedelta(hours=1)
    offered = made("streak", at=accepted_at)
    challenge = (
        rules.accept(offered, "ann", accepted_at)
        if zone is None
        else rules.accept(offered, "ann", accepted_at, zone)
    )
    tasks = [("ann", task(datetime.fromisoformat(t), f"t{i}")) for i, t in enumerate(instants)]
    progress = played(challenge, *tasks)["ann"]
    return progress.value, progress.days


def test_streak_days_are_the_players_days_around_midnight() -> None:
    # 23:30 and 00:30 in New York (UTC-5 in January) are two days there, one day in UTC.
    late, early = "2026-01-11T04:30:00+00:00", "2026-01-11T05:30:00+00:00"
    assert streak_days("America/New_York", late, early) == (2, ("2026-01-10", "2026-01-11"))
    assert streak_days(None, late, early) == (1, ("2026-01-11",))
    # Kathmandu is UTC+05:45: 18:20 UTC is already five past midnight there.
    assert streak_days(
        "Asia/Kathmandu", "2026-01-10T18:10:00+00:00", "2026-01-10T18:20:00+00:00"
    ) == (
        2,
        ("2026-01-10", "2026-01-11"),
    )
    # Auckland (UTC+13 in its summer) is a day ahead of UTC for most of the UTC day.
    assert streak_days(
        "Pacific/Auckland", "2026-01-10T10:00:00+00:00", "2026-01-11T10:00:00+00:00"
    )[1] == ("2026-01-10", "2026-01-11")


def test_streak_days_follow_daylight_saving_time() -> None:
    ny = "America/New_York"
    # Spring forward (8 March 2026): that day has 23 hours. 23:30 on the 7th (EST), 23:30
    # on the 8th (EDT, 23 hours later) and 00:15 on the 9th are three days in a row there;
    # in UTC the last two fall on the same day.
    spring = ("2026-03-08T04:30:00+00:00", "2026-03-09T03:30:00+00:00", "2026-03-09T04:15:00+00:00")
    assert streak_days(ny, *spring) == (3, ("2026-03-07", "2026-03-08", "2026-03-09"))
    assert streak_days(None, *spring)[0] == 2
    # Fall back (1 November 2026): 01:30 happens twice (EDT, then EST an hour later), and
    # 23:30 that evening is already 2 November in UTC: all one day there.
    fall = ("2026-11-01T05:30:00+00:00", "2026-11-01T06:30:00+00:00", "2026-11-02T04:30:00+00:00")
    assert streak_days(ny, *fall) == (1, ("2026-11-01",))
    assert streak_days(None, *fall) == (2, ("2026-11-01", "2026-11-02"))


def test_the_zone_is_fixed_at_acceptance_and_unknown_zones_count_in_utc() -> None:
    accepted = rules.accept(made("streak"), "ann", T0, "Europe/Paris")
    assert accepted.player("ann").time_zone == "Europe/Paris"  # type: ignore[union-attr]
    unknown = rules.accept(made("streak"), "ann", T0, "Mars/Olympus_Mons")
    assert unknown.player("ann").time_zone == "UTC"  # type: ignore[union-attr]
    assert rules.known_zone("../../etc/passwd") == "UTC"
    assert rules.known_zone(None) == "UTC"
    assert (
        rules.local_day(datetime(2026, 6, 30, 22, 30, tzinfo=UTC), "Europe/Paris") == "2026-07-01"
    )


def test_skill_xp_counts_the_levels_gained() -> None:
    challenge = rules.accept(made(metric="skill_xp", target=1500, skill_id="python"), "ann", T0)
    gained = Activity(at=T0, skill_id="python", xp_gained=1000)
    assert rules.counts(challenge, "ann", gained)
    assert not rules.counts(challenge, "ann", Activity(at=T0, skill_id="rust", xp_gained=1000))
    after = rules.advance(
        challenge, "ann", rules.advance(challenge, "ann", Progress(), gained), gained
    )
    assert after.value == 2000
    assert rules.reached(challenge, after)


# --- ending and scoring -------------------------------------------------------------------


def test_solo_passes_when_reached_and_expires_at_its_deadline() -> None:
    challenge = rules.accept(made(), "ann", T0)
    at = T0 + timedelta(hours=1)
    progress = played(challenge, *[("ann", task(at, f"t{i}")) for i in range(3)])
    assert rules.finished(challenge, progress, at)
    done = rules.conclude(challenge, progress, at)
    assert done.status == "completed"
    assert done.result is not None
    assert done.result[0].passed
    short = played(challenge, ("ann", task(at)))
    assert not rules.finished(challenge, short, at)
    assert challenge.deadline is not None
    assert rules.due(challenge, challenge.deadline)
    expired = rules.conclude(challenge, short, challenge.deadline)
    assert expired.status == "expired"
    assert expired.result is not None
    assert (expired.result[0].passed, expired.result[0].progress) == (False, 1)


def started_duel() -> Challenge:
    return rules.accept(rules.accept(made("duel", ("bob",)), "ann", T0), "bob", T0)


def outcomes(challenge: Challenge) -> dict[str, tuple[str | None, bool, int]]:
    assert challenge.result is not None
    return {s.user_id: (s.outcome, s.passed, s.rank) for s in challenge.result}


def test_a_duel_is_won_by_the_first_to_reach_the_goal() -> None:
    duel = started_duel()
    at = T0 + timedelta(hours=1)
    progress = played(
        duel,
        *[("bob", task(at + timedelta(minutes=i), f"b{i}")) for i in range(2)],
        *[("ann", task(at + timedelta(minutes=i), f"a{i}")) for i in range(3)],
    )
    assert rules.finished(duel, progress, at)
    result = outcomes(rules.conclude(duel, progress, at))
    assert result == {"ann": ("win", True, 1), "bob": ("loss", False, 2)}


def test_a_duel_at_its_deadline_goes_to_the_one_ahead_or_is_drawn() -> None:
    duel = started_duel()
    assert duel.deadline is not None
    at = T0 + timedelta(hours=1)
    ahead = played(duel, ("ann", task(at, "a")), ("ann", task(at, "b")), ("bob", task(at, "c")))
    assert not rules.finished(duel, ahead, at)
    assert outcomes(rules.conclude(duel, ahead, duel.deadline))["ann"][0] == "win"
    level = played(duel, ("ann", task(at, "a")), ("bob", task(at, "c")))
    assert outcomes(rules.conclude(duel, level, duel.deadline)) == {
        "ann": ("draw", False, 1),
        "bob": ("draw", False, 1),
    }


def test_abandoning_a_duel_forfeits_it() -> None:
    duel = started_duel()
    at = T0 + timedelta(hours=1)
    progress = played(duel, ("ann", task(at, "a")), ("ann", task(at, "b")))
    left = rules.abandon(duel, "ann", at)
    assert left.status == "active"
    assert rules.finished(left, {}, at)
    assert outcomes(rules.conclude(left, progress, at)) == {
        "bob": ("win", False, 1),
        "ann": ("loss", False, 2),
    }
    with pytest.raises(Conflict):
        rules.abandon(left, "ann", at)


def test_a_group_ranks_by_when_the_goal_was_reached_then_by_progress_with_ties() -> None:
    group = rules.accept(
        rules.accept(rules.accept(made("group", ("bob", "cy", "dee")), "bob", T0), "cy", T0),
        "ann",
        T0,
    )
    at = T0 + timedelta(hours=1)
    progress = played(
        group,
        *[("cy", task(at + timedelta(minutes=i), f"c{i}")) for i in range(3)],
        *[("ann", task(at + timedelta(minutes=5 + i), f"a{i}")) for i in range(3)],
        ("bob", task(at, "b1")),
    )
    assert not rules.finished(group, progress, at)  # bob has not reached it
    assert group.deadline is not None
    ended = rules.conclude(group, progress, group.deadline)
    assert [(s.user_id, s.rank, s.passed) for s in ended.result or ()] == [
        ("cy", 1, True),
        ("ann", 2, True),
        ("bob", 3, False),
    ]
    tied = played(group, ("ann", task(at, "a")), ("bob", task(at, "b")))
    ranks = {s.user_id: s.rank for s in rules.conclude(group, tied, group.deadline).result or ()}
    assert ranks == {"ann": 1, "bob": 1, "cy": 3}
    left = rules.abandon(group, "cy", at)
    ranks = {s.user_id: s.rank for s in rules.conclude(left, progress, group.deadline).result or ()}
    assert ranks["cy"] == 3  # ahead, but left: last


# --- a player's account deleted -----------------------------------------------------------


def test_what_only_the_erased_player_played_goes_whole() -> None:
    at = T0 + timedelta(hours=1)
    solo = rules.accept(made(), "ann", T0)
    assert rules.erased_from(solo, "ann") is None
    assert rules.erased_from(made("streak"), "ann") is None
    # An offer of theirs, a duel invitation to them, one declined or lapsed unplayed.
    assert rules.erased_from(made("duel", ("bob",)), "ann") is None
    assert rules.erased_from(made("duel", ("bob",)), "bob") is None
    assert rules.erased_from(made("group", ("bob", "cy")), "ann") is None
    declined = rules.decline(made("duel", ("bob",)), "bob", at)
    assert rules.erased_from(declined, "ann") is None
    # One who left a running group still played it: it is theirs to keep.
    group = rules.accept(rules.accept(made("group", ("bob", "cy")), "bob", T0), "ann", T0)
    kept = rules.erased_from(rules.abandon(group, "bob", at), "ann")
    assert kept is not None
    assert [p.user_id for p in kept.players] == ["bob", "cy"]
    assert kept.departed == 1
    # An invitee who was out when it started never played: out of it, not counted.
    out = rules.erased_from(group, "cy")
    assert out is not None
    assert ([p.user_id for p in out.players], out.departed) == (["ann", "bob"], 0)
    # Not in it: unchanged.
    assert rules.erased_from(solo, "zed") is solo


def test_an_erased_invitee_leaves_an_open_group_which_may_still_start() -> None:
    group = rules.accept(made("group", ("bob", "cy")), "bob", T0)
    left = rules.erased_from(group, "bob")
    assert left is not None
    assert ([p.user_id for p in left.players], left.departed) == (["ann", "cy"], 1)
    with pytest.raises(Conflict):  # nobody but the owner accepted now
        rules.accept(left, "ann", T0)
    started = rules.accept(rules.accept(left, "cy", T0), "ann", T0)
    assert started.status == "active"


def test_an_erased_player_forfeits_a_running_duel_named_by_nobody() -> None:
    duel = started_duel()
    at = T0 + timedelta(hours=1)
    progress = played(duel, ("ann", task(at, "a")), ("ann", task(at, "b")), ("bob", task(at, "c")))
    left = rules.erased_from(duel, "ann")
    assert left is not None
    assert (left.owner, left.departed, [p.user_id for p in left.players]) == (None, 1, ["bob"])
    assert not rules.names(left, "ann")
    assert rules.finished(left, progress, at)
    ended = rules.conclude(left, progress, at)
    assert outcomes(ended) == {"bob": ("win", False, 1)}
    [(user, event)] = rules.announcements(ended)
    assert (user, event.opponent, event.outcome, event.points) == ("bob", None, "win", 0)


def test_a_running_group_goes_on_without_the_erased_player_and_ranks_only_the_others() -> None:
    group = rules.accept(
        rules.accept(rules.accept(made("group", ("bob", "cy")), "bob", T0), "cy", T0), "ann", T0
    )
    at = T0 + timedelta(hours=1)
    progress = played(
        group,
        *[("ann", task(at + timedelta(minutes=i), f"a{i}")) for i in range(3)],
        *[("bob", task(at + timedelta(minutes=5 + i), f"b{i}")) for i in range(3)],
        ("cy", task(at, "c1")),
    )
    left = rules.erased_from(group, "ann")
    assert left is not None
    assert left.status == "active"
    assert not rules.finished(left, progress, at)  # cy still plays
    assert group.deadline is not None
    ended = rules.conclude(left, progress, group.deadline)
    assert [(s.user_id, s.rank, s.passed) for s in ended.result or ()] == [
        ("bob", 1, True),
        ("cy", 2, False),
    ]
    events = dict(rules.announcements(ended))
    assert set(events) == {"bob", "cy"}
    assert [s.user_id for s in events["cy"].ranking or ()] == ["bob", "cy"]
    assert events["bob"].points == 250
    assert events["cy"].points == 0


def test_an_ended_challenge_keeps_the_others_result_as_decided() -> None:
    duel = started_duel()
    at = T0 + timedelta(hours=1)
    progress = played(duel, *[("bob", task(at + timedelta(minutes=i), f"b{i}")) for i in range(3)])
    ended = rules.conclude(duel, progress, at)
    left = rules.erased_from(ended, "bob")
    assert left is not None
    assert (left.status, left.owner, left.departed) == ("completed", "ann", 1)
    assert outcomes(left) == {"ann": ("loss", False, 2)}
    assert rules.without(left, "bob") == left  # nothing more to take out
