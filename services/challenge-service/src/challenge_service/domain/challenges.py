"""A challenge as a game object: offered, accepted, progressed by what the players actually
do, and ended — its goal reached, its deadline passed, or a duel forfeited — with a result.

Kinds:

* ``solo`` — one player, a measurable goal within a time limit ("complete 5 tasks tagged
  deep-work in 3 days");
* ``streak`` — one player, ``streak_days``: a qualifying completion on N consecutive days
  (the player's days, in their time zone) within the time limit;
* ``duel`` — the owner and one friend on the same goal; it starts when both accepted; the
  first to reach the goal wins; at the deadline the one further ahead wins (equal: a draw);
  abandoning forfeits;
* ``group`` — the owner and up to 63 invited players; the owner's accept starts it with
  those who accepted by then (at least one); it ends when every player reached the goal or
  at the deadline; ranking: reached the goal earlier, then further ahead; abandoning ranks
  last.

A player whose account is deleted leaves every challenge (:func:`erased_from`): one nobody
else played is erased whole; in a shared one the others play on without them — a duel is
forfeited to the opponent, a group ranks the others alone — and no trace of them is kept
(not their id, not their progress; ``departed`` counts them).

The rules of what a challenge may be (metrics per kind, targets, reward ranges) are ai-service's
contract's (``deepiri_kit.contracts.agent``): one source for the generator and the game.
Everything here is pure: the store keeps each state as an immutable link of the challenge's
chain (``deepiri_kit.chain``) and the service applies these transitions.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from deepiri_kit.contracts import challenges as contract
from deepiri_kit.contracts.agent import (
    Category,
    Difficulty,
    GeneratedChallenge,
    Goal,
    Milestone,
    SkillLevel,
    challenge_violations,
)
from deepiri_kit.contracts.agent import ChallengeKind as Kind
from deepiri_kit.errors import Conflict, Forbidden, Invalid, NotFound

Status = Literal["available", "active", "completed", "expired", "declined", "abandoned"]
Membership = Literal["invited", "accepted", "declined", "abandoned"]
Outcome = Literal["win", "loss", "draw"]

KINDS: Final[tuple[Kind, ...]] = ("solo", "streak", "duel", "group")
MAX_PLAYERS: Final = 64
# An offer not accepted within this long lapses (the deadline worker expires it).
OFFER_HOURS: Final = 72
NOT_FRIENDS: Final = "you can only challenge your friends"


class Player(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    state: Membership
    accepted_at: datetime | None = None
    # The IANA zone their days are counted in (streaks): their profile's when they accepted,
    # kept for the whole challenge so moving zones cannot gain or break a streak day.
    time_zone: str = "UTC"


class PlayerFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What the events told about a player: what ai-service generates their challenge from."""

    level: int = 1
    time_zone: str = "UTC"
    skills: tuple[SkillLevel, ...] = ()


class Standing(msgspec.Struct, frozen=True, kw_only=True):
    """One player's result: ``rank`` 1 is best (equal ranks tie); ``outcome`` in duels."""

    user_id: str
    rank: int
    progress: int
    passed: bool
    outcome: Outcome | None = None


