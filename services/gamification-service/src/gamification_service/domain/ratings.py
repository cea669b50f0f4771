"""Skill ratings per category ("ELO").

* A **duel** — exactly two single players with a decisive result — uses Elo as the seed
  planned: start 1500, ``E = 1/(1+10^((Rb-Ra)/400))``, ``R' = R + K(S-E)`` with K = 32.
* Every other result — more than two participants, teams, or ties — uses OpenSkill's
  Plackett-Luce model (Weng-Lin), which handles N-way rankings, teams and draws and keeps an
  uncertainty sigma per player. Its mean μ moves; the rating moves by ``6·Δμ`` points — 6 is
  calibrated so that a first match between two newcomers moves as much as an Elo duel
  (±16) — and new players (large sigma) move faster than settled ones.
* μ and sigma are updated for every match, duels included, so the uncertainty stays current;
  ``provisional`` is true while sigma is above 5 (roughly the first ten or so matches).

Outcome per participant: ``win`` when its team alone holds the best rank, ``draw`` when it
shares the best rank, ``loss`` otherwise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgspec
from openskill.models import PlackettLuce

# The ladders are declared once, in the contract challenges are rated by.
from deepiri_kit.contracts.agent import CATEGORIES as CATEGORIES
from deepiri_kit.contracts.agent import Category as Category
from gamification_service.domain import InvalidMatch, UnknownCategory

START: Final = 1500.0
K: Final = 32.0
MU: Final = 25.0
SIGMA: Final = 25.0 / 3.0
MU_TO_POINTS: Final = 6.0
PROVISIONAL_SIGMA: Final = 5.0
OPPONENT_WINDOW: Final = 200.0
MAX_PARTICIPANTS: Final = 64
Result = Literal["win", "loss", "draw"]
Method = Literal["elo", "openskill"]

_MODEL = PlackettLuce(mu=MU, sigma=SIGMA)


@dataclass(frozen=True)
class Player:
    user_id: str
    rating: float = START
    mu: float = MU
    sigma: float = SIGMA


@dataclass(frozen=True)
class Team:
    members: tuple[Player, ...]
    rank: int  # 1 is best; equal ranks are a tie


@dataclass(frozen=True)
class Change:
    user_id: str
    rank: int
    result: Result
    method: Method
    before: float
    after: float
    mu: float
    sigma: float

    @property
    def delta(self) -> float:
        return round(self.after - self.before, 4)


def check_category(name: str) -> Category:
    for category in CATEGORIES:
        if name == category:
            return category
    raise UnknownCategory(f"no rating category {name!r}; known: {', '.join(CATEGORIES)}")


def elo_expected(rating: float, opponent: float) -> float:
    return 1.0 / (1.0 + 10 ** ((opponent - rating) / 400.0))


def elo_update(rating: float, opponent: float, score: float, k: float = K) -> float:
    """``score`` is 1 for a win, 0.5 for a draw, 0 for a loss."""
    return rating + k * (score - elo_expected(rating, opponent))


def validate(teams: Sequence[Team]) -> None:
    if len(teams) < 2:
        raise InvalidMatch("a match needs at least two sides")
    seen: set[str] = set()
    count = 0
    for team in teams:
        if not team.members:
            raise InvalidMatch("every side needs at least one member")
        if team.rank < 1:
            raise InvalidMatch("ranks start at 1")
        for player in team.members:
            if player.user_id in seen:
                raise InvalidMatch(f"{player.user_id} appears more than once")
            seen.add(player.user_id)
            count += 1
    if count > MAX_PARTICIPANTS:
        raise InvalidMatch(f"at most {MAX_PARTICIPANTS} participants")


def method_for(teams: Sequence[Team]) -> Method:
    duel = len(teams) == 2 and all(len(t.members) == 1 for t in teams)
    return "elo" if duel and teams[0].rank != teams[1].rank else "openskill"


def result_of(rank: int, ranks: Sequence[int]) -> Result:
    best = min(ranks)
    if rank != best:
        return "loss"
    return "win" if list(ranks).count(best) == 1 else "draw"


def rate(teams: Sequence[Team]) -> list[Change]:
    """Everyone's rating change for one match."""
    validate(teams)
    method = method_for(teams)
    ranks = [t.rank for t in teams]
    os_teams = [[_MODEL.rating(mu=p.mu, sigma=p.sigma) for p in t.members] for t in teams]
    rated = _MODEL.rate(os_teams, ranks=[float(r) for r in ranks])
    changes: list[Change] = []
    for index, (team, new_team) in enumerate(zip(teams, rated, strict=True)):
        for player, new in zip(team.members, new_team, strict=True):
            if method == "elo":
                other = teams[1 - index].members[0]
                score = 1.0 if team.rank < teams[1 - index].rank else 0.0
                after = elo_update(player.rating, other.rating, score)
            else:
                after = player.rating + MU_TO_POINTS * (new.mu - player.mu)
            changes.append(
                Change(
                    user_id=player.user_id,
                    rank=team.rank,
                    result=result_of(team.rank, ranks),
                    method=method,
                    before=player.rating,
                    after=round(after, 4),
                    mu=new.mu,
                    sigma=new.sigma,
                )
            )
    return changes


