"""Pure rules: rewards, levels, energy, periods, currencies, the wallet fold, badges, ratings."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from gamification_service.domain import (
    InvalidAmount,
    InvalidMatch,
    UnknownCurrency,
    energy,
    levels,
    periods,
    ratings,
    rewards,
    wallet,
)
from gamification_service.domain import badges as b
from gamification_service.domain import currencies as money
from gamification_service.domain.catalog import BADGES, RAW
from gamification_service.domain.facts import RatingFacts, facts_for, known_metric

pytestmark = pytest.mark.unit

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)  # a Monday


def completion(**kw: object) -> wallet.TaskFacts:
    base: dict[str, object] = {
        "task_id": "t1",
        "kind": "todo",
        "difficulty": "medium",
        "priority": "normal",
        "completed_at": T0,
    }
    return wallet.TaskFacts(**{**base, **kw})  # type: ignore[arg-type]


# --- rewards ----------------------------------------------------------------------------------


def test_base_reward_by_difficulty() -> None:
    xp = {
        d: rewards.task_reward(completion(difficulty=d), []).amounts["xp"] for d in rewards.BASE_XP
    }
    assert xp == {"trivial": 5, "easy": 10, "medium": 20, "hard": 40}


def test_coins_are_half_the_xp_rounded_half_up() -> None:
    r = rewards.task_reward(completion(difficulty="trivial"), [])
    assert r.amounts == {"xp": 5, "coins": 3}


@pytest.mark.parametrize(
    ("priority", "xp"), [("low", 18), ("normal", 20), ("high", 24), ("urgent", 30)]
)
def test_priority_multiplies(priority: str, xp: int) -> None:
    assert rewards.task_reward(completion(priority=priority), []).amounts["xp"] == xp


@pytest.mark.parametrize(("on_time", "xp"), [(True, 24), (False, 16), (None, 20)])
def test_timeliness(on_time: bool | None, xp: int) -> None:
    assert rewards.task_reward(completion(on_time=on_time), []).amounts["xp"] == xp


def test_streak_bonus_grows_two_percent_a_day_up_to_fifty() -> None:
    assert rewards.task_reward(completion(streak_current=10), []).amounts["xp"] == 24
    assert rewards.task_reward(completion(streak_current=25), []).amounts["xp"] == 30
    assert rewards.task_reward(completion(streak_current=400), []).amounts["xp"] == 30


def test_effort_uses_the_smaller_of_estimate_and_actual_and_is_clamped() -> None:
    assert rewards.effort_factor(None, None) == 1.0
    assert rewards.effort_factor(30, None) == 1.0
    assert rewards.effort_factor(60, None) == 1.25
    assert rewards.effort_factor(10_000, None) == 1.5
    assert rewards.effort_factor(1, None) == 0.75
    # Inflating only the estimate earns nothing: the actual time counts.
    assert rewards.effort_factor(10_000, 30) == 1.0
    assert rewards.effort_factor(0, 0) == 1.0


def test_accurate_estimates_earn_a_bonus() -> None:
    assert rewards.estimate_factor(60, 60) == 1.1
    assert rewards.estimate_factor(60, 75) == 1.1
    assert rewards.estimate_factor(60, 48) == 1.1
    assert rewards.estimate_factor(60, 76) == 1.0
    assert rewards.estimate_factor(60, None) == 1.0
    r = rewards.task_reward(completion(estimated_minutes=60, actual_minutes=60), [])
    assert r.amounts["xp"] == round(20 * 1.25 * 1.1)


def test_rapid_repeats_of_the_same_task_have_diminishing_returns() -> None:
    recent: list[rewards.RecentCompletion] = []
    paid = []
    for i in range(8):
        at = T0 + timedelta(minutes=i)
        paid.append(rewards.task_reward(completion(completed_at=at), recent).amounts.get("xp", 0))
        recent.append(rewards.RecentCompletion("t1", at))
    assert paid == [20, 10, 5, 3, 1, 1, 0, 0]
    assert sum(paid) <= 2 * 20  # an endless farming script never earns two honest completions


def test_repeats_only_count_the_same_task_within_the_hour_before() -> None:
    recent = [
        rewards.RecentCompletion("t1", T0 - timedelta(minutes=61)),  # too old
        rewards.RecentCompletion("t2", T0 - timedelta(minutes=5)),  # another task
        rewards.RecentCompletion("t1", T0 + timedelta(minutes=5)),  # after this one
        rewards.RecentCompletion("t1", T0 - timedelta(minutes=30)),  # counts
    ]
    assert rewards.repeats("t1", T0, recent) == 1


def test_bad_habit_pays_nothing_and_good_habit_pays() -> None:
    assert rewards.task_reward(completion(kind="habit", habit_direction="down"), []).amounts == {}
    assert (
        rewards.task_reward(completion(kind="habit", habit_direction="up"), []).amounts["xp"] == 20
    )


def test_stars_for_hard_tasks_on_time_first_time_only() -> None:
    first = rewards.task_reward(completion(difficulty="hard", on_time=True), [])
    assert first.amounts["stars"] == 1
    again = rewards.task_reward(
        completion(difficulty="hard", on_time=True),
        [rewards.RecentCompletion("t1", T0 - timedelta(minutes=1))],
    )
    assert "stars" not in again.amounts
    assert "stars" not in rewards.task_reward(completion(difficulty="hard"), []).amounts


def test_task_xp_is_capped() -> None:
    big = completion(
        difficulty="hard",
        priority="urgent",
        on_time=True,
        streak_current=30,
        estimated_minutes=500,
        actual_minutes=500,
    )
    assert rewards.task_reward(big, []).amounts["xp"] == rewards.MAX_TASK_XP


def test_challenge_reward() -> None:
    assert rewards.challenge_reward("medium", 250, True).amounts == {
        "xp": 250,
        "coins": 25,
        "tokens": 2,
    }
    assert rewards.challenge_reward("easy", 10_000, True).amounts["xp"] == 150
    assert rewards.challenge_reward("hard", 500, False).amounts == {}
    assert rewards.challenge_reward("hard", 0, True).amounts == {}


# --- levels -----------------------------------------------------------------------------------


def test_level_curve_closed_form() -> None:
    assert [levels.xp_for_level(n) for n in range(1, 6)] == [0, 100, 300, 600, 1000]
    assert levels.level_for_xp(0) == 1
    assert levels.level_for_xp(99) == 1
    assert levels.level_for_xp(100) == 2
    assert levels.level_for_xp(299) == 2
    assert levels.level_for_xp(300) == 3
    assert levels.level_for_xp(122_500) == 50


def test_level_curve_is_exact_for_every_boundary() -> None:
    for level in range(1, 2000):
        start = levels.xp_for_level(level)
        assert levels.level_for_xp(start) == level
        if start:
            assert levels.level_for_xp(start - 1) == level - 1
    assert levels.level_for_xp(10**15) == (5 + math.isqrt(25 + 2 * 10**15)) // 10


def test_level_progress() -> None:
    p = levels.progress(450)
    assert (p.level, p.xp_into_level, p.xp_for_next_level, p.xp_to_next_level, p.progress) == (
        3,
        150,
        300,
        150,
        0.5,
    )
    with pytest.raises(ValueError, match="negative"):
        levels.level_for_xp(-1)
    with pytest.raises(ValueError, match="start at 1"):
        levels.xp_for_level(0)


# --- energy -----------------------------------------------------------------------------------


def test_energy_regenerates_one_per_full_minute_and_keeps_partial_progress() -> None:
    assert energy.regenerate(40, T0, T0 + timedelta(seconds=59)) == (40, T0)
    assert energy.regenerate(40, T0, T0 + timedelta(seconds=150)) == (42, T0 + timedelta(minutes=2))


def test_energy_is_capped_and_a_full_meter_re_anchors() -> None:
    assert energy.regenerate(95, T0, T0 + timedelta(hours=1)) == (100, T0 + timedelta(hours=1))
    assert energy.regenerate(100, T0, T0 + timedelta(hours=1)) == (100, T0 + timedelta(hours=1))
    assert energy.regenerate(40, T0, T0 - timedelta(minutes=5)) == (40, T0)  # clock skew


def test_energy_next_and_full() -> None:
    assert energy.next_point_at(100, T0) is None
    assert energy.next_point_at(10, T0) == T0 + timedelta(minutes=1)
    assert energy.full_at(90, T0) == T0 + timedelta(minutes=10)


# --- periods ----------------------------------------------------------------------------------


def test_period_keys_and_ranges() -> None:
    at = datetime(2026, 1, 1, 10, tzinfo=UTC)  # ISO week 1 of 2026
    assert periods.period_key("day", at) == "2026-01-01"
    assert periods.period_key("week", at) == "2026-W01"
    assert periods.period_key("month", at) == "2026-01"
    assert periods.period_key("all", at) == "all"
    assert periods.period_range("week", "2026-W01") == (
        datetime(2025, 12, 29, tzinfo=UTC),
        datetime(2026, 1, 5, tzinfo=UTC),
    )
    assert periods.period_range("month", "2026-12") == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert periods.period_range("all", "all") is None
    assert periods.expires_at("day", "2026-01-01") == datetime(2026, 1, 10, tzinfo=UTC)
    for bad in ("day", "2026-W99"), ("week", "2026-01"), ("month", "2026-13"), ("all", "x"):
        with pytest.raises(ValueError, match="is not a"):
            periods.period_range(*bad)  # type: ignore[arg-type]


# --- currencies -------------------------------------------------------------------------------


def test_amounts_and_currencies_are_checked() -> None:
    assert money.check_amount(1) == 1
    for bad in (0, -5, money.MAX_AMOUNT + 1, True, 1.5):
        with pytest.raises(InvalidAmount):
            money.check_amount(bad)  # type: ignore[arg-type]
    with pytest.raises(UnknownCurrency):
        money.check_currency("doubloons")
    with pytest.raises(UnknownCurrency):
        money.check_currency("xp", spendable=True)
    assert money.check_currency("xp") == "xp"


def test_conversion_rates() -> None:
    rates = money.parse_rates("coins:gems=100:1, gems:coins=1:80")
    assert money.convert(rates, "coins", "gems", 300).get == 1
    with pytest.raises(InvalidAmount):
        money.convert(rates, "coins", "gems", 150)
    with pytest.raises(UnknownCurrency):
        money.convert(rates, "coins", "stars", 100)
    for bad in (
        "coins:gems",
        "coins:gems=0:1",
        "coins:coins=1:1",
        "energy:gems=1:1",
        "xp:gems=1:1",
    ):
        with pytest.raises(ValueError, match=r"conversion rate|cannot be"):
            money.parse_rates(bad)


# --- the wallet fold --------------------------------------------------------------------------


def entry(seq: int, amounts: dict[str, int], at: datetime = T0, **kw: object) -> wallet.Entry:
    return wallet.Entry(
        seq=seq, key=f"k{seq}", kind=kw.pop("kind", "grant"), amounts=amounts, at=at, **kw
    )  # type: ignore[arg-type]


def task_facts(at: datetime = T0, **kw: object) -> wallet.TaskFacts:
    base: dict[str, object] = {
        "task_id": "t1",
        "kind": "todo",
        "difficulty": "hard",
        "priority": "urgent",
        "completed_at": at,
        "on_time": True,
    }
    return wallet.TaskFacts(**{**base, **kw})  # type: ignore[arg-type]


def test_fold_credits_and_counts_earned() -> None:
    result = wallet.apply(wallet.initial(), entry(1, {"xp": 150, "coins": 10}))
    assert result.outcome == "applied"
    assert result.state.balances["xp"] == 150
    assert result.state.earned == {"xp": 150, "coins": 10}
    assert result.credited == {"xp": 150, "coins": 10}
    assert (result.level_before, result.level_after, result.leveled_up) == (1, 2, True)


def test_fold_rejects_debits_the_balance_does_not_cover() -> None:
    state = wallet.apply(wallet.initial(), entry(1, {"coins": 10})).state
    rejected = wallet.apply(state, entry(2, {"coins": -11, "gems": 1}))
    assert rejected.outcome == "rejected"
    assert rejected.state.balances == state.balances
    assert rejected.state.seq == 2
    assert "insufficient coins" in rejected.reason
    ok = wallet.apply(rejected.state, entry(3, {"coins": -10}, kind="spend"))
    assert ok.state.balances["coins"] == 0
    assert ok.debited == {"coins": 10}
    assert ok.state.stats["spent_coins"] == 10


def test_fold_requires_the_next_sequence_number() -> None:
    with pytest.raises(ValueError, match="does not follow"):
        wallet.apply(wallet.initial(), entry(2, {"xp": 1}))


def test_fold_energy_regenerates_between_entries_and_never_exceeds_the_cap() -> None:
    s = wallet.apply(wallet.initial(), entry(1, {"energy": -60})).state
    assert s.balances["energy"] == 40
    s = wallet.apply(s, entry(2, {"energy": -45}, at=T0 + timedelta(minutes=4))).outcome
    assert s == "rejected"  # 44 available
    s2 = wallet.apply(
        wallet.apply(wallet.initial(), entry(1, {"energy": -60})).state,
        entry(2, {"energy": -44}, at=T0 + timedelta(minutes=4, seconds=30)),
    )
    assert s2.state.balances["energy"] == 0
    assert s2.state.energy_at == T0 + timedelta(minutes=4)
    value, _ = wallet.energy_now(s2.state, T0 + timedelta(hours=5))
    assert value == energy.ENERGY_MAX
    capped = wallet.apply(wallet.initial(), entry(1, {"energy": 50}))
    assert capped.state.balances["energy"] == 100


def test_fold_task_counters_streaks_and_periods() -> None:
    state = wallet.initial()
    days = [T0, T0 + timedelta(days=1), T0 + timedelta(days=2), T0 + timedelta(days=4)]
    for i, at in enumerate(days, start=1):
        facts = task_facts(at=at.replace(hour=5), streak_current=i, streak_best=i)
        state = wallet.apply(state, entry(i, {"xp": 10}, at=at, kind="task", task=facts)).state
    s = state.stats
    assert s["tasks_completed"] == 4
    assert s["todos_completed"] == 4
    assert s["hard_completed"] == 4
    assert s["urgent_on_time"] == 4
    assert s["early_bird"] == 4
    assert s["best_task_streak"] == 4
    assert state.activity.best == 3
    assert state.activity.current == 1
    assert state.periods["day"].key == "2026-05-08"
    assert state.periods["week"].tasks == 4
    assert state.best == {"day": 1, "week": 4, "month": 4}


def test_fold_ignores_late_entries_for_period_totals() -> None:
    s = wallet.apply(wallet.initial(), entry(1, {"xp": 10}, at=T0 + timedelta(days=1))).state
    s = wallet.apply(s, entry(2, {"xp": 5}, at=T0)).state
    assert s.periods["day"].xp == 10
    assert s.earned["xp"] == 15


def test_fold_badges_are_recorded_once() -> None:
    s = wallet.apply(wallet.initial(), entry(1, {"coins": 10}, kind="badge", badge="tasks-1")).state
    assert s.badges == {"tasks-1": T0}
    assert s.stats["badges_earned"] == 1


def test_replay_is_deterministic_and_equals_incremental_application() -> None:
    entries = [
        entry(1, {"xp": 20, "coins": 10}, kind="task", task=task_facts()),
        entry(2, {"coins": -30}, kind="spend"),
        entry(3, {"coins": -5}, kind="spend"),
        entry(4, {"energy": -10}, at=T0 + timedelta(minutes=3)),
    ]
    state, outcomes = wallet.replay(entries)
    assert outcomes == ["applied", "rejected", "applied", "applied"]
    again, _ = wallet.replay(entries)
    assert msgspec.to_builtins(state) == msgspec.to_builtins(again)
    assert state.balances["coins"] == 5


def test_recent_completions_keep_only_the_last_hour() -> None:
    s = wallet.initial()
    for i in range(5):
        at = T0 + timedelta(minutes=40 * i)
        s = wallet.apply(s, entry(i + 1, {}, at=at, kind="task", task=task_facts(at=at))).state
    assert [r.at for r in s.recent] == [T0 + timedelta(minutes=120), T0 + timedelta(minutes=160)]


# --- badges -----------------------------------------------------------------------------------


def facts(values: dict[str, float] | None = None, held: set[str] | None = None) -> b.Facts:
    return b.Facts(values=values or {}, badges=frozenset(held or set()))


def rule(raw: dict[str, object]) -> b.Rule:
    return msgspec.convert(raw, b.Rule)  # type: ignore[arg-type]


def test_counter_rule() -> None:
    r = rule({"type": "counter", "counter": "tasks_completed", "at_least": 10})
    assert not b.satisfied(r, facts({"tasks_completed": 9}))
    assert b.progress(r, facts({"tasks_completed": 9})).fraction == 0.9
    assert b.satisfied(r, facts({"tasks_completed": 10}))


def test_streak_rule() -> None:
    r = rule({"type": "streak", "streak": "activity", "at_least": 7})
    assert b.satisfied(r, facts({"streak.activity": 7}))
    assert not b.satisfied(r, facts({"streak.task": 7}))


def test_threshold_rule() -> None:
    r = rule({"type": "threshold", "metric": "rating.coding", "at_least": 1600})
    assert b.satisfied(r, facts({"rating.coding": 1600.5}))
    assert b.progress(r, facts({})).fraction == 0.0


def test_window_rule() -> None:
    r = rule({"type": "window", "window": "day", "at_least": 10})
    assert b.satisfied(r, facts({"window.day": 12}))
    assert not b.satisfied(r, facts({"window.week": 12}))


def test_all_and_any_rules_with_partial_progress() -> None:
    parts = [
        {"type": "counter", "counter": "a", "at_least": 10},
        {"type": "counter", "counter": "b", "at_least": 10},
    ]
    both = rule({"type": "all", "rules": parts})
    either = rule({"type": "any", "rules": parts})
    f = facts({"a": 10, "b": 5})
    assert not b.satisfied(both, f)
    assert b.progress(both, f).fraction == 0.75
    assert b.satisfied(either, f)
    assert b.progress(either, facts({"a": 5, "b": 2})).fraction == 0.5


def test_badges_rule_and_fixpoint() -> None:
    defs = b.load(
        [
            {
                "id": "one",
                "name": "1",
                "description": "",
                "category": "meta",
                "rarity": "common",
                "rule": {"type": "counter", "counter": "x", "at_least": 1},
            },
            {
                "id": "two",
                "name": "2",
                "description": "",
                "category": "meta",
                "rarity": "rare",
                "rule": {"type": "badges", "badges": ["one"]},
            },
        ]
    )
    earned = b.newly_earned(defs, facts({"x": 1}))
    assert [d.id for d in earned] == ["one", "two"]
    assert b.newly_earned(defs, facts({"x": 1}, {"one", "two"})) == []
    assert b.progress(defs[1].rule, facts({}, set())).fraction == 0.0


def test_definitions_are_validated() -> None:
    good = {
        "id": "a",
        "name": "A",
        "description": "",
        "category": "meta",
        "rarity": "common",
        "rule": {"type": "counter", "counter": "x", "at_least": 1},
    }
    with pytest.raises(ValueError, match="duplicate"):
        b.load([good, good])
    with pytest.raises(ValueError, match="unknown badges"):
        b.load([{**good, "rule": {"type": "badges", "badges": ["nope"]}}])
    with pytest.raises(msgspec.ValidationError):
        b.load([{**good, "rarity": "ultra"}])
    with pytest.raises(msgspec.ValidationError):
        b.load([{**good, "rule": {"type": "vibes"}}])


def test_catalog_has_thirty_plus_badges_of_every_rarity_and_rule_type() -> None:
    assert len(BADGES) >= 30
    assert {d.rarity for d in BADGES} == set(b.RARITIES)
    assert any(d.secret for d in BADGES)
    assert any(d.tier > 1 for d in BADGES)

    def kinds(r: b.Rule) -> set[type]:
        inner = (
            set().union(*(kinds(x) for x in r.rules)) if isinstance(r, b.AllOf | b.AnyOf) else set()
        )
        return {type(r), *inner}

    used = set().union(*(kinds(d.rule) for d in BADGES))
    assert used == {b.Counter, b.Streak, b.Threshold, b.Window, b.AllOf, b.AnyOf, b.HasBadges}
    assert len(RAW) == len(BADGES)


def test_catalog_reads_only_names_the_system_records() -> None:
    for d in BADGES:
        for name in b.referenced_names(d.rule):
            assert known_metric(name), (d.id, name)


def test_rarity_rewards() -> None:
    by_id = {d.id: d for d in BADGES}
    assert by_id["tasks-1"].payout == {"coins": 10}
    assert by_id["streak-365"].payout == {"coins": 500, "gems": 25}


def test_facts_from_wallet_and_ratings() -> None:
    s = wallet.apply(
        wallet.initial(), entry(1, {"xp": 400, "coins": 7}, kind="task", task=task_facts())
    ).state
    f = facts_for(
        s,
        {
            "coding": RatingFacts(rating=1610, wins=3, losses=1, best_win_streak=2),
            "study": RatingFacts(rating=1480, draws=2),
        },
    )
    v = f.values
    assert v["level"] == 3
    assert v["balance.coins"] == 7
    assert v["earned.xp"] == 400
    assert v["rating.max"] == 1610
    assert v["matches_won"] == 3
    assert v["matches_played"] == 6
    assert v["streak.win"] == 2
    assert v["window.day"] == 1
    assert v["tasks_completed"] == 1


# --- ratings ----------------------------------------------------------------------------------


def solo(
    user: str,
    rank: int,
    rating: float = ratings.START,
    mu: float = ratings.MU,
    sigma: float = ratings.SIGMA,
) -> ratings.Team:
    return ratings.Team((ratings.Player(user, rating, mu, sigma),), rank)


def test_elo_expected_and_update() -> None:
    assert ratings.elo_expected(1500, 1500) == 0.5
    assert ratings.elo_expected(1700, 1500) == pytest.approx(0.7597, abs=1e-4)
    assert ratings.elo_update(1500, 1500, 1) == 1516
    assert ratings.elo_update(1500, 1500, 0) == 1484
    assert ratings.elo_update(1500, 1500, 0.5) == 1500
    assert ratings.elo_update(1700, 1500, 1) == pytest.approx(1700 + 32 * (1 - 0.7597), abs=1e-2)


def test_duel_uses_elo_and_is_zero_sum() -> None:
    a, c = ratings.rate([solo("a", 2, 1600), solo("c", 1, 1400)])
    assert a.method == c.method == "elo"
    assert (a.result, c.result) == ("loss", "win")
    assert a.delta == pytest.approx(-c.delta)
    assert c.delta == pytest.approx(32 * (1 - ratings.elo_expected(1400, 1600)), abs=1e-3)
    assert c.sigma < ratings.SIGMA  # uncertainty shrinks for duels too


def test_drawn_duel_uses_openskill() -> None:
    a, c = ratings.rate([solo("a", 1), solo("c", 1)])
    assert a.method == "openskill"
    assert (a.result, c.result) == ("draw", "draw")
    assert a.delta == pytest.approx(0, abs=1e-6)


def test_free_for_all_orders_changes_by_rank() -> None:
    changes = ratings.rate([solo("a", 1), solo("b", 2), solo("c", 3), solo("d", 4)])
    assert [c.method for c in changes] == ["openskill"] * 4
    deltas = [c.delta for c in changes]
    assert deltas == sorted(deltas, reverse=True)
    assert deltas[0] > 0 > deltas[-1]
    assert [c.result for c in changes] == ["win", "loss", "loss", "loss"]


def test_teams_share_the_result() -> None:
    red = ratings.Team((ratings.Player("a"), ratings.Player("b")), 1)
    blue = ratings.Team((ratings.Player("c"), ratings.Player("d")), 2)
    changes = {c.user_id: c for c in ratings.rate([red, blue])}
    assert changes["a"].result == changes["b"].result == "win"
    assert changes["c"].delta < 0 < changes["a"].delta


def test_uncertain_players_move_more() -> None:
    newcomer = ratings.rate([solo("a", 1), solo("b", 2), solo("c", 3)])[0]
    veteran = ratings.rate(
        [solo("a", 1, sigma=2.0), solo("b", 2, sigma=2.0), solo("c", 3, sigma=2.0)]
    )[0]
    assert newcomer.delta > veteran.delta > 0
    assert ratings.is_provisional(newcomer.sigma)
    assert not ratings.is_provisional(2.0)


def test_upset_pays_more_than_expected_win() -> None:
    upset = ratings.rate([solo("a", 1, mu=20), solo("b", 2, mu=30), solo("c", 3, mu=30)])[0]
    expected = ratings.rate([solo("a", 1, mu=30), solo("b", 2, mu=20), solo("c", 3, mu=20)])[0]
    assert upset.delta > expected.delta
    probs = ratings.win_probabilities([solo("a", 1, mu=30), solo("b", 1, mu=20)])
    assert probs[0] > probs[1]
    assert sum(probs) == pytest.approx(1)


@pytest.mark.parametrize(
    "teams",
    [
        [solo("a", 1)],
        [solo("a", 1), solo("a", 2)],
        [solo("a", 1), ratings.Team((), 2)],
        [solo("a", 0), solo("b", 1)],
        [solo(f"u{i}", i + 1) for i in range(ratings.MAX_PARTICIPANTS + 1)],
    ],
)
def test_invalid_matches(teams: list[ratings.Team]) -> None:
    with pytest.raises(InvalidMatch):
        ratings.rate(teams)


def test_opponents_within_two_hundred_closest_first() -> None:
    pool = [("a", 1450.0), ("b", 1710.0), ("c", 1300.0), ("d", 1550.0), ("e", 1200.0)]
    assert ratings.closest(1500, pool, 10) == [("a", 1450.0), ("d", 1550.0), ("c", 1300.0)]
    assert ratings.closest(1500, pool, 1) == [("a", 1450.0)]


def test_credit_keys_pay_todos_once_dailies_per_period_and_each_habit_tap() -> None:
    from gamification_service.domain.rewards import credit_key

    assert credit_key("todo", "t1", "t1:v2", "e1") == credit_key("todo", "t1", "t1:v5", "e2")
    assert credit_key("daily", "d1", "d1:2026-11-26", "e1") == credit_key(
        "daily", "d1", "d1:2026-11-26", "e2"
    )
    assert credit_key("daily", "d1", "d1:2026-11-26", "e1") != credit_key(
        "daily", "d1", "d1:2026-11-27", "e1"
    )
    assert credit_key("habit", "h1", "x", "e1") != credit_key("habit", "h1", "x", "e2")


def test_a_match_moves_the_players_standing_by_its_result() -> None:
    head = {
        "rating": 1500.0,
        "peak": 1510.0,
        "mu": 25.0,
        "wins": 3,
        "losses": 1,
        "draws": 0,
        "matches": 4,
        "win_streak": 2,
        "best_win_streak": 2,
        "version": 4,
    }
    match = {"_id": "m9", "category": "coding", "at": T0}
    win = {"user_id": "ann", "result": "win", "delta": 16.0, "rank": 1, "method": "elo"}
    link = ratings.after_match(head, match, {**win, "mu_delta": 1.5, "sigma": 7.9})
    assert (link["seq"], link["match_id"], link["category"], link["at"]) == (5, "m9", "coding", T0)
    assert (link["before"], link["after"], link["peak"]) == (1500.0, 1516.0, 1516.0)
    assert (link["wins"], link["losses"], link["matches"]) == (4, 1, 5)
    assert (link["win_streak"], link["best_win_streak"], link["mu"]) == (3, 3, 26.5)
    loss = {**win, "result": "loss", "delta": -16.0, "rank": 2, "mu_delta": -1.5, "sigma": 7.9}
    after_loss = ratings.after_match(head, match, loss)
    assert (after_loss["after"], after_loss["peak"], after_loss["losses"]) == (1484.0, 1510.0, 2)
    assert (after_loss["win_streak"], after_loss["best_win_streak"]) == (0, 2)
    draw = ratings.after_match(head, match, {**loss, "result": "draw", "delta": 0.0})
    assert (draw["draws"], draw["win_streak"], draw["after"]) == (1, 0, 1500.0)


# --- erasing a deleted player from a match ---------------------------------------------------


def _match() -> dict[str, object]:
    teams = [(["ann", "gus"], 1), (["ben"], 2)]
    return {
        "_id": "m1",
        "category": "coding",
        "fingerprint": ratings.match_fingerprint("coding", teams),
        "teams": [{"members": m, "rank": r} for m, r in teams],
        "results": [
            {"user_id": u, "rank": r, "result": "win" if r == 1 else "loss", "delta": 8.0}
            for m, r in teams
            for u in m
        ],
        "pending": ["ann", "ben"],
        "at": datetime(2026, 5, 1, tzinfo=UTC),
    }


def test_a_deleted_player_is_replaced_everywhere_in_a_match_and_others_keep_their_results() -> None:
    match = _match()
    out = ratings.without_player(match, "ann", "deleted-x")
    assert "ann" not in msgspec.json.encode(out).decode()
    assert out["teams"] == [
        {"members": ["deleted-x", "gus"], "rank": 1},
        {"members": ["ben"], "rank": 2},
    ]
    assert [r["user_id"] for r in out["results"]] == ["deleted-x", "gus", "ben"]
    assert [r["delta"] for r in out["results"]] == [8.0, 8.0, 8.0]
    assert out["pending"] == ["ben"]  # the stand-in is never rated
    assert out["fingerprint"] == ratings.match_fingerprint(
        "coding", [(["deleted-x", "gus"], 1), (["ben"], 2)]
    )
    assert out["fingerprint"] != match["fingerprint"]
    assert (out["_id"], out["category"], out["at"]) == ("m1", "coding", match["at"])
    assert match["pending"] == ["ann", "ben"]  # the input is left as it was


def test_removing_a_player_who_is_not_in_the_match_changes_nothing() -> None:
    match = _match()
    assert ratings.without_player(match, "zoe", "deleted-x") == match
    finished = {k: v for k, v in match.items() if k != "pending"}
    assert "pending" not in ratings.without_player(finished, "ann", "deleted-x")


def test_a_match_fingerprint_ignores_member_order_but_not_ranks() -> None:
    a = ratings.match_fingerprint("coding", [(["x", "y"], 1), (["z"], 2)])
    assert a == ratings.match_fingerprint("coding", [(["y", "x"], 1), (["z"], 2)])
    assert a != ratings.match_fingerprint("coding", [(["x", "y"], 2), (["z"], 1)])
    assert a != ratings.match_fingerprint("study", [(["x", "y"], 1), (["z"], 2)])


def test_a_challenge_result_becomes_one_canonical_match() -> None:
    from deepiri_kit.contracts.challenges import ChallengeCompleted, Opponent, Standing

    def duel(user: str, other: str, outcome: str) -> ChallengeCompleted:
        return msgspec.convert(
            {
                "challenge_id": "c",
                "difficulty": "easy",
                "kind": "duel",
                "opponent": Opponent(user_id=other, outcome=outcome),  # type: ignore[arg-type]
            },
            ChallengeCompleted,
            from_attributes=True,
        )

    # Both players' events describe the same match.
    won = rewards.challenge_match("ann", duel("ann", "bob", "win"))
    lost = rewards.challenge_match("bob", duel("bob", "ann", "loss"))
    assert won == lost == [(("ann",), 1), (("bob",), 2)]
    assert rewards.challenge_match("ann", duel("ann", "bob", "draw")) == [
        (("ann",), 1),
        (("bob",), 1),
    ]
    ranking = [Standing(user_id=u, rank=r) for u, r in (("cy", 3), ("ann", 1), ("bob", 1))]
    group = ChallengeCompleted(challenge_id="g", difficulty="easy", kind="group", ranking=ranking)
    assert rewards.challenge_match("bob", group) == [(("ann",), 1), (("bob",), 1), (("cy",), 3)]
    solo = ChallengeCompleted(challenge_id="s", difficulty="easy", kind="solo")
    assert rewards.challenge_match("ann", solo) == []