class Challenge(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    kind: Kind
    # None once the owner's account was deleted (the others play on; see erased_from).
    owner: str | None
    title: str
    description: str
    difficulty: Difficulty
    category: Category
    reward_points: int
    time_limit_hours: int
    goal: Goal
    hints: tuple[str, ...] = ()
    milestones: tuple[Milestone, ...] = ()
    # False: a task that counted here counts for no other challenge of the same player.
    shares_tasks: bool = False
    answered_by: str = "fallback"
    status: Status = "available"
    players: tuple[Player, ...] = ()
    created_at: datetime
    offer_expires_at: datetime
    started_at: datetime | None = None
    deadline: datetime | None = None
    ended_at: datetime | None = None
    result: tuple[Standing, ...] | None = None
    # How many players left because their account was deleted (nothing else of them kept).
    departed: int = 0

    def player(self, user_id: str) -> Player | None:
        return next((p for p in self.players if p.user_id == user_id), None)

    def playing(self) -> list[str]:
        """Who plays (accepted, not abandoned)."""
        return [p.user_id for p in self.players if p.state == "accepted"]


class Progress(msgspec.Struct, frozen=True, kw_only=True):
    """A player's count so far (the head of their progress chain)."""

    value: int = 0
    days: tuple[str, ...] = ()  # streak_days: the player's days with a qualifying completion
    reached_at: datetime | None = None


class Activity(msgspec.Struct, frozen=True, kw_only=True):
    """What one event did, in the terms goals count: a completed task, or skill XP."""

    at: datetime
    task_id: str | None = None
    tags: tuple[str, ...] = ()
    skill_id: str | None = None
    xp_gained: int = 0


# --- making one ---------------------------------------------------------------------------


def check_offer(generated: GeneratedChallenge) -> None:
    """Refuse (Invalid) what the platform cannot play — a goal it cannot count, a target out
    of range, a reward outside the difficulty's range, a streak longer than its time: the
    contract's own rules, checked again here because this is what is stored and played."""
    problems = challenge_violations(generated)
    if problems:
        raise Invalid("; ".join(problems))


def invitees_for(kind: Kind, owner: str, invite: list[str], friends: set[str]) -> list[str]:
    """Who may be invited: a duel names exactly one friend, a group 1-63 friends; solo and
    streak challenges nobody."""
    unique = list(dict.fromkeys(invite))
    if kind in ("solo", "streak"):
        if unique:
            raise Invalid(f"a {kind} challenge has no other players")
        return []
    if owner in unique:
        raise Invalid("you cannot invite yourself")
    if kind == "duel" and len(unique) != 1:
        raise Invalid("a duel names exactly one opponent")
    if kind == "group" and not 1 <= len(unique) <= MAX_PLAYERS - 1:
        raise Invalid(f"a group challenge invites 1-{MAX_PLAYERS - 1} friends")
    strangers = [u for u in unique if u not in friends]
    if strangers:
        # Not naming them: whether someone exists is not the caller's business.
        raise Forbidden(NOT_FRIENDS)
    return unique


def offered_players(owner: str, invitees: list[str]) -> tuple[Player, ...]:
    return (
        Player(user_id=owner, state="invited"),
        *tuple(Player(user_id=u, state="invited") for u in invitees),
    )


# --- lifecycle ----------------------------------------------------------------------------


def _with(
    challenge: Challenge, user_id: str, state: Membership, now: datetime, zone: str = "UTC"
) -> Challenge:
    accepted = state == "accepted"
    players = tuple(
        msgspec.structs.replace(
            p,
            state=state,
            accepted_at=now if accepted else None,
            time_zone=zone if accepted else p.time_zone,
        )
        if p.user_id == user_id
        else p
        for p in challenge.players
    )
    return msgspec.structs.replace(challenge, players=players)


def _start(challenge: Challenge, now: datetime) -> Challenge:
    # Invitees who did not answer by the start are out.
    players = tuple(
        msgspec.structs.replace(p, state="declined") if p.state == "invited" else p
        for p in challenge.players
    )
    return msgspec.structs.replace(
        challenge,
        players=players,
        status="active",
        started_at=now,
        deadline=now + timedelta(hours=challenge.time_limit_hours),
    )


def member(challenge: Challenge, user_id: str) -> Player:
    """The caller's place in it; someone not in it gets NotFound (ids do not leak)."""
    player = challenge.player(user_id)
    if player is None:
        raise NotFound(f"no challenge {challenge.id}")
    return player


def accept(challenge: Challenge, user_id: str, now: datetime, zone: str = "UTC") -> Challenge:
    """Accept an offer or an invitation (``zone``: the player's, for counting their days).
    Solo and streak start at once; a duel when both accepted; a group when its owner accepts
    (after at least one invitee did)."""
    player = member(challenge, user_id)
    if challenge.status != "available" or now >= challenge.offer_expires_at:
        raise Conflict(f"challenge {challenge.id} is {challenge.status}, not open to accept")
    if player.state != "invited":
        raise Conflict(f"you have {player.state} this challenge already")
    accepted = _with(challenge, user_id, "accepted", now, known_zone(zone))
    if challenge.kind in ("solo", "streak"):
        return _start(accepted, now)
    if challenge.kind == "duel":
        both = all(p.state == "accepted" for p in accepted.players)
        return _start(accepted, now) if both else accepted
    if user_id != challenge.owner:
        return accepted
    if len(accepted.playing()) < 2:
        raise Conflict("a group challenge starts once at least one invitee has accepted")
    return _start(accepted, now)


def decline(challenge: Challenge, user_id: str, now: datetime) -> Challenge:
    """An invitee says no (a declined duel is off); the owner withdrawing an offer."""
    player = member(challenge, user_id)
    if challenge.status != "available" or player.state != "invited":
        raise Conflict(f"challenge {challenge.id} cannot be declined now")
    declined = _with(challenge, user_id, "declined", now)
    if challenge.kind in ("solo", "streak", "duel") or user_id == challenge.owner:
        return msgspec.structs.replace(declined, status="declined", ended_at=now)
    return declined


def abandon(challenge: Challenge, user_id: str, now: datetime) -> Challenge:
    """Leave an active challenge: solo and streak end abandoned; a duel is forfeited to the
    opponent (ended later by :func:`conclude`); a group player ranks last."""
    player = member(challenge, user_id)
    if challenge.status != "active" or player.state != "accepted":
        raise Conflict(f"challenge {challenge.id} is not one you are playing")
    left = _with(challenge, user_id, "abandoned", now)
    if challenge.kind in ("solo", "streak"):
        return msgspec.structs.replace(left, status="abandoned", ended_at=now)
    return left


# --- progress -----------------------------------------------------------------------------


def plays(challenge: Challenge, user_id: str) -> bool:
    """Whether ``user_id`` is playing ``challenge`` now (running, accepted, not left)."""
    player = challenge.player(user_id)
    return challenge.status == "active" and player is not None and player.state == "accepted"


def done_with(challenge: Challenge, user_id: str) -> bool:
    """Whether ``user_id`` can never play ``challenge`` again: it ended, or they declined or
    left it, or they are not in it. (An offer or invitation still open is not done with.)"""
    player = challenge.player(user_id)
    return (
        player is None
        or challenge.status not in ("available", "active")
        or player.state in ("declined", "abandoned")
    )


def earliest_accepted(challenges: list[Challenge], user_id: str) -> list[Challenge]:
    """The order in which a task is offered to a player's challenges: the earliest accepted
    first (it claims an exclusive task), ties by id."""

    def accepted(challenge: Challenge) -> datetime:
        player = challenge.player(user_id)
        return (player.accepted_at if player else None) or challenge.created_at

    return sorted(challenges, key=lambda c: (accepted(c), c.id))


def known_zone(name: str | None) -> str:
    """``name`` if it is an IANA zone this machine knows, else UTC."""
    if not name:
        return "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


def local_day(at: datetime, zone: str) -> str:
    """The calendar day (ISO date) ``at`` falls on in ``zone`` — DST-aware: the day a clock on
    the player's wall showed."""
    return at.astimezone(ZoneInfo(zone)).date().isoformat()


def day_of(challenge: Challenge, user_id: str, at: datetime) -> str:
    """The player's day for ``at``, in the zone they accepted the challenge in."""
    player = challenge.player(user_id)
    return local_day(at, player.time_zone if player else "UTC")


def counts(challenge: Challenge, user_id: str, activity: Activity) -> bool:
    """Whether ``activity`` counts for ``user_id`` in ``challenge`` at all: the player plays
    it, it happened while the challenge ran (a task completed before acceptance does not
    count), and it is what the goal measures."""
    player = challenge.player(user_id)
    if challenge.status != "active" or player is None or player.state != "accepted":
        return False
    start = player.accepted_at if challenge.kind in ("solo", "streak") else challenge.started_at
    assert start is not None
    assert challenge.deadline is not None
    if not start <= activity.at < challenge.deadline:
        return False
    goal = challenge.goal
    if goal.metric == "skill_xp":
        return activity.skill_id == goal.skill_id and activity.xp_gained > 0
    if activity.task_id is None:
        return False
    if goal.metric == "tasks_tagged":
        return goal.tag is not None and goal.tag.lower() in {t.lower() for t in activity.tags}
    return True


def counted_as(challenge: Challenge, user_id: str, activity: Activity, event_id: str) -> str:
    """What makes a contribution unique: a task counts once (completing it again adds
    nothing), a streak day (the player's) once, skill XP once per event."""
    metric = challenge.goal.metric
    if metric == "streak_days":
        return f"day:{day_of(challenge, user_id, activity.at)}"
    if once_per_task(challenge):
        return f"task:{activity.task_id}"
    return f"event:{event_id}"


def once_per_task(challenge: Challenge) -> bool:
    """Whether a task counts at most once for the challenge (what it counts is the task
    itself), unlike a streak, where the same habit counts on every day it is done."""
    return challenge.goal.metric in ("tasks_completed", "tasks_tagged")


def longest_run(days: tuple[str, ...]) -> int:
    """The longest run of consecutive calendar days among ``days`` (ISO dates)."""
    ordered = sorted({date.fromisoformat(d) for d in days})
    best = run = 0
    previous = None
    for day in ordered:
        run = run + 1 if previous is not None and (day - previous).days == 1 else 1
        best = max(best, run)
        previous = day
    return best


def advance(challenge: Challenge, user_id: str, progress: Progress, activity: Activity) -> Progress:
    """``user_id``'s progress after one counted activity."""
    metric = challenge.goal.metric
    days = progress.days
    if metric == "streak_days":
        days = tuple(sorted({*days, day_of(challenge, user_id, activity.at)}))
        value = longest_run(days)
    elif metric == "skill_xp":
        value = progress.value + activity.xp_gained
    else:
        value = progress.value + 1
    reached = progress.reached_at
    if reached is None and value >= challenge.goal.target:
        reached = activity.at
    return Progress(value=value, days=days, reached_at=reached)


def reached(challenge: Challenge, progress: Progress) -> bool:
    return progress.value >= challenge.goal.target


# --- a player's account deleted ----------------------------------------------------------


def names(challenge: Challenge, user_id: str) -> bool:
    """Whether ``user_id`` appears anywhere in ``challenge`` (owner, player, result)."""
    return (
        challenge.owner == user_id
        or challenge.player(user_id) is not None
        or any(s.user_id == user_id for s in challenge.result or ())
    )


def without(challenge: Challenge, user_id: str) -> Challenge:
    """``challenge`` with no trace of ``user_id``: out of the players and the result, not
    the owner any more, counted as ``departed`` unless they had declined (never a player).
    The others' places stay as they were (a result already decided keeps its ranks).
    Unchanged if it does not name them."""
    if not names(challenge, user_id):
        return challenge
    player = challenge.player(user_id)
    state = None if player is None else player.state
    return msgspec.structs.replace(
        challenge,
        owner=None if challenge.owner == user_id else challenge.owner,
        players=tuple(p for p in challenge.players if p.user_id != user_id),
        result=None
        if challenge.result is None
        else tuple(s for s in challenge.result if s.user_id != user_id),
        # An invitee who declined (or was out when it started) never was a player of it.
        departed=challenge.departed + (0 if state in (None, "declined") else 1),
    )


def erased_from(challenge: Challenge, user_id: str) -> Challenge | None:
    """What erasing ``user_id``'s account leaves of ``challenge``: None when the challenge
    goes whole — nobody else played it (a solo or streak; an offer withdrawn, declined or
    lapsed unplayed) or it cannot be played without them (an open offer of theirs, an open
    duel invitation to them) — else the challenge without them
    (:func:`without`), which the others keep: a running duel is then forfeited to the
    opponent and a running group goes on with the others (:func:`finished` decides,
    :func:`conclude` ranks only who is left), an ended one keeps the others' result."""
    if not names(challenge, user_id):
        return challenge
    if challenge.kind in ("solo", "streak"):
        return None  # theirs alone
    if challenge.started_at is None:  # an offer, or one withdrawn, declined or lapsed unplayed
        if challenge.status == "available" and challenge.kind == "group":
            # An invitee leaves and it may still start; its owner's offer is withdrawn.
            return None if challenge.owner == user_id else without(challenge, user_id)
        return None
    others = [
        p
        for p in challenge.players
        if p.user_id != user_id and p.state in ("accepted", "abandoned")
    ]
    return without(challenge, user_id) if others else None


# --- ending -------------------------------------------------------------------------------


def due(challenge: Challenge, now: datetime) -> bool:
    """Whether the deadline worker must end it now."""
    if challenge.status == "available":
        return now >= challenge.offer_expires_at
    return (
        challenge.status == "active"
        and challenge.deadline is not None
        and now >= challenge.deadline
    )


def finished(challenge: Challenge, progress: dict[str, Progress], now: datetime) -> bool:
    """Whether an active challenge is over (before its deadline): a solo or streak goal
    reached, a duel won or forfeited, a group whose every player reached the goal or left."""
    if challenge.status != "active":
        return False
    if challenge.deadline is not None and now >= challenge.deadline:
        return True
    playing = challenge.playing()
    done = [u for u in playing if reached(challenge, progress.get(u, Progress()))]
    if challenge.kind in ("solo", "streak"):
        return bool(done)
    if challenge.kind == "duel":
        return bool(done) or len(playing) < 2
    return not playing or len(done) == len(playing)


def _order(challenge: Challenge, user_id: str, progress: Progress) -> tuple[int, float, int]:
    """Sort key, smaller is better: still playing, reached the goal (earlier is better),
    then further ahead."""
    player = challenge.player(user_id)
    left = 1 if player is not None and player.state == "abandoned" else 0
    when = progress.reached_at.timestamp() if progress.reached_at else float("inf")
    return (left, when, -progress.value)


def conclude(challenge: Challenge, progress: dict[str, Progress], now: datetime) -> Challenge:
    """The ended challenge with its result (solo and streak: passed or not; duels: win, loss
    or draw; groups: a ranking with ties)."""
    if challenge.status == "available":
        return msgspec.structs.replace(challenge, status="expired", ended_at=now)
    competitors = [p.user_id for p in challenge.players if p.state in ("accepted", "abandoned")]
    keys = {u: _order(challenge, u, progress.get(u, Progress())) for u in competitors}
    standings = []
    for user_id in competitors:
        mine = progress.get(user_id, Progress())
        rank = 1 + sum(1 for other in competitors if keys[other] < keys[user_id])
        passed = reached(challenge, mine) and keys[user_id][0] == 0
        outcome: Outcome | None = None
        if challenge.kind == "duel":
            tied = sum(1 for other in competitors if keys[other] == keys[user_id]) > 1
            outcome = "draw" if tied else ("win" if rank == 1 else "loss")
            passed = passed and outcome == "win"
        standings.append(
            Standing(
                user_id=user_id, rank=rank, progress=mine.value, passed=passed, outcome=outcome
            )
        )
    standings.sort(key=lambda s: (s.rank, s.user_id))
    solo = challenge.kind in ("solo", "streak")
    status: Status = "expired" if solo and not standings[0].passed else "completed"
    return msgspec.structs.replace(challenge, status=status, ended_at=now, result=tuple(standings))


def new_offer_deadline(now: datetime) -> datetime:
    return now + timedelta(hours=OFFER_HOURS)


def check_kind(name: str) -> Kind:
    for kind in KINDS:
        if name == kind:
            return kind
    raise Invalid(f"no challenge kind {name!r}; known: {', '.join(KINDS)}")


def announcements(challenge: Challenge) -> list[tuple[str, contract.ChallengeCompleted]]:
    """An ended challenge's result as ``challenge.completed`` per player: the reward only to
    those who passed; a duel names the opponent and the outcome, a group the whole ranking."""
    if challenge.result is None:
        return []
    ranking = [
        contract.Standing(user_id=s.user_id, rank=s.rank, progress=s.progress)
        for s in challenge.result
    ]
    found = []
    for standing in challenge.result:
        opponent = None
        if challenge.kind == "duel" and standing.outcome is not None:
            # None when the opponent's account was deleted (they forfeited): the outcome
            # is still this player's, but nobody is named.
            other = next(
                (s.user_id for s in challenge.result if s.user_id != standing.user_id), None
            )
            if other is not None:
                opponent = contract.Opponent(user_id=other, outcome=standing.outcome)
        event = contract.ChallengeCompleted(
            challenge_id=challenge.id,
            difficulty=challenge.difficulty,
            points=challenge.reward_points if standing.passed else 0,
            passed=standing.passed,
            category=challenge.category,
            completed_at=challenge.ended_at,
            kind=challenge.kind,
            opponent=opponent,
            ranking=ranking if challenge.kind == "group" else None,
            progress=standing.progress,
            target=challenge.goal.target,
            outcome=standing.outcome,
        )
        found.append((standing.user_id, event))
    return found