def win_probabilities(teams: Sequence[Team]) -> list[float]:
    return list(
        _MODEL.predict_win(
            [[_MODEL.rating(mu=p.mu, sigma=p.sigma) for p in t.members] for t in teams]
        )
    )


def is_provisional(sigma: float) -> bool:
    return sigma > PROVISIONAL_SIGMA


def opponent_range(rating: float) -> tuple[float, float]:
    return rating - OPPONENT_WINDOW, rating + OPPONENT_WINDOW


def closest(
    rating: float, candidates: Sequence[tuple[str, float]], limit: int
) -> list[tuple[str, float]]:
    """Candidates within ±200, closest first (ties by user id)."""
    low, high = opponent_range(rating)
    inside = [(u, r) for u, r in candidates if low <= r <= high]
    return sorted(inside, key=lambda c: (abs(c[1] - rating), c[0]))[:limit]


def after_match(
    head: Mapping[str, Any], match: Mapping[str, Any], result: Mapping[str, Any]
) -> dict[str, Any]:
    """A player's next rating-history link: ``head`` (their standing now: rating, peak, μ,
    W/L/D, streaks, ``version``) moved by their ``result`` in ``match`` (delta, rank, μ
    delta, sigma after) — the change and the standing it results in."""
    outcome = result["result"]
    rating = head["rating"] + result["delta"]
    streak = head["win_streak"] + 1 if outcome == "win" else 0
    return {
        "user_id": result["user_id"],
        "category": match["category"],
        "seq": head["version"] + 1,
        "match_id": match["_id"],
        "before": head["rating"],
        "after": round(rating, 4),
        "delta": result["delta"],
        "result": outcome,
        "rank": result["rank"],
        "method": result["method"],
        "mu": head["mu"] + result["mu_delta"],
        "sigma": result["sigma"],
        "peak": max(head["peak"], rating),
        "wins": head["wins"] + (outcome == "win"),
        "losses": head["losses"] + (outcome == "loss"),
        "draws": head["draws"] + (outcome == "draw"),
        "matches": head["matches"] + 1,
        "win_streak": streak,
        "best_win_streak": max(head["best_win_streak"], streak),
        "at": match["at"],
    }


def match_fingerprint(category: str, teams: Sequence[tuple[Sequence[str], int]]) -> str:
    """What a match's result is, independent of member order: a replay of the same match id
    must carry the same fingerprint."""
    encoded = msgspec.json.encode([category, [[sorted(m), r] for m, r in teams]])
    return hashlib.sha256(encoded).hexdigest()


def without_player(match: Mapping[str, Any], user_id: str, stand_in: str) -> dict[str, Any]:
    """``match`` with ``user_id`` (a deleted account) replaced by ``stand_in`` wherever it
    appears, and no longer pending. The other players' results stay as they were (their
    ratings came from this match); the fingerprint is recomputed, as the old one hashes the
    deleted id."""

    def swap(member: str) -> str:
        return stand_in if member == user_id else member

    teams = [{**t, "members": [swap(m) for m in t["members"]]} for t in match["teams"]]
    anonymised = {
        **match,
        "teams": teams,
        "results": [{**r, "user_id": swap(r["user_id"])} for r in match["results"]],
        "fingerprint": match_fingerprint(
            match["category"], [(t["members"], t["rank"]) for t in teams]
        ),
    }
    if "pending" in match:
        anonymised["pending"] = [u for u in match["pending"] if u != user_id]
    return anonymised
